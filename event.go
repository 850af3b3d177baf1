package portal

import "context"

// Security event types, recorded for the user and for staff.
const (
	EventLoginSucceeded  = "login_succeeded"
	EventLoginFailed     = "login_failed"
	EventLoginLocked     = "login_locked"
	EventPasswordChanged = "password_changed"
	EventUserCreated     = "user_created"
	EventReauthenticated = "reauthenticated"
	EventLogout          = "logout"
)

// Event is one entry of the security event log.
type Event struct {
	ID        string
	UserID    string
	ActorID   string // who did it, when not the user (staff)
	Type      string
	IP        string
	UserAgent string
	Detail    string // short human text; never a secret
	CreatedAt int64
}

// EventStore keeps security events.
type EventStore interface {
	AddEvent(ctx context.Context, e *Event) error
	// UserEvents lists a user's newest events first.
	UserEvents(ctx context.Context, userID string, limit int) ([]*Event, error)
}

// EventTitle is the sentence shown for an event type.
func EventTitle(typ string) string {
	switch typ {
	case EventLoginSucceeded:
		return "Signed in"
	case EventLoginFailed:
		return "Failed sign-in attempt"
	case EventLoginLocked:
		return "Sign-in paused after repeated failures"
	case EventPasswordChanged:
		return "Password changed"
	case EventUserCreated:
		return "Account created"
	case EventReauthenticated:
		return "Confirmed identity for a sensitive change"
	case EventLogout:
		return "Signed out"
	}
	return typ
}
