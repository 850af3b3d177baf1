package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// BenchmarkSessionByID measures the session lookup every request does (one
// query joining the user).
func BenchmarkSessionByID(b *testing.B) {
	for _, dialect := range storetest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			db := storetest.MustOpen(b, dialect)
			u := storetest.NewUser(b, db, "s@example.com")
			ctx := context.Background()
			if err := db.CreateSession(ctx, &portal.Session{ID: "sess", UserID: u.ID, Level: portal.LevelFull, CreatedAt: 1, LastSeenAt: 1}); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, _, err := db.SessionByID(ctx, "sess"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTakeAttempt measures one atomic limiter increment.
func BenchmarkTakeAttempt(b *testing.B) {
	for _, dialect := range storetest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			db := storetest.MustOpen(b, dialect)
			ctx := context.Background()
			now := time.Unix(1_700_000_000, 0)
			i := 0
			for b.Loop() {
				i++
				if _, _, _, err := db.TakeAttempt(ctx, portal.SecondFactorIPLimit, fmt.Sprintf("ip-%d", i%1000), now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkConsumeStep measures the TOTP replay guard (one conditional
// update).
func BenchmarkConsumeStep(b *testing.B) {
	for _, dialect := range storetest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			db := storetest.MustOpen(b, dialect)
			u := storetest.NewUser(b, db, "c@example.com")
			ctx := context.Background()
			m := &portal.Method{ID: "m", UserID: u.ID, Type: portal.MethodTOTP, CreatedAt: 1}
			db.CreateMethod(ctx, m)
			db.ConfirmMethod(ctx, m, nil, 1, "", nil)
			step := int64(1)
			for b.Loop() {
				step++
				if ok, err := db.ConsumeStep(ctx, "m", step, 1); err != nil || !ok {
					b.Fatal(ok, err)
				}
			}
		})
	}
}
