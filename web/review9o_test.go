package web_test

import (
	"testing"

	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestReview9OResendVerificationFormWhenVerified: the API refuses a new
// verification link for an address that is verified already (409); the
// form sent one anyway, taking the sending quota and putting a live
// one-time link in the mailbox for nothing.
func TestReview9OResendVerificationFormWhenVerified(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		c := e.customer("verified@example.com") // verified in the store
		if r := c.api("POST", "/api/v1/me/email/verify", nil); r.StatusCode != 409 {
			t.Fatalf("API door: %d %s; want 409", r.StatusCode, r.Body)
		}
		before := e.box.LinkCount("verified@example.com")
		c.form("/account/email/verify", nil)
		if n := e.box.LinkCount("verified@example.com"); n != before {
			t.Errorf("form door: %d verification links sent to an address verified already; want none, as the API", n-before)
		}
	})
}
