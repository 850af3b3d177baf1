package web_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/i18n"
	"github.com/clientportal/portal/sqlstore/storetest"
	"github.com/clientportal/portal/web"
)

// in is the catalogue's text of id in the language code; the test fails
// when that language has no translation of its own.
func in(t *testing.T, code, id string, kv ...any) string {
	t.Helper()
	l, ok := i18n.Builtin().Get(code)
	if !ok {
		t.Fatalf("no language %s", code)
	}
	if !l.Translated(id) {
		t.Fatalf("%s has no translation of %q", code, id)
	}
	return l.T(id, kv...)
}

// TestLanguageChoice: Accept-Language picks a signed-out visitor's
// language, ?lang= overrides it and is remembered (in a cookie for a
// visitor, with the user once signed in, so another browser follows), an
// unknown language is ignored, and Arabic pages run right to left.
func TestLanguageChoice(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		e := newEnv(t, dialect)
		visitor := e.client()
		visitor.hdr.Set("Accept-Language", "ms-MY,ms;q=0.9")
		r := visitor.get("/login")
		if r.StatusCode != 200 || !strings.Contains(r.Body, `<html lang="ms" dir="ltr">`) || !strings.Contains(r.Body, in(t, "ms", "Sign in")) {
			t.Fatalf("Accept-Language ms: %d %.300s", r.StatusCode, r.Body)
		}
		if strings.Contains(r.Body, ">Sign in<") {
			t.Error("the Malay sign-in page still says Sign in in English")
		}

		// ?lang= beats the header, and sticks for the visitor.
		r = visitor.get("/login?lang=ar")
		if !strings.Contains(r.Body, `<html lang="ar" dir="rtl">`) || !strings.Contains(r.Body, in(t, "ar", "Sign in")) {
			t.Fatalf("?lang=ar: %.300s", r.Body)
		}
		if r = visitor.get("/login"); !strings.Contains(r.Body, `<html lang="ar" dir="rtl">`) {
			t.Fatalf("the visitor's choice was not remembered: %.200s", r.Body)
		}
		// Unknown or malformed languages change nothing.
		for _, q := range []string{"xx", "en-", "%00", strings.Repeat("a", 100)} {
			if r = visitor.get("/login?lang=" + q); r.StatusCode >= 500 || !strings.Contains(r.Body, `<html lang="ar"`) {
				t.Fatalf("?lang=%s: %d %.200s", q, r.StatusCode, r.Body)
			}
		}

		// A signed-in user's choice is stored and follows them to
		// another browser, whatever that browser asks for.
		e.customer("ada@example.com")
		c := e.login("ada@example.com")
		c.hdr.Set("Accept-Language", "de")
		if r = c.get("/dashboard?lang=ja"); !strings.Contains(r.Body, `<html lang="ja"`) {
			t.Fatalf("?lang=ja signed in: %.200s", r.Body)
		}
		u, err := e.db.UserByEmail(t.Context(), "ada@example.com")
		if err != nil || u.Locale != "ja" {
			t.Fatalf("stored locale %q %v", u.Locale, err)
		}
		other := e.login("ada@example.com")
		other.hdr.Set("Accept-Language", "fr")
		if r = other.get("/dashboard"); !strings.Contains(r.Body, `<html lang="ja"`) || !strings.Contains(r.Body, in(t, "ja", "Security settings")) {
			t.Fatalf("another browser: %.300s", r.Body)
		}
		if me := other.api("GET", "/api/v1/me", nil).json(); me["locale"] != "ja" {
			t.Fatalf("me: %v", me)
		}
		// The API sets it too; "" goes back to the browser's language.
		if r = other.api("PUT", "/api/v1/me/locale", map[string]string{"locale": "klingon"}); r.StatusCode != 400 || r.errCode() != portal.EINVALID {
			t.Fatalf("unknown locale: %d %s", r.StatusCode, r.Body)
		}
		if r = other.api("PUT", "/api/v1/me/locale", map[string]string{"locale": ""}); r.StatusCode != 204 {
			t.Fatalf("clear locale: %d %s", r.StatusCode, r.Body)
		}
		if r = other.get("/dashboard"); !strings.Contains(r.Body, `<html lang="fr"`) {
			t.Fatalf("after clearing, the browser's language: %.200s", r.Body)
		}
	})
}

// TestAPIMessagesTranslated: an API error's message is in the caller's
// language; its code is the same in every language.
func TestAPIMessagesTranslated(t *testing.T) {
	e := newEnv(t, "sqlite")
	e.register("bob@example.com")
	wrong := func(lang string) (status int, code, message string) {
		c := e.client()
		c.hdr.Set("Accept-Language", lang)
		r := c.api("POST", "/api/v1/login", map[string]string{"email": "bob@example.com", "password": "wrong password here"})
		msg, _ := r.json()["error"].(map[string]any)["message"].(string)
		return r.StatusCode, r.errCode(), msg
	}
	_, _, english := wrong("en")
	for _, lang := range []string{"de", "ja", "ar", "pt-BR"} {
		status, code, msg := wrong(lang)
		if status != 401 || code != portal.ECREDENTIALS || msg != in(t, lang, english) {
			t.Errorf("%s: %d %s %q (English: %q)", lang, status, code, msg, english)
		}
	}
}

// TestMailInUserLanguage: codes and links go out in the language the
// user chose, else in the language of the request that sent them.
func TestMailInUserLanguage(t *testing.T) {
	e := newEnv(t, "sqlite")
	// Chosen: Malay, though this browser asks for German.
	c := e.customer("siti@example.com")
	c.hdr.Set("Accept-Language", "de")
	if r := c.api("PUT", "/api/v1/me/locale", map[string]string{"locale": "ms"}); r.StatusCode != 204 {
		t.Fatalf("set locale: %d %s", r.StatusCode, r.Body)
	}
	if e.forgot("siti@example.com") == "" {
		t.Fatal("no reset link")
	}
	if lang, subject := e.box.LastLang("siti@example.com"); lang != "ms" || subject != in(t, "ms", "Choose a new password") {
		t.Fatalf("reset link in %q: %q", lang, subject)
	}
	// A code by email, too (here the one that confirms the address as a
	// method).
	if r := c.api("POST", "/api/v1/me/2fa/email", nil); r.StatusCode != 202 {
		t.Fatalf("email method: %d %s", r.StatusCode, r.Body)
	}
	if lang, _ := e.box.LastLang("siti@example.com"); lang != "ms" {
		t.Fatalf("email code in %q", lang)
	}
	// Not chosen: the language the request was made in.
	anon := e.client()
	anon.hdr.Set("Accept-Language", "es-MX,es;q=0.8")
	if r := anon.api("POST", "/api/v1/register", map[string]string{"email": "juan@example.com", "password": testPassword, "name": "Juan"}); r.StatusCode != 201 {
		t.Fatalf("register: %d %s", r.StatusCode, r.Body)
	}
	e.web.Wait()
	if lang, subject := e.box.LastLang("juan@example.com"); lang != "es" || subject != in(t, "es", "Confirm your email address") {
		t.Fatalf("verification link in %q: %q", lang, subject)
	}
}

// TestOperatorOverrides: a catalogue file in the override directory
// replaces built-in messages of its language; a broken one is refused.
func TestOperatorOverrides(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ms.json"), []byte(`{"Sign in": "Masuk ke portal Acme"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cat, err := i18n.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "sqlite", withConfig(func(c *web.Config) { c.Catalog = cat }))
	c := e.client()
	c.hdr.Set("Accept-Language", "ms")
	if r := c.get("/login"); !strings.Contains(r.Body, "Masuk ke portal Acme") {
		t.Fatalf("override not shown: %.400s", r.Body)
	}
	// Other messages and languages keep the built-in text.
	if r := c.get("/login?lang=en"); !strings.Contains(r.Body, ">Sign in<") {
		t.Fatalf("English changed: %.300s", r.Body)
	}
	if err := os.WriteFile(filepath.Join(dir, "ms.json"), []byte(`{"Sign in": `), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := i18n.Load(dir); err == nil || !strings.Contains(err.Error(), "ms.json") {
		t.Fatalf("a broken override file: %v", err)
	}
}

// TestWhatsAppInUserLanguage: a WhatsApp code uses the template's
// translation in the user's language, and the configured language when
// the operator has not had that translation approved.
func TestWhatsAppInUserLanguage(t *testing.T) {
	e, srv := waEnv(t, "sqlite")
	srv.RequireTemplate("login_code", "en_US")
	srv.RequireTemplate("login_code", "pt_BR")
	e.register("wa@example.com")
	e.verify("wa@example.com")
	c := e.login("wa@example.com")
	for _, tc := range []struct{ locale, want string }{{"pt-BR", "pt_BR"}, {"ja", "en_US"}} {
		if r := c.api("PUT", "/api/v1/me/locale", map[string]string{"locale": tc.locale}); r.StatusCode != 204 {
			t.Fatalf("locale: %d %s", r.StatusCode, r.Body)
		}
		e.clock.Add(2 * time.Minute)
		if r := c.api("POST", "/api/v1/me/2fa/whatsapp", map[string]string{"phone": phone}); r.StatusCode != 202 {
			t.Fatalf("%s: begin: %d %s", tc.locale, r.StatusCode, r.Body)
		}
		msgs := srv.Messages()
		if last := msgs[len(msgs)-1]; last.Language != tc.want {
			t.Errorf("%s: the code went out in %q, want %q", tc.locale, last.Language, tc.want)
		}
	}
}

// TestLanguageNotStoredBeforeSecondFactor: someone who knows only the
// password (a session waiting for the second factor) cannot change the
// user's stored language; the choice stays with that browser.
func TestLanguageNotStoredBeforeSecondFactor(t *testing.T) {
	e := newEnv(t, "sqlite")
	c := e.customer("two@example.com")
	e.enableTOTP(c)
	p := e.passwordStep("two@example.com")
	if r := p.get("/login/2fa?lang=ar"); !strings.Contains(r.Body, `<html lang="ar" dir="rtl">`) {
		t.Fatalf("?lang=ar at the second step: %d %.300s", r.StatusCode, r.Body)
	}
	u, err := e.db.UserByEmail(t.Context(), "two@example.com")
	if err != nil || u.Locale != "" {
		t.Fatalf("stored locale %q %v after a password-only session asked for Arabic", u.Locale, err)
	}
}
