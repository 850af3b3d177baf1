package password

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Hashes imported from other systems are kept as they are and verified in
// their own scheme; a successful sign-in rehashes the password with the
// portal's argon2id (Verify reports rehash). Accepted:
//
//   - bcrypt: $2a$, $2b$, $2y$ (PHP's password_hash, WHMCS), cost 4–14
//   - argon2id and argon2i PHC strings: $argon2id$v=19$m=…,t=…,p=…$salt$key
//   - PBKDF2-SHA256: Django's pbkdf2_sha256$ITER$SALT$KEY(base64) and the
//     PHC form $pbkdf2-sha256$i=ITER$SALT$KEY (unpadded base64)
//
// The bounds keep one sign-in from costing more than a few of the portal's
// own hashes.

// legacy is one verifiable foreign hash.
type legacy interface {
	verify(pw string) bool
}

// Bounds on imported hashes' cost: one check stays within a few of the
// portal's own hashes (bcrypt 12 ≈ 0.3 s, PBKDF2 at Django's current
// 1,000,000 ≈ 0.5 s, argon2 at 64 MiB × 4 ≈ 0.2 s here), so accounts with
// imported hashes cannot be used to hold the hashing slots.
const (
	maxBcryptCost    = 12
	maxPBKDF2Iter    = 1_000_000
	maxArgon2Memory  = 64 << 10 // KiB
	maxArgon2Time    = 4
	maxArgon2Threads = 4
)

// CheckImported reports whether hash is a password hash the portal can
// import (and verify at sign-in), with a sentence saying why not.
func CheckImported(hash string) error {
	for _, r := range hash {
		if r < 0x21 || r > 0x7e {
			return errors.New("a password hash is printable ASCII without spaces")
		}
	}
	_, err := parseLegacy(hash)
	return err
}

type bcryptHash string

func (h bcryptHash) verify(pw string) bool {
	return bcrypt.CompareHashAndPassword([]byte(h), []byte(pw)) == nil
}

type argon2Hash struct {
	id        bool
	p         Params
	salt, key []byte
}

func (h argon2Hash) verify(pw string) bool {
	var got []byte
	if h.id {
		got = argon2.IDKey([]byte(pw), h.salt, h.p.Time, h.p.Memory, h.p.Threads, uint32(len(h.key)))
	} else {
		got = argon2.Key([]byte(pw), h.salt, h.p.Time, h.p.Memory, h.p.Threads, uint32(len(h.key)))
	}
	return subtle.ConstantTimeCompare(got, h.key) == 1
}

type pbkdf2Hash struct {
	iter      int
	salt, key []byte
}

func (h pbkdf2Hash) verify(pw string) bool {
	got, err := pbkdf2.Key(sha256.New, pw, h.salt, h.iter, len(h.key))
	return err == nil && subtle.ConstantTimeCompare(got, h.key) == 1
}

// parseLegacy reads a foreign hash.
func parseLegacy(hash string) (legacy, error) {
	switch {
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		cost, err := bcrypt.Cost([]byte(hash))
		if err != nil || len(hash) != 60 {
			return nil, errors.New("not a valid bcrypt hash")
		}
		if cost > maxBcryptCost {
			return nil, fmt.Errorf("bcrypt cost %d is above %d", cost, maxBcryptCost)
		}
		return bcryptHash(hash), nil
	case strings.HasPrefix(hash, "$argon2id$"), strings.HasPrefix(hash, "$argon2i$"):
		parts := strings.Split(hash, "$")
		if len(parts) != 6 {
			return nil, errors.New("not a valid argon2 PHC string")
		}
		var v int
		var p Params
		if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
			return nil, errors.New("unsupported argon2 version (want v=19)")
		}
		if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
			return nil, errors.New("bad argon2 parameters")
		}
		if p.Memory < 8 || p.Memory > maxArgon2Memory || p.Time < 1 || p.Time > maxArgon2Time || p.Threads < 1 || p.Threads > maxArgon2Threads {
			return nil, errors.New("argon2 parameters out of range (m ≤ 65536, t ≤ 4, p ≤ 4)")
		}
		salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
		key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
		if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 64 {
			return nil, errors.New("bad argon2 salt or key")
		}
		return argon2Hash{id: parts[1] == "argon2id", p: p, salt: salt, key: key}, nil
	case strings.HasPrefix(hash, "pbkdf2_sha256$"):
		parts := strings.Split(hash, "$")
		if len(parts) != 4 {
			return nil, errors.New("not a valid pbkdf2_sha256 hash")
		}
		key, err := base64.StdEncoding.DecodeString(parts[3])
		if err != nil {
			return nil, errors.New("bad pbkdf2_sha256 key")
		}
		return newPBKDF2(parts[1], []byte(parts[2]), key)
	case strings.HasPrefix(hash, "$pbkdf2-sha256$"):
		parts := strings.Split(hash, "$")
		if len(parts) != 5 {
			return nil, errors.New("not a valid $pbkdf2-sha256$ hash")
		}
		iter, _ := strings.CutPrefix(parts[2], "i=")
		iter, _, _ = strings.Cut(iter, ",")
		salt, err1 := decodeB64(parts[3])
		key, err2 := decodeB64(parts[4])
		if err1 != nil || err2 != nil {
			return nil, errors.New("bad $pbkdf2-sha256$ salt or key")
		}
		return newPBKDF2(iter, salt, key)
	}
	return nil, errors.New("unknown password hash format (bcrypt, argon2id, argon2i and PBKDF2-SHA256 are accepted)")
}

func newPBKDF2(iter string, salt, key []byte) (legacy, error) {
	n, err := strconv.Atoi(iter)
	if err != nil || n < 1000 || n > maxPBKDF2Iter {
		return nil, fmt.Errorf("PBKDF2 iterations must be between 1,000 and %d", maxPBKDF2Iter)
	}
	if len(salt) == 0 || len(key) < 16 || len(key) > 64 {
		return nil, errors.New("bad PBKDF2 salt or key")
	}
	return pbkdf2Hash{iter: n, salt: salt, key: key}, nil
}

// decodeB64 reads the base64 of PHC strings: unpadded standard, or
// passlib's "adapted" alphabet ("." for "+").
func decodeB64(s string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.ReplaceAll(strings.TrimRight(s, "="), ".", "+"))
}
