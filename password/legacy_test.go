package password

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// TestImportedHashes: bcrypt ($2a$, $2b$, $2y$), argon2id, argon2i and
// PBKDF2-SHA256 (Django and PHC forms), each made here with its own
// library, verify the right password only and ask to be rehashed; hashes
// out of bounds or of unknown schemes are refused at import.
func TestImportedHashes(t *testing.T) {
	const pw = "old portal password"
	h := NewHasher(Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}, 2)
	b, err := bcrypt.GenerateFromPassword([]byte(pw), 5)
	if err != nil {
		t.Fatal(err)
	}
	salt := []byte("0123456789abcdef")
	b64 := base64.RawStdEncoding.EncodeToString
	pk, _ := pbkdf2.Key(sha256.New, pw, salt, 1000, 32)
	hashes := map[string]string{
		"bcrypt $2a$": string(b),
		"bcrypt $2y$": "$2y$" + string(b)[4:],
		"bcrypt $2b$": "$2b$" + string(b)[4:],
		"argon2id":    fmt.Sprintf("$argon2id$v=19$m=128,t=2,p=1$%s$%s", b64(salt), b64(argon2.IDKey([]byte(pw), salt, 2, 128, 1, 32))),
		"argon2i":     fmt.Sprintf("$argon2i$v=19$m=128,t=2,p=1$%s$%s", b64(salt), b64(argon2.Key([]byte(pw), salt, 2, 128, 1, 32))),
		"django":      "pbkdf2_sha256$1000$" + string(salt) + "$" + base64.StdEncoding.EncodeToString(pk),
		"phc pbkdf2":  "$pbkdf2-sha256$i=1000$" + strings.ReplaceAll(b64(salt), "+", ".") + "$" + strings.ReplaceAll(b64(pk), "+", "."),
	}
	for name, hash := range hashes {
		if err := CheckImported(hash); err != nil {
			t.Errorf("%s refused at import: %v", name, err)
			continue
		}
		if ok, rehash, err := h.Verify(context.Background(), hash, pw); err != nil || !ok || (!rehash && name != "argon2id") {
			t.Errorf("%s: ok=%v rehash=%v err=%v", name, ok, rehash, err)
		}
		if ok, _, err := h.Verify(context.Background(), hash, pw+"!"); err != nil || ok {
			t.Errorf("%s: a wrong password matched (%v)", name, err)
		}
	}
	costly, _ := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	for name, hash := range map[string]string{
		"bcrypt cost 13":   "$2a$13$" + string(costly)[7:],
		"argon2 p=16":      fmt.Sprintf("$argon2id$v=19$m=128,t=1,p=16$%s$%s", b64(salt), b64(salt)),
		"NUL":              string(b) + "\x00",
		"argon2 4 GiB":     fmt.Sprintf("$argon2id$v=19$m=4194304,t=1,p=1$%s$%s", b64(salt), b64(salt)),
		"pbkdf2 2M":        "pbkdf2_sha256$2000000$salt$" + base64.StdEncoding.EncodeToString(pk),
		"md5":              "5f4dcc3b5aa765d61d8327deb882cf99",
		"sha512-crypt":     "$6$salt$abc",
		"empty":            "",
		"truncated bcrypt": string(b)[:40],
	} {
		if err := CheckImported(hash); err == nil {
			t.Errorf("%s accepted at import", name)
		}
	}
	if ok, _, err := h.Verify(context.Background(), NoPassword, ""); ok || err != nil {
		t.Errorf("no password matched: %v %v", ok, err)
	}
}
