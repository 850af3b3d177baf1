package mail

import (
	"testing"

	"github.com/clientportal/portal"
)

// TestBrandContrast: whatever the brand colour, text on the band and button
// and links in either scheme read at 4.5:1.
func TestBrandContrast(t *testing.T) {
	for _, c := range []string{"", "#00aa77", "#1f5fbf", "#777777", "#808080", "#ffcc00", "#000000", "#ffffff", "#ff0000", "not a colour"} {
		b := (&Mailer{Brand: portal.Brand{Color: c}}).brand()
		for _, p := range []struct{ what, fg, bg string }{
			{"band", b.OnColor, b.Color},
			{"light link", b.Link, lightCard},
			{"dark link", b.DarkLink, darkCard},
		} {
			if r := portal.Contrast(p.fg, p.bg); r < 4.5 {
				t.Errorf("%q: %s %s on %s reads at %.2f:1", c, p.what, p.fg, p.bg, r)
			}
		}
	}
	// The layout's fixed colours: text and muted text on the card and page
	// of each scheme.
	for _, p := range [][2]string{
		{"#1f2328", "#ffffff"}, {"#1f2328", "#f4f5f7"}, {"#5f6670", "#f4f5f7"},
		{"#e8eaed", "#1b1f24"}, {"#e8eaed", "#111418"}, {"#aab0b8", "#111418"},
	} {
		if r := portal.Contrast(p[0], p[1]); r < 4.5 {
			t.Errorf("%s on %s reads at %.2f:1", p[0], p[1], r)
		}
	}
}
