package mfa_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/password"
)

// stepStore is an in-memory replay guard.
type stepStore struct{ last map[string]int64 }

func (s *stepStore) ConsumeStep(_ context.Context, id string, step, _ int64) (bool, error) {
	if step <= s.last[id] {
		return false, nil
	}
	s.last[id] = step
	return true, nil
}

func newTOTP(t *testing.T) (*mfa.TOTP, *stepStore) {
	keys, err := mfa.ParseKeyring(mfa.NewKeySpec("k1"))
	if err != nil {
		t.Fatal(err)
	}
	st := &stepStore{last: map[string]int64{}}
	return &mfa.TOTP{Store: st, Keys: keys, Issuer: "Example"}, st
}

// TestRFC6238Vectors checks the SHA1 vectors of RFC 6238 appendix B. The
// RFC lists 8-digit codes; a 6-digit code is the same number mod 10^6, so
// its last six digits must be accepted at each time.
func TestRFC6238Vectors(t *testing.T) {
	f, _ := newTOTP(t)
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	for _, v := range []struct {
		unix int64
		code string
	}{
		{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"},
		{1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
	} {
		m := &portal.Method{ID: "m", UserID: "u1", Type: portal.MethodTOTP, Secret: f.Keys.Seal("u1", []byte(secret)), ConfirmedAt: 1}
		res, err := f.Verify(context.Background(), &mfa.Request{Methods: []*portal.Method{m}, Code: v.code[2:], Now: time.Unix(v.unix, 0)})
		if err != nil || res.Drift != 0 {
			t.Errorf("T=%d code %s: %v (drift %v)", v.unix, v.code[2:], err, res)
		}
	}
}

func TestTOTPEnrolmentAndReplay(t *testing.T) {
	f, _ := newTOTP(t)
	e, sealed, err := f.NewSecret("u1", "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	if err != nil || len(raw) != 20 {
		t.Fatalf("secret %q is not 160 bits of base32", e.Secret)
	}
	if strings.Contains(sealed, e.Secret) {
		t.Fatal("sealed secret contains the secret")
	}
	for _, want := range []string{"otpauth://totp/Example:ann@example.com?", "secret=" + e.Secret, "issuer=Example", "algorithm=SHA1", "digits=6", "period=30"} {
		if !strings.Contains(e.URI, want) {
			t.Errorf("URI %s lacks %s", e.URI, want)
		}
	}
	if strings.ReplaceAll(e.Grouped, " ", "") != e.Secret || strings.Count(e.Grouped, " ") != 7 {
		t.Errorf("grouped %q", e.Grouped)
	}
	// The QR code decodes back to the URI.
	if got := decodeQR(t, e.QRPNG); got != e.URI {
		t.Fatalf("QR says %q, want %q", got, e.URI)
	}
}

func decodeQR(t *testing.T, pngData []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(pngData))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 200 {
		t.Errorf("QR image only %dpx wide", b.Dx())
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	// PURE_BARCODE: the image is the barcode itself, as an app gets it from
	// a screenshot; gozxing's camera-style detector misreads some valid
	// version 8 codes that other readers (zbar) decode.
	res, err := qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
	if err != nil {
		t.Fatalf("QR does not decode: %v", err)
	}
	return res.GetText()
}

func TestKeyring(t *testing.T) {
	old, _ := mfa.ParseKeyring(mfa.NewKeySpec("old"))
	sealed := old.Seal("user-1", []byte("JBSWY3DPEHPK3PXP"))
	if _, err := old.Open("user-2", sealed); err == nil {
		t.Fatal("a secret opened for another user")
	}
	for _, bad := range []string{"", "k1", "k1:short", "k1:" + strings.Repeat("A", 44) + ",k1:" + strings.Repeat("A", 44), "a.b:" + strings.Repeat("A", 44)} {
		if _, err := mfa.ParseKeyring(bad); err == nil {
			t.Errorf("ParseKeyring(%q) accepted", bad)
		}
	}
	tampered := sealed[:len(sealed)-2] + "AA"
	if _, err := old.Open("user-1", tampered); err == nil {
		t.Fatal("tampered secret opened")
	}
}

func TestKeyRotation(t *testing.T) {
	oldSpec := mfa.NewKeySpec("k1")
	old, _ := mfa.ParseKeyring(oldSpec)
	sealed := old.Seal("u", []byte("secret"))
	rotated, err := mfa.ParseKeyring(mfa.NewKeySpec("k2") + "," + oldSpec)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.SealedWithPrimary(sealed) {
		t.Fatal("old secret claims the new key")
	}
	plain, err := rotated.Open("u", sealed)
	if err != nil || string(plain) != "secret" {
		t.Fatalf("old key no longer opens: %v", err)
	}
	resealed := rotated.Seal("u", plain)
	if !strings.HasPrefix(resealed, "k2.") || !rotated.SealedWithPrimary(resealed) {
		t.Fatalf("resealed %q not under k2", resealed)
	}
}

func TestNormalizeBackupCode(t *testing.T) {
	for in, want := range map[string]string{
		"ABCD-EFGH-JKMN-PQRS":   "ABCDEFGHJKMNPQRS",
		"abcd efgh jkmn pqrs":   "ABCDEFGHJKMNPQRS",
		"abcdefghjkmnpqrs":      "ABCDEFGHJKMNPQRS",
		" 0O1I-L234-5678-9XYZ ": "0011123456789XYZ",
		"ABCD-EFGH-JKMN-PQR":    "",
		"ABCD-EFGH-JKMN-PQRSU":  "",
		"ABCD-EFGH-JKMN-PQRU":   "",
		"ＡBCD-EFGH-JKMN-PQRS":   "",
		"":                      "",
	} {
		got, err := mfa.NormalizeBackupCode(in)
		if (err == nil) != (want != "") || got != want {
			t.Errorf("NormalizeBackupCode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestNormalizeDigits(t *testing.T) {
	for in, ok := range map[string]bool{
		"123456": true, "123 456": true, "123-456": true, " 123456 ": true,
		"": false, "12345": false, "1234567": false, "12345a": false, "１２３４５６": false, "١٢٣٤٥٦": false, "12345\x00": false,
	} {
		if _, err := mfa.NormalizeDigits(in, 6); (err == nil) != ok {
			t.Errorf("NormalizeDigits(%q): err=%v, want ok=%v", in, err, ok)
		}
	}
}

// BenchmarkBackupVerify measures one backup-code check: one argon2id hash
// (the default cost) and the single-use update.
func BenchmarkBackupVerify(b *testing.B) {
	h := password.NewHasher(password.DefaultParams, 0)
	store := &backupStore{}
	f := &mfa.Backup{Store: store, Hasher: h}
	codes, set, err := f.NewSet(context.Background(), "u1", 1)
	if err != nil {
		b.Fatal(err)
	}
	store.params = set.Params
	req := &mfa.Request{User: &portal.User{ID: "u1"}, Code: codes[0], Now: time.Unix(2, 0)}
	for b.Loop() {
		if _, err := f.Verify(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// backupStore accepts every code: the benchmark measures the hashing.
type backupStore struct{ params string }

func (s *backupStore) BackupParams(context.Context, string) (string, int, error) {
	return s.params, 9, nil
}
func (s *backupStore) ConsumeBackupCode(context.Context, string, string, int64) (bool, error) {
	return true, nil
}
