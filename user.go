package portal

import (
	"context"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Roles a user can have. Owners and members belong to a customer account;
// admins are staff and belong to none.
const (
	RoleOwner  = "owner"
	RoleMember = "member"
	RoleAdmin  = "admin"
)

// Account is a customer: a company or a person with one owner and any number
// of member users.
type Account struct {
	ID        string
	Name      string
	CreatedAt int64
	// Require2FA: the owner requires 2FA of every user of the account.
	Require2FA bool
}

// User is anyone who can log in: an account owner, an account member or staff.
type User struct {
	ID        string
	AccountID string // empty for staff
	Email     string // as typed at registration; compared case-insensitively
	Name      string
	Role      string
	// PasswordHash is an argon2id PHC string. It never leaves the server.
	PasswordHash    string
	Disabled        bool
	EmailVerifiedAt int64
	CreatedAt       int64
	LastLoginAt     int64
	// PreferredMethod is the method type offered first at login.
	PreferredMethod string
	// AuthEpoch moves on whenever the user's credentials change (password,
	// 2FA on or off, a staff reset): sessions and device cookies of an
	// earlier epoch are dead.
	AuthEpoch int64
	// Locale is the language the user chose (an i18n language code), or
	// empty: pages then follow the browser, emails the language of the
	// request that sent them.
	Locale string
}

// IsStaff reports whether u runs the portal.
func (u *User) IsStaff() bool { return u.Role == RoleAdmin }

// UserStore keeps accounts and users.
type UserStore interface {
	// CreateUser stores u (and acct, when not nil, as its new account) in one
	// transaction. A taken email gives a conflict error.
	CreateUser(ctx context.Context, u *User, acct *Account) error
	UserByID(ctx context.Context, id string) (*User, error)
	// UserByEmail finds a user by email, case-insensitively.
	UserByEmail(ctx context.Context, email string) (*User, error)
	// SetLocale stores the language the user chose ("" = none).
	SetLocale(ctx context.Context, userID, locale string) error
	UpdatePasswordHash(ctx context.Context, userID, hash string) error
	// ResetPassword uses a password-reset link: in one transaction it
	// consumes the link, sets the new hash, moves the credential epoch on
	// (every session ends), forgets remembered browsers, revokes pending
	// email-change and reset links and writes rec. It returns the user.
	ResetPassword(ctx context.Context, tokenID, hash string, at int64, rec func(u *User) (*Record, error)) (*User, error)
	// ChangePassword sets a new password hash and, in the same transaction,
	// ends every other session (all but keepSession), forgets remembered
	// browsers, revokes pending email-change links and writes rec.
	ChangePassword(ctx context.Context, userID, hash, keepSession string, rec *Record) error
	CountStaff(ctx context.Context) (int, error)
	// VerifyEmail marks the user's address verified if it is still email.
	VerifyEmail(ctx context.Context, userID, email string, at int64) error
	// ChangeEmail uses the email-change link tokenID: in one transaction it
	// consumes the link, moves the account to the new address (verified by
	// the link) if it still uses the address the link came from, and
	// revokes the user's other pending address links. It returns the user
	// as before and the change.
	ChangeEmail(ctx context.Context, tokenID string, at int64) (*User, EmailChange, error)
}

// NormalizeEmail validates an email address and returns its canonical form
// for lookups (trimmed, lower-case) together with the form to display.
func NormalizeEmail(s string) (key, display string, err error) {
	display = strings.TrimSpace(s)
	if display == "" {
		return "", "", &Error{Code: EINVALID, Message: "Enter your email address.", Field: "email"}
	}
	if len(display) > 254 {
		return "", "", &Error{Code: EINVALID, Message: "That email address is too long.", Field: "email"}
	}
	if CheckText("email", display, SingleLine) != nil || strings.ContainsRune(display, utf8.RuneError) {
		return "", "", &Error{Code: EINVALID, Message: "Enter a valid email address, like name@example.com.", Field: "email"}
	}
	a, perr := mail.ParseAddress(display)
	if perr != nil || a.Address != display || a.Name != "" || !strings.Contains(display[strings.LastIndexByte(display, '@'):], ".") {
		return "", "", &Error{Code: EINVALID, Message: "Enter a valid email address, like name@example.com.", Field: "email"}
	}
	// The key is the address in lower case. A letter whose lower case is
	// another letter's (the dotted İ is i's, the Kelvin sign k's) would
	// give two mailboxes one key: the first to sign up would own the
	// other's address. Such an address is refused.
	for _, r := range display {
		if l := unicode.ToLower(r); l != r && unicode.ToUpper(l) != r {
			return "", "", &Error{Code: EINVALID, Message: "Enter a valid email address, like name@example.com.", Field: "email"}
		}
	}
	return strings.ToLower(display), display, nil
}

// NormalizeName checks a person's display name.
func NormalizeName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if err := CheckText("name", s, SingleLine); err != nil {
		return "", err
	}
	switch {
	case s == "":
		return "", &Error{Code: EINVALID, Message: "Enter your name.", Field: "name"}
	case utf8.RuneCountInString(s) > 100:
		return "", &Error{Code: EINVALID, Message: "Your name can be at most 100 characters.", Field: "name"}
	}
	return s, nil
}

// MustKey is the lookup form of an address already known to be valid.
func MustKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
