package mfa

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/password"
)

// crockford is Crockford's base32 alphabet: no I, L, O or U.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// BackupCodeCount is the size of a set (SPEC §9).
const BackupCodeCount = 10

// Backup is the backup-code factor: 10 single-use codes of 80 bits each,
// stored as argon2id hashes with one random salt per set.
type Backup struct {
	Store interface {
		BackupParams(ctx context.Context, userID string) (string, int, error)
		ConsumeBackupCode(ctx context.Context, userID, hash string, at int64) (bool, error)
	}
	Hasher *password.Hasher
}

var _ Factor = (*Backup)(nil)

// Type implements Factor.
func (*Backup) Type() string { return portal.MethodBackupCode }

// Label implements Factor.
func (*Backup) Label() string { return "Backup code" }

// Prompt implements Factor.
func (*Backup) Prompt() string {
	return "Enter one of your backup codes, like ABCD-EFGH-JKMN-PQRS. Each code works once."
}

// Numeric implements Factor.
func (*Backup) Numeric() bool { return false }

// NewSet makes a fresh set for userID: the codes to show once, and the set
// to store.
func (b *Backup) NewSet(ctx context.Context, userID string, now int64) ([]string, *portal.BackupSet, error) {
	salt := make([]byte, 16)
	rand.Read(salt)
	p := b.Hasher.Params
	set := &portal.BackupSet{ID: portal.NewID(), UserID: userID, CreatedAt: now,
		Params: fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s", argon2.Version, p.Memory, p.Time, p.Threads, base64.RawStdEncoding.EncodeToString(salt))}
	codes := make([]string, BackupCodeCount)
	for i := range codes {
		raw := make([]byte, 10) // 80 bits = 16 base32 characters
		rand.Read(raw)
		c := encodeCrockford(raw)
		codes[i] = c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
		h, err := b.hash(ctx, set.Params, c)
		if err != nil {
			return nil, nil, err
		}
		set.Hashes = append(set.Hashes, h)
	}
	return codes, set, nil
}

// hash derives the stored form of a canonical code under a set's params.
func (b *Backup) hash(ctx context.Context, params, code string) (string, error) {
	key, err := b.Hasher.Derive(ctx, params, code)
	if err != nil {
		return "", err
	}
	return base64.RawStdEncoding.EncodeToString(key), nil
}

// Verify implements Factor: one hash per attempt, then an atomic
// single-use update.
func (b *Backup) Verify(ctx context.Context, req *Request) (*Result, error) {
	code, err := NormalizeBackupCode(req.Code)
	if err != nil {
		return nil, err
	}
	params, _, err := b.Store.BackupParams(ctx, req.User.ID)
	if err != nil {
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			return nil, errCode
		}
		return nil, err
	}
	h, err := b.hash(ctx, params, code)
	if err != nil {
		return nil, err
	}
	ok, err := b.Store.ConsumeBackupCode(ctx, req.User.ID, h, req.Now.Unix())
	if err != nil {
		return nil, err
	} else if !ok {
		return nil, errCode
	}
	_, left, err := b.Store.BackupParams(ctx, req.User.ID)
	if err != nil {
		return nil, err
	}
	return &Result{BackupLeft: left}, nil
}

// NormalizeBackupCode accepts a code in any case, with or without dashes and
// spaces, and Crockford's look-alikes (I and L for 1, O for 0).
func NormalizeBackupCode(s string) (string, error) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			continue
		case r == 'I' || r == 'L':
			r = '1'
		case r == 'O':
			r = '0'
		}
		if r > 0x7f || !strings.ContainsRune(crockford, r) {
			return "", portal.Errorf(portal.EINVALID, "A backup code has 16 letters and digits, like ABCD-EFGH-JKMN-PQRS.")
		}
		b.WriteRune(r)
	}
	if b.Len() != 16 {
		return "", portal.Errorf(portal.EINVALID, "A backup code has 16 letters and digits, like ABCD-EFGH-JKMN-PQRS.")
	}
	return b.String(), nil
}

// encodeCrockford encodes 10 bytes as 16 Crockford base32 characters.
func encodeCrockford(raw []byte) string {
	var out [16]byte
	var acc uint64
	bits := 0
	j := 0
	for _, c := range raw {
		acc = acc<<8 | uint64(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out[j] = crockford[(acc>>uint(bits))&31]
			j++
		}
	}
	return string(out[:j])
}
