package portal_test

import (
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal"
)

// TestSessionIDsSortByTime: a session made later has a greater id, so new
// sessions are stored at the end of the sessions table; the cookie names
// its session, and a cookie from before stamps (43 characters) still names
// its session by hash alone.
func TestSessionIDsSortByTime(t *testing.T) {
	at := time.Unix(1_800_000_000, 0)
	tok1, id1 := portal.NewSessionToken(at)
	tok2, id2 := portal.NewSessionToken(at.Add(time.Second))
	if !(id1 < id2) {
		t.Fatalf("a later session's id %q does not sort after %q", id2, id1)
	}
	if !strings.HasPrefix(tok1, "6b49d200.") || len(tok1) != 52 {
		t.Fatalf("cookie %q: want the stamp 6b49d200. and 52 characters", tok1)
	}
	for tok, id := range map[string]string{tok1: id1, tok2: id2} {
		if got, ok := portal.SessionID(tok); !ok || got != id {
			t.Fatalf("SessionID(%q) = %q, %v; want %q", tok, got, ok, id)
		}
		if strings.Contains(id, tok[9:]) {
			t.Fatalf("the id %q holds the cookie's secret part", id)
		}
	}
	old, hash := portal.NewSecretToken()
	if got, ok := portal.SessionID(old); !ok || got != hash {
		t.Fatalf("an unstamped cookie names %q, %v; want its hash %q", got, ok, hash)
	}
}

// TestSessionIDRefusesForgedStamps: the stamp is hashed with the secret,
// so a cookie with the same secret part under another stamp names another
// session; a stamp that is not eight lower-case hex digits and a dot, or a
// value of another length, names none.
func TestSessionIDRefusesForgedStamps(t *testing.T) {
	tok, id := portal.NewSessionToken(time.Unix(1_800_000_000, 0))
	if other, ok := portal.SessionID("6b49d201" + tok[8:]); !ok || other == id {
		t.Fatalf("another stamp with the same secret names %q, %v", other, ok)
	}
	if short, _ := portal.SessionID(tok[9:]); short == id {
		t.Fatal("the secret part alone names the session")
	}
	for _, bad := range []string{
		"6B49D200" + tok[8:],    // upper case
		"6b49d20g" + tok[8:],    // not hex
		"6b49d200-" + tok[9:],   // no dot
		"6b49d20\x00" + tok[8:], // NUL
		"6b49d200." + tok[10:],  // too short
		tok + "A",               // too long
		"",
	} {
		if got, ok := portal.SessionID(bad); ok {
			t.Errorf("SessionID(%q) = %q, want no session", bad, got)
		}
	}
}
