package mfa_test

import (
	"context"
	"encoding/base32"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
)

// BenchmarkTOTPVerify measures one verification of a fresh, valid code
// (open the sealed secret, compute the window, the replay guard).
func BenchmarkTOTPVerify(b *testing.B) {
	f, store := newTOTPB(b)
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	m := &portal.Method{ID: "m", UserID: "u1", Type: portal.MethodTOTP, Secret: f.Keys.Seal("u1", []byte(secret)), ConfirmedAt: 1}
	now := time.Unix(1_700_000_000, 0)
	code, _ := totp.GenerateCodeCustom(secret, now, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	req := &mfa.Request{Methods: []*portal.Method{m}, Code: code, Now: now}
	ctx := context.Background()
	for b.Loop() {
		store.last["m"] = 0 // every iteration is a first use
		if _, err := f.Verify(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func newTOTPB(b *testing.B) (*mfa.TOTP, *stepStore) {
	keys, err := mfa.ParseKeyring(mfa.NewKeySpec("k1"))
	if err != nil {
		b.Fatal(err)
	}
	st := &stepStore{last: map[string]int64{}}
	return &mfa.TOTP{Store: st, Keys: keys, Issuer: "Example"}, st
}
