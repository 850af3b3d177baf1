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
}
