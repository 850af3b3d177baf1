package web

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/clientportal/portal"
)

// Logo is a logo file the operator put in the data directory, served at
// /brand/logo.
type Logo struct {
	Type string // image/png, image/svg+xml, …
	Data []byte
}

// The page backgrounds the brand colour must read on, light and dark (the
// darker of page and card in light, the lighter in dark: see portal.css).
const (
	lightPage = "#eef2f6"
	darkCard  = "#1e2630"
)

// brandCSS sets the colour tokens of portal.css from the brand colour: the
// colour itself for the header and primary buttons with text that reads on
// it, and for links, borders and the focus ring a shade of it that reaches
// WCAG AA contrast on the page in each colour scheme.
func brandCSS(color string) string {
	if color == "" {
		color = portal.DefaultBrandColor
	}
	// A mid-tone reads well with neither white nor black text: the header
	// and buttons then use the nearest shade that carries white text.
	fill, on := color, portal.OnColor(color)
	if portal.Contrast(fill, on) < 4.5 {
		fill, on = portal.Readable(color, "#ffffff", 4.5), "#ffffff"
	}
	light, dark := portal.Readable(color, lightPage, 4.5), portal.Readable(color, darkCard, 4.5)
	return fmt.Sprintf(":root { --brand: %s; --on-brand: %s; --link: %s; --focus: %s; }\n"+
		"@media (prefers-color-scheme: dark) { :root { --link: %s; --focus: %s; } }\n",
		fill, on, light, light, dark, dark)
}

// brandAssets prepares what pages need of the brand: the stylesheet (its
// URL carries a hash so a new colour is fetched at once) and the image
// source the Content-Security-Policy must allow for a remote logo.
func (s *Server) brandAssets() {
	css := brandCSS(s.Brand.Color)
	sum := sha256.Sum256([]byte(css))
	s.brandCSS = css
	s.brandCSSURL = "/static/brand.css?v=" + hex.EncodeToString(sum[:6])
	s.csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
	if u, err := url.Parse(s.Brand.LogoURL); err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http") {
		s.csp = strings.Replace(s.csp, "img-src 'self' data:", "img-src 'self' data: "+u.Scheme+"://"+u.Host, 1)
	}
}

func (s *Server) handleBrandCSS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=86400")
	w.Write([]byte(s.brandCSS))
}

// handleLogo serves the logo file. An SVG could carry script: it is sent
// with a policy that allows none, and never sniffed as another type.
func (s *Server) handleLogo(w http.ResponseWriter, r *http.Request) {
	if s.Logo == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", s.Logo.Type)
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "public, max-age=3600")
	w.Write(s.Logo.Data)
}
