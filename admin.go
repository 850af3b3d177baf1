package portal

import (
	"context"
	"strings"
	"unicode/utf8"
)

// Values of UserFilter.TwoFA, as the staff console and
// GET /api/v1/admin/users spell them (SPEC §10, §11).
const (
	TwoFAActivated    = "activated"
	TwoFANotActivated = "not_activated"
)

// Page sizes of the staff user list. A zero UserFilter.Limit means
// DefaultUserPage; anything outside 1..MaxUserPage is refused rather than
// clamped, so a client never silently gets fewer rows than it asked for.
const (
	DefaultUserPage = 50
	MaxUserPage     = 200
)

// UserFilter selects and pages the staff console's user list. Every field is
// optional; set fields are combined with AND.
type UserFilter struct {
	TwoFA     string // "", TwoFAActivated or TwoFANotActivated
	Method    string // a confirmed method type, e.g. MethodTOTP
	Role      string // RoleOwner, RoleMember or RoleAdmin
	AccountID string
	// Query is a prefix, ignoring case, of the email or, when it holds no
	// "@", of the email or the name. Prefixes, unlike substrings, can be
	// read from an index at millions of users.
	Query string
	// Limit is the page size: 0 means DefaultUserPage, at most MaxUserPage.
	Limit int
	// Cursor is the opaque next value of the previous page; empty for the
	// first page. A cursor stays valid under any filter.
	Cursor string
}

// Normalize checks f and returns it with surrounding space trimmed and the
// default page size filled in. Unknown values give an EINVALID error whose
// Field names the query parameter.
func (f UserFilter) Normalize() (UserFilter, error) {
	f.TwoFA = strings.TrimSpace(f.TwoFA)
	f.Method = strings.TrimSpace(f.Method)
	f.Role = strings.TrimSpace(f.Role)
	f.AccountID = strings.TrimSpace(f.AccountID)
	f.Query = strings.TrimSpace(f.Query)
	f.Cursor = strings.TrimSpace(f.Cursor)
	switch f.TwoFA {
	case "", TwoFAActivated, TwoFANotActivated:
	default:
		return f, &Error{Code: EINVALID, Field: "twofa", Message: "The two-factor filter must be activated or not_activated."}
	}
	switch f.Method {
	case "", MethodTOTP, MethodEmail, MethodWhatsApp, MethodWebAuthn, MethodPasskey, MethodYubicoOTP:
	default:
		return f, &Error{Code: EINVALID, Field: "method", Message: "The method filter must be one of totp, email, whatsapp, webauthn or yubico_otp."}
	}
	switch f.Role {
	case "", RoleOwner, RoleMember, RoleAdmin:
	default:
		return f, &Error{Code: EINVALID, Field: "role", Message: "The role filter must be owner, member or admin."}
	}
	for _, t := range []struct{ field, value string }{{"account", f.AccountID}, {"q", f.Query}, {"cursor", f.Cursor}} {
		if err := CheckText(t.field, t.value, SingleLine); err != nil {
			return f, err
		}
	}
	if len(f.AccountID) > 100 {
		return f, &Error{Code: EINVALID, Field: "account", Message: "The account id is too long."}
	}
	if utf8.RuneCountInString(f.Query) > 254 {
		return f, &Error{Code: EINVALID, Field: "q", Message: "The search can be at most 254 characters of text."}
	}
	switch {
	case f.Limit == 0:
		f.Limit = DefaultUserPage
	case f.Limit < 0 || f.Limit > MaxUserPage:
		return f, &Error{Code: EINVALID, Field: "limit", Message: "The page size must be between 1 and 200."}
	}
	return f, nil
}

// UserRow is one line of the staff user list.
type UserRow struct {
	// User never carries PasswordHash here: lists do not load it.
	User
	TwoFA   bool     // at least one confirmed method
	Methods []string // confirmed method types, sorted, each once
	// TwoFASince is when the earliest confirmed method still present was
	// confirmed (Unix time, 0 without 2FA).
	TwoFASince int64
	// FailedAttempts counts the password and second-factor failures since
	// the user's last success (the consecutive login limits of SPEC §2, §4).
	FailedAttempts int
}

// RoleAdoption counts the users of one role and how many of them have 2FA.
type RoleAdoption struct {
	Total   int
	Enabled int
}

// TwoFactorStats is the staff console's 2FA adoption summary.
type TwoFactorStats struct {
	Total   int // every user, disabled ones included
	Enabled int // users with at least one confirmed method
	ByRole  map[string]RoleAdoption
	// ByMethod counts users per confirmed method type (a user with two
	// types counts under both).
	ByMethod map[string]int
}

// DayPoint is one day of the 2FA adoption chart.
type DayPoint struct {
	Day   int64 // Unix time of the day's start (UTC)
	New   int   // users whose first confirmed method dates from this day
	Total int   // users with 2FA at the end of this day
}

// AdminStore serves the staff console.
type AdminStore interface {
	// ListUsers returns one page of users, newest first (created_at, then
	// id, descending), and the cursor of the next page ("" on the last).
	ListUsers(ctx context.Context, f UserFilter) (rows []*UserRow, next string, err error)
	TwoFactorStats(ctx context.Context) (*TwoFactorStats, error)
	// AdoptionHistory returns one point per UTC day for the days days up to
	// and including the day of now, starting no earlier than the day the
	// first user was created. It counts users who have 2FA now, by the day
	// of their earliest confirmed method still present (TwoFASince).
	AdoptionHistory(ctx context.Context, now int64, days int) ([]DayPoint, error)
	// UsersByIDs finds the users of ids (at most a page's worth), by id;
	// unknown ids are left out.
	UsersByIDs(ctx context.Context, ids []string) (map[string]*User, error)
	// AccountOwners finds the owners of accounts, by account id.
	AccountOwners(ctx context.Context, accountIDs []string) (map[string]*User, error)
}
