package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore"
	"github.com/clientportal/portal/sqlstore/storetest"
)

const day = 24 * 60 * 60

// world is the seeded database and what a staff member should see in it.
type world struct {
	db      *sqlstore.DB
	users   []*portal.User              // in creation order
	methods map[string][]*portal.Method // confirmed methods still present, by user id
}

// types returns the sorted distinct confirmed method types of u.
func (w *world) types(u *portal.User) []string {
	var out []string
	for _, m := range w.methods[u.ID] {
		if !slices.Contains(out, m.Type) {
			out = append(out, m.Type)
		}
	}
	slices.Sort(out)
	return out
}

// expect lists the users matching keep in the list's order: newest first,
// then by id descending.
func (w *world) expect(keep func(u *portal.User) bool) []string {
	var us []*portal.User
	for _, u := range w.users {
		if keep(u) {
			us = append(us, u)
		}
	}
	slices.SortFunc(us, func(a, b *portal.User) int {
		if a.CreatedAt != b.CreatedAt {
			return int(b.CreatedAt - a.CreatedAt)
		}
		return strings.Compare(b.ID, a.ID)
	})
	ids := make([]string, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	return ids
}

func (w *world) addMethod(t *testing.T, u *portal.User, typ string, confirmAt int64) *portal.Method {
	t.Helper()
	ctx := context.Background()
	m := &portal.Method{ID: portal.NewID(), UserID: u.ID, Type: typ, Name: typ, CreatedAt: confirmAt - 10}
	if err := w.db.CreateMethod(ctx, m); err != nil {
		t.Fatal(err)
	}
	if confirmAt == 0 {
		return m // left pending: does not count for 2FA
	}
	if _, err := w.db.ConfirmMethod(ctx, m, nil, confirmAt, "", nil); err != nil {
		t.Fatal(err)
	}
	w.methods[u.ID] = append(w.methods[u.ID], m)
	return m
}

func (w *world) deleteMethod(t *testing.T, m *portal.Method) {
	t.Helper()
	if err := w.db.DeleteMethod(context.Background(), m.UserID, m.ID, nil); err != nil {
		t.Fatal(err)
	}
	w.methods[m.UserID] = slices.DeleteFunc(w.methods[m.UserID], func(x *portal.Method) bool { return x.ID == m.ID })
}

// seed makes 120 users: every tenth is staff, the others in accounts of
// four; a third have TOTP, a fifth a security key, every eleventh two
// YubiKeys, every seventh a pending email method only; then some remove
// methods or disable 2FA, which the list must follow.
func seed(t *testing.T, db *sqlstore.DB) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{db: db, methods: map[string][]*portal.Method{}}
	names := []string{"Ada Lovelace", "Alan Turing", "Grace Hopper", "Barbara Liskov", "Edsger Dijkstra"}
	var acct *portal.Account
	members := 0
	for i := range 120 {
		u := &portal.User{ID: portal.NewID(), Email: fmt.Sprintf("User%03d@Example.com", i), Name: names[i%len(names)],
			Role: portal.RoleMember, PasswordHash: "x", CreatedAt: 1000 + int64(i/3)} // three users per second
		var newAcct *portal.Account
		switch {
		case i%10 == 9:
			u.Role = portal.RoleAdmin
		case acct == nil || members == 4:
			acct, members = &portal.Account{ID: portal.NewID(), Name: u.Name, CreatedAt: u.CreatedAt}, 0
			newAcct, u.Role = acct, portal.RoleOwner
			fallthrough
		default:
			u.AccountID = acct.ID
			members++
		}
		if err := db.CreateUser(ctx, u, newAcct); err != nil {
			t.Fatal(err)
		}
		w.users = append(w.users, u)
	}
	var totp45, only3, yubi22 *portal.Method
	for i, u := range w.users {
		at := int64(20000*day + (i%5)*day + 100) // five different days
		if i%3 == 0 {
			m := w.addMethod(t, u, portal.MethodTOTP, at)
			switch i {
			case 45:
				totp45 = m
			case 3:
				only3 = m
			}
		}
		if i%5 == 0 {
			w.addMethod(t, u, portal.MethodWebAuthn, at+day)
		}
		if i%7 == 0 {
			w.addMethod(t, u, portal.MethodEmail, 0)
		}
		if i%11 == 0 {
			m := w.addMethod(t, u, portal.MethodYubicoOTP, at)
			w.addMethod(t, u, portal.MethodYubicoOTP, at+2*day)
			if i == 22 {
				yubi22 = m
			}
		}
	}
	w.deleteMethod(t, totp45) // still has a security key
	// only3 was the user's only method: turning 2FA off removes it.
	if err := w.db.DisableTwoFactor(context.Background(), only3.UserID, "", nil); err != nil {
		t.Fatal(err)
	}
	w.methods[only3.UserID] = nil
	w.deleteMethod(t, yubi22) // the other YubiKey remains
	for _, i := range []int{30, 60} {
		if err := db.DisableTwoFactor(ctx, w.users[i].ID, "", nil); err != nil {
			t.Fatal(err)
		}
		w.methods[w.users[i].ID] = nil
	}
	return w
}

// walk follows the cursor chain of f with pages of limit and returns the
// ids in the order served.
func walk(t *testing.T, db *sqlstore.DB, f portal.UserFilter, limit int) ([]string, []*portal.UserRow) {
	t.Helper()
	f.Limit = limit
	var ids []string
	var all []*portal.UserRow
	for page := 0; ; page++ {
		if page > 200 {
			t.Fatal("the cursor chain does not end")
		}
		rows, next, err := db.ListUsers(context.Background(), f)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if len(rows) > limit {
			t.Fatalf("page %d has %d rows, limit %d", page, len(rows), limit)
		}
		if next != "" && len(rows) != limit {
			t.Fatalf("page %d has %d rows and a next cursor", page, len(rows))
		}
		for _, r := range rows {
			ids = append(ids, r.ID)
			all = append(all, r)
		}
		if next == "" {
			return ids, all
		}
		f.Cursor = next
	}
}

func TestListUsers(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		w := seed(t, storetest.MustOpen(t, dialect))
		has := func(typ string) func(u *portal.User) bool {
			return func(u *portal.User) bool { return slices.Contains(w.types(u), typ) }
		}
		twofa := func(u *portal.User) bool { return len(w.methods[u.ID]) > 0 }
		acct := w.users[5].AccountID
		for _, tc := range []struct {
			name   string
			filter portal.UserFilter
			keep   func(u *portal.User) bool
		}{
			{"all", portal.UserFilter{}, func(*portal.User) bool { return true }},
			{"activated", portal.UserFilter{TwoFA: portal.TwoFAActivated}, twofa},
			{"not activated", portal.UserFilter{TwoFA: portal.TwoFANotActivated}, func(u *portal.User) bool { return !twofa(u) }},
			{"staff", portal.UserFilter{Role: portal.RoleAdmin}, func(u *portal.User) bool { return u.Role == portal.RoleAdmin }},
			{"owners without 2FA", portal.UserFilter{Role: portal.RoleOwner, TwoFA: portal.TwoFANotActivated},
				func(u *portal.User) bool { return u.Role == portal.RoleOwner && !twofa(u) }},
			{"account", portal.UserFilter{AccountID: acct}, func(u *portal.User) bool { return u.AccountID == acct }},
			{"security keys", portal.UserFilter{Method: portal.MethodWebAuthn}, has(portal.MethodWebAuthn)},
			{"yubikeys", portal.UserFilter{Method: portal.MethodYubicoOTP}, has(portal.MethodYubicoOTP)},
			{"totp members", portal.UserFilter{Method: portal.MethodTOTP, Role: portal.RoleMember},
				func(u *portal.User) bool { return has(portal.MethodTOTP)(u) && u.Role == portal.RoleMember }},
			{"pending email counts for nothing", portal.UserFilter{Method: portal.MethodEmail}, func(*portal.User) bool { return false }},
			{"method and not activated", portal.UserFilter{Method: portal.MethodTOTP, TwoFA: portal.TwoFANotActivated}, func(*portal.User) bool { return false }},
			{"email prefix", portal.UserFilter{Query: "user01"}, func(u *portal.User) bool { return strings.HasPrefix(u.Email, "User01") }},
			{"email prefix ignores case", portal.UserFilter{Query: " USER11 "}, func(u *portal.User) bool { return strings.HasPrefix(u.Email, "User11") }},
			{"email with @", portal.UserFilter{Query: "user042@ex"}, func(u *portal.User) bool { return u.Email == "User042@Example.com" }},
			{"email only with @", portal.UserFilter{Query: "hopper@"}, func(*portal.User) bool { return false }},
			{"whole email", portal.UserFilter{Query: "user119@example.com"}, func(u *portal.User) bool { return u.Email == "User119@Example.com" }},
			{"name prefix", portal.UserFilter{Query: "grace h"}, func(u *portal.User) bool { return u.Name == "Grace Hopper" }},
			{"name is a prefix search", portal.UserFilter{Query: "Hopper"}, func(*portal.User) bool { return false }},
			{"name and role", portal.UserFilter{Query: "GRACE", Role: portal.RoleAdmin},
				func(u *portal.User) bool { return u.Name == "Grace Hopper" && u.Role == portal.RoleAdmin }},
			{"wildcards are literal", portal.UserFilter{Query: "user%1"}, func(*portal.User) bool { return false }},
			{"underscore is literal", portal.UserFilter{Query: "user_1"}, func(*portal.User) bool { return false }},
			{"no match", portal.UserFilter{Query: "zz"}, func(*portal.User) bool { return false }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				want := tc.keep
				got, _ := walk(t, w.db, tc.filter, 7)
				if exp := w.expect(want); !slices.Equal(got, exp) {
					t.Fatalf("got %d users %v,\nwant %d %v", len(got), got, len(exp), exp)
				}
			})
		}

		t.Run("rows", func(t *testing.T) {
			_, rows := walk(t, w.db, portal.UserFilter{}, 200)
			byID := map[string]*portal.User{}
			for _, u := range w.users {
				byID[u.ID] = u
			}
			enabled := 0
			for _, r := range rows {
				u := byID[r.ID]
				if r.Email != u.Email || r.Name != u.Name || r.Role != u.Role || r.AccountID != u.AccountID || r.CreatedAt != u.CreatedAt {
					t.Errorf("row %+v, want user %+v", r.User, u)
				}
				if r.PasswordHash != "" {
					t.Errorf("list row of %s carries the password hash", u.Email)
				}
				if want := w.types(u); r.TwoFA != (len(want) > 0) || !slices.Equal(r.Methods, want) {
					t.Errorf("%s: twofa %v methods %v, want %v", u.Email, r.TwoFA, r.Methods, want)
				}
				var since int64
				for _, m := range w.methods[u.ID] {
					if since == 0 || m.ConfirmedAt < since {
						since = m.ConfirmedAt
					}
				}
				if r.TwoFASince != since {
					t.Errorf("%s: 2FA since %d, want %d", u.Email, r.TwoFASince, since)
				}
				if r.TwoFA {
					enabled++
				}
			}
			// The seed's removals left these states; check them by name.
			for i, want := range map[int][]string{0: {"totp", "webauthn", "yubico_otp"}, 3: nil, 22: {"yubico_otp"},
				30: nil, 45: {"webauthn"}, 60: nil, 7: nil, 15: {"totp", "webauthn"}} {
				if got := w.types(w.users[i]); !slices.Equal(got, want) {
					t.Fatalf("seed model of user %d: %v, want %v", i, got, want)
				}
			}
			if enabled == 0 || enabled == len(rows) {
				t.Fatalf("%d of %d enabled: the seed should mix", enabled, len(rows))
			}
		})

		t.Run("default page", func(t *testing.T) {
			rows, next, err := w.db.ListUsers(context.Background(), portal.UserFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != portal.DefaultUserPage || next == "" {
				t.Fatalf("%d rows, next %q; want %d and a cursor", len(rows), next, portal.DefaultUserPage)
			}
			// A cursor is a position: it also serves another filter.
			rest, _, err := w.db.ListUsers(context.Background(), portal.UserFilter{Cursor: next, TwoFA: portal.TwoFAActivated, Limit: 200})
			if err != nil {
				t.Fatal(err)
			}
			want := w.expect(func(u *portal.User) bool { return len(w.methods[u.ID]) > 0 })
			var got []string
			for _, r := range rest {
				got = append(got, r.ID)
			}
			if len(got) == 0 || !slices.Equal(got, want[len(want)-len(got):]) {
				t.Fatalf("activated after the first page: %v, want the tail of %v", got, want)
			}
		})

		t.Run("invalid", func(t *testing.T) {
			b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
			for name, f := range map[string]portal.UserFilter{
				"cursor not base64":   {Cursor: "!!!"},
				"cursor without id":   {Cursor: b64("1000:")},
				"cursor without time": {Cursor: b64(":abc")},
				"cursor text":         {Cursor: b64("not-a-cursor")},
				"cursor time":         {Cursor: b64("yesterday:abc")},
				"cursor control":      {Cursor: b64("1000:a\x00b")},
				"cursor too long":     {Cursor: strings.Repeat("A", 500)},
				"twofa":               {TwoFA: "yes"},
				"role":                {Role: "root"},
				"method":              {Method: "sms"},
				"backup codes":        {Method: portal.MethodBackupCode},
				"limit too big":       {Limit: portal.MaxUserPage + 1},
				"limit negative":      {Limit: -1},
				"query too long":      {Query: strings.Repeat("a", 255)},
			} {
				_, _, err := w.db.ListUsers(context.Background(), f)
				if portal.ErrorCode(err) != portal.EINVALID {
					t.Errorf("%s: err = %v, want %s", name, err, portal.EINVALID)
				} else if msg := portal.ErrorMessage(err); !strings.HasSuffix(msg, ".") || strings.Contains(msg, "sql") {
					t.Errorf("%s: message %q is not a sentence for people", name, msg)
				}
			}
		})

		t.Run("failed attempts", func(t *testing.T) {
			ctx := context.Background()
			now := time.Unix(1_800_000_000, 0)
			u, other := w.users[42], w.users[43]
			for range 3 {
				if _, _, _, err := w.db.TakeAttempt(ctx, portal.PasswordAccountLimit, portal.MustKey(u.Email), now); err != nil {
					t.Fatal(err)
				}
			}
			for _, x := range []*portal.User{u, u, other} {
				if _, _, _, err := w.db.TakeAttempt(ctx, portal.SecondFactorUserLimit, x.ID, now); err != nil {
					t.Fatal(err)
				}
			}
			_, rows := walk(t, w.db, portal.UserFilter{}, 30)
			for _, r := range rows {
				want := map[string]int{u.ID: 5, other.ID: 1}[r.ID]
				if r.FailedAttempts != want {
					t.Errorf("%s: %d failed attempts, want %d", r.Email, r.FailedAttempts, want)
				}
			}
			if err := w.db.ResetAttempts(ctx, portal.PasswordAccountLimit, portal.MustKey(u.Email)); err != nil {
				t.Fatal(err)
			}
			rows, _, err := w.db.ListUsers(ctx, portal.UserFilter{Query: u.Email})
			if err != nil || len(rows) != 1 || rows[0].FailedAttempts != 2 {
				t.Fatalf("after a password success: %v, %v; want 2 (second factor) attempts", rows, err)
			}
		})

		t.Run("stats", func(t *testing.T) {
			st, err := w.db.TwoFactorStats(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := portal.TwoFactorStats{ByRole: map[string]portal.RoleAdoption{}, ByMethod: map[string]int{}}
			for _, u := range w.users {
				a := want.ByRole[u.Role]
				a.Total++
				want.Total++
				if len(w.methods[u.ID]) > 0 {
					a.Enabled++
					want.Enabled++
				}
				want.ByRole[u.Role] = a
				for _, typ := range w.types(u) {
					want.ByMethod[typ]++
				}
			}
			if got := fmt.Sprint(*st); got != fmt.Sprint(want) {
				t.Fatalf("stats %s, want %s", got, fmt.Sprint(want))
			}
		})

		t.Run("adoption history", func(t *testing.T) {
			firsts := map[int64]int{} // day -> users whose earliest method is that day
			for _, u := range w.users {
				if ms := w.methods[u.ID]; len(ms) > 0 {
					first := slices.MinFunc(ms, func(a, b *portal.Method) int { return int(a.ConfirmedAt - b.ConfirmedAt) })
					firsts[first.ConfirmedAt/day]++
				}
			}
			now := int64(20005*day + 3600)
			pts, err := w.db.AdoptionHistory(context.Background(), now, 4) // days 20002..20005
			if err != nil {
				t.Fatal(err)
			}
			if len(pts) != 4 || pts[0].Day != 20002*day || pts[3].Day != 20005*day {
				t.Fatalf("points %+v, want days 20002 to 20005", pts)
			}
			total := firsts[20000] + firsts[20001]
			for i, p := range pts {
				d := int64(20002 + i)
				total += firsts[d]
				if p.New != firsts[d] || p.Total != total {
					t.Errorf("day %d: %+v, want new %d total %d", d, p, firsts[d], total)
				}
			}
			if _, err := w.db.AdoptionHistory(context.Background(), now, 0); portal.ErrorCode(err) != portal.EINVALID {
				t.Fatalf("zero days: %v", err)
			}
		})
	})
}

// TestTwoFactorColumnUnderConcurrency confirms two more methods of a user
// at once: the user's method list must end with all three, whichever
// transaction commits last.
func TestTwoFactorColumnUnderConcurrency(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		db := storetest.MustOpen(t, dialect)
		ctx := context.Background()
		for round := range 10 {
			u := storetest.NewUser(t, db, fmt.Sprintf("race%d@example.com", round))
			ms := []*portal.Method{
				{ID: portal.NewID(), UserID: u.ID, Type: portal.MethodTOTP, CreatedAt: 1},
				{ID: portal.NewID(), UserID: u.ID, Type: portal.MethodWebAuthn, CreatedAt: 1},
				{ID: portal.NewID(), UserID: u.ID, Type: portal.MethodEmail, CreatedAt: 1},
			}
			for _, m := range ms {
				if err := db.CreateMethod(ctx, m); err != nil {
					t.Fatal(err)
				}
			}
			// 2FA is already on (a preferred method is set) before the race.
			if _, err := db.ConfirmMethod(ctx, ms[2], nil, 2, "", nil); err != nil {
				t.Fatal(err)
			}
			ok := portaltest.Parallel(2, func(i int) bool {
				_, err := db.ConfirmMethod(ctx, ms[i], nil, 2, "", nil)
				return err == nil
			})
			if ok != 2 {
				t.Fatalf("%d of 2 confirmations succeeded", ok)
			}
			rows, _, err := db.ListUsers(ctx, portal.UserFilter{Query: u.Email})
			if err != nil || len(rows) != 1 {
				t.Fatalf("%v %v", rows, err)
			}
			if want := []string{"email", "totp", "webauthn"}; !rows[0].TwoFA || !slices.Equal(rows[0].Methods, want) {
				t.Fatalf("round %d: twofa %v methods %v, want %v", round, rows[0].TwoFA, rows[0].Methods, want)
			}
		}
	})
}

// TestAdminMigrationBackfill migrates a database that already has users
// and methods (schema 00003) and checks the new 2FA copies.
func TestAdminMigrationBackfill(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		dsn := storetest.DSN(t, dialect)
		driver, conn, gd := "pgx", dsn, goose.DialectPostgres
		if dialect == sqlstore.SQLite {
			driver, conn, gd = "sqlite", "file:"+strings.TrimPrefix(dsn, "sqlite:")+"?_pragma=foreign_keys(1)", goose.DialectSQLite3
		}
		raw, err := sql.Open(driver, conn)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		p, err := goose.NewProvider(gd, raw, os.DirFS(filepath.Join(".", "migrations")))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.UpTo(ctx, 3); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{
			`INSERT INTO users (id, email, email_key, name, role, password_hash, created_at) VALUES
				('a', 'a@x.io', 'a@x.io', 'A', 'admin', 'x', 1), ('b', 'b@x.io', 'b@x.io', 'B', 'owner', 'x', 2), ('c', 'c@x.io', 'c@x.io', 'C', 'member', 'x', 3)`,
			`INSERT INTO methods (id, user_id, type, confirmed_at, created_at) VALUES
				('m1', 'a', 'yubico_otp', 5, 1), ('m2', 'a', 'totp', 5, 1), ('m3', 'a', 'yubico_otp', 6, 1), ('m4', 'a', 'email', 0, 1),
				('m5', 'b', 'whatsapp', 0, 1)`,
		} {
			if _, err := raw.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		db := storetest.MustOpenDSN(t, dsn) // migrates the rest
		rows, _, err := db.ListUsers(ctx, portal.UserFilter{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range rows {
			got[r.ID] = fmt.Sprint(r.TwoFA, r.Methods, r.TwoFASince)
		}
		want := map[string]string{"a": "true [totp yubico_otp] 5", "b": "false [] 0", "c": "false [] 0"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("after migration %v, want %v", got, want)
		}
		yk, _, err := db.ListUsers(ctx, portal.UserFilter{Method: portal.MethodYubicoOTP})
		if err != nil || len(yk) != 1 || yk[0].ID != "a" {
			t.Fatalf("method filter after migration: %v %v", yk, err)
		}
	})
}

func TestPrefixSearchSpecialCharacters(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		db := storetest.MustOpen(t, dialect)
		emails := []string{"z.z@example.com", "zz@example.com", "a9b@example.com", "aa@example.com", "a9@example.com", "ö@example.com", "ab@example.com"}
		for _, e := range emails {
			u := &portal.User{ID: portal.NewID(), Email: e, Name: "N", Role: portal.RoleAdmin, PasswordHash: "x", CreatedAt: 1}
			if err := db.CreateUser(context.Background(), u, nil); err != nil {
				t.Fatal(err)
			}
		}
		for q, want := range map[string][]string{
			"z":    {"z.z@example.com", "zz@example.com"},
			"z.":   {"z.z@example.com"},
			"zz@":  {"zz@example.com"},
			"a9":   {"a9b@example.com", "a9@example.com"},
			"a9@":  {"a9@example.com"},
			"ö":    {"ö@example.com"},
			"a":    {"a9b@example.com", "aa@example.com", "a9@example.com", "ab@example.com"},
			"@exa": nil,
			"z.z":  {"z.z@example.com"},
			"a9b":  {"a9b@example.com"},
			"a9@e": {"a9@example.com"},
			"zz@e": {"zz@example.com"},
			"ö@e":  {"ö@example.com"},
		} {
			rows, _, err := db.ListUsers(context.Background(), portal.UserFilter{Query: q})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rows {
				got = append(got, r.Email)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("q=%q: %v, want %v", q, got, want)
			}
		}
	})
}

// TestSearchBroadAndNarrow searches users made by SeedUsers with prefixes
// that match more users than a search reads from its index ranges ("u":
// every email) and fewer, alone and with filters: both ways must serve the
// same users in the same order.
func TestSearchBroadAndNarrow(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		db := storetest.MustOpen(t, dialect)
		if err := db.SeedUsers(context.Background(), 2500, sqlstore.SeedOptions{Seed: 7, StaffEvery: 50}); err != nil {
			t.Fatal(err)
		}
		_, all := walk(t, db, portal.UserFilter{}, portal.MaxUserPage)
		if len(all) != 2500 {
			t.Fatalf("%d users listed, want 2500", len(all))
		}
		for _, f := range []portal.UserFilter{
			{Query: "u"}, {Query: "U1"}, {Query: "u12"}, {Query: "u2499@"}, {Query: "u1@"}, {Query: "u1@example.com"},
			{Query: "grace"}, {Query: "gr"}, {Query: "ada l"}, {Query: "Ada Lovelace"},
			{Query: "u", TwoFA: portal.TwoFAActivated}, {Query: "u1", Role: portal.RoleAdmin},
			{Query: "u", Method: portal.MethodWebAuthn}, {Query: "grace", TwoFA: portal.TwoFANotActivated, Role: portal.RoleMember},
		} {
			q := strings.ToLower(f.Query)
			var want []string
			for _, r := range all {
				match := strings.HasPrefix(r.Email, q) || !strings.Contains(q, "@") && strings.HasPrefix(strings.ToLower(r.Name), q)
				switch {
				case f.TwoFA == portal.TwoFAActivated && !r.TwoFA, f.TwoFA == portal.TwoFANotActivated && r.TwoFA,
					f.Role != "" && r.Role != f.Role, f.Method != "" && !slices.Contains(r.Methods, f.Method):
					match = false
				}
				if match {
					want = append(want, r.ID)
				}
			}
			if len(want) == 0 {
				t.Fatalf("%+v matches nobody: the test needs a better seed", f)
			}
			if got, _ := walk(t, db, f, 37); !slices.Equal(got, want) {
				t.Errorf("%+v: %d users, want %d", f, len(got), len(want))
			}
		}
	})
}
