package portal

import "context"

// Notification is a security email to a user (SPEC §4: every change is
// notified). Detail is a short human sentence; never a secret.
type Notification struct {
	UserID string
	To     string
	Name   string
	Kind   string // an Event type
	Detail string
	IP     string
	At     int64
}

// Notifier delivers security notifications.
type Notifier interface {
	Notify(ctx context.Context, n *Notification) error
	// Message renders n as an outbox message without queueing it, for a
	// store to queue in the same transaction as the change it reports.
	Message(n *Notification) (*OutboxMessage, error)
	// Queued says such messages were committed: deliver them now.
	Queued()
}
