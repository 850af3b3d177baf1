package sqlstore_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestReview4CRemoveAccessRacesRefresh: "Remove access" (and an app's
// RP-initiated logout) deletes the app's tokens of the user with one
// DELETE, without the user's lock that a credential change takes. On
// PostgreSQL a refresh that is rotating the app's token at that moment
// inserts the new access and refresh tokens in a transaction the DELETE's
// snapshot does not see: the DELETE waits for the old token's row lock,
// deletes the old token, and the new pair survives. The app (or whoever
// stole its refresh token, refreshing in a loop) keeps access the user
// removed. The old token's row is held here by a third transaction so the
// two meet in that order every time, as they do by chance under load.
func TestReview4CRemoveAccessRacesRefresh(t *testing.T) {
	dsn := storetest.DSN(t, "postgres")
	db := storetest.MustOpenDSN(t, dsn)
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx := context.Background()
	u := storetest.NewUser(t, db, "ada@example.com")
	app := &portal.App{ID: portal.NewID(), Name: "Billing", SecretHash: "x", RedirectURIs: []string{"https://app.example/cb"},
		Scopes: []string{"openid", "offline_access"}, GrantTypes: []string{"authorization_code", "refresh_token"}, SigningAlg: "ES256", CreatedAt: 1}
	if err := db.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	tok := func(hash, kind, grant string) *portal.AppToken {
		return &portal.AppToken{Hash: hash, Kind: kind, GrantID: grant, AppID: app.ID, UserID: u.ID, Scopes: []string{"openid", "offline_access"},
			CreatedAt: now, ExpiresAt: now + 3600}
	}
	waiting := func(n int) {
		for range 200 {
			var c int
			raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`).Scan(&c)
			if c >= n {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("%d transactions never waited", n)
	}
	for _, c := range []struct {
		name   string
		revoke func() error
	}{
		{"Remove access", func() error { return db.RevokeAppAccess(ctx, u.ID, app.ID) }},
		{"the app's logout", func() error { return db.RevokeAppTokens(ctx, u.ID, app.ID) }},
	} {
		grant := portal.NewID()
		old, next := "refresh-"+portal.NewID(), "refresh-"+portal.NewID()
		if err := db.CreateTokens(ctx, "", "", now, tok("access-"+portal.NewID(), portal.TokenAccess, grant), tok(old, portal.TokenRefresh, grant)); err != nil {
			t.Fatal(err)
		}
		// A third transaction holds the old refresh token's row for a moment.
		hold, err := raw.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hold.ExecContext(ctx, `SELECT 1 FROM oidc_tokens WHERE hash = $1 FOR UPDATE`, old); err != nil {
			t.Fatal(err)
		}
		// The app refreshes (rotating the old token) ...
		refreshed := make(chan error, 1)
		go func() {
			refreshed <- db.CreateTokens(ctx, "", old, now, tok("access-"+portal.NewID(), portal.TokenAccess, grant), tok(next, portal.TokenRefresh, grant))
		}()
		waiting(1)
		// ... as the user's access to the app is removed.
		removed := make(chan error, 1)
		go func() { removed <- c.revoke() }()
		waiting(2)
		hold.Rollback()
		<-refreshed
		if err := <-removed; err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var left int
		raw.QueryRowContext(ctx, `SELECT COUNT(*) FROM oidc_tokens WHERE user_id = $1 AND app_id = $2`, u.ID, app.ID).Scan(&left)
		if _, err := db.UseRefreshToken(ctx, next, now); err == nil || left > 0 {
			t.Errorf("after %s returned, the app still holds %d tokens; the new refresh token works: %v", c.name, left, err == nil)
		}
	}
}
