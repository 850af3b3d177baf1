package web_test

// A fourth review (the operator's interfaces and the HTTP surface): each
// TestReview4CXxx fails while the weakness it names is there.

import (
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/clientportal/portal"
)

// TestReview4CImportAmplification: POST /api/v1/admin/users/import takes a
// body of up to 16 MiB and keeps every line, and every bad line's problem
// (twice: in English and in the caller's language), in memory, then sends
// all the problems back. 2 MiB of one-letter lines made the portal
// allocate about 3 GiB (1.2 GiB resident) and answer with 70 MB; the 16 MiB
// the route accepts is eight times that: one request from a users:write
// token (a billing system's, or a stolen one) takes the portal down. The
// README promises "up to 16 MiB, about 100,000 users" (170 MiB peak RSS for
// 100,000 customers).
func TestReview4CImportAmplification(t *testing.T) {
	e := newEnv(t, "sqlite")
	staff := e.staff("ops@example.com")
	tok := e.bearer(newToken(t, staff, "Billing", 0, portal.ScopeUsersWrite))
	body := "email\n" + strings.Repeat("x\n", 1<<20) // 2 MiB, a million bad lines

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	r := tok.do("POST", "/api/v1/admin/users/import?dry_run=1", strings.NewReader(body), "text/csv", nil)
	runtime.ReadMemStats(&ms)
	alloc := (ms.TotalAlloc - before) >> 20
	if r.StatusCode >= 500 || len(r.Body) > 1<<20 || alloc > 512 {
		t.Errorf("a 2 MiB import of bad lines: %d, an answer of %d bytes, %d MiB allocated (%.120s…)", r.StatusCode, len(r.Body), alloc, r.Body)
	}

	// A file of real size still imports, and a few bad lines are each
	// reported with their line.
	var b strings.Builder
	b.WriteString("email,name\n")
	for i := range 2000 {
		b.WriteString("user" + strconv.Itoa(i) + "@example.com,User\n")
	}
	b.WriteString("not an address,X\n")
	r = tok.do("POST", "/api/v1/admin/users/import", strings.NewReader(b.String()), "text/csv", nil)
	if r.StatusCode != 200 || r.json()["created"] != 2000.0 || !strings.Contains(r.Body, "line 2002: ") {
		t.Fatalf("a normal import: %d %.300s", r.StatusCode, r.Body)
	}
}
