package portal

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Kinds of one-time token.
const (
	TokenSetup       = "setup"        // creates the first administrator
	TokenVerifyEmail = "verify_email" // proves an address; Data is the address
	TokenChangeEmail = "change_email" // moves the account; Data is an EmailChange
	TokenInvite      = "invite"       // makes a member of AccountID; Data is JSON {email,name}
	TokenUnlock      = "unlock_2fa"   // lifts a frozen second-factor limit of UserID
	TokenReset       = "reset"        // sets a new password for UserID (a forgotten one)
	TokenSecure      = "secure"       // "No, secure my account" in a new sign-in alert
)

// Token is a one-time link token. Only its hash is stored.
type Token struct {
	ID        string // HashToken of the secret
	Kind      string
	UserID    string
	Data      string
	AccountID string
	CreatedAt int64
	ExpiresAt int64
	UsedAt    int64
}

// EmailChange is what an email-change link carries: the new address and
// the one it replaces. The link works only while the account still uses
// From, so a link from before a later change is dead.
type EmailChange struct {
	To   string `json:"to"`
	From string `json:"from"`
}

// Encode is the token's Data.
func (c EmailChange) Encode() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// ParseEmailChange reads a change_email token's Data.
func ParseEmailChange(data string) (EmailChange, error) {
	var c EmailChange
	if err := json.Unmarshal([]byte(data), &c); err != nil || c.To == "" || c.From == "" {
		return c, Errorf(ECONFLICT, "This link is no longer valid. Ask for a new one on the Security page.")
	}
	return c, nil
}

// TokenStore keeps one-time tokens.
type TokenStore interface {
	CreateToken(ctx context.Context, t *Token) error
	// ReplaceToken stores t and, in the same transaction, deletes the
	// user's unused tokens of its kind: a newer link kills the older ones.
	// With session (the one asking), nothing is stored unless that session
	// still lives at its user's credential epoch.
	ReplaceToken(ctx context.Context, t *Token, session string) error
	// TokenByID finds an unused, unexpired token of kind.
	TokenByID(ctx context.Context, kind, id string, now int64) (*Token, error)
	// ConsumeToken marks it used; it succeeds once.
	ConsumeToken(ctx context.Context, kind, id string, now int64) (*Token, error)
	// DeleteToken removes a token (no error when it does not exist).
	DeleteToken(ctx context.Context, kind, id string) error
	// CreateUserWithToken consumes the token and creates the user atomically.
	CreateUserWithToken(ctx context.Context, u *User, acct *Account, kind, tokenID string, now int64) error
	// CreateSetupToken stores a set-up token in place of every older one;
	// ErrStaffExists once anyone is staff.
	CreateSetupToken(ctx context.Context, t *Token) error
	// CreateFirstAdmin consumes a set-up token and creates u, an admin,
	// atomically; ErrStaffExists once anyone is staff, decided inside the
	// same transaction and serialized with every creation of staff.
	CreateFirstAdmin(ctx context.Context, u *User, tokenID string, now int64) error
}

// ErrStaffExists: a set-up link was used or asked for after the first
// administrator was made.
var ErrStaffExists = &Error{Code: ECONFLICT, Message: "An administrator already exists."}

// NewSecretToken returns a 256-bit random token for a cookie or a link, and
// the hash under which it is stored.
func NewSecretToken() (token, hash string) {
	token = base64.RawURLEncoding.EncodeToString(RandomToken(32))
	return token, HashToken(token)
}

// A session's cookie starts with the time it was made, stampLen characters:
// eight hex digits of Unix seconds and a dot (not a character of the random
// part's alphabet). Its id keeps the stamp before the hash, so the sessions
// table, kept in id order, stores the sessions made in the same few seconds
// together: a sign-in's new session and the one its first step made land on
// the table's last pages, which every sign-in uses, not on a random page of
// their own to read and flush.
const stampLen = 9

// NewSessionToken returns a new session's cookie value and its id.
func NewSessionToken(now time.Time) (token, id string) {
	token = fmt.Sprintf("%08x.", uint32(now.Unix())) + base64.RawURLEncoding.EncodeToString(RandomToken(32))
	id, _ = SessionID(token)
	return token, id
}

// SessionID returns the id of the session a cookie value names, or false
// when the value has the form of no session cookie. A value without a
// stamp (cookies made before stamps) names the session with its hash as id.
func SessionID(token string) (string, bool) {
	switch len(token) {
	case 43:
		return HashToken(token), true
	case stampLen + 43:
		for _, c := range []byte(token[:stampLen-1]) {
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return "", false
			}
		}
		if token[stampLen-1] != '.' {
			return "", false
		}
		return token[:stampLen] + HashToken(token), true
	}
	return "", false
}

// HashToken is the stored form of a token: hex SHA-256. A 256-bit random
// token needs no slow hash.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
