// Package i18n is the portal's message catalogue: every sentence a person
// reads goes through a Localizer, which finds it in the language's
// catalogue (go-i18n, with CLDR plural rules and named placeholders) and
// falls back to English.
//
// A message's ID is its English text, placeholders included:
// "We sent a code to {{.Email}}." The English catalogue (locales/en.json)
// holds every ID; the other languages translate them. Operators override
// any message with a file named after the language (ms.json, …) in the
// override directory: its entries replace the built-in ones.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed locales/*.json
var localeFS embed.FS

// Language is one language the portal speaks.
type Language struct {
	Code string // what ?lang= and the stored locale hold: "ms", "pt-BR"
	Name string // its own name for itself: "Bahasa Melayu"
	RTL  bool
	// WhatsApp is the language code of a WhatsApp message template.
	WhatsApp string
}

// Languages are the portal's languages, English first.
var Languages = []Language{
	{Code: "en", Name: "English", WhatsApp: "en_US"},
	{Code: "ms", Name: "Bahasa Melayu", WhatsApp: "ms"},
	{Code: "id", Name: "Bahasa Indonesia", WhatsApp: "id"},
	{Code: "es", Name: "Español", WhatsApp: "es"},
	{Code: "pt-BR", Name: "Português (Brasil)", WhatsApp: "pt_BR"},
	{Code: "fr", Name: "Français", WhatsApp: "fr"},
	{Code: "de", Name: "Deutsch", WhatsApp: "de"},
	{Code: "nl", Name: "Nederlands", WhatsApp: "nl"},
	{Code: "it", Name: "Italiano", WhatsApp: "it"},
	{Code: "tr", Name: "Türkçe", WhatsApp: "tr"},
	{Code: "vi", Name: "Tiếng Việt", WhatsApp: "vi"},
	{Code: "th", Name: "ไทย", WhatsApp: "th"},
	{Code: "zh-CN", Name: "简体中文", WhatsApp: "zh_CN"},
	{Code: "ja", Name: "日本語", WhatsApp: "ja"},
	{Code: "ar", Name: "العربية", RTL: true, WhatsApp: "ar"},
}

// Catalog holds every language's messages.
type Catalog struct {
	matcher language.Matcher
	locs    []*Localizer // in the order of Languages
	// ids are the English catalogue's message IDs.
	ids map[string]bool
}

// Load reads the built-in catalogues and then, when dir is not empty,
// the operator's overrides: dir/CODE.json for any of the Languages.
// A file that does not parse stops the load with an error naming it.
func Load(dir string) (*Catalog, error) {
	if !hasOverrides(dir) {
		// The built-in catalogue, shared: a second copy would be some 8 MiB
		// of parsed messages that every collection of the heap walks.
		return Builtin(), nil
	}
	return load(dir)
}

// hasOverrides reports whether dir holds a message file of any language.
func hasOverrides(dir string) bool {
	if dir == "" {
		return false
	}
	for _, l := range Languages {
		if _, err := os.Stat(filepath.Join(dir, l.Code+".json")); !os.IsNotExist(err) {
			return true // there, or unreadable: load says which
		}
	}
	return false
}

// load reads the catalogues. The built-in one alone (dir "") parses each
// language but English when it is first used, in a bundle of its own with
// English beside it: most portals serve a few of the 15 languages, and
// every language parsed is some 0.8 MiB of live heap that each collection
// walks. With overrides (dir) every language is parsed now, so that a
// file that does not parse stops the start.
func load(dir string) (*Catalog, error) {
	b := newBundle()
	mf, err := parseBuiltin(b, "en")
	if err != nil {
		return nil, err
	}
	c := &Catalog{ids: make(map[string]bool, len(mf.Messages))}
	for _, m := range mf.Messages {
		c.ids[m.ID] = true
	}
	tags := make([]language.Tag, len(Languages))
	for i, l := range Languages {
		tags[i] = language.MustParse(l.Code)
		if dir != "" && l.Code != "en" {
			if _, err := parseBuiltin(b, l.Code); err != nil {
				return nil, err
			}
		}
	}
	if dir != "" {
		for _, l := range Languages {
			path := filepath.Join(dir, l.Code+".json")
			data, err := os.ReadFile(path)
			if err != nil {
				if os.IsNotExist(err) {
					continue
				}
				return nil, err
			}
			if _, err := b.ParseMessageFileBytes(data, l.Code+".json"); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	c.matcher = language.NewMatcher(tags)
	for i, l := range Languages {
		loc := &Localizer{Language: l, tag: tags[i], cat: c, printer: message.NewPrinter(tags[i])}
		if dir == "" && l.Code != "en" {
			code := l.Code
			loc.lazy = func() *goi18n.Localizer {
				b := newBundle()
				for _, lang := range []string{"en", code} {
					if _, err := parseBuiltin(b, lang); err != nil {
						panic(err) // a built-in file: the catalogue tests parse every one
					}
				}
				return goi18n.NewLocalizer(b, code)
			}
		} else {
			loc.loc = goi18n.NewLocalizer(b, l.Code)
		}
		c.locs = append(c.locs, loc)
	}
	return c, nil
}

func newBundle() *goi18n.Bundle {
	b := goi18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	return b
}

// parseBuiltin adds the built-in catalogue of code to b; a language
// without one (none yet) has nothing to add.
func parseBuiltin(b *goi18n.Bundle, code string) (*goi18n.MessageFile, error) {
	data, err := localeFS.ReadFile("locales/" + code + ".json")
	if err != nil {
		if code == "en" {
			return nil, err
		}
		return &goi18n.MessageFile{}, nil
	}
	mf, err := b.ParseMessageFileBytes(data, code+".json")
	if err != nil {
		return nil, fmt.Errorf("built-in catalogue %s.json: %w", code, err)
	}
	return mf, nil
}

var (
	builtinOnce sync.Once
	builtin     *Catalog
)

// Builtin is the catalogue without overrides, loaded once: for code that
// runs without the portal's configuration (the CLI, tests).
func Builtin() *Catalog {
	builtinOnce.Do(func() {
		c, err := load("")
		if err != nil {
			panic(err)
		}
		builtin = c
	})
	return builtin
}

// English is the built-in English localizer.
func English() *Localizer { return Builtin().locs[0] }

// Default is the English localizer of c.
func (c *Catalog) Default() *Localizer { return c.locs[0] }

// Get returns the localizer of a language code as stored or asked for
// (?lang=): "ms", "pt-BR", and close spellings ("pt", "zh", "zh-Hans",
// "ms-MY"). ok is false for anything else.
func (c *Catalog) Get(code string) (l *Localizer, ok bool) {
	if code == "" || len(code) > 35 {
		return nil, false
	}
	tag, err := language.Parse(code)
	if err != nil {
		return nil, false
	}
	_, i, conf := c.matcher.Match(tag)
	if conf < language.High || !sameBase(c.locs[i].tag, tag) {
		return nil, false
	}
	return c.locs[i], true
}

// sameBase reports whether two tags are the same language: the matcher
// answers some languages it does not know (sw, km) with English, with
// high confidence.
func sameBase(a, b language.Tag) bool {
	ab, _ := a.Base()
	bb, _ := b.Base()
	return ab == bb
}

// Negotiate picks a language from an Accept-Language header; ok is false
// when none of it is one of the portal's languages.
func (c *Catalog) Negotiate(acceptLanguage string) (l *Localizer, ok bool) {
	if acceptLanguage == "" || len(acceptLanguage) > 500 {
		return nil, false
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return nil, false
	}
	_, i, conf := c.matcher.Match(tags...)
	if conf < language.High || !slices.ContainsFunc(tags, func(t language.Tag) bool { return sameBase(c.locs[i].tag, t) }) {
		return nil, false
	}
	return c.locs[i], true
}

// All returns every language's localizer, English first.
func (c *Catalog) All() []*Localizer { return slices.Clone(c.locs) }

// IDs returns the English catalogue's message IDs, sorted.
func (c *Catalog) IDs() []string {
	ids := make([]string, 0, len(c.ids))
	for id := range c.ids {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Has reports whether the English catalogue holds id.
func (c *Catalog) Has(id string) bool { return c.ids[id] }

// Localizer speaks one language.
type Localizer struct {
	Language
	tag     language.Tag
	cat     *Catalog
	printer *message.Printer
	// loc is the language's messages; with lazy, made at their first use.
	loc  *goi18n.Localizer
	lazy func() *goi18n.Localizer
	once sync.Once
}

// messages is the language's go-i18n localizer.
func (l *Localizer) messages() *goi18n.Localizer {
	if l.lazy != nil {
		l.once.Do(func() { l.loc = l.lazy() })
	}
	return l.loc
}

// Dir is the text direction, for the dir attribute.
func (l *Localizer) Dir() string {
	if l.RTL {
		return "rtl"
	}
	return "ltr"
}

// Tag is the language's BCP 47 tag.
func (l *Localizer) Tag() language.Tag { return l.tag }

// Translated reports whether this language's own catalogue holds id
// (English holds every ID it has).
func (l *Localizer) Translated(id string) bool {
	_, tag, err := l.messages().LocalizeWithTag(&goi18n.LocalizeConfig{MessageID: id})
	return err == nil && tag == l.tag
}

// T translates the message id, filling its named placeholders from kv,
// pairs of name and value ("Email", u.Email). A value with a Localize
// method (Text, Duration) is translated too. A message that is in no
// catalogue is its ID, filled in.
func (l *Localizer) T(id string, kv ...any) string {
	return l.localize(id, nil, data(l, kv, false))
}

// N is T for a message whose form depends on the number n (CLDR plural
// rules): its catalogue entry has "one", "other"… forms, and {{.Count}}
// is n, formatted for the language.
func (l *Localizer) N(id string, n int, kv ...any) string {
	d := data(l, kv, false)
	d["Count"] = l.Number(n)
	return l.localize(id, n, d)
}

// HTML is T for an HTML page: the message may hold markup (the catalogue
// is trusted), the values are escaped.
func (l *Localizer) HTML(id string, kv ...any) template.HTML {
	return template.HTML(l.localize(id, nil, data(l, kv, true)))
}

// NHTML is N for an HTML page.
func (l *Localizer) NHTML(id string, n int, kv ...any) template.HTML {
	d := data(l, kv, true)
	d["Count"] = l.Number(n)
	return template.HTML(l.localize(id, n, d))
}

func (l *Localizer) localize(id string, count any, d map[string]any) string {
	lc := &goi18n.LocalizeConfig{MessageID: id, TemplateData: d, PluralCount: count}
	if !l.cat.ids[id] {
		if len(d) == 0 {
			// Not a message: text already translated, or a person's own
			// words, shown as they are (never run as a template).
			return id
		}
		// A message not yet in the catalogue: the ID is its English text.
		lc.DefaultMessage = &goi18n.Message{ID: id, Other: id}
	}
	s, err := l.messages().Localize(lc)
	if s == "" && err != nil {
		return id
	}
	return s
}

// Localizable is a value translated when it fills a placeholder.
type Localizable interface {
	Localize(l *Localizer) string
}

// Text is a message ID kept as a value (a method's name, a role): it is
// translated where it is shown.
type Text string

// Localize translates t.
func (t Text) Localize(l *Localizer) string { return l.T(string(t)) }

func (t Text) String() string { return string(t) }

// Msg is a message with its named values, kept to be translated later
// (an email's subject, written for a recipient whose language the sender
// does not know).
type Msg struct {
	ID   string
	Data []any
}

// M returns the message id with its named values, pairs of name and value.
func M(id string, kv ...any) Msg { return Msg{ID: id, Data: kv} }

// Localize translates m.
func (m Msg) Localize(l *Localizer) string { return l.T(m.ID, m.Data...) }

func (m Msg) String() string { return m.Localize(English()) }

// Time is a moment (Unix seconds) said as Date says it, in UTC.
type Time int64

// Localize says t in l's language.
func (t Time) Localize(l *Localizer) string { return l.Date(time.Unix(int64(t), 0)) + " UTC" }

// Duration is a wait or a lifetime, said in its largest whole unit
// ("7 days", "24 hours", "30 minutes", "90 seconds"), rounded up;
// under two minutes in seconds.
type Duration time.Duration

// Localize says d in l's language.
func (d Duration) Localize(l *Localizer) string {
	const day = 24 * time.Hour
	v := time.Duration(d)
	switch {
	case v >= 2*day && v%day == 0:
		return l.N("{{.Count}} days", int(v/day))
	case v >= time.Hour && v%time.Hour == 0:
		return l.N("{{.Count}} hours", int(v/time.Hour))
	case v >= 48*time.Hour:
		return l.N("{{.Count}} days", int((v+day-1)/day))
	case v >= 2*time.Hour:
		return l.N("{{.Count}} hours", int((v+time.Hour-1)/time.Hour))
	case v >= 2*time.Minute:
		return l.N("{{.Count}} minutes", int((v+time.Minute-1)/time.Minute))
	}
	return l.N("{{.Count}} seconds", int((v+time.Second-1)/time.Second))
}

func (d Duration) String() string { return d.Localize(English()) }

func data(l *Localizer, kv []any, escape bool) map[string]any {
	d := make(map[string]any, len(kv)/2+1)
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].(string)
		v := kv[i+1]
		if lv, ok := v.(Localizable); ok {
			v = lv.Localize(l)
		}
		if escape {
			switch s := v.(type) {
			case string:
				v = html.EscapeString(s)
			case template.HTML:
				v = string(s)
			case fmt.Stringer:
				v = html.EscapeString(s.String())
			default:
				v = html.EscapeString(fmt.Sprint(s))
			}
		}
		d[k] = v
	}
	return d
}

// Number formats n with the language's digit grouping.
func (l *Localizer) Number(n int) string { return l.printer.Sprintf("%d", n) }

// Date formats t (in UTC) as a day and a time of day, in the layout the
// language's catalogue gives for "2 Jan 2006, 15:04" (a Go time layout).
func (l *Localizer) Date(t time.Time) string {
	return t.UTC().Format(l.T("2 Jan 2006, 15:04"))
}

// LongDate is Date with the weekday and seconds, for a tooltip.
func (l *Localizer) LongDate(t time.Time) string {
	return t.UTC().Format(l.T("Monday, 2 January 2006, 15:04:05 MST"))
}
