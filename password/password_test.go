package password_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clientportal/portal/password"
)

var cheap = password.Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := password.NewHasher(cheap, 2)
	hash, err := h.Hash(ctx, "pässwörd with ünïcode")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=1024,t=1,p=1$") || strings.Contains(hash, "pässwörd") {
		t.Fatalf("hash %q is not a PHC argon2id string", hash)
	}
	if ok, rehash, err := h.Verify(ctx, hash, "pässwörd with ünïcode"); !ok || rehash || err != nil {
		t.Fatalf("right password: ok=%v rehash=%v err=%v", ok, rehash, err)
	}
	if ok, _, _ := h.Verify(ctx, hash, "passwörd with ünïcode"); ok {
		t.Fatal("wrong password accepted")
	}
	// A hash made with other parameters still verifies and asks for an upgrade.
	stronger := password.NewHasher(password.Params{Memory: 2048, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}, 2)
	if ok, rehash, _ := stronger.Verify(ctx, hash, "pässwörd with ünïcode"); !ok || !rehash {
		t.Fatalf("old parameters: ok=%v rehash=%v, want both true", ok, rehash)
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$a$b", "$argon2id$v=19$m=x$a$b", "$argon2id$v=19$m=1,t=1,p=1$!!$b"} {
		if _, _, err := h.Verify(ctx, bad, "x"); err == nil {
			t.Errorf("malformed hash %q accepted", bad)
		}
	}
}

// TestBound: no more than Limit hashes run at once; excess waits, then ErrBusy.
func TestBound(t *testing.T) {
	h := password.NewHasher(password.Params{Memory: 8 * 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}, 2)
	h.Wait = 20 * time.Millisecond
	var wg sync.WaitGroup
	var mu sync.Mutex
	busy := 0
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.Hash(context.Background(), "some password"); err == password.ErrBusy {
				mu.Lock()
				busy++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if h.Peak() > 2 {
		t.Fatalf("peak %d, limit 2", h.Peak())
	}
	t.Logf("%d of 40 turned away", busy)
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		pw, email string
		ok        bool
	}{
		{"correct horse battery staple", "a@example.com", true},
		{"短いけど八文字以上のパス", "", true},
		{"1234567", "", false},
		{strings.Repeat("a", 129), "", false},
		{strings.Repeat("é", 128), "", true},
		{"password", "", false},
		{"iloveyou1", "", false},
		{"QWERTYUIOP", "", false},
		{"me@example.com", "ME@example.com", false},
		{"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", "", false},
	} {
		if err := password.Validate(tc.pw, tc.email); (err == nil) != tc.ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", tc.pw, err, tc.ok)
		}
	}
}

func BenchmarkHashDefault(b *testing.B) {
	h := password.NewHasher(password.DefaultParams, 0)
	for b.Loop() {
		h.Hash(context.Background(), "correct horse battery staple")
	}
}
