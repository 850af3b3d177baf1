package portal

import (
	"context"

	"github.com/clientportal/portal/i18n"
)

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
	// Locale is the i18n language code of the email ("": English).
	Locale string
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

// Letter is what an email with a link says, in messages translated for
// its recipient: the subject, an introduction that says what happened,
// and the button's label.
type Letter struct {
	Subject, Intro, Button i18n.Msg
}
