package portal_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/clientportal/portal"
)

func TestCheckText(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    string
		kind portal.TextKind
		ok   bool
	}{
		{"empty", "", portal.SingleLine, true},
		{"ASCII", "Grace Hopper", portal.SingleLine, true},
		{"accents and scripts", "Jürgen Ŝmith 李雷 محمد", portal.SingleLine, true},
		{"emoji with joiner", "👩‍💻 key", portal.SingleLine, true},
		{"replacement character sent as such", "a\uFFFDb", portal.SingleLine, true},
		{"NUL", "a\x00b", portal.SingleLine, false},
		{"NUL in free text", "a\x00b", portal.MultiLine, false},
		{"invalid UTF-8", "a\xff\xfeb", portal.SingleLine, false},
		{"invalid UTF-8 in a secret", "a\xffb", portal.Secret, false},
		{"surrogate bytes", "a\xed\xa0\x80b", portal.SingleLine, false},
		{"cut in a character", "€"[:2], portal.MultiLine, false},
		{"escape", "a\x1b[2Jb", portal.SingleLine, false},
		{"DEL", "a\x7fb", portal.SingleLine, false},
		{"C1 control", "a\u0085b", portal.SingleLine, false},
		{"line break", "a\nb", portal.SingleLine, false},
		{"tab", "a\tb", portal.SingleLine, false},
		{"line breaks and tabs in free text", "a\r\nb\tc", portal.MultiLine, true},
		{"escape in free text", "a\x1bb", portal.MultiLine, false},
		{"control characters in a secret", "a\x00\tb\x1b", portal.Secret, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := portal.CheckText("name", tc.s, tc.kind)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckText(%q) = %v, want ok %v", tc.s, err, tc.ok)
			}
			if err == nil {
				return
			}
			var e *portal.Error
			if e, _ = err.(*portal.Error); e == nil || e.Code != portal.EINVALID || e.Field != "name" || !strings.HasPrefix(e.Message, "The name field ") {
				t.Fatalf("error %#v", err)
			}
		})
	}
	// A field name the client made up is not repeated back.
	if err := portal.CheckText("<b>\xff", "\x00", portal.SingleLine).(*portal.Error); err.Field != "" || strings.Contains(err.Message, "<b>") {
		t.Fatalf("made-up field: %#v", err)
	}
}

func TestCleanText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"Mozilla/5.0 (X11; Linux x86_64)", 256, "Mozilla/5.0 (X11; Linux x86_64)"},
		{"Mozilla\x00/5.0\t(X11)", 256, "Mozilla\uFFFD/5.0\uFFFD(X11)"},
		{"a\xff\xfeb", 256, "a\uFFFD\uFFFDb"},
		{"Jürgen", 256, "Jürgen"},
		{strings.Repeat("a", 300), 256, strings.Repeat("a", 256)},
		{strings.Repeat("€", 4), 10, "€€€"}, // a fourth "€" would end at byte 12
		{"aaaaaaaaa€", 10, "aaaaaaaaa"},
		{"aaaaaaaaa\xff", 10, "aaaaaaaaa"}, // U+FFFD is 3 bytes
	} {
		if got := portal.CleanText(tc.in, tc.n); got != tc.want {
			t.Errorf("CleanText(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// FuzzCleanText: whatever comes in, what comes out passes CheckText, fits,
// and is the input itself when the input was clean and short enough.
func FuzzCleanText(f *testing.F) {
	for _, s := range []string{"", "Mozilla/5.0", "a\x00b", "\xff", "€€€€", "\xed\xa0\x80", "a\u0085b", strings.Repeat("é", 200)} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		n = int(uint(n) % 301)
		got := portal.CleanText(s, n)
		if err := portal.CheckText("", got, portal.SingleLine); err != nil || len(got) > n {
			t.Fatalf("CleanText(%q, %d) = %q: %v", s, n, got, err)
		}
		if len(s) <= n && portal.CheckText("", s, portal.SingleLine) == nil && got != s {
			t.Fatalf("CleanText(%q, %d) changed clean text to %q", s, n, got)
		}
		if !utf8.ValidString(got) || strings.ContainsFunc(got, unicode.IsControl) {
			t.Fatalf("CleanText(%q) = %q", s, got)
		}
	})
}
