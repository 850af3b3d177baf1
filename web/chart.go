package web

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/clientportal/portal"
)

// adoptionChart draws the 2FA adoption over time as an inline SVG: the share
// of users with 2FA at the end of each day.
func adoptionChart(hist []portal.DayPoint, total int) template.HTML {
	const w, h, pad = 720, 220, 36
	if len(hist) == 0 || total == 0 {
		return template.HTML(`<p class="muted">No data yet.</p>`)
	}
	var pts []string
	for i, p := range hist {
		x := pad + float64(i)*float64(w-2*pad)/float64(max(len(hist)-1, 1))
		y := float64(h-pad) - float64(p.Total)/float64(total)*float64(h-2*pad)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	first := time.Unix(hist[0].Day, 0).UTC().Format("2 Jan")
	last := time.Unix(hist[len(hist)-1].Day, 0).UTC().Format("2 Jan 2006")
	final := float64(hist[len(hist)-1].Total) / float64(total) * 100
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="Share of users with two-factor authentication, %s to %s: now %.1f%%">`, w, h, first, last, final)
	for _, pct := range []int{0, 50, 100} {
		y := float64(h-pad) - float64(pct)/100*float64(h-2*pad)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#dde3ea"/><text x="4" y="%.1f" font-size="11" fill="#5b6675">%d%%</text>`, pad, w-pad, y, y, y+4, pct)
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#1f5fbf" stroke-width="2.5" points="%s"/>`, strings.Join(pts, " "))
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#5b6675">%s</text><text x="%d" y="%d" font-size="11" fill="#5b6675" text-anchor="end">%s</text></svg>`,
		pad, h-10, first, w-pad, h-10, last)
	return template.HTML(b.String()) // built from numbers and dates only
}
