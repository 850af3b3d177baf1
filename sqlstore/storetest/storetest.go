package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore"
)

// Run runs the store contract suite on databases made by open.
func Run(t *testing.T, open func(t *testing.T) *sqlstore.DB) {
	t.Run("Users", func(t *testing.T) { testUsers(t, open(t)) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, open(t)) })
	t.Run("Events", func(t *testing.T) { testEvents(t, open(t)) })
	t.Run("ConsecutiveLimit", func(t *testing.T) { testConsecutiveLimit(t, open(t)) })
	t.Run("WindowLimit", func(t *testing.T) { testWindowLimit(t, open(t)) })
	t.Run("TakeAttempts", func(t *testing.T) { testTakeAttempts(t, open(t)) })
	t.Run("StepLogin", func(t *testing.T) { testStepLogin(t, open(t)) })
	t.Run("StepDevices", func(t *testing.T) { testStepDevices(t, open(t)) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, open(t)) })
	t.Run("FirstAdmin", func(t *testing.T) { testFirstAdmin(t, open(t)) })
	t.Run("SetupTokenReplaced", func(t *testing.T) { testSetupTokenReplaced(t, open(t)) })
	t.Run("Codes", func(t *testing.T) { testCodes(t, open(t)) })
	t.Run("Outbox", func(t *testing.T) { testOutbox(t, open(t)) })
}

// testCodes: 20 parallel requests for a code on one account issue exactly
// one (the resend delay), and a code is used exactly once.
func testCodes(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	u := NewUser(t, db, "c@example.com")
	p := portal.DefaultCodePolicy
	issued := portaltest.Parallel(20, func(i int) bool {
		c := &portal.Code{ID: fmt.Sprintf("c%d", i), UserID: u.ID, Channel: "email", Purpose: portal.CodeLogin, Binding: "s1", Destination: "c@example.com", Hash: "h", CreatedAt: 1000, ExpiresAt: 1600}
		return db.IssueCode(ctx, c, p) == nil
	})
	if issued != 1 {
		t.Fatalf("%d codes issued by 20 parallel requests, want 1", issued)
	}
	live, err := db.LiveCode(ctx, u.ID, "email", portal.CodeLogin, "s1", 1001)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.LiveCode(ctx, u.ID, "email", portal.CodeLogin, "other-session", 1001); err != portal.ErrNotFound {
		t.Fatalf("code found for another binding: %v", err)
	}
	used := portaltest.Parallel(20, func(int) bool {
		ok, _ := db.UseCode(ctx, live.ID, 1002, 5)
		return ok
	})
	if used != 1 {
		t.Fatalf("code used %d times", used)
	}
	// A new code kills the live one.
	a := &portal.Code{ID: "a", UserID: u.ID, Channel: "email", Purpose: portal.CodeLogin, Binding: "s1", Destination: "x", Hash: "h", CreatedAt: 1100, ExpiresAt: 1700}
	b := &portal.Code{ID: "b", UserID: u.ID, Channel: "email", Purpose: portal.CodeLogin, Binding: "s1", Destination: "x", Hash: "h", CreatedAt: 1200, ExpiresAt: 1800}
	if err := db.IssueCode(ctx, a, p); err != nil {
		t.Fatal(err)
	}
	if err := db.IssueCode(ctx, b, p); err != nil {
		t.Fatal(err)
	}
	if ok, _ := db.UseCode(ctx, "a", 1201, 5); ok {
		t.Fatal("an earlier code still works after a new one was sent")
	}
}

// testOutbox: two workers claiming at once never get the same message.
func testOutbox(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		if err := db.Enqueue(ctx, &portal.OutboxMessage{To: fmt.Sprintf("u%d@example.com", i), Subject: "s", Text: "t", CreatedAt: int64(i), NextAt: 0}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	portaltest.Parallel(6, func(i int) bool {
		w := fmt.Sprintf("w%d", i)
		for {
			batch, err := db.ClaimOutbox(ctx, w, 4, 100, 200)
			if err != nil {
				t.Error(err)
				return false
			}
			if len(batch) == 0 {
				return true
			}
			for _, m := range batch {
				mu.Lock()
				seen[m.ID]++
				mu.Unlock()
				db.MarkSent(ctx, m.ID, w, 100)
			}
		}
	})
	if len(seen) != 30 {
		t.Fatalf("%d messages claimed, want 30", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("message %s claimed %d times", id, n)
		}
	}
	if n, _ := db.OutboxPending(ctx); n != 0 {
		t.Fatalf("%d pending after delivery", n)
	}
	// A failed message waits for its next attempt.
	db.Enqueue(ctx, &portal.OutboxMessage{ID: "f", To: "f@example.com", Subject: "s", Text: "t", CreatedAt: 300, NextAt: 300})
	batch, _ := db.ClaimOutbox(ctx, "w", 10, 300, 400)
	if len(batch) != 1 {
		t.Fatalf("claimed %d", len(batch))
	}
	db.MarkFailed(ctx, "f", "w", "connection refused", 500)
	if batch, _ := db.ClaimOutbox(ctx, "w", 10, 499, 600); len(batch) != 0 {
		t.Fatal("retried before its time")
	}
	if batch, _ := db.ClaimOutbox(ctx, "w", 10, 500, 600); len(batch) != 1 || batch[0].Attempts != 1 {
		t.Fatalf("retry: %v", batch)
	}
	// A lease is renewed only by its holder, and only while it holds:
	// once it ran out and another worker took the message, the first
	// one must not send it too.
	if ok, err := db.RenewOutbox(ctx, "f", "other", 550, 700); err != nil || ok {
		t.Fatalf("another worker renewed the lease: %v %v", ok, err)
	}
	if ok, err := db.RenewOutbox(ctx, "f", "w", 550, 700); err != nil || !ok {
		t.Fatalf("the holder could not renew: %v %v", ok, err)
	}
	if batch, _ := db.ClaimOutbox(ctx, "other", 10, 700, 800); len(batch) != 1 {
		t.Fatalf("the run-out lease was not claimable: %v", batch)
	}
	if ok, err := db.RenewOutbox(ctx, "f", "w", 710, 900); err != nil || ok {
		t.Fatalf("a lease that ran out was renewed: %v %v", ok, err)
	}
}

// NewUser stores an account owner with email and returns it.
func NewUser(tb testing.TB, db *sqlstore.DB, email string) *portal.User {
	tb.Helper()
	acct := &portal.Account{ID: portal.NewID(), Name: email, CreatedAt: 1}
	u := &portal.User{ID: portal.NewID(), AccountID: acct.ID, Email: email, Name: "Test " + email, Role: portal.RoleOwner, PasswordHash: "x", CreatedAt: 1}
	if err := db.CreateUser(context.Background(), u, acct); err != nil {
		tb.Fatal(err)
	}
	return u
}

func testUsers(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	u := NewUser(t, db, "Jane.Doe@Example.com")

	got, err := db.UserByEmail(ctx, "jane.doe@EXAMPLE.com")
	if err != nil {
		t.Fatalf("lookup ignoring case: %v", err)
	}
	if got.ID != u.ID || got.Email != "Jane.Doe@Example.com" || got.Role != portal.RoleOwner || got.AccountID != u.AccountID {
		t.Fatalf("got %+v, want %+v", got, u)
	}
	dup := &portal.User{ID: portal.NewID(), Email: "JANE.DOE@example.com", Name: "x", Role: portal.RoleMember, PasswordHash: "x", CreatedAt: 1, AccountID: u.AccountID}
	if err := db.CreateUser(ctx, dup, nil); portal.ErrorCode(err) != portal.ECONFLICT {
		t.Fatalf("same email in other case: err = %v, want conflict", err)
	}
	if _, err := db.UserByEmail(ctx, "nobody@example.com"); err != portal.ErrNotFound {
		t.Fatalf("unknown email: err = %v, want not found", err)
	}
	if err := db.UpdatePasswordHash(ctx, u.ID, "new-hash"); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.UserByID(ctx, u.ID); got.PasswordHash != "new-hash" {
		t.Fatalf("hash not updated: %q", got.PasswordHash)
	}
	if n, err := db.CountStaff(ctx); err != nil || n != 0 {
		t.Fatalf("CountStaff = %d, %v; want 0", n, err)
	}
	admin := &portal.User{ID: portal.NewID(), Email: "ops@example.com", Name: "Ops", Role: portal.RoleAdmin, PasswordHash: "x", CreatedAt: 2}
	if err := db.CreateUser(ctx, admin, nil); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.CountStaff(ctx); n != 1 {
		t.Fatalf("CountStaff = %d, want 1", n)
	}
}

func testSessions(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	u := NewUser(t, db, "s@example.com")
	a := &portal.Session{ID: "a", UserID: u.ID, Level: portal.LevelPassword, CreatedAt: 100, LastSeenAt: 100}
	b := &portal.Session{ID: "b", UserID: u.ID, Level: portal.LevelFull, CreatedAt: 100, LastSeenAt: 100}
	for _, s := range []*portal.Session{a, b} {
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	s, su, err := db.SessionByID(ctx, "a")
	if err != nil || s.Level != portal.LevelPassword || su.ID != u.ID || su.Email != u.Email {
		t.Fatalf("SessionByID = %+v, %+v, %v", s, su, err)
	}
	if err := db.SetSessionReauth(ctx, "b", 150); err != nil {
		t.Fatal(err)
	}
	if err := db.TouchSession(ctx, "b", 160); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := db.SessionByID(ctx, "b"); s.ReauthAt != 150 || s.LastSeenAt != 160 {
		t.Fatalf("after reauth and touch: %+v", s)
	}
	if err := db.DeleteUserSessions(ctx, u.ID, "b"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.SessionByID(ctx, "a"); err != portal.ErrNotFound {
		t.Fatalf("other session survived: %v", err)
	}
	if _, _, err := db.SessionByID(ctx, "b"); err != nil {
		t.Fatalf("kept session gone: %v", err)
	}
	if n, err := db.DeleteExpiredSessions(ctx, 161, 0); err != nil || n != 1 {
		t.Fatalf("DeleteExpiredSessions = %d, %v; want 1", n, err)
	}
}

func testEvents(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := db.AddEvent(ctx, &portal.Event{UserID: "u1", Type: fmt.Sprintf("t%d", i), CreatedAt: int64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	db.AddEvent(ctx, &portal.Event{UserID: "u2", Type: "other", CreatedAt: 9})
	evs, err := db.UserEvents(ctx, "u1", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Type != "t2" || evs[1].Type != "t1" {
		t.Fatalf("want newest two of u1, got %v", evs)
	}
}

// testConsecutiveLimit: 20 parallel attempts against a threshold of 10 are
// counted exactly, and the delay escalates and is never permanent.
func testConsecutiveLimit(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	p := portal.PasswordAccountLimit
	now := time.Unix(1_000_000, 0)
	allowed := portaltest.Parallel(20, func(int) bool {
		ok, _, _, err := db.TakeAttempt(ctx, p, "acct", now)
		if err != nil {
			t.Error(err)
		}
		return ok
	})
	if allowed != p.Threshold {
		t.Fatalf("%d parallel attempts allowed, want exactly %d", allowed, p.Threshold)
	}
	ok, retry, _, _ := db.TakeAttempt(ctx, p, "acct", now.Add(30*time.Second))
	if ok || retry != 30*time.Second {
		t.Fatalf("during the first delay: ok=%v retry=%v, want refused for 30s", ok, retry)
	}
	// After 1 minute one more attempt; failing it doubles the delay.
	now = now.Add(time.Minute)
	if ok, _, n, _ := db.TakeAttempt(ctx, p, "acct", now); !ok || n != 11 {
		t.Fatalf("after 1 min: ok=%v n=%d, want the 11th attempt allowed", ok, n)
	}
	if _, retry, _, _ := db.TakeAttempt(ctx, p, "acct", now); retry != 2*time.Minute {
		t.Fatalf("second delay = %v, want 2m", retry)
	}
	for i := 0; i < 10; i++ {
		now = now.Add(16 * time.Minute)
		if ok, _, _, _ := db.TakeAttempt(ctx, p, "acct", now); !ok {
			t.Fatalf("attempt after 16 min refused: the lock must never be permanent")
		}
	}
	if _, retry, _, _ := db.TakeAttempt(ctx, p, "acct", now); retry != 15*time.Minute {
		t.Fatalf("delay = %v, want the 15m cap", retry)
	}
	if err := db.ResetAttempts(ctx, p, "acct"); err != nil {
		t.Fatal(err)
	}
	if ok, _, n, _ := db.TakeAttempt(ctx, p, "acct", now); !ok || n != 1 {
		t.Fatalf("after reset: ok=%v n=%d", ok, n)
	}
	// Other keys are independent.
	if ok, _, n, _ := db.TakeAttempt(ctx, p, "other", now); !ok || n != 1 {
		t.Fatalf("other key: ok=%v n=%d", ok, n)
	}
}

func testWindowLimit(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	p := portal.LimitPolicy{Name: "w", Threshold: 5, Window: 10 * time.Minute}
	now := time.Unix(2_000_000, 0)
	allowed := portaltest.Parallel(12, func(int) bool {
		ok, _, _, _ := db.TakeAttempt(ctx, p, "ip", now)
		return ok
	})
	if allowed != 5 {
		t.Fatalf("allowed %d, want 5", allowed)
	}
	if ok, retry, _, _ := db.TakeAttempt(ctx, p, "ip", now.Add(4*time.Minute)); ok || retry != 6*time.Minute {
		t.Fatalf("in window: ok=%v retry=%v, want refused for 6m", ok, retry)
	}
	// A released attempt (a success) frees one slot.
	if err := db.ReleaseAttempt(ctx, p, "ip", now); err != nil {
		t.Fatal(err)
	}
	if ok, _, _, _ := db.TakeAttempt(ctx, p, "ip", now); !ok {
		t.Fatal("slot not freed by release")
	}
	if ok, _, n, _ := db.TakeAttempt(ctx, p, "ip", now.Add(10*time.Minute)); !ok || n != 1 {
		t.Fatalf("new window: ok=%v n=%d, want a fresh count", ok, n)
	}
}

// testTakeAttempts: several counters are taken all or none, also under
// parallel requests.
func testTakeAttempts(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	now := time.Unix(2_000_000, 0)
	ip := portal.Attempt{Policy: portal.LimitPolicy{Name: "ip", Threshold: 8, Window: time.Hour}, Key: "1.2.3.4"}
	acct := portal.Attempt{Policy: portal.LimitPolicy{Name: "acct", Threshold: 3, Delay: time.Minute, MaxDelay: time.Hour}, Key: "u1"}
	allowed := portaltest.Parallel(10, func(int) bool {
		taken, err := db.TakeAttempts(ctx, now, ip, acct)
		return err == nil && taken.OK
	})
	if allowed != 3 {
		t.Fatalf("allowed %d, want 3 (the account limit)", allowed)
	}
	taken, err := db.TakeAttempts(ctx, now, ip, acct)
	if err != nil || taken.OK || taken.Refused != 1 || taken.Retry != time.Minute {
		t.Fatalf("TakeAttempts at the account limit = %+v, %v; want refused by counter 1 for 1m", taken, err)
	}
	// The refused requests took nothing from the IP counter: another
	// account from the same IP gets its attempts and sees count 4.
	other := portal.Attempt{Policy: acct.Policy, Key: "u2"}
	if taken, err := db.TakeAttempts(ctx, now, ip, other); err != nil || !taken.OK || taken.Counts[0] != 4 || taken.Counts[1] != 1 {
		t.Fatalf("TakeAttempts for another account = %+v, %v; want counts [4 1]", taken, err)
	}
}

// testStepLogin: a login step replaces the session, settles counters,
// records the login and cancels recovery requests in one call.
func testStepLogin(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	u := NewUser(t, db, "step@example.com")
	now := time.Unix(3_000_000, 0)
	old := &portal.Session{ID: "old", UserID: u.ID, Level: portal.LevelPassword, CreatedAt: 100, LastSeenAt: 100}
	if err := db.CreateSession(ctx, old); err != nil {
		t.Fatal(err)
	}
	if ok, err := db.CreateRecovery(ctx, &portal.RecoveryRequest{ID: "rec", UserID: u.ID, Message: "lost phone", Status: portal.RecoveryPending, CreatedAt: 200}); err != nil || !ok {
		t.Fatalf("CreateRecovery = %v, %v", ok, err)
	}
	acct := portal.Attempt{Policy: portal.LimitPolicy{Name: "acct", Threshold: 3, Delay: time.Minute, MaxDelay: time.Hour}, Key: u.ID}
	ip := portal.Attempt{Policy: portal.LimitPolicy{Name: "ip", Threshold: 2, Window: time.Hour}, Key: "1.2.3.4"}
	for range 2 {
		if taken, err := db.TakeAttempts(ctx, now, ip, acct); err != nil || !taken.OK {
			t.Fatalf("TakeAttempts = %+v, %v", taken, err)
		}
	}
	step := &portal.LoginStep{
		Ends: "old", Session: &portal.Session{ID: "new", UserID: u.ID, Level: portal.LevelFull, CreatedAt: 100, LastSeenAt: now.Unix()},
		Release: []portal.Attempt{ip}, Reset: []portal.Attempt{acct}, At: now,
		Complete: true, CancelRecoveries: true, Event: &portal.Event{UserID: u.ID, Type: portal.EventLoginSucceeded, CreatedAt: now.Unix()},
	}
	if out, err := db.StepLogin(ctx, step); err != nil || out.Cancelled != 1 {
		t.Fatalf("StepLogin = %+v, %v; want 1 recovery cancelled", out, err)
	}
	if _, _, err := db.SessionByID(ctx, "old"); err != portal.ErrNotFound {
		t.Fatalf("old session survived: %v", err)
	}
	if s, su, err := db.SessionByID(ctx, "new"); err != nil || s.Level != portal.LevelFull || su.LastLoginAt != now.Unix() {
		t.Fatalf("new session = %+v, user %+v, %v", s, su, err)
	}
	if r, err := db.RecoveryByID(ctx, "rec"); err != nil || r.Status != portal.RecoveryCancelled {
		t.Fatalf("recovery = %+v, %v; want cancelled", r, err)
	}
	if evs, err := db.UserEvents(ctx, u.ID, 10); err != nil || len(evs) != 1 || evs[0].Type != portal.EventLoginSucceeded {
		t.Fatalf("events = %+v, %v", evs, err)
	}
	// The account counter was reset and the IP got one attempt back.
	if taken, err := db.TakeAttempts(ctx, now, ip, acct); err != nil || !taken.OK || taken.Counts[0] != 2 || taken.Counts[1] != 1 {
		t.Fatalf("after the step: %+v, %v; want counts [2 1]", taken, err)
	}

	// A step that takes attempts and uses a TOTP step: the first use
	// writes everything; the same step again keeps only the attempts; over
	// the IP limit nothing at all is written.
	m := &portal.Method{ID: "m-step", UserID: u.ID, Type: portal.MethodTOTP, Secret: "sealed", CreatedAt: 1}
	if err := db.CreateMethod(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ConfirmMethod(ctx, m, nil, 2, "", nil); err != nil {
		t.Fatal(err)
	}
	// 2FA turned on: the user's credential epoch moved on.
	fresh, err := db.UserByID(ctx, u.ID)
	if err != nil || fresh.AuthEpoch != u.AuthEpoch+1 {
		t.Fatalf("epoch after 2FA on = %+v, %v; want %d", fresh, err, u.AuthEpoch+1)
	}
	ip2 := portal.Attempt{Policy: portal.LimitPolicy{Name: "ip", Threshold: 2, Window: time.Hour}, Key: "5.6.7.8"}
	acct2 := portal.Attempt{Policy: portal.LimitPolicy{Name: "acct2", Threshold: 10, Delay: time.Minute, MaxDelay: time.Hour}, Key: u.ID}
	useAt := func(id string, epoch int64) (*portal.StepOutcome, error) {
		return db.StepLogin(ctx, &portal.LoginStep{Take: []portal.Attempt{ip2, acct2}, Use: &portal.StepUse{MethodID: m.ID, Step: 100},
			Ends: "new", Session: &portal.Session{ID: id, UserID: u.ID, Level: portal.LevelFull, CreatedAt: now.Unix(), LastSeenAt: now.Unix(), AuthEpoch: epoch},
			At: now, Complete: true})
	}
	// A sign-in that read the credentials before they changed writes
	// nothing: no session, the step unused, no attempt counted.
	if out, err := useAt("stale", u.AuthEpoch); err != nil || !out.Stale {
		t.Fatalf("stale step = %+v, %v; want Stale", out, err)
	}
	if _, _, err := db.SessionByID(ctx, "stale"); err != portal.ErrNotFound {
		t.Fatalf("a stale step's session: %v", err)
	}
	use := func(id string) (*portal.StepOutcome, error) { return useAt(id, fresh.AuthEpoch) }
	if out, err := use("s1"); err != nil || !out.Taken.OK || out.Replayed {
		t.Fatalf("first use = %+v, %v", out, err)
	}
	// The success counted on no counter; each replay counts.
	for i, id := range []string{"s2", "s3"} {
		if out, err := use(id); err != nil || !out.Taken.OK || !out.Replayed || out.Taken.Counts[0] != i+1 {
			t.Fatalf("replayed use %d = %+v, %v; want replayed with the attempts counted", i+1, out, err)
		}
		if _, _, err := db.SessionByID(ctx, id); err != portal.ErrNotFound {
			t.Fatalf("a replayed step started a session: %v", err)
		}
	}
	out, err := use("s4")
	if err != nil || out.Taken == nil || out.Taken.OK || out.Taken.Refused != 0 || out.Taken.Retry != time.Hour {
		t.Fatalf("over the IP limit = %+v, %v; want refused by counter 0 for 1h", out, err)
	}
	if _, _, err := db.SessionByID(ctx, "s4"); err != portal.ErrNotFound {
		t.Fatalf("a refused step started a session: %v", err)
	}
	// Refused, it took nothing from the account's counter either.
	if taken, err := db.TakeAttempts(ctx, now, acct2); err != nil || !taken.OK || taken.Counts[0] != 3 {
		t.Fatalf("account counter after refusal = %+v, %v; want 3 (two replays, then this)", taken, err)
	}
}

// testStepDevices: a completed login step records its browser and says
// whether it was new and whether the user had another, with and without a
// TOTP step used (PostgreSQL sends those steps differently).
func testStepDevices(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	u := NewUser(t, db, "devices@example.com")
	m := &portal.Method{ID: "totp-devices", UserID: u.ID, Type: portal.MethodTOTP, Secret: "sealed", CreatedAt: 1}
	if err := db.CreateMethod(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ConfirmMethod(ctx, m, nil, 2, "", nil); err != nil {
		t.Fatal(err)
	}
	u, err := db.UserByID(ctx, u.ID) // 2FA on moved the epoch
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(7_000_000, 0)
	for i, c := range []struct {
		device             string
		useTOTP            bool
		newDevice, another bool
	}{
		{"first", false, true, false},
		{"first", true, false, false},
		{"second", true, true, true},
		{"third", false, true, true},
		{"second", false, false, true},
	} {
		step := &portal.LoginStep{At: now, Complete: true, Device: c.device,
			Session: &portal.Session{ID: fmt.Sprintf("dev%d", i), UserID: u.ID, Level: portal.LevelFull, CreatedAt: now.Unix(), LastSeenAt: now.Unix(), AuthEpoch: u.AuthEpoch}}
		if c.useTOTP {
			step.Use = &portal.StepUse{MethodID: m.ID, Step: int64(100 + i)}
		}
		out, err := db.StepLogin(ctx, step)
		if err != nil || out.Stale || out.Replayed {
			t.Fatalf("step %d = %+v, %v", i, out, err)
		}
		if out.NewDevice != c.newDevice || out.OtherDevices != c.another {
			t.Errorf("step %d on %q: new %v, other browsers %v; want %v, %v", i, c.device, out.NewDevice, out.OtherDevices, c.newDevice, c.another)
		}
	}
}

func testTokens(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	tok := &portal.Token{ID: "h1", Kind: portal.TokenSetup, CreatedAt: 10, ExpiresAt: 100}
	if err := db.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TokenByID(ctx, portal.TokenSetup, "h1", 100); err != portal.ErrNotFound {
		t.Fatalf("expired token found: %v", err)
	}
	if _, err := db.TokenByID(ctx, "other", "h1", 50); err != portal.ErrNotFound {
		t.Fatalf("token of another kind found: %v", err)
	}
	created := portaltest.Parallel(10, func(i int) bool {
		u := &portal.User{ID: portal.NewID(), Email: fmt.Sprintf("a%d@example.com", i), Name: "A", Role: portal.RoleAdmin, PasswordHash: "x", CreatedAt: 50}
		return db.CreateUserWithToken(ctx, u, nil, portal.TokenSetup, "h1", 50) == nil
	})
	if created != 1 {
		t.Fatalf("one set-up token created %d users, want 1", created)
	}
	if n, _ := db.CountStaff(ctx); n != 1 {
		t.Fatalf("staff = %d, want 1", n)
	}
}

// testFirstAdmin: set-up tokens live at once, used at the same moment, make
// exactly one first administrator; with staff, no set-up token works or is
// issued, and a new one replaces the older.
func testFirstAdmin(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	const n = 20
	for i := 0; i < n; i++ {
		if err := db.CreateToken(ctx, &portal.Token{ID: fmt.Sprintf("s%d", i), Kind: portal.TokenSetup, CreatedAt: 10, ExpiresAt: 100}); err != nil {
			t.Fatal(err)
		}
	}
	// Open the connections first, so the transactions below overlap
	// instead of queueing behind connection set-up.
	portaltest.Parallel(n, func(int) bool { _, err := db.CountStaff(ctx); return err == nil })
	created := portaltest.Parallel(n, func(i int) bool {
		u := &portal.User{ID: portal.NewID(), Email: fmt.Sprintf("a%d@example.com", i), Name: "A", Role: portal.RoleAdmin, PasswordHash: "x", CreatedAt: 50}
		return db.CreateFirstAdmin(ctx, u, fmt.Sprintf("s%d", i), 50) == nil
	})
	if staff, _ := db.CountStaff(ctx); created != 1 || staff != 1 {
		t.Fatalf("%d set-up tokens used at once made %d first administrators (%d staff), want 1", n, created, staff)
	}
	// A token stored after staff exist (as an older version left them).
	db.CreateToken(ctx, &portal.Token{ID: "late", Kind: portal.TokenSetup, CreatedAt: 60, ExpiresAt: 100})
	u := &portal.User{ID: portal.NewID(), Email: "late@example.com", Name: "L", Role: portal.RoleAdmin, PasswordHash: "x", CreatedAt: 60}
	if err := db.CreateFirstAdmin(ctx, u, "late", 61); !errors.Is(err, portal.ErrStaffExists) {
		t.Fatalf("set-up with staff: %v, want ErrStaffExists", err)
	}
	if err := db.CreateSetupToken(ctx, &portal.Token{ID: "new", CreatedAt: 60, ExpiresAt: 100}); !errors.Is(err, portal.ErrStaffExists) {
		t.Fatalf("new set-up token with staff: %v, want ErrStaffExists", err)
	}
}

// testSetupTokenReplaced: a new set-up token replaces the older ones.
func testSetupTokenReplaced(t *testing.T, db *sqlstore.DB) {
	ctx := context.Background()
	for _, id := range []string{"old", "new"} {
		if err := db.CreateSetupToken(ctx, &portal.Token{ID: id, CreatedAt: 10, ExpiresAt: 100}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.TokenByID(ctx, portal.TokenSetup, "old", 20); err != portal.ErrNotFound {
		t.Fatalf("older set-up token after a new one: %v, want not found", err)
	}
	if _, err := db.TokenByID(ctx, portal.TokenSetup, "new", 20); err != nil {
		t.Fatalf("newest set-up token: %v", err)
	}
}
