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

	EventTwoFactorEnabled    = "2fa_enabled"
	EventTwoFactorDisabled   = "2fa_disabled"
	EventMethodAdded         = "2fa_method_added"
	EventMethodRemoved       = "2fa_method_removed"
	EventSecondFactorOK      = "2fa_succeeded"
	EventSecondFactorFailed  = "2fa_failed"
	EventSecondFactorLocked  = "2fa_locked"
	EventBackupGenerated     = "backup_codes_generated"
	EventBackupUsed          = "backup_code_used"
	EventBackupLow           = "backup_codes_low"
	EventClockDrift          = "totp_clock_drift"
	EventAdminReset          = "2fa_admin_reset"
	EventEmailVerified       = "email_verified"
	EventEmailChangeRequest  = "email_change_requested"
	EventEmailChanged        = "email_changed"
	EventCodeSent            = "code_sent"
	EventKeyCounterRegressed = "key_counter_regressed"
	EventRecoveryRequested   = "recovery_requested"
	EventRecoveryApproved    = "recovery_approved"
	EventRecoveryDenied      = "recovery_denied"
	EventRecoveryCancelled   = "recovery_cancelled"
	EventRecoveryCompleted   = "recovery_completed"
	EventBrowserRemembered   = "browser_remembered"
	EventBrowserRevoked      = "browser_revoked"
	EventMemberInvited       = "member_invited"
	EventMemberRemoved       = "member_removed"
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
	case EventTwoFactorEnabled:
		return "Two-factor authentication turned on"
	case EventTwoFactorDisabled:
		return "Two-factor authentication turned off"
	case EventMethodAdded:
		return "Two-factor method added"
	case EventMethodRemoved:
		return "Two-factor method removed"
	case EventSecondFactorOK:
		return "Second factor accepted"
	case EventSecondFactorFailed:
		return "Wrong second-factor code"
	case EventSecondFactorLocked:
		return "Second-factor attempts paused after repeated failures"
	case EventBackupGenerated:
		return "New backup codes generated"
	case EventBackupUsed:
		return "Backup code used"
	case EventBackupLow:
		return "Few backup codes left"
	case EventClockDrift:
		return "Authenticator clock out of step"
	case EventAdminReset:
		return "Two-factor authentication reset by staff"
	case EventEmailVerified:
		return "Email address verified"
	case EventEmailChangeRequest:
		return "Email address change requested"
	case EventEmailChanged:
		return "Email address changed"
	case EventCodeSent:
		return "Verification code sent"
	case EventKeyCounterRegressed:
		return "Security key refused: possible copy"
	case EventRecoveryRequested:
		return "Account recovery requested"
	case EventRecoveryApproved:
		return "Account recovery approved: two-factor reset scheduled"
	case EventRecoveryDenied:
		return "Account recovery request denied"
	case EventRecoveryCancelled:
		return "Account recovery cancelled"
	case EventRecoveryCompleted:
		return "Two-factor authentication reset after account recovery"
	case EventBrowserRemembered:
		return "Browser remembered for 30 days"
	case EventBrowserRevoked:
		return "Remembered browser removed"
	case EventMemberInvited:
		return "User invited"
	case EventMemberRemoved:
		return "User removed"
	}
	return typ
}

// EventFilter selects events for the staff event log.
type EventFilter struct {
	UserID string
	Type   string
	Since  int64 // inclusive, 0: no bound
	Until  int64 // exclusive, 0: no bound
	// Before is the keyset cursor: events strictly older than this id.
	Before string
	Limit  int
}

// EventLog lists events for staff.
type EventLog interface {
	Events(ctx context.Context, f EventFilter) ([]*Event, error)
}
