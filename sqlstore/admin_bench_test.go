package sqlstore_test

import (
	"context"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/sqlstore"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// BenchmarkListUsers measures pages of the staff user list over a seeded
// database of a million users (PORTAL_BENCH_USERS to change), 40% of them
// with 2FA: SQLite in a file on disk, and PostgreSQL when
// PORTAL_TEST_POSTGRES_URL is set. Seeding takes a while, so it only runs
// with PORTAL_BENCH=1:
//
//	PORTAL_BENCH=1 go test -v -run '^$' -bench ListUsers -benchtime 50x ./sqlstore/
//
// (-v shows how long seeding took.)
// Besides ns/op (the mean) each case reports p50-ms and p95-ms; the target
// is a median under 20 ms a page.
func BenchmarkListUsers(b *testing.B) {
	if os.Getenv("PORTAL_BENCH") != "1" {
		b.Skip("set PORTAL_BENCH=1 to seed a million users and run the staff list benchmark")
	}
	n := 1_000_000
	if s := os.Getenv("PORTAL_BENCH_USERS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1000 {
			b.Fatalf("PORTAL_BENCH_USERS=%q: want a number of users, at least 1000", s)
		}
		n = v
	}
	ctx := context.Background()
	for _, dialect := range storetest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			db := storetest.MustOpen(b, dialect)
			start := time.Now()
			if err := db.SeedUsers(ctx, n, sqlstore.SeedOptions{Seed: 1}); err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: seeded %d users in %s", dialect, n, time.Since(start).Round(time.Millisecond))

			// A cursor half way down the list, reached the way a client would.
			start = time.Now()
			var deep string
			for seen := 0; seen < n/2; seen += portal.MaxUserPage {
				_, next, err := db.ListUsers(ctx, portal.UserFilter{Limit: portal.MaxUserPage, Cursor: deep})
				if err != nil {
					b.Fatal(err)
				}
				deep = next
			}
			b.Logf("%s: walked %d pages of %d to the middle in %s", dialect, n/2/portal.MaxUserPage, portal.MaxUserPage, time.Since(start).Round(time.Millisecond))
			// An account with 2FA somewhere in it.
			owner, _, err := db.ListUsers(ctx, portal.UserFilter{Role: portal.RoleOwner, TwoFA: portal.TwoFAActivated, Limit: 1})
			if err != nil || len(owner) == 0 {
				b.Fatalf("no owner with 2FA: %v", err)
			}
			acct := owner[0].AccountID

			for _, bc := range []struct {
				name string
				f    portal.UserFilter
			}{
				{"activated/first", portal.UserFilter{TwoFA: portal.TwoFAActivated}},
				{"not_activated/first", portal.UserFilter{TwoFA: portal.TwoFANotActivated}},
				{"all/deep", portal.UserFilter{Cursor: deep}},
				{"activated/deep", portal.UserFilter{TwoFA: portal.TwoFAActivated, Cursor: deep}},
				{"not_activated/deep", portal.UserFilter{TwoFA: portal.TwoFANotActivated, Cursor: deep}},
				{"method_yubico_otp/deep", portal.UserFilter{Method: portal.MethodYubicoOTP, Cursor: deep}},
				{"staff_activated/first", portal.UserFilter{Role: portal.RoleAdmin, TwoFA: portal.TwoFAActivated}},
				{"account_activated/first", portal.UserFilter{AccountID: acct, TwoFA: portal.TwoFAActivated}},
				{"search_email/first", portal.UserFilter{Query: "u" + strconv.Itoa(n*42/100) + "@"}},
				{"search_prefix/first", portal.UserFilter{Query: "u" + strconv.Itoa(n*42/10000)}},       // about 111 emails
				{"search_prefix_1111/first", portal.UserFilter{Query: "u" + strconv.Itoa(n*42/100000)}}, // near the most a search sorts
				{"search_name/first", portal.UserFilter{Query: "grace h"}},
				{"search_broad/first", portal.UserFilter{Query: "gr"}},      // a twelfth of the names
				{"search_short_rare/first", portal.UserFilter{Query: "u0"}}, // one email
				// The worst case: a broad search (too many matches to sort)
				// whose matches are all old users is read row by row until
				// they come (u1, u10…, u100000…: the oldest fifth).
				{"search_broad_old/first", portal.UserFilter{Query: "u1"}},
			} {
				rows, _, err := db.ListUsers(ctx, bc.f)
				if err != nil || len(rows) == 0 {
					b.Fatalf("%s: %d rows, %v", bc.name, len(rows), err)
				}
				b.Run(bc.name, func(b *testing.B) {
					timed(b, func() error {
						_, _, err := db.ListUsers(ctx, bc.f)
						return err
					})
				})
			}
			b.Run("stats", func(b *testing.B) {
				timed(b, func() error {
					_, err := db.TwoFactorStats(ctx)
					return err
				})
			})
			b.Run("adoption_history", func(b *testing.B) {
				timed(b, func() error {
					_, err := db.AdoptionHistory(ctx, 1767225600, 90)
					return err
				})
			})
		})
	}
}

// timed runs fn b.N times and reports the median and 95th percentile.
func timed(b *testing.B, fn func() error) {
	b.Helper()
	var ds []time.Duration
	for b.Loop() {
		t := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(t))
	}
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(ds[len(ds)/2]), "p50-ms")
	b.ReportMetric(ms(ds[len(ds)*95/100]), "p95-ms")
}
