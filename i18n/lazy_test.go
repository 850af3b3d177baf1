package i18n

import (
	"os"
	"sync"
	"testing"
)

// TestBuiltinParsesLanguagesWhenUsed: the built-in catalogue parses only
// English up front; another language is parsed at its first use, once,
// also when many requests use it at once, and then speaks that language.
func TestBuiltinParsesLanguagesWhenUsed(t *testing.T) {
	c, err := load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range c.locs {
		if parsed := l.loc != nil; parsed != (l.Code == "en") {
			t.Errorf("%s parsed up front: %v", l.Code, parsed)
		}
	}
	de, ok := c.Get("de")
	if !ok {
		t.Fatal("no German")
	}
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Go(func() { got[i] = de.T("Sign in") })
	}
	wg.Wait()
	for _, s := range got {
		if s != got[0] || s == "Sign in" || s == "" {
			t.Fatalf("German 'Sign in' = %q", got)
		}
	}
	if fr, _ := c.Get("fr"); fr.loc != nil {
		t.Error("French was parsed by German's first use")
	}
	// With overrides every language is parsed at the start.
	dir := t.TempDir()
	writeFile(t, dir+"/de.json", `{"Sign in": "Einloggen"}`)
	c, err = load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range c.locs {
		if l.loc == nil {
			t.Errorf("%s not parsed with overrides", l.Code)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}
