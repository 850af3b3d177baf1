package web

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"

	xmessage "golang.org/x/text/message"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/i18n"
)

// percent writes a share (0 to 1) as a percentage with one decimal, as l
// writes it: "40.0%".
func percent(l *i18n.Localizer, share float64) string {
	return l.T("{{.Percent}}%", "Percent", xmessage.NewPrinter(l.Tag()).Sprintf("%.1f", share*100))
}

// adoptionChart draws the 2FA adoption over time as an inline SVG: the share
// of users with 2FA at the end of each day. Its words are in l's language.
func adoptionChart(l *i18n.Localizer, hist []portal.DayPoint, total int) template.HTML {
	const w, h, pad = 720, 220, 36
	if len(hist) == 0 || total == 0 {
		return template.HTML(`<p class="muted">` + html.EscapeString(l.T("No data yet.")) + `</p>`)
	}
	var pts []string
	for i, p := range hist {
		x := pad + float64(i)*float64(w-2*pad)/float64(max(len(hist)-1, 1))
		y := float64(h-pad) - float64(p.Total)/float64(total)*float64(h-2*pad)
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
	}
	// The axis's dates: Go time layouts from the catalogue, as l.Date's.
	first := time.Unix(hist[0].Day, 0).UTC().Format(l.T("2 Jan"))
	last := time.Unix(hist[len(hist)-1].Day, 0).UTC().Format(l.T("2 Jan 2006"))
	final := float64(hist[len(hist)-1].Total) / float64(total)
	label := l.T("Share of users with two-factor authentication, {{.From}} to {{.To}}: now {{.Share}}", "From", first, "To", last, "Share", percent(l, final))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s">`, w, h, html.EscapeString(label))
	for _, pct := range []int{0, 50, 100} {
		y := float64(h-pad) - float64(pct)/100*float64(h-2*pad)
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#dde3ea"/><text x="4" y="%.1f" font-size="11" fill="#5b6675">%s</text>`, pad, w-pad, y, y, y+4,
			html.EscapeString(l.T("{{.Percent}}%", "Percent", l.Number(pct))))
	}
	fmt.Fprintf(&b, `<polyline fill="none" stroke="#1f5fbf" stroke-width="2.5" points="%s"/>`, strings.Join(pts, " "))
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#5b6675">%s</text><text x="%d" y="%d" font-size="11" fill="#5b6675" text-anchor="end">%s</text></svg>`,
		pad, h-10, html.EscapeString(first), w-pad, h-10, html.EscapeString(last))
	return template.HTML(b.String()) // numbers, and words escaped
}
