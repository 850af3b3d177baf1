package i18n_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clientportal/portal/i18n"
)

// TestChoose: codes as stored or asked for, and Accept-Language headers,
// find the portal's languages; other languages find none (so the default
// applies), whatever the matcher's guess.
func TestChoose(t *testing.T) {
	cat := i18n.Builtin()
	for in, want := range map[string]string{"ms": "ms", "ms-MY": "ms", "pt": "pt-BR", "pt-PT": "pt-BR", "zh": "zh-CN", "zh-Hans-CN": "zh-CN",
		"ar-EG": "ar", "en-GB": "en", "sw": "", "km": "", "tlh": "", "nb": "", "zh-TW": "", "": "", "x\x00": "", "en-": ""} {
		l, ok := cat.Get(in)
		if got := ""; ok {
			got = l.Code
			if got != want {
				t.Errorf("Get(%q) = %q, want %q", in, got, want)
			}
		} else if want != "" {
			t.Errorf("Get(%q) found nothing, want %q", in, want)
		}
	}
	for in, want := range map[string]string{"ms-MY,ms;q=0.9": "ms", "sw,fr;q=0.5": "fr", "de-CH": "de", "sw": "", "*": "", "ko,ja;q=0.1": "ja"} {
		l, ok := cat.Negotiate(in)
		got := ""
		if ok {
			got = l.Code
		}
		if got != want {
			t.Errorf("Negotiate(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestMessages: named values, escaping for HTML, plural forms and
// durations.
func TestMessages(t *testing.T) {
	en := i18n.English()
	if got := en.T("Signed in as {{.Email}}", "Email", "<b>a@example.com</b>"); got != "Signed in as <b>a@example.com</b>" {
		t.Errorf("T = %q", got)
	}
	if got := en.HTML("Signed in as {{.Email}}", "Email", "<b>a@example.com</b>"); got != "Signed in as &lt;b&gt;a@example.com&lt;/b&gt;" {
		t.Errorf("HTML = %q", got)
	}
	// A string that is no message is shown as it is, never run as a
	// template.
	if got := en.T("{{.Secret}} {{printf \"%s\" 1}}"); got != "{{.Secret}} {{printf \"%s\" 1}}" {
		t.Errorf("not a message: %q", got)
	}
	for d, want := range map[time.Duration]string{time.Second: "1 second", 90 * time.Second: "90 seconds", 10 * time.Minute: "10 minutes",
		time.Hour: "1 hour", 24 * time.Hour: "24 hours", 7 * 24 * time.Hour: "7 days", 3*time.Hour + time.Minute: "4 hours"} {
		if got := i18n.Duration(d).Localize(en); got != want {
			t.Errorf("Duration(%v) = %q, want %q", d, got, want)
		}
	}
	if got := en.Number(1234567); got != "1,234,567" {
		t.Errorf("Number = %q", got)
	}
	de, _ := i18n.Builtin().Get("de")
	if got := de.Number(1234567); got != "1.234.567" {
		t.Errorf("German Number = %q", got)
	}
}

// TestLoadWithoutOverridesShares: with no message file in the overrides
// directory the portal's catalogue is the built-in one, not a second copy
// (8 MiB of parsed messages that every collection walks: under a login
// flood, a collector running against the memory limit); with one, a
// catalogue of its own.
func TestLoadWithoutOverridesShares(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"", dir, filepath.Join(dir, "absent")} {
		c, err := i18n.Load(d)
		if err != nil || c != i18n.Builtin() {
			t.Errorf("i18n.Load(%q) = a catalogue of its own (%v); want the built-in one", d, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "de.json"), []byte(`{"Sign in": "Einloggen"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := i18n.Load(dir)
	if err != nil || c == i18n.Builtin() {
		t.Fatalf("Load with an override = %v, shared %v; want a catalogue of its own", err, c == i18n.Builtin())
	}
	if l, _ := c.Get("de"); l.T("Sign in") != "Einloggen" {
		t.Errorf("the override is not used: %q", l.T("Sign in"))
	}
}
