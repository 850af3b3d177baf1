package portal

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// Kinds of one-time token.
const (
	TokenSetup       = "setup"        // creates the first administrator
	TokenVerifyEmail = "verify_email" // proves an address; Data is the address
	TokenChangeEmail = "change_email" // moves the account to Data
	TokenInvite      = "invite"       // makes a member of AccountID; Data is JSON {email,name}
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

// TokenStore keeps one-time tokens.
type TokenStore interface {
	CreateToken(ctx context.Context, t *Token) error
	// TokenByID finds an unused, unexpired token of kind.
	TokenByID(ctx context.Context, kind, id string, now int64) (*Token, error)
	// ConsumeToken marks it used; it succeeds once.
	ConsumeToken(ctx context.Context, kind, id string, now int64) (*Token, error)
	// DeleteToken removes a token (no error when it does not exist).
	DeleteToken(ctx context.Context, kind, id string) error
	// CreateUserWithToken consumes the token and creates the user atomically.
	CreateUserWithToken(ctx context.Context, u *User, acct *Account, kind, tokenID string, now int64) error
}

// NewSecretToken returns a 256-bit random token for a cookie or a link, and
// the hash under which it is stored.
func NewSecretToken() (token, hash string) {
	token = base64.RawURLEncoding.EncodeToString(RandomToken(32))
	return token, HashToken(token)
}

// HashToken is the stored form of a token: hex SHA-256. A 256-bit random
// token needs no slow hash.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
