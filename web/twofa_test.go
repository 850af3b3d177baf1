package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mail/mailtest"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// codeAt computes a TOTP code the way an authenticator app does.
func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enableTOTP turns 2FA on for a signed-in client and returns the secret and
// the backup codes.
func (e *env) enableTOTP(c *client) (string, []string) {
	e.t.Helper()
	r := c.api("POST", "/api/v1/me/2fa/totp", nil)
	if r.StatusCode != 200 {
		e.t.Fatalf("begin totp: %d %s", r.StatusCode, r.Body)
	}
	m := r.json()
	secret := m["secret"].(string)
	u, err := url.Parse(m["otpauth_uri"].(string))
	if err != nil || u.Query().Get("secret") != secret || !strings.HasPrefix(m["qr_png"].(string), "data:image/png;base64,") {
		e.t.Fatalf("enrolment: %v", m)
	}
	r = c.api("POST", "/api/v1/me/2fa/totp/confirm", map[string]string{"code": codeAt(e.t, secret, e.clock.Now())})
	if r.StatusCode != 200 {
		e.t.Fatalf("confirm totp: %d %s", r.StatusCode, r.Body)
	}
	var codes []string
	for _, c := range r.json()["backup_codes"].([]any) {
		codes = append(codes, c.(string))
	}
	return secret, codes
}

// userWith2FA registers a user, enables TOTP, and moves the clock to the
// next time step so the enrolment code is spent.
func (e *env) userWith2FA(email string) (id, secret string, backup []string) {
	e.t.Helper()
	id = e.register(email)
	secret, backup = e.enableTOTP(e.login(email))
	e.clock.Add(30 * time.Second)
	return id, secret, backup
}

// passwordStep signs in with the password and expects 2fa_required.
func (e *env) passwordStep(email string) *client {
	e.t.Helper()
	c := e.client()
	r := c.api("POST", "/api/v1/login", map[string]string{"email": email, "password": testPassword})
	if r.StatusCode != 200 || r.json()["status"] != "2fa_required" {
		e.t.Fatalf("password step: %d %s", r.StatusCode, r.Body)
	}
	return c
}

func TestTOTPEnableLoginDisable(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		id := e.register("t@example.com")
		c := e.login("t@example.com")
		secret, backup := e.enableTOTP(c)
		if len(backup) != 10 {
			t.Fatalf("%d backup codes, want 10", len(backup))
		}
		for _, b := range backup {
			if len(b) != 19 || strings.Count(b, "-") != 3 {
				t.Fatalf("backup code %q is not XXXX-XXXX-XXXX-XXXX", b)
			}
		}
		me := c.get("/api/v1/me").json()["twofa"].(map[string]any)
		if me["enabled"] != true || me["preferred"] != "totp" || me["backup_codes_remaining"] != float64(10) || len(me["methods"].([]any)) != 1 {
			t.Fatalf("me.twofa = %v", me)
		}
		if strings.Contains(c.get("/api/v1/me").Body, secret) {
			t.Fatal("secret shown after confirmation")
		}

		e.clock.Add(30 * time.Second)
		p := e.client()
		r := p.api("POST", "/api/v1/login", map[string]string{"email": "t@example.com", "password": testPassword})
		if r.json()["status"] != "2fa_required" || r.json()["preferred"] != "totp" || fmt.Sprint(r.json()["methods"]) != "[totp backup_code]" {
			t.Fatalf("password step: %s", r.Body)
		}
		pending := p.cookie()
		if r := p.get("/api/v1/me"); r.StatusCode != 401 {
			t.Fatalf("password-level session reached /me: %d", r.StatusCode)
		}
		if r := p.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": "000000"}); r.StatusCode != 401 || r.errCode() != "invalid_code" {
			t.Fatalf("wrong code: %d %s", r.StatusCode, r.Body)
		}
		r = p.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now())})
		if r.StatusCode != 200 || r.json()["status"] != "authenticated" {
			t.Fatalf("second step: %d %s", r.StatusCode, r.Body)
		}
		if p.cookie() == pending {
			t.Fatal("token not replaced after the second factor")
		}
		old := e.client()
		old.setCookie(pending)
		if r := old.get("/api/v1/me"); r.StatusCode != 401 {
			t.Fatal("the password-level token still works")
		}

		// Disable: password plus a current code; everything goes.
		e.clock.Add(30 * time.Second)
		if r := p.api("DELETE", "/api/v1/me/2fa", map[string]string{"password": testPassword, "code": "123"}); r.StatusCode != 400 {
			t.Fatalf("disable with a malformed code: %d %s", r.StatusCode, r.Body)
		}
		if r := p.api("DELETE", "/api/v1/me/2fa", map[string]string{"password": "wrong password", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 401 {
			t.Fatalf("disable with wrong password: %d", r.StatusCode)
		}
		if r := p.api("DELETE", "/api/v1/me/2fa", map[string]string{"password": testPassword, "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 204 {
			t.Fatalf("disable: %d %s", r.StatusCode, r.Body)
		}
		if c.get("/api/v1/me").StatusCode != 401 {
			t.Fatal("other session survived disabling 2FA")
		}
		me = p.get("/api/v1/me").json()["twofa"].(map[string]any)
		if me["enabled"] != false || me["backup_codes_remaining"] != float64(0) {
			t.Fatalf("after disable: %v", me)
		}
		if r := e.client().api("POST", "/api/v1/login", map[string]string{"email": "t@example.com", "password": testPassword}); r.json()["status"] != "authenticated" {
			t.Fatalf("login after disable: %s", r.Body)
		}
		kinds := strings.Join(e.mail.Kinds(id), ",")
		for _, want := range []string{portal.EventTwoFactorEnabled, portal.EventTwoFactorDisabled} {
			if !strings.Contains(kinds, want) {
				t.Errorf("no %s notification (got %s)", want, kinds)
			}
		}
	})
}

// TestTOTPWindow: the previous and next step are accepted (with a drift
// notice), two steps away is not.
func TestTOTPWindow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset time.Duration
		ok     bool
		notice string
	}{
		{"current", 0, true, ""},
		{"previous", -30 * time.Second, true, "behind"},
		{"next", 30 * time.Second, true, "ahead"},
		{"two back", -60 * time.Second, false, ""},
		{"two ahead", 60 * time.Second, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "sqlite")
			id, secret, _ := e.userWith2FA("w@example.com")
			e.clock.Add(5 * time.Minute)
			p := e.passwordStep("w@example.com")
			r := p.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now().Add(tc.offset))})
			if (r.StatusCode == 200) != tc.ok {
				t.Fatalf("status %d %s", r.StatusCode, r.Body)
			}
			notice, _ := r.json()["notice"].(string)
			if tc.notice != "" && !strings.Contains(notice, "30 seconds "+tc.notice) {
				t.Fatalf("notice %q, want the clock %s", notice, tc.notice)
			}
			if tc.notice == "" && notice != "" {
				t.Fatalf("unexpected notice %q", notice)
			}
			if tc.notice != "" {
				found := false
				for _, ev := range mustEvents(t, e, id) {
					found = found || ev.Type == portal.EventClockDrift
				}
				if !found {
					t.Fatal("drift not recorded")
				}
			}
		})
	}
}

// TestTOTPReplay: one code, 20 parallel submissions, exactly one success —
// also across two portal instances sharing PostgreSQL.
func TestTOTPReplay(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		_, secret, _ := e.userWith2FA("r@example.com")
		targets := []*env{e}
		if dialect == "postgres" {
			targets = append(targets, e.replica())
		}
		clients := make([]*client, 20)
		for i := range clients {
			clients[i] = targets[i%len(targets)].passwordStepOn(e, "r@example.com")
		}
		code := codeAt(t, secret, e.clock.Now())
		ok := portaltest.Parallel(20, func(i int) bool {
			return clients[i].api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": code}).StatusCode == 200
		})
		if ok != 1 {
			t.Fatalf("the same code succeeded %d times, want exactly 1", ok)
		}
		// An older code (the previous step) is refused after a later one was used.
		p := e.passwordStep("r@example.com")
		if r := p.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now().Add(-30*time.Second))}); r.StatusCode == 200 {
			t.Fatal("a code older than the last used one was accepted")
		}
	})
}

// replica is a second portal instance on the same database, started with
// the same options and extra ones.
func (e *env) replica(extra ...option) *env {
	e.t.Helper()
	return newEnvDSN(e.t, e.dsn, e.clock, e.keys, append(append([]option{}, e.opts...), extra...)...)
}

// passwordStepOn does the password step against this instance for a user
// stored through base.
func (e *env) passwordStepOn(_ *env, email string) *client {
	return e.passwordStep(email)
}

func TestBackupCodes(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		id, _, backup := e.userWith2FA("b@example.com")

		// Exactly once, even in parallel; any case, with or without dashes.
		clients := make([]*client, 20)
		for i := range clients {
			clients[i] = e.passwordStep("b@example.com")
		}
		typed := strings.ToLower(strings.ReplaceAll(backup[0], "-", " "))
		ok := portaltest.Parallel(20, func(i int) bool {
			return clients[i].api("POST", "/api/v1/login/2fa", map[string]string{"method": "backup_code", "code": typed}).StatusCode == 200
		})
		if ok != 1 {
			t.Fatalf("one backup code succeeded %d times", ok)
		}
		e.clock.Add(16 * time.Minute) // the 19 replays counted as failures
		p := e.passwordStep("b@example.com")
		r := p.api("POST", "/api/v1/login/2fa", map[string]string{"method": "backup_code", "code": backup[1]})
		if r.StatusCode != 200 || r.json()["next"] != "/account/security" {
			t.Fatalf("backup login: %d %s", r.StatusCode, r.Body)
		}
		if n := p.get("/api/v1/me").json()["twofa"].(map[string]any)["backup_codes_remaining"]; n != float64(8) {
			t.Fatalf("remaining %v, want 8", n)
		}
		// Using codes down to 3 warns.
		for _, b := range backup[2:7] {
			r = e.passwordStep("b@example.com").api("POST", "/api/v1/login/2fa", map[string]string{"method": "backup_code", "code": b})
		}
		if n, _ := r.json()["notice"].(string); !strings.Contains(n, "Only 3 are left") {
			t.Fatalf("low-count notice: %q", n)
		}
		if !strings.Contains(strings.Join(e.mail.Kinds(id), ","), portal.EventBackupLow) {
			t.Fatal("no low backup codes notification")
		}

		// Regenerate (recent authentication): the old set is dead.
		r = p.api("POST", "/api/v1/me/2fa/backup_codes", nil)
		if r.StatusCode != 200 || len(r.json()["backup_codes"].([]any)) != 10 {
			t.Fatalf("regenerate: %d %s", r.StatusCode, r.Body)
		}
		fresh := r.json()["backup_codes"].([]any)[0].(string)
		if r := e.passwordStep("b@example.com").api("POST", "/api/v1/login/2fa", map[string]string{"method": "backup_code", "code": backup[9]}); r.StatusCode != 401 {
			t.Fatalf("old set still works: %d", r.StatusCode)
		}
		if r := e.passwordStep("b@example.com").api("POST", "/api/v1/login/2fa", map[string]string{"method": "backup_code", "code": fresh}); r.StatusCode != 200 {
			t.Fatalf("new set: %d %s", r.StatusCode, r.Body)
		}
		// Outside sudo mode regeneration needs re-authentication.
		e.clock.Add(11 * time.Minute)
		if r := p.api("POST", "/api/v1/me/2fa/backup_codes", nil); r.StatusCode != 403 || r.errCode() != "reauth_required" {
			t.Fatalf("regenerate without recent auth: %d %s", r.StatusCode, r.Body)
		}
	})
}

// TestSecondFactorLimit: 50 parallel wrong codes evaluate exactly 5, the
// rest are refused with 429; the count survives a new login and the right
// code waits too; the user is told by email.
func TestSecondFactorLimit(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		id, secret, _ := e.userWith2FA("l@example.com")
		clients := make([]*client, 50)
		for i := range clients {
			clients[i] = e.passwordStep("l@example.com")
		}
		statuses := map[int]int{}
		portaltest.Parallel(50, func(i int) bool {
			r := clients[i].api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": fmt.Sprintf("%06d", 100000+i)})
			if r.StatusCode == 429 && r.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			statusMu.Lock()
			statuses[r.StatusCode]++
			statusMu.Unlock()
			return false
		})
		// A random guess could hit the real code; that is fine if counted.
		if statuses[401]+statuses[200] != 5 || statuses[429] != 45 {
			t.Fatalf("statuses %v, want 5 evaluated and 45×429", statuses)
		}
		// A new login does not reset the count.
		p := e.passwordStep("l@example.com")
		r := p.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now())})
		if r.StatusCode != 429 || !strings.Contains(r.Body, "30 seconds") {
			t.Fatalf("right code during the delay: %d %s", r.StatusCode, r.Body)
		}
		if !strings.Contains(strings.Join(e.mail.Kinds(id), ","), portal.EventSecondFactorLocked) {
			t.Fatal("no lockout notification")
		}
		e.clock.Add(31 * time.Second)
		if r := p.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 200 {
			t.Fatalf("after the delay: %d %s", r.StatusCode, r.Body)
		}
	})
}

// TestSecondFactorBadInput: every malformed code is a clear 400, never a
// 500 (on PostgreSQL too), and none counts as a wrong code.
func TestSecondFactorBadInput(t *testing.T) {
	storetest.ForEachDialect(t, testSecondFactorBadInput)
}

func testSecondFactorBadInput(t *testing.T, dialect string) {
	e := newEnv(t, dialect)
	e.userWith2FA("i@example.com")
	p := e.passwordStep("i@example.com")
	for name, body := range map[string]string{
		"NUL":                  `{"method":"totp","code":"123\u0000456"}`,
		"invalid UTF-8":        "{\"method\":\"totp\",\"code\":\"123\xff\xfe456\"}",
		"surrogate bytes":      "{\"method\":\"totp\",\"code\":\"123\xed\xa0\x80\"}",
		"lone surrogate":       `{"method":"totp","code":"123\ud800"}`,
		"escape character":     `{"method":"totp","code":"123\u001b456"}`,
		"NUL in the method":    `{"method":"totp\u0000","code":"123456"}`,
		"invalid UTF-8 method": "{\"method\":\"\xff\xfe\",\"code\":\"123456\"}",
		"empty":                `{"method":"totp","code":""}`,
		"short":                `{"method":"totp","code":"12345"}`,
		"long":                 `{"method":"totp","code":"1234567"}`,
		"letters":              `{"method":"totp","code":"12a456"}`,
		"unicode digits":       `{"method":"totp","code":"１２３４５６"}`,
		"arabic digits":        `{"method":"totp","code":"١٢٣٤٥٦"}`,
		"array":                `{"method":"totp","code":["123456"]}`,
		"number":               `{"method":"totp","code":123456}`,
		"object":               `{"method":"totp","code":{}}`,
		"no method":            `{"code":"123456"}`,
		"unknown method":       `{"method":"sms","code":"123456"}`,
		"not enrolled":         `{"method":"email","code":"123456"}`,
		"backup short":         `{"method":"backup_code","code":"ABCD-EFGH"}`,
		"backup symbols":       `{"method":"backup_code","code":"ABCD-EFGH-JKMN-PQR!"}`,
		"huge":                 `{"method":"totp","code":"` + strings.Repeat("9", 10000) + `"}`,
	} {
		r := p.do("POST", "/api/v1/login/2fa", strings.NewReader(body), "application/json", nil)
		if r.StatusCode != 400 || r.errCode() != "invalid_request" || !strings.Contains(r.Body, `"message"`) {
			t.Errorf("%s: %d %s", name, r.StatusCode, r.Body)
		}
	}
	// The form shows the step again with the message.
	for _, code := range []string{"123\x00456", "123\xff456", "123\x1b456"} {
		r := p.form("/login/2fa", url.Values{"method": {"totp"}, "code": {code}})
		if r.StatusCode != 400 || !strings.Contains(r.Body, `id="form-error"`) {
			t.Errorf("form with code %q: %d %.300s", code, r.StatusCode, r.Body)
		}
	}
	// None of that counted against the user.
	if r := p.api("POST", "/api/v1/login/2fa", map[string]string{"method": "totp", "code": "000000"}); r.StatusCode != 401 {
		t.Fatalf("after bad input: %d", r.StatusCode)
	}
}

// TestEnrolmentNeedsRecentAuth: adding a method needs recent authentication.
func TestEnrolmentNeedsRecentAuth(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.register("s@example.com")
	c := e.login("s@example.com")
	e.clock.Add(11 * time.Minute)
	if r := c.api("POST", "/api/v1/me/2fa/totp", nil); r.StatusCode != 403 || r.errCode() != "reauth_required" {
		t.Fatalf("begin without recent auth: %d %s", r.StatusCode, r.Body)
	}
	if r := c.api("POST", "/api/v1/reauth", map[string]string{"password": testPassword}); r.StatusCode != 200 {
		t.Fatal(r.Body)
	}
	secret, _ := e.enableTOTP(c)
	// With 2FA on, re-authentication needs a code as well.
	e.clock.Add(11 * time.Minute)
	if r := c.api("POST", "/api/v1/reauth", map[string]string{"password": testPassword}); r.StatusCode != 400 {
		t.Fatalf("reauth without a code: %d %s", r.StatusCode, r.Body)
	}
	if r := c.api("POST", "/api/v1/reauth", map[string]string{"password": testPassword, "method": "totp", "code": codeAt(t, secret, e.clock.Now())}); r.StatusCode != 200 {
		t.Fatalf("reauth with a code: %d %s", r.StatusCode, r.Body)
	}
	// The current password alone no longer changes the password.
	e.clock.Add(11 * time.Minute)
	if r := c.api("POST", "/api/v1/me/password", map[string]string{"current_password": testPassword, "new_password": "another fine passphrase"}); r.StatusCode != 403 {
		t.Fatalf("password change with 2FA and no reauth: %d", r.StatusCode)
	}
}

// TestNoPlaintextSecrets: the TOTP secret, backup codes, session tokens and
// the tokens of every kind of link (verification, invitation, email change)
// are nowhere in the database or the logs: not while the links wait in the
// outbox, nor after they were delivered. Mail goes the way main sends it:
// sealed into the outbox, delivered over SMTP by the worker.
func TestNoPlaintextSecrets(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		rm := &realMail{srv: mailtest.NewServer(t)}
		e := newEnv(t, dialect, withRealMail(rm))
		var dumps []string
		e.register("d@example.com")
		dumps = append(dumps, storetest.Dump(t, e.dsn)) // the verification link queued
		rm.deliver(t)
		verifyLink := rm.link(t, "d@example.com")
		c := e.login("d@example.com")
		secret, backup := e.enableTOTP(c)
		// An email code, a remembered browser, an invitation and an
		// address change too.
		if r := e.client().api("POST", "/api/v1/verify-email", map[string]string{"token": tokenOf(verifyLink)}); r.StatusCode != 204 {
			t.Fatalf("verify: %d %s", r.StatusCode, r.Body)
		}
		e.clock.Add(30 * time.Second)
		c.api("POST", "/api/v1/reauth", map[string]string{"password": testPassword, "method": "totp", "code": codeAt(t, secret, e.clock.Now())})
		c.api("POST", "/api/v1/me/2fa/email", nil)
		emailCode := e.box.LastCode("d@example.com")
		c.api("POST", "/api/v1/me/2fa/email/confirm", map[string]string{"code": emailCode})
		if r := c.api("POST", "/api/v1/me/email", map[string]string{"email": "new@example.com"}); r.StatusCode != 202 {
			t.Fatalf("change email: %d %s", r.StatusCode, r.Body)
		}
		e.clock.Add(61 * time.Second)
		p := e.passwordStep("d@example.com")
		p.api("POST", "/api/v1/login/2fa/send", map[string]string{"method": "email"})
		loginCode := e.box.LastCode("d@example.com")
		p.api("POST", "/api/v1/login/2fa", map[string]any{"method": "email", "code": loginCode, "remember_browser": true})
		var remember string
		u, _ := url.Parse(e.ts.URL)
		for _, ck := range p.http.Jar.Cookies(u) {
			if ck.Name == "portal_remember" {
				remember = ck.Value
			}
		}
		if remember == "" {
			t.Fatal("no remember cookie")
		}
		if r := p.api("POST", "/api/v1/account/users", map[string]string{"email": "inv@example.com", "name": "Inv"}); r.StatusCode != 201 {
			t.Fatalf("invite: %d %s", r.StatusCode, r.Body)
		}
		dumps = append(dumps, storetest.Dump(t, e.dsn)) // invitation and change links queued
		rm.deliver(t)
		dumps = append(dumps, storetest.Dump(t, e.dsn)) // and delivered
		inviteLink, changeLink := rm.link(t, "inv@example.com"), rm.link(t, "new@example.com")
		// The mailed links are real and still live.
		if r := e.client().get("/invite?token=" + url.QueryEscape(tokenOf(inviteLink))); r.StatusCode != 200 {
			t.Fatalf("the delivered invitation does not work: %d", r.StatusCode)
		}
		if r := e.client().get("/verify-email?token=" + url.QueryEscape(tokenOf(changeLink))); r.StatusCode != 200 {
			t.Fatalf("the delivered change link does not work: %d", r.StatusCode)
		}
		logs := e.logText()
		secrets := append([]string{secret, testPassword, c.cookie(), p.cookie(), remember, emailCode, loginCode,
			tokenOf(verifyLink), tokenOf(inviteLink), tokenOf(changeLink)}, backup...)
		for _, b := range backup {
			secrets = append(secrets, strings.ReplaceAll(b, "-", ""))
		}
		for _, s := range secrets {
			// Whole words only: a 6-digit code may otherwise match inside a
			// timestamp by chance.
			word := regexp.MustCompile(`\b` + regexp.QuoteMeta(s) + `\b`)
			for i, dump := range dumps {
				if word.MatchString(dump) {
					t.Errorf("database dump %d holds %q in plaintext", i, s)
				}
			}
			if word.MatchString(logs) {
				t.Errorf("logs hold %q", s)
			}
		}
		for i, dump := range dumps {
			if !strings.Contains(dump, "d@example.com") || (i > 0 && !strings.Contains(dump, "inv@example.com")) {
				t.Fatalf("dump %d check is blind: it does not even see the addresses", i)
			}
		}
	})
}

var statusMu = &sync.Mutex{}

// TestSecondStepPages: the /login/2fa page works without JavaScript and
// backup codes lead to the Security page.
func TestSecondStepPages(t *testing.T) {
	e := newEnv(t, "sqlite")
	_, secret, backup := e.userWith2FA("p@example.com")
	c := e.client()
	r := c.form("/login", url.Values{"email": {"p@example.com"}, "password": {testPassword}})
	if r.StatusCode != 303 || r.Header.Get("Location") != "/login/2fa" {
		t.Fatalf("password form: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	page := c.get("/login/2fa")
	for _, want := range []string{`autocomplete="one-time-code"`, `inputmode="numeric"`, "Use a backup code"} {
		if !strings.Contains(page.Body, want) {
			t.Errorf("2FA page lacks %s", want)
		}
	}
	if r := c.get("/dashboard"); r.StatusCode != 303 || r.Header.Get("Location") != "/login/2fa" {
		t.Fatalf("dashboard at password level: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	r = c.form("/login/2fa", url.Values{"method": {"totp"}, "code": {"12"}})
	if r.StatusCode != 400 || !strings.Contains(r.Body, "exactly 6 digits") {
		t.Fatalf("malformed code page: %d", r.StatusCode)
	}
	r = c.form("/login/2fa", url.Values{"method": {"backup_code"}, "code": {backup[0]}})
	if r.StatusCode != 303 || r.Header.Get("Location") != "/account/security" {
		t.Fatalf("backup code form: %d %s", r.StatusCode, r.Header.Get("Location"))
	}
	sec := c.get("/account/security")
	if !strings.Contains(sec.Body, "You signed in with a backup code") || !strings.Contains(sec.Body, "9 of 10 backup codes left") {
		t.Fatalf("security page after backup login lacks the prompt")
	}
	_ = secret
	_ = http.StatusOK
}

// tokenOf is the token parameter of a link.
func tokenOf(link string) string {
	u, _ := url.Parse(link)
	return u.Query().Get("token")
}
