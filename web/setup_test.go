package web_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// setupLink asks the server for a set-up link, as `portal serve` does, and
// returns its token.
func (e *env) setupLink() string {
	e.t.Helper()
	link, err := e.web.SetupLink(context.Background())
	if err != nil || link == "" {
		e.t.Fatalf("SetupLink = %q, %v; want a link", link, err)
	}
	return tokenOf(link)
}

// postSetup submits the set-up form with token for email.
func (c *client) postSetup(token, email string) *response {
	c.e.t.Helper()
	return c.form("/setup", url.Values{"token": {token}, "email": {email}, "name": {"Admin"}, "password": {testPassword}})
}

// assertSetupDead checks that token shows no set-up form, creates nobody,
// and that the staff are still want.
func (e *env) assertSetupDead(token string, want int) {
	e.t.Helper()
	c := e.client()
	if r := c.get("/setup?token=" + url.QueryEscape(token)); r.StatusCode != 404 || strings.Contains(r.Body, `name="password"`) {
		e.t.Errorf("GET /setup with a dead link: %d, form shown: %v", r.StatusCode, strings.Contains(r.Body, `name="password"`))
	}
	if r := c.postSetup(token, "intruder@example.com"); r.StatusCode != 404 {
		e.t.Errorf("POST /setup with a dead link: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	if _, err := e.db.UserByEmail(context.Background(), "intruder@example.com"); err == nil {
		e.t.Error("a dead set-up link created an administrator")
	}
	if n, _ := e.db.CountStaff(context.Background()); n != want {
		e.t.Errorf("staff = %d, want %d", n, want)
	}
}

// TestSetupLinkDiesWithStaff: once an administrator exists (made with
// `portal users create --admin`), a set-up link printed before, or one left
// in the database by an older version, creates no one, and no new link is
// printed.
func TestSetupLinkDiesWithStaff(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		ctx := context.Background()
		before := e.setupLink()
		if _, err := e.web.CreateUser(ctx, "ops@example.com", "Ops", testPassword, portal.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		e.assertSetupDead(before, 1)

		// A live token that no administrator's creation deleted (an older
		// portal kept them): the staff check alone must refuse it.
		leftover, hash := portal.NewSecretToken()
		now := e.clock.Now()
		if err := e.db.CreateToken(ctx, &portal.Token{ID: hash, Kind: portal.TokenSetup, CreatedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}); err != nil {
			t.Fatal(err)
		}
		if r := e.client().get("/setup?token=" + url.QueryEscape(leftover)); !strings.Contains(r.Body, "an administrator already exists") {
			t.Errorf("GET /setup with a leftover link after staff exist: %d, does not say an administrator exists", r.StatusCode)
		}
		e.assertSetupDead(leftover, 1)

		if link, err := e.web.SetupLink(ctx); link != "" || err != nil {
			t.Fatalf("SetupLink with staff = %q, %v; want none", link, err)
		}
	})
}

// TestSetupLinkReplaced: every start prints a new link, and it kills the
// ones printed before.
func TestSetupLinkReplaced(t *testing.T) {
	e := newEnv(t, "sqlite")
	older := e.setupLink()
	e.clock.Add(time.Hour)
	newer := e.setupLink()
	e.assertSetupDead(older, 0)
	if r := e.client().postSetup(newer, "admin@example.com"); r.StatusCode != 303 {
		t.Fatalf("POST /setup with the newest link: %d %s", r.StatusCode, r.Body)
	}
	if n, _ := e.db.CountStaff(context.Background()); n != 1 {
		t.Fatalf("staff = %d, want 1", n)
	}
}

// TestParallelSetup: set-up links live at once (two instances started
// together, or links an older version left) sent at the same moment to two
// instances make exactly one first administrator.
func TestParallelSetup(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		instances := []*env{e, e.replica()}
		const n = 8
		tokens := make([]string, n)
		now := e.clock.Now()
		for i := range tokens {
			var hash string
			tokens[i], hash = portal.NewSecretToken()
			if err := e.db.CreateToken(context.Background(), &portal.Token{ID: hash, Kind: portal.TokenSetup, CreatedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}); err != nil {
				t.Fatal(err)
			}
		}
		clients := make([]*client, n)
		for i := range clients {
			clients[i] = instances[i%2].client()
		}
		made := portaltest.Parallel(n, func(i int) bool {
			return clients[i].postSetup(tokens[i], fmt.Sprintf("admin%d@example.com", i)).StatusCode == 303
		})
		staff, _ := e.db.CountStaff(context.Background())
		if made != 1 || staff != 1 {
			t.Fatalf("%d parallel set-ups with %d links succeeded, %d administrators; want exactly one", made, n, staff)
		}
	})
}
