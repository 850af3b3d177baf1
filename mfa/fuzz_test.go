package mfa_test

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
)

// The fuzz targets below feed what a user or an attacker can type, paste or
// plant in a cookie or a database row to the parsers that read it. Each one
// states the property a user relies on, not only "does not panic". Run them
// with .ci/fuzz; `go test` alone replays the seeds and testdata/fuzz.

// mustInvalid fails unless err is a user-facing EINVALID error: a bad
// input must be a 400 with a sentence, never a 500.
func mustInvalid(t *testing.T, fn, in string, err error) {
	t.Helper()
	if code := portal.ErrorCode(err); code != portal.EINVALID {
		t.Fatalf("%s(%q) error %v has code %q, want %q", fn, in, err, code, portal.EINVALID)
	}
}

// FuzzNormalizeDigits: a code is accepted only as exactly six ASCII digits,
// and what is accepted is the input with separators removed, nothing more.
func FuzzNormalizeDigits(f *testing.F) {
	for _, s := range []string{
		"123456", "123 456", "123-456", "\t1 2-3 4\t5 6 ", "12345", "1234567", "", " ", "- -",
		"12345a", "１２３４５６", "12345\u0660", "123456\x00", "\xff23456", "12\u00a03456", "+123456", "-0123456-",
	} {
		f.Add(s)
	}
	strip := strings.NewReplacer(" ", "", "-", "", "\t", "")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := mfa.NormalizeDigits(in, 6)
		if err != nil {
			mustInvalid(t, "NormalizeDigits", in, err)
			return
		}
		if len(got) != 6 || strings.Trim(got, "0123456789") != "" {
			t.Fatalf("NormalizeDigits(%q) = %q, not six ASCII digits", in, got)
		}
		if want := strip.Replace(in); got != want {
			t.Fatalf("NormalizeDigits(%q) = %q, want the input without separators %q", in, got, want)
		}
	})
}

// crockford is the alphabet of canonical backup codes.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// FuzzNormalizeBackupCode: an accepted code is 16 characters of Crockford's
// alphabet, and the canonical form is a fixed point.
func FuzzNormalizeBackupCode(f *testing.F) {
	for _, s := range []string{
		"ABCD-EFGH-JKMN-PQRS", "abcd efgh jkmn pqrs", "ABCDEFGHJKMNPQRS", "OOOO-IIII-LLLL-oooo", "\tABCD-EFGH-JKMN-PQRS\t",
		"ABCD-EFGH-JKMN-PQR", "ABCD-EFGH-JKMN-PQRST", "ABCD-EFGH-JKMN-PQRU", "", "----", "ABCD\u2010EFGH-JKMN-PQRS",
		"ＡBCD-EFGH-JKMN-PQRS", "ABCD-EFGH-JKMN-PQR\u212a", "ABCD-EFGH-JKMN-PQR\xff", "ABCD-EFGH-JKMN-PQRS\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := mfa.NormalizeBackupCode(in)
		if err != nil {
			mustInvalid(t, "NormalizeBackupCode", in, err)
			return
		}
		if len(got) != 16 {
			t.Fatalf("NormalizeBackupCode(%q) = %q, want 16 characters", in, got)
		}
		for i := 0; i < len(got); i++ {
			if strings.IndexByte(crockford, got[i]) < 0 {
				t.Fatalf("NormalizeBackupCode(%q) = %q: %q is not in Crockford's alphabet", in, got, got[i])
			}
		}
		again, err := mfa.NormalizeBackupCode(got)
		if err != nil || again != got {
			t.Fatalf("NormalizeBackupCode(%q) = %q, but normalizing that gives %q, %v", in, got, again, err)
		}
	})
}

// FuzzNormalizePhone: an accepted number is E.164 (a plus, then at most
// 15 digits) and normalizing it again changes nothing, so the number stored
// at enrolment is the one compared at login.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{
		"+44 7911 123456", "+447911123456", "00447911123456", "+1 (415) 555-2671", "+49 151 12345678", " +33 6 12 34 56 78 ",
		"07911 123456", "+", "+0", "00", "", "+44 7911 123456 ext. 12", "+44-7911-123456;ext=1", "tel:+447911123456",
		"+١٢٣٤٥٦٧٨٩٠", "+44 7911 12345６", "+" + strings.Repeat("9", 40), "+800 1234 5678", "+882 1234 5678 90",
		"+44\x007911123456", "+44\xff7911123456", "++447911123456",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := mfa.NormalizePhone(in)
		if err != nil {
			mustInvalid(t, "NormalizePhone", in, err)
			var e *portal.Error
			if !errors.As(err, &e) || e.Field != "phone" {
				t.Fatalf("NormalizePhone(%q) error %v does not name the phone field", in, err)
			}
			return
		}
		if len(got) < 2 || len(got) > 16 || got[0] != '+' || strings.Trim(got[1:], "0123456789") != "" {
			t.Fatalf("NormalizePhone(%q) = %q, not E.164", in, got)
		}
		again, err := mfa.NormalizePhone(got)
		if err != nil || again != got {
			t.Fatalf("NormalizePhone(%q) = %q, but normalizing that gives %q, %v", in, got, again, err)
		}
	})
}

// Fixed keys, so committed seeds can hold real sealed secrets.
const (
	fuzzKey1 = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	fuzzKey2 = "k2://79/Pv6+fj39vX08/Lx8O/u7ezr6uno5+bl5OPi4eA="
	// fuzzSealed1 and fuzzSealed2 are fuzzSecret sealed for fuzzUser with
	// k1 and with k2: the only authentic ciphertexts the fuzzer can start from.
	fuzzSealed1 = "k1.IHHUU89NlFnMohPygh7d+7YKXNflGdzt2N+0P9bz48WKYIVABeW/lVWdpAGHXPdmnBOjq/75IaX8VEy9"
	fuzzSealed2 = "k2.dbAy3PCwodcPIj4yUpJYQcuiMpF+9Q7y219i8ijr3X4qx1man/qew+8wHaflSv2Zcy1WvT3sHw2ce7gr"
	fuzzUser    = "user-1"
	fuzzSecret  = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
)

func mustKeyring(tb testing.TB, spec string) *mfa.Keyring {
	tb.Helper()
	k, err := mfa.ParseKeyring(spec)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// FuzzKeyringOpen: a sealed secret opens only as what was sealed, for the
// user it was sealed for. Arbitrary strings never open (no forgery, no
// panic on malformed base64 or short input); anything sealed opens again,
// also after the key order is rotated, and never for another user id.
func FuzzKeyringOpen(f *testing.F) {
	for _, s := range []struct {
		sealed, user string
		plain        []byte
	}{
		{fuzzSealed1, fuzzUser, []byte(fuzzSecret)},
		{fuzzSealed2, fuzzUser, []byte(fuzzSecret)},
		{fuzzSealed1, "user-2", []byte("")},
		{fuzzSealed1[:len(fuzzSealed1)-1] + "8", fuzzUser, []byte("x")},
		{"k1." + fuzzSealed1[3:20], fuzzUser, []byte{0, 1, 2}},
		{"k3." + fuzzSealed1[3:], fuzzUser, nil},
		{"k1.", "", nil},
		{".", "", []byte("\x00")},
		{"", "", nil},
		{"k1.====", "u", nil},
		{"k1.AAAAAAAAAAAAAAAA", "u", nil},
		{"k1." + strings.Repeat("A", 39), "u", bytes.Repeat([]byte{0xff}, 4096)},
		{"k1.k2." + fuzzSealed2[3:], "user-1\x00", []byte("\u212a")},
	} {
		f.Add(s.sealed, s.user, s.plain)
	}
	ring := mustKeyring(f, fuzzKey1+","+fuzzKey2)
	rotated := mustKeyring(f, fuzzKey2+","+fuzzKey1)
	other := mustKeyring(f, mfa.NewKeySpec("k1"))
	f.Fuzz(func(t *testing.T, sealed, user string, plain []byte) {
		// Open arbitrary input: only the two authentic seeds may succeed,
		// and then only as what was sealed, for whom it was sealed.
		if pt, err := ring.Open(user, sealed); err == nil {
			if user != fuzzUser || string(pt) != fuzzSecret {
				t.Fatalf("Open(%q, %q) = %q: a forged secret opened", user, sealed, pt)
			}
		}
		if pt, err := other.Open(user, sealed); err == nil {
			t.Fatalf("Open(%q, %q) with an unrelated key = %q", user, sealed, pt)
		}

		// Round trip.
		s := ring.Seal(user, plain)
		if !ring.SealedWithPrimary(s) || rotated.SealedWithPrimary(s) {
			t.Fatalf("sealed %q does not name the primary key", s)
		}
		for _, r := range []*mfa.Keyring{ring, rotated} {
			pt, err := r.Open(user, s)
			if err != nil || !bytes.Equal(pt, plain) {
				t.Fatalf("Open(Seal(%q, %q)) = %q, %v", user, plain, pt, err)
			}
		}
		for _, u := range []string{user + "\x00", "x" + user, strings.ToUpper(user) + "!", sealed} {
			if u == user {
				continue
			}
			if pt, err := ring.Open(u, s); err == nil {
				t.Fatalf("secret sealed for %q opened for %q as %q", user, u, pt)
			}
		}
		if _, err := other.Open(user, s); err == nil {
			t.Fatalf("secret sealed with k1 opened with another key named k1")
		}
	})
}

// FuzzParseKeyring: any operator-supplied spec is either refused or gives a
// working ring whose primary key id can be told apart in a sealed value.
func FuzzParseKeyring(f *testing.F) {
	for _, s := range []string{
		fuzzKey1, fuzzKey1 + "," + fuzzKey2, " " + fuzzKey1 + " , " + fuzzKey2 + " ,", fuzzKey1 + "," + fuzzKey1,
		strings.TrimSuffix(fuzzKey1, "="), "k1:" + strings.Repeat("A", 42), "k1:" + strings.Repeat("A", 44), "k.1" + fuzzKey1[2:],
		":" + fuzzKey1[3:], "k1", "k1:", ",,,", "", "k1:%%%%", "k\t1" + fuzzKey1[2:], "k1:" + fuzzKey1[3:] + "\n",
		"k\u212a" + fuzzKey1[2:], "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=:x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		k, err := mfa.ParseKeyring(spec)
		if err != nil {
			if k != nil {
				t.Fatalf("ParseKeyring(%q) returned a ring and an error", spec)
			}
			return
		}
		id := k.Primary()
		if id == "" || strings.ContainsAny(id, ".:, ") {
			t.Fatalf("ParseKeyring(%q): primary id %q", spec, id)
		}
		s := k.Seal("u", []byte("secret"))
		if !strings.HasPrefix(s, id+".") || !k.SealedWithPrimary(s) {
			t.Fatalf("ParseKeyring(%q): sealed %q does not start with %q", spec, s, id+".")
		}
		if pt, err := k.Open("u", s); err != nil || string(pt) != "secret" {
			t.Fatalf("ParseKeyring(%q): round trip = %q, %v", spec, pt, err)
		}
		if mac := k.MAC("data"); !k.VerifyMAC("data", mac) || k.VerifyMAC("datA", mac) {
			t.Fatalf("ParseKeyring(%q): MAC %q does not verify exactly its data", spec, mac)
		}
	})
}

// FuzzOTPAuthURI: whatever the account's email and the configured issuer,
// the enrolment URI an authenticator app scans is a well-formed
// otpauth://totp/ URI whose secret and issuer read back as they were meant.
func FuzzOTPAuthURI(f *testing.F) {
	for _, s := range []struct{ issuer, email string }{
		{"Client Portal", "alice@example.com"},
		{"Test Portal", "o'brien+2fa@example.co.uk"},
		{"Portal", "a?issuer=Evil&secret=AAAA@example.com"},
		{"Portal", "a#frag@example.com"},
		{"Portal", "a%41@example.com"},
		{"Portal", "a/b\\c@example.com"},
		{"Portal", "a:b@example.com"},
		{"Portal", "é@exämple.com"},
		{"Ünïcödé Portal", "bob@example.com"},
		{"Portal 100%", "bob@example.com"},
		{"Portal:Evil", "bob@example.com"},
		{"Portal/Evil", "bob@example.com"},
		{"Portal", " bob@example.com "},
		{"", "bob@example.com"},
		{"Portal", ""},
		{"Portal\x00", "bob\n@example.com"},
	} {
		f.Add(s.issuer, s.email)
	}
	keys := mustKeyring(f, mfa.NewKeySpec("k"))
	f.Fuzz(func(t *testing.T, issuer, email string) {
		// Rendering the QR code costs milliseconds; long inputs add nothing.
		if len(issuer)+len(email) > 200 {
			t.Skip()
		}
		tp := &mfa.TOTP{Keys: keys, Issuer: issuer}
		e, sealed, err := tp.NewSecret("user-1", email)
		if err != nil {
			return
		}
		if issuer == "" || email == "" {
			t.Fatalf("NewSecret accepted an empty issuer %q or email %q", issuer, email)
		}
		if pt, err := keys.Open("user-1", sealed); err != nil || string(pt) != e.Secret {
			t.Fatalf("sealed secret opens as %q, %v; want %q", pt, err, e.Secret)
		}
		u, err := url.Parse(e.URI)
		if err != nil {
			t.Fatalf("URI %q does not parse: %v", e.URI, err)
		}
		if u.Scheme != "otpauth" || u.Host != "totp" {
			t.Fatalf("URI %q: scheme %q host %q", e.URI, u.Scheme, u.Host)
		}
		q := u.Query()
		if q.Get("secret") != e.Secret || len(e.Secret) != 32 {
			t.Fatalf("URI %q: secret %q, want %q", e.URI, q.Get("secret"), e.Secret)
		}
		if got := q.Get("issuer"); got != issuer {
			t.Fatalf("URI %q: issuer reads back as %q, want %q", e.URI, got, issuer)
		}
		// The label is "issuer:account"; an app shows it to the user.
		if want := "/" + issuer + ":" + email; utf8.ValidString(want) && u.Path != want {
			t.Fatalf("URI %q: label %q, want %q", e.URI, u.Path, want)
		}
	})
}
