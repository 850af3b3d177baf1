package portal

import (
	"context"
	"time"
)

// Staff 2FA policies (SPEC §10).
const (
	PolicyOptional = "optional"
	PolicyStaff    = "staff" // the default: staff must use 2FA
	PolicyEveryone = "everyone"
)

// Settings are the staff settings.
type Settings struct {
	TwoFactorPolicy  string
	RememberBrowsers bool
	RecoveryWait     time.Duration
	// NewDeviceAlerts is whether users who have not chosen get an email
	// for a sign-in from a new browser.
	NewDeviceAlerts bool
}

// DefaultSettings apply until staff change them.
var DefaultSettings = Settings{TwoFactorPolicy: PolicyStaff, RememberBrowsers: true, RecoveryWait: 24 * time.Hour, NewDeviceAlerts: true}

// DeviceStore remembers the browsers users have signed in on.
type DeviceStore interface {
	// KnownDevice reports whether a sign-in of the user completed on the
	// browser whose known-browser cookie hashes to hash.
	KnownDevice(ctx context.Context, userID, hash string) (bool, error)
	// AlertPref returns the user's choice about new sign-in alerts (set
	// false: none made).
	AlertPref(ctx context.Context, userID string) (on, set bool, err error)
	SetAlertPref(ctx context.Context, userID string, on bool) error
	// SecureAccount uses a "secure my account" link, in one transaction:
	// the token is consumed, the user's credential epoch moves on (every
	// session, device cookie and app token ends), remembered browsers are
	// forgotten, and what was added since the token's CreatedAt (the
	// reported sign-in) goes: second-factor methods, backup codes, pending
	// email changes, invitations, API tokens. It returns the token.
	SecureAccount(ctx context.Context, tokenHash string, now int64) (*Token, error)
}

// PolicyStore reads what requires a user to have 2FA: the staff's settings
// and the user's account.
type PolicyStore interface {
	Settings(ctx context.Context) (*Settings, error)
	AccountByID(ctx context.Context, id string) (*Account, error)
}

// RequiresTwoFactor applies the staff's policy and the account owner's to u,
// as they stand now.
func RequiresTwoFactor(ctx context.Context, st PolicyStore, u *User) (bool, error) {
	set, err := st.Settings(ctx)
	if err != nil {
		return false, err
	}
	var acct *Account
	if u.AccountID != "" {
		if acct, err = st.AccountByID(ctx, u.AccountID); err != nil && ErrorCode(err) != ENOTFOUND {
			return false, err
		}
	}
	return set.MustUseTwoFactor(u, acct), nil
}

// MustUseTwoFactor reports whether policy requires u to have 2FA.
func (s *Settings) MustUseTwoFactor(u *User, acct *Account) bool {
	switch {
	case s.TwoFactorPolicy == PolicyEveryone:
		return true
	case s.TwoFactorPolicy == PolicyStaff && u.IsStaff():
		return true
	}
	return acct != nil && acct.Require2FA
}

// Member is a user of an account as its owner sees them.
type Member struct {
	User    *User
	Methods []string // types of confirmed methods
}

// Invitation is a pending invitation of a member.
type Invitation struct {
	ID        string
	Email     string
	Name      string
	CreatedAt int64
	ExpiresAt int64
}

// Browser is a remembered browser ("don't ask again for 30 days").
type Browser struct {
	ID         string
	UserID     string
	TokenHash  string
	UserAgent  string
	IP         string
	CreatedAt  int64
	LastUsedAt int64
	ExpiresAt  int64
	// Session is the session that earned the browser (not stored): it
	// is remembered only while that session is live at its user's
	// credential epoch, so a password change, 2FA off or a reset that
	// forgot the user's browsers also forgets one whose sign-in was still
	// running.
	Session string
}

// RememberFor is how long a remembered browser skips the second factor.
const RememberFor = 30 * 24 * time.Hour

// Recovery request states.
const (
	RecoveryPending   = "pending"
	RecoveryApproved  = "approved" // reset scheduled at EffectiveAt
	RecoveryDenied    = "denied"
	RecoveryCancelled = "cancelled" // the user signed in with 2FA meanwhile
	RecoveryCompleted = "completed" // 2FA was reset
)

// RecoveryRequest is a lockout recovery request.
type RecoveryRequest struct {
	ID          string
	UserID      string
	Email       string // of the user, for staff
	Name        string
	Message     string
	Status      string
	CreatedAt   int64
	DecidedAt   int64
	DecidedBy   string
	Note        string
	EffectiveAt int64
	ClosedAt    int64
}

// AccountStore keeps accounts, their members and invitations, staff
// settings, remembered browsers and recovery requests.
type AccountStore interface {
	AccountByID(ctx context.Context, id string) (*Account, error)
	// SetAccountRequire2FA turns the account's 2FA requirement on or
	// off; on, its users without 2FA who are signed in can from then on
	// reach only the set-up pages (their sessions drop to LevelSetup),
	// but for the session keep that made the change.
	SetAccountRequire2FA(ctx context.Context, id string, on bool, keep string) error
	// Members lists the users of an account with their confirmed method
	// types, oldest first.
	Members(ctx context.Context, accountID string) ([]*Member, error)
	DeleteUser(ctx context.Context, id string) error
	CreateInvitation(ctx context.Context, t *Token) error
	// ReplaceInvitation gives a pending invitation of the account a new
	// link (t, with the same data), the old link dead, in one transaction;
	// not found when it is not the account's or no longer pending.
	ReplaceInvitation(ctx context.Context, accountID, oldID string, t *Token, now int64) (*Token, error)
	// RevokeInvitation deletes a pending invitation of the account.
	RevokeInvitation(ctx context.Context, accountID, id string) error
	Invitations(ctx context.Context, accountID string, now int64) ([]*Invitation, error)

	Settings(ctx context.Context) (*Settings, error)
	// SaveSettings stores s; the signed-in users its 2FA policy now
	// requires 2FA of, and who have none, drop to LevelSetup (but for the
	// session keep that made the change).
	SaveSettings(ctx context.Context, s *Settings, keep string) error

	CreateBrowser(ctx context.Context, b *Browser) error
	// BrowserByToken finds a live remembered browser of a user by token hash.
	BrowserByToken(ctx context.Context, userID, hash string, now int64) (*Browser, error)
	TouchBrowser(ctx context.Context, id string, at int64) error
	UserBrowsers(ctx context.Context, userID string, now int64) ([]*Browser, error)
	DeleteBrowser(ctx context.Context, userID, id string) error
	DeleteUserBrowsers(ctx context.Context, userID string) error

	// CreateRecovery opens a request unless the user has an open one.
	CreateRecovery(ctx context.Context, r *RecoveryRequest) (created bool, err error)
	RecoveryByID(ctx context.Context, id string) (*RecoveryRequest, error)
	Recoveries(ctx context.Context, status string, limit int) ([]*RecoveryRequest, error)
	// DecideRecovery moves a pending request to approved or denied.
	DecideRecovery(ctx context.Context, id, status, by, note string, at, effectiveAt int64) error
	// DueRecoveries lists approved requests whose waiting period is over.
	DueRecoveries(ctx context.Context, now int64) ([]*RecoveryRequest, error)
}

// ImportedUser is one user an import writes, all or nothing: the user, the
// account it creates (nil when it joins one, or for staff), and its
// authenticator app (nil: none).
type ImportedUser struct {
	User    *User
	Account *Account
	TOTP    *Method
	Event   *Event // its record (user created)
}
