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
