package portal_test

import (
	"testing"

	"github.com/clientportal/portal"
)

// TestNormalizeEmailOneKeyOneMailbox: addresses that differ only in case
// share a key; an address with a letter whose lower case is another
// letter's (dotted İ, Kelvin sign, Ångström sign, capital sharp s) is
// refused, since it would share the key of a different mailbox and the
// first to sign up would own the other's address.
func TestNormalizeEmailOneKeyOneMailbox(t *testing.T) {
	for _, tc := range []struct{ in, key string }{
		{"Info@Customer.Example", "info@customer.example"},
		{"ÅSA@exämple.com", "åsa@exämple.com"},
		{"ΣΟΦΙΑ@example.gr", "σοφια@example.gr"},
		{" ada@example.com ", "ada@example.com"},
	} {
		key, _, err := portal.NormalizeEmail(tc.in)
		if err != nil || key != tc.key {
			t.Errorf("%q: key %q, %v; want %q", tc.in, key, err, tc.key)
		}
	}
	for _, in := range []string{"\u0130nfo@customer.example", "\u212Aate@example.com", "\u212Bsa@example.com", "stra\u1E9Ee@example.de", "\u01C5ak@example.com"} {
		if key, _, err := portal.NormalizeEmail(in); err == nil || portal.ErrorCode(err) != portal.EINVALID {
			t.Errorf("%q: accepted with key %q (%v); it would share the key of another mailbox", in, key, err)
		}
	}
}
