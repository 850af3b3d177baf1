package portal

import (
	"context"
	"fmt"
	"time"
)

// Security event types, recorded for the user and for staff.
const (
	EventLoginSucceeded         = "login_succeeded"
	EventLoginFailed            = "login_failed"
	EventLoginLocked            = "login_locked"
	EventPasswordChanged        = "password_changed"
	EventPasswordResetRequested = "password_reset_requested"
	EventUserCreated            = "user_created"
	EventReauthenticated        = "reauthenticated"
	EventLogout                 = "logout"

	EventTwoFactorEnabled    = "2fa_enabled"
	EventTwoFactorDisabled   = "2fa_disabled"
	EventMethodAdded         = "2fa_method_added"
	EventMethodRemoved       = "2fa_method_removed"
	EventSecondFactorOK      = "2fa_succeeded"
	EventSecondFactorFailed  = "2fa_failed"
	EventSecondFactorLocked  = "2fa_locked"
	EventSecondFactorFrozen  = "2fa_frozen"
	EventSecondFactorUnlock  = "2fa_unlocked"
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
	EventInvitationRevoked   = "invitation_revoked"
	EventAppAuthorized       = "app_authorized"
	EventAppAccessRevoked    = "app_access_revoked"
	EventAppTokenReused      = "app_token_reused"
	EventAppSaved            = "app_saved"
	EventSessionEnded        = "session_ended"
	EventAccountSecured      = "account_secured"
	EventAppDeleted          = "app_deleted"
	EventAPITokenCreated     = "api_token_created"
	EventAPITokenRevoked     = "api_token_revoked"
	EventAPITokenUsed        = "api_token_used"
	EventUsersImported       = "users_imported"
	EventUserDisabled        = "user_disabled"
	EventUserEnabled         = "user_enabled"
	EventNewDeviceSignIn     = "new_device_sign_in"
	EventWebhookSaved        = "webhook_saved"
	EventWebhookDeleted      = "webhook_deleted"
	EventWebhookResent       = "webhook_resent"
	EventPolicyChanged       = "2fa_policy_changed"
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
	case EventAPITokenCreated:
		return "API token created"
	case EventAPITokenRevoked:
		return "API token revoked"
	case EventAPITokenUsed:
		return "API token used to make a change"
	case EventUsersImported:
		return "Users imported"
	case EventWebhookSaved:
		return "Webhook endpoint added"
	case EventWebhookDeleted:
		return "Webhook endpoint deleted"
	case EventWebhookResent:
		return "Webhook delivery sent again"
	case EventNewDeviceSignIn:
		return "Signed in from a new browser"
	case EventUserDisabled:
		return "Account disabled by staff"
	case EventUserEnabled:
		return "Account enabled by staff"
	case EventAccountSecured:
		return "Signed out everywhere from a new sign-in alert"
	case EventSessionEnded:
		return "Signed out elsewhere"
	case EventAppSaved:
		return "App registered or changed"
	case EventAppDeleted:
		return "App deleted"
	case EventAppAuthorized:
		return "Signed in to an app"
	case EventAppAccessRevoked:
		return "App access removed"
	case EventAppTokenReused:
		return "An app's sign-in was stopped: a used code or token came back"
	case EventLoginSucceeded:
		return "Signed in"
	case EventLoginFailed:
		return "Failed sign-in attempt"
	case EventLoginLocked:
		return "Sign-in paused after repeated failures"
	case EventPasswordChanged:
		return "Password changed"
	case EventPasswordResetRequested:
		return "Password reset link sent"
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
	case EventSecondFactorFrozen:
		return "Two-factor sign-in frozen after too many wrong codes"
	case EventSecondFactorUnlock:
		return "Two-factor sign-in unlocked"
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
	case EventPolicyChanged:
		return "Two-factor requirement changed"
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
	case EventInvitationRevoked:
		return "Invitation withdrawn"
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
	// After reads forward instead: events strictly newer than this id,
	// oldest first ("" with Forward: from the start).
	After   string
	Forward bool
	Limit   int
}

// NewEventID returns an event id for t: 16 hex digits of Unix nanoseconds,
// then 10 random characters of an id, so that ids keep the order of events
// within a second and serve as the event log's keyset cursor.
func NewEventID(t time.Time) string {
	return fmt.Sprintf("%016x", t.UnixNano()) + NewID()[:10]
}

// ValidEventID reports whether s has the shape NewEventID gives: a cursor
// a client sends back is checked with it.
func ValidEventID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || i >= 16 && c >= 'g' && c <= 'z') {
			return false
		}
	}
	return true
}

// EventLog lists events for staff.
type EventLog interface {
	Events(ctx context.Context, f EventFilter) ([]*Event, error)
}
