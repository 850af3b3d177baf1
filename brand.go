package portal

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Brand is how the operator's portal presents itself on every page and
// email: its name, logo, colour and the links customers look for.
type Brand struct {
	Name string // PORTAL_NAME
	// LogoURL is an absolute https URL, or the local path the portal serves
	// a logo file from; empty shows the name alone.
	LogoURL string
	// Color is the brand colour as #rrggbb (PORTAL_BRAND_COLOR).
	Color      string
	SupportURL string
	PrivacyURL string
	TermsURL   string
}

// DefaultBrandColor is the portal's own blue.
const DefaultBrandColor = "#1f5fbf"

// ParseColor reads a CSS hex colour (#rgb or #rrggbb) and returns it as
// lower-case #rrggbb.
func ParseColor(s string) (string, error) {
	h := strings.TrimPrefix(strings.TrimSpace(s), "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	if len(h) != 6 || !strings.HasPrefix(strings.TrimSpace(s), "#") {
		return "", fmt.Errorf("%q is not a colour like #0a7 or #1f5fbf", s)
	}
	if _, err := strconv.ParseUint(h, 16, 32); err != nil {
		return "", fmt.Errorf("%q is not a colour like #0a7 or #1f5fbf", s)
	}
	return "#" + strings.ToLower(h), nil
}

// rgb returns the channels of a #rrggbb colour (black when malformed).
func rgb(c string) (r, g, b float64) {
	v, err := strconv.ParseUint(strings.TrimPrefix(c, "#"), 16, 32)
	if err != nil || len(c) != 7 {
		return 0, 0, 0
	}
	return float64(v >> 16 & 0xff), float64(v >> 8 & 0xff), float64(v & 0xff)
}

func hexColor(r, g, b float64) string {
	clamp := func(x float64) int { return int(math.Max(0, math.Min(255, math.Round(x)))) }
	return fmt.Sprintf("#%02x%02x%02x", clamp(r), clamp(g), clamp(b))
}

// Luminance is the relative luminance of a #rrggbb colour (WCAG 2.2).
func Luminance(c string) float64 {
	lin := func(v float64) float64 {
		v /= 255
		if v <= 0.04045 {
			return v / 12.92
		}
		return math.Pow((v+0.055)/1.055, 2.4)
	}
	r, g, b := rgb(c)
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}

// Contrast is the WCAG contrast ratio of two colours, from 1 to 21.
func Contrast(a, b string) float64 {
	la, lb := Luminance(a), Luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// OnColor is the text colour for text on a background of c: white or
// near-black, whichever reads better.
func OnColor(c string) string {
	const light, dark = "#ffffff", "#111418"
	if Contrast(c, light) >= Contrast(c, dark) {
		return light
	}
	return dark
}

// Readable returns c, mixed toward black or white only as far as needed,
// so that it reaches ratio against bg: the brand colour as link text or a
// border on a page whose background is bg.
func Readable(c, bg string, ratio float64) string {
	r, g, b := rgb(c)
	tr, tg, tb := 0.0, 0.0, 0.0 // toward black on a light page
	if Luminance(bg) < 0.18 {
		tr, tg, tb = 255, 255, 255
	}
	for i := 0; i <= 20; i++ {
		f := float64(i) / 20
		out := hexColor(r+(tr-r)*f, g+(tg-g)*f, b+(tb-b)*f)
		if Contrast(out, bg) >= ratio {
			return out
		}
	}
	return hexColor(tr, tg, tb)
}
