package main_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	portalpkg "github.com/clientportal/portal"
)

// TestKilledMidChange: the portal is killed (SIGKILL) while customers turn
// on 2FA and regenerate backup codes, and `portal users reset-2fa` is
// killed while it resets users. After a restart every user is either
// before or after each change, never between: 2FA on means confirmed
// methods and exactly one full set of 10 backup codes; a reset means no
// methods, no codes, its audit event and its notice in the outbox, all or
// nothing; and every change has its audit event and notice exactly when it
// happened.
func TestKilledMidChange(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := buildPortal(t)
	dir := t.TempDir()
	env := []string{"PORTAL_DATA_DIR=" + dir}
	server, url := startProcess(t, bin, env...)

	var started, enabled, regenerated atomic.Int64
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := 0; ; i++ {
				c := newCustomer(url, fmt.Sprintf("w%d-%d@example.com", w, i))
				started.Add(1)
				if !c.enable() {
					return
				}
				enabled.Add(1)
				if !c.regenerate() {
					return
				}
				regenerated.Add(1)
			}
		})
	}
	// Let changes pile up, then kill in the middle of them.
	for deadline := time.Now().Add(20 * time.Second); regenerated.Load() < 12 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	server.Process.Kill()
	server.Wait()
	wg.Wait()
	t.Logf("before the kill: %d users started, %d turned 2FA on, %d regenerated codes", started.Load(), enabled.Load(), regenerated.Load())
	if enabled.Load() == 0 {
		t.Fatal("no user turned 2FA on before the kill: the test proves nothing")
	}

	// Reset users with 2FA from the command line, killing some resets at
	// random moments.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "portal.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	emails := queryStrings(t, db, `SELECT email FROM users WHERE twofa = 1 ORDER BY email`)
	for i, email := range emails {
		if i%2 == 1 {
			continue
		}
		cmd := exec.Command(bin, "users", "reset-2fa", "--email", email, "--reason", "crash test")
		cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rand.IntN(40)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
	}

	// The portal starts again on the same files.
	startProcess(t, bin, env...)
	check := func(what, query string) {
		t.Helper()
		if bad := queryStrings(t, db, query); len(bad) > 0 {
			t.Errorf("%s: %v", what, bad)
		}
	}
	check("2FA flag disagrees with confirmed methods", `SELECT email FROM users u
		WHERE u.twofa <> (CASE WHEN EXISTS (SELECT 1 FROM methods m WHERE m.user_id = u.id AND m.confirmed_at > 0) THEN 1 ELSE 0 END)`)
	check("2FA on without exactly 10 backup codes of the current set", `SELECT email FROM users u
		WHERE EXISTS (SELECT 1 FROM methods m WHERE m.user_id = u.id AND m.confirmed_at > 0)
		AND (SELECT count(*) FROM backup_codes c JOIN backup_sets s ON s.user_id = c.user_id AND s.id = c.set_id WHERE c.user_id = u.id) <> 10`)
	check("backup codes of an old set", `SELECT DISTINCT u.email FROM backup_codes c JOIN users u ON u.id = c.user_id
		LEFT JOIN backup_sets s ON s.user_id = c.user_id AND s.id = c.set_id WHERE s.id IS NULL`)
	check("reset recorded but 2FA still on", `SELECT email FROM users u
		WHERE EXISTS (SELECT 1 FROM events e WHERE e.user_id = u.id AND e.type = '`+portalpkg.EventAdminReset+`') AND u.twofa = 1`)
	check("reset without its notice", `SELECT email FROM users u
		WHERE EXISTS (SELECT 1 FROM events e WHERE e.user_id = u.id AND e.type = '`+portalpkg.EventAdminReset+`')
		AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.to_addr LIKE '%' || u.email || '%' AND o.subject LIKE '%reset by staff%')`)
	check("notice without its reset", `SELECT DISTINCT o.to_addr FROM outbox o WHERE o.subject LIKE '%reset by staff%'
		AND NOT EXISTS (SELECT 1 FROM users u JOIN events e ON e.user_id = u.id AND e.type = '`+portalpkg.EventAdminReset+`' WHERE o.to_addr LIKE '%' || u.email || '%')`)
	check("2FA turned off without a recorded reset", `SELECT email FROM users u WHERE u.twofa = 0
		AND EXISTS (SELECT 1 FROM events e WHERE e.user_id = u.id AND e.type = '`+portalpkg.EventTwoFactorEnabled+`')
		AND NOT EXISTS (SELECT 1 FROM events e WHERE e.user_id = u.id AND e.type = '`+portalpkg.EventAdminReset+`')`)
	check("2FA on without its audit event and notice", `SELECT email FROM users u WHERE u.twofa = 1 AND (
		NOT EXISTS (SELECT 1 FROM events e WHERE e.user_id = u.id AND e.type = '`+portalpkg.EventTwoFactorEnabled+`')
		OR NOT EXISTS (SELECT 1 FROM outbox o WHERE o.to_addr LIKE '%' || u.email || '%' AND o.subject = '`+portalpkg.EventTitle(portalpkg.EventTwoFactorEnabled)+`'))`)
	check("new backup codes without exactly one event and one notice each", `SELECT email FROM users u
		WHERE (SELECT count(*) FROM events e WHERE e.user_id = u.id AND e.type = '`+portalpkg.EventBackupGenerated+`')
		<> (SELECT count(*) FROM outbox o WHERE o.to_addr LIKE '%' || u.email || '%' AND o.subject = '`+portalpkg.EventTitle(portalpkg.EventBackupGenerated)+`')`)
	resets := queryStrings(t, db, `SELECT user_id FROM events WHERE type = '`+portalpkg.EventAdminReset+`'`)
	t.Logf("after restart: %d users with 2FA, %d resets completed of %d tried", len(emails)-len(resets), len(resets), (len(emails)+1)/2)
}

func queryStrings(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// customer is a client of the real portal doing the changes that must be
// atomic; each step reports false once the portal is gone.
type customer struct {
	url, email string
	http       *http.Client
}

func newCustomer(url, email string) *customer {
	jar, _ := cookiejar.New(nil)
	return &customer{url: url, email: email, http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

func (c *customer) post(path string, body any) (map[string]any, bool) {
	b, _ := json.Marshal(body)
	resp, err := c.http.Post(c.url+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return out, resp.StatusCode < 300
}

// enable registers, signs in and turns on TOTP.
func (c *customer) enable() bool {
	const pw = "crash test passphrase 42"
	if _, ok := c.post("/api/v1/register", map[string]string{"email": c.email, "password": pw, "name": "Crash Test"}); !ok {
		return false
	}
	if _, ok := c.post("/api/v1/login", map[string]string{"email": c.email, "password": pw}); !ok {
		return false
	}
	begin, ok := c.post("/api/v1/me/2fa/totp", nil)
	if !ok {
		return false
	}
	secret := strings.ReplaceAll(fmt.Sprint(begin["secret"]), " ", "")
	code, err := totp.GenerateCodeCustom(secret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return false
	}
	_, ok = c.post("/api/v1/me/2fa/totp/confirm", map[string]string{"code": code})
	return ok
}

// regenerate replaces the backup codes (the registration is recent).
func (c *customer) regenerate() bool {
	_, ok := c.post("/api/v1/me/2fa/backup_codes", nil)
	return ok
}
