package main_test

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	main "github.com/clientportal/portal/cmd/portal"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// otpCode is RFC 6238 written here, apart from the portal's library.
func otpCode(key []byte, at time.Time, h func() hash.Hash, digits int, period int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(at.Unix()/period))
	mac := hmac.New(h, key)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, bin%mod)
}

// importCommand runs `portal import users` and returns its output and error.
func importCommand(t *testing.T, env map[string]string, clock *portaltest.Clock, args ...string) (string, error) {
	t.Helper()
	m := main.NewMain()
	m.Getenv = func(k string) string { return env[k] }
	var out portaltest.SyncBuffer
	m.Stdout, m.Stderr = &out, io.Discard
	m.Clock = clock
	if err := m.ParseFlags(context.Background(), append([]string{"import", "users"}, args...)); err != nil {
		t.Fatal(err)
	}
	err := m.Run(context.Background())
	m.Close()
	return out.String(), err
}

// TestImportUsers: customers from another system, with bcrypt, argon2id
// and PBKDF2 password hashes and TOTP secrets (one with other settings),
// sign in with their old password and their existing authenticator codes
// (computed here independently), after which their hash is the portal's
// argon2id; a dry run writes nothing; a bad line is reported with its
// number and nothing of it is written; the same file again changes nothing.
func TestImportUsers(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		clock := portaltest.NewClock(time.Now().Truncate(time.Minute).Add(5 * time.Second))
		env := map[string]string{"PORTAL_DATABASE_URL": storetest.DSN(t, dialect), "PORTAL_SECRET_KEYS": testKeys}
		key1, key2 := make([]byte, 20), make([]byte, 32)
		rand.Read(key1)
		rand.Read(key2)
		b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString
		bc, _ := bcrypt.GenerateFromPassword([]byte("whmcs password 1"), 6)
		salt := []byte("0123456789abcdef")
		a2 := fmt.Sprintf("$argon2id$v=19$m=256,t=2,p=1$%s$%s", base64.RawStdEncoding.EncodeToString(salt),
			base64.RawStdEncoding.EncodeToString(argon2.IDKey([]byte("argon password 2"), salt, 2, 256, 1, 32)))
		pk, _ := pbkdf2.Key(sha256.New, "django password 3", salt, 1000, 32)
		dj := "pbkdf2_sha256$1000$" + string(salt) + "$" + base64.StdEncoding.EncodeToString(pk)
		uri := "otpauth://totp/Old:bo@example.com?secret=" + b32(key2) + "&algorithm=SHA256&digits=8&period=60&issuer=Old"
		csv := strings.Join([]string{
			"email,name,role,account,password_hash,totp_secret",
			"ann@example.com,Ann,owner,ACME,$2y$" + string(bc)[4:] + "," + strings.ToLower(b32(key1)),
			"ian@example.com,Ian,member,ACME,,",
			"not an address,X,owner,,,",
			"bo@example.com,Bo,,,\"" + a2 + "\",\"" + uri + "\"",
			"md5@example.com,M,owner,,5f4dcc3b5aa765d61d8327deb882cf99,",
			"cy@example.com,Cy,owner,,\"" + dj + "\",",
			"too,many,fields,here,x,y,z",
			"ann@example.com,Ann again,owner,,,",
			"zed@example.com,Zed,owner,ACME,,",
		}, "\n") + "\n"
		file := filepath.Join(t.TempDir(), "customers.csv")
		if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
			t.Fatal(err)
		}
		wantProblems := []string{"line 4: ", "line 6: password_hash", "line 8: ", "line 9: the address is also on line 2",
			`line 10: account "ACME" has its owner on line 2`}

		out, err := importCommand(t, env, clock, file, "--dry-run")
		if err == nil || !strings.HasPrefix(out, "would create 4, unchanged 0 (already here), not imported 5\n") {
			t.Fatalf("dry run: %v\n%s", err, out)
		}
		for _, w := range wantProblems {
			if !strings.Contains(out, w) {
				t.Errorf("dry run does not report %q:\n%s", w, out)
			}
		}
		p := runPortalClock(t, clock, env)
		if _, err := p.DB.UserByEmail(context.Background(), "ann@example.com"); err == nil {
			t.Fatal("the dry run wrote a user")
		}

		out, err = importCommand(t, env, clock, file)
		if err == nil || !strings.HasPrefix(out, "created 4, unchanged 0 (already here), not imported 5\n") {
			t.Fatalf("import: %v\n%s", err, out)
		}
		for _, bad := range []string{"md5@example.com", "not an address"} {
			if _, err := p.DB.UserByEmail(context.Background(), bad); err == nil {
				t.Fatalf("a bad line wrote %s", bad)
			}
		}
		if out, _ := importCommand(t, env, clock, file); !strings.HasPrefix(out, "created 0, unchanged 4 (already here),") || !strings.Contains(out, `line 10: account "ACME" has its owner on line 2`) {
			t.Fatalf("the same file again: %s", out)
		}
		ann, _ := p.DB.UserByEmail(context.Background(), "ann@example.com")
		if ian, err := p.DB.UserByEmail(context.Background(), "ian@example.com"); err != nil || ian.AccountID != ann.AccountID || ian.Role != "member" {
			t.Fatalf("the member's account: %v %+v", err, ian)
		}

		// Old password and existing authenticator entry, then argon2id.
		signIn := func(email, pw, code string) {
			t.Helper()
			c := newAPIClient(t, p.URL)
			st, m := c.call("POST", "/api/v1/login", `{"email":"`+email+`","password":"`+pw+`"}`)
			if st != 200 {
				t.Fatalf("%s password: %d %v", email, st, m)
			}
			if code != "" {
				if m["status"] != "2fa_required" {
					t.Fatalf("%s: no second step: %v", email, m)
				}
				if st, m := c.call("POST", "/api/v1/login/2fa", `{"method":"totp","code":"`+code+`"}`); st != 200 {
					t.Fatalf("%s code: %d %v", email, st, m)
				}
			} else if m["status"] != "authenticated" {
				t.Fatalf("%s: %v", email, m)
			}
			u, _ := p.DB.UserByEmail(context.Background(), email)
			if !strings.HasPrefix(u.PasswordHash, "$argon2id$") || u.PasswordHash == ann.PasswordHash {
				t.Fatalf("%s's hash after signing in: %.12s…", email, u.PasswordHash)
			}
		}
		signIn("ann@example.com", "whmcs password 1", otpCode(key1, clock.Now(), sha1.New, 6, 30))
		signIn("bo@example.com", "argon password 2", otpCode(key2, clock.Now(), sha256.New, 8, 60))
		signIn("cy@example.com", "django password 3", "")
		c := newAPIClient(t, p.URL)
		if st, _ := c.call("POST", "/api/v1/login", `{"email":"ian@example.com","password":""}`); st != 400 {
			t.Fatalf("a user imported without a password: %d", st)
		}
		if st, _ := c.call("POST", "/api/v1/login", `{"email":"ian@example.com","password":"anything at all"}`); st != 401 {
			t.Fatalf("a user imported without a password signed in: %d", st)
		}
	})
}
