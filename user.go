package portal

import (
	"context"
	"net/mail"
	"strings"
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
	UpdatePasswordHash(ctx context.Context, userID, hash string) error
	CountStaff(ctx context.Context) (int, error)
	// VerifyEmail marks the user's address verified if it is still email.
	VerifyEmail(ctx context.Context, userID, email string, at int64) error
	// ChangeEmail replaces the address (already verified by the link) and
	// returns the user as it was before.
	ChangeEmail(ctx context.Context, userID, email string, at int64) (*User, error)
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
	if strings.ContainsFunc(display, func(r rune) bool { return r == utf8.RuneError || r < 0x20 || r == 0x7f }) {
		return "", "", &Error{Code: EINVALID, Message: "Enter a valid email address, like name@example.com.", Field: "email"}
	}
	a, perr := mail.ParseAddress(display)
	if perr != nil || a.Address != display || a.Name != "" || !strings.Contains(display[strings.LastIndexByte(display, '@'):], ".") {
		return "", "", &Error{Code: EINVALID, Message: "Enter a valid email address, like name@example.com.", Field: "email"}
	}
	return strings.ToLower(display), display, nil
}

// NormalizeName checks a person's display name.
func NormalizeName(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", &Error{Code: EINVALID, Message: "Enter your name.", Field: "name"}
	case utf8.RuneCountInString(s) > 100:
		return "", &Error{Code: EINVALID, Message: "Your name can be at most 100 characters.", Field: "name"}
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", &Error{Code: EINVALID, Message: "Your name contains characters we cannot show.", Field: "name"}
	}
	return s, nil
}

// MustKey is the lookup form of an address already known to be valid.
func MustKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
