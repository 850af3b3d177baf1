package portal

import (
	"context"
	"time"
)

// Second-factor method types. A user may hold several at once.
const (
	MethodTOTP     = "totp"
	MethodEmail    = "email"
	MethodWhatsApp = "whatsapp"
	MethodWebAuthn = "webauthn"
	// MethodPasskey is a discoverable WebAuthn credential registered with
	// user verification: a second factor like a security key, and a
	// complete sign-in on its own.
	MethodPasskey    = "passkey"
	MethodYubicoOTP  = "yubico_otp"
	MethodBackupCode = "backup_code" // not a method row: the user's backup code set
)

// Method is one enrolled (or being enrolled) second factor of a user.
type Method struct {
	ID     string
	UserID string
	Type   string
	Name   string // the user's label, e.g. "YubiKey 5C"
	// Secret is sealed (encrypted, see mfa.Keyring) and bound to UserID: a
	// TOTP secret, a WebAuthn credential. Empty for methods without one.
	Secret string
	// Data is non-secret detail shown to the user (masked phone, key id).
	Data        string
	ConfirmedAt int64 // 0 while enrolment is pending
	// LastStep is the last accepted TOTP time step (replay protection) or
	// the last seen signature counter.
	LastStep   int64
	CreatedAt  int64
	LastUsedAt int64
}

// Confirmed reports whether the method counts for 2FA.
func (m *Method) Confirmed() bool { return m.ConfirmedAt > 0 }

// BackupSet describes a user's current backup codes: the argon2id
// parameters and salt shared by the set (one attempt costs one hash).
type BackupSet struct {
	ID        string
	UserID    string
	Params    string // "$argon2id$v=19$m=…,t=…,p=…$salt"
	Hashes    []string
	CreatedAt int64
}

// MethodStore keeps second-factor methods and backup codes.
type MethodStore interface {
	CreateMethod(ctx context.Context, m *Method) error
	// UserMethods lists all methods of a user, confirmed first, oldest first.
	UserMethods(ctx context.Context, userID string) ([]*Method, error)
	// ConfirmMethod marks a pending method confirmed. When set is not nil it
	// becomes the user's backup code set in the same transaction (the first
	// method), and preferred becomes the user's preferred method if none.
	// It returns whether 2FA was off before; when it was, every session of
	// the user but keepSession ends.
	//
	// record, when given, says what the change writes about itself (its
	// audit event and notice), knowing whether it turned 2FA on; that is
	// written in the same transaction.
	ConfirmMethod(ctx context.Context, m *Method, set *BackupSet, at int64, keepSession string, record func(enabledNow bool) *Record) (enabledNow bool, err error)
	// DeleteMethod removes a method; the user's last confirmed one is
	// refused with ErrLastMethod, decided in the delete's transaction.
	// Removing a passkey ends every session but rec's (a new credential
	// epoch), as a password change does.
	DeleteMethod(ctx context.Context, userID, id string, rec *Record) error
	// DeletePendingMethods removes unconfirmed methods of a type.
	DeletePendingMethods(ctx context.Context, userID, typ string) error
	// DeletePendingMethod removes one method only while it is unconfirmed
	// (one confirmed meanwhile stays); ErrNotFound otherwise.
	DeletePendingMethod(ctx context.Context, userID, id string) error
	// ConsumeStep accepts step for a method only if it is later than every
	// step accepted before (atomic: one of two simultaneous requests wins).
	ConsumeStep(ctx context.Context, methodID string, step, at int64) (bool, error)
	// UpdateStep moves a method's counter from old to new (a security key's
	// signature counter); false when it changed meanwhile.
	UpdateStep(ctx context.Context, methodID string, old, new, at int64) (bool, error)
	// RenameMethod changes the user's label of a method.
	RenameMethod(ctx context.Context, userID, id, name string) error
	// TouchMethod records a successful use.
	TouchMethod(ctx context.Context, methodID string, at int64) error
	SetPreferredMethod(ctx context.Context, userID, typ string) error
	// ReplaceBackupSet makes set the user's only backup codes.
	ReplaceBackupSet(ctx context.Context, set *BackupSet, rec *Record) error
	// BackupParams returns the user's set parameters and unused count.
	BackupParams(ctx context.Context, userID string) (params string, remaining int, err error)
	// ConsumeBackupCode marks the code with hash used, exactly once.
	ConsumeBackupCode(ctx context.Context, userID, hash string, at int64) (bool, error)
	// DisableTwoFactor removes every method, backup code, remembered
	// browser and pending email change of the user and ends their sessions
	// except keepSession.
	DisableTwoFactor(ctx context.Context, userID, keepSession string, rec *Record) error
	// ResetTwoFactor disables 2FA for staff, ending every session and
	// writing the audit event and the notice in the same transaction.
	// With a recovery request, that request is completed in it too, and
	// nothing is written (false) unless it is still approved and due.
	ResetTwoFactor(ctx context.Context, r *Reset) (bool, error)
	// SealedSecrets lists every sealed secret, for key rotation.
	SealedSecrets(ctx context.Context) ([]*Method, error)
	// ReplaceSecret swaps a sealed secret if it is still old.
	ReplaceSecret(ctx context.Context, methodID, old, new string) error
}

// TwoFactorStatus summarises a user's 2FA for pages and the API.
type TwoFactorStatus struct {
	Enabled         bool
	Methods         []*Method // confirmed only
	Preferred       string
	BackupRemaining int
}

// LowBackupCodes is the count at which the user is warned (SPEC §9).
const LowBackupCodes = 3

// PendingEnrolment is how long an unconfirmed method may be confirmed.
const PendingEnrolment = 30 * time.Minute

// Reset is a reset of a user's two-factor authentication by staff, directly
// or through an approved recovery request.
type Reset struct {
	UserID string
	// Recovery is the recovery request the reset completes ("" for none).
	Recovery string
	At       int64
	Event    *Event
	// Notice tells the user (nil: no notifier).
	Notice *OutboxMessage
}

// Record is what a change writes about itself in its own transaction: the
// audit event and the user's notice (either may be nil). A crash then leaves
// the change with both or neither.
type Record struct {
	Event  *Event
	Notice *OutboxMessage
	// Session is the session making the change ("" for the system): the
	// change is refused if that session ended, or its user's credentials
	// changed, before the change's transaction took the user's lock. A
	// request that started before a password change or a staff reset
	// changes nothing after it.
	Session string
}
