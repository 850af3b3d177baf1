// Package portal holds the domain of Client Portal: users and accounts,
// sessions, security events, second-factor methods and the error codes the
// rest of the program speaks. It has no SQL and no HTTP; subpackages wrap
// those dependencies (sqlstore, web, mail, mfa, password).
package portal

import (
	"crypto/rand"
	"encoding/base32"
	"time"
)

// Clock tells the time. Production code uses SystemClock; tests freeze it to
// cross a TOTP step or an expiry without sleeping.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// idEncoding is lower-case base32 without padding: ids stay URL- and
// filename-safe and sort like any other text.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a random 128-bit identifier as 26 lower-case characters.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// RandomToken returns n random bytes (crypto/rand).
func RandomToken(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// ValidID reports whether s has the form of an id NewID makes (checked
// before it reaches a query).
func ValidID(s string) bool {
	if len(s) != idEncoding.EncodedLen(16) {
		return false
	}
	_, err := idEncoding.DecodeString(s)
	return err == nil
}
