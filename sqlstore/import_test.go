package sqlstore_test

import (
	"context"
	"testing"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestImportMemberWithoutAccount (a seventh review): an import's owner row
// failed (its address was registered meanwhile) but the member row of the
// same account was written, into an account that does not exist, with no
// owner to manage it. Now the member is refused with the owner; a member
// whose owner was written joins as before.
func TestImportMemberWithoutAccount(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		db := storetest.MustOpen(t, dialect)
		ctx := context.Background()
		storetest.NewUser(t, db, "taken@example.com") // registered meanwhile
		user := func(email, role, account string) *portal.User {
			return &portal.User{ID: portal.NewID(), AccountID: account, Email: email, Name: email, Role: role, PasswordHash: "x", CreatedAt: 1}
		}
		lost := &portal.Account{ID: portal.NewID(), Name: "Lost", CreatedAt: 1}
		made := &portal.Account{ID: portal.NewID(), Name: "Made", CreatedAt: 1}
		rows := []*portal.ImportedUser{
			{User: user("taken@example.com", portal.RoleOwner, lost.ID), Account: lost},
			{User: user("member-lost@example.com", portal.RoleMember, lost.ID)},
			{User: user("owner-made@example.com", portal.RoleOwner, made.ID), Account: made},
			{User: user("member-made@example.com", portal.RoleMember, made.ID)},
		}
		errs, err := db.ImportUsers(ctx, rows)
		if err != nil {
			t.Fatal(err)
		}
		if errs[0] == nil || errs[1] == nil || errs[2] != nil || errs[3] != nil {
			t.Errorf("row errors %v; want the taken owner and its member refused, the others written", errs)
		}
		if _, err := db.UserByEmail(ctx, "member-lost@example.com"); err == nil {
			t.Error("a member was written into an account that does not exist")
		}
		if u, err := db.UserByEmail(ctx, "member-made@example.com"); err != nil || u.AccountID != made.ID {
			t.Errorf("the member of a written owner: %+v %v", u, err)
		}
	})
}

// TestWebhookDueMigration: migration 19 adds the index of each endpoint's
// due deliveries and removes deliveries whose endpoint is gone (a claim
// goes by endpoint and would never reach them); it goes down and up again.
func TestWebhookDueMigration(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		_, raw, p := migratedTo(t, dialect, 18)
		for _, q := range []string{
			`INSERT INTO webhook_endpoints (id, url, secret, types, start_after, created_at) VALUES ('we1', 'https://x.example', 's', 'a', '', 1)`,
			`INSERT INTO webhook_deliveries (id, endpoint_id, event_id, type, payload, created_at, next_at) VALUES ('d1', 'we1', 'e1', 'a', '{}', 1, 1)`,
			`INSERT INTO webhook_deliveries (id, endpoint_id, event_id, type, payload, created_at, next_at) VALUES ('d2', 'gone', 'e2', 'a', '{}', 1, 1)`,
		} {
			if _, err := raw.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatal("up:", err)
		}
		var ids []string
		rows, err := raw.QueryContext(ctx, `SELECT id FROM webhook_deliveries ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()
		if len(ids) != 1 || ids[0] != "d1" {
			t.Errorf("deliveries after the migration: %v, want [d1]", ids)
		}
		if _, err := p.DownTo(ctx, 18); err != nil {
			t.Fatal("down:", err)
		}
		if _, err := p.Up(ctx); err != nil {
			t.Fatal("up again:", err)
		}
	})
}
