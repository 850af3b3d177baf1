package mail

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"github.com/clientportal/portal/i18n"
	"html"
	htmltemplate "html/template"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"

	"github.com/clientportal/portal"
)

//go:embed templates
var templateFS embed.FS

// Each message is its "content" (and, in HTML, its "preheader") inside the
// shared "layout" of templates/layout.html and layout.txt. They are parsed
// once, and cloned for each language with its functions (see langFuncs).
var (
	textTemplates = map[string]*texttemplate.Template{}
	htmlTemplates = map[string]*htmltemplate.Template{}
)

// stubs stand for the language's functions at parse time.
var stubs = map[string]any{
	"t": func(string, ...any) string { return "" }, "a": func(string, string, string) htmltemplate.HTML { return "" },
	"lang": func() string { return "" }, "dir": func() string { return "" },
}

func init() {
	textLayout := texttemplate.Must(texttemplate.New("").Funcs(stubs).ParseFS(templateFS, "templates/layout.txt"))
	htmlLayout := htmltemplate.Must(htmltemplate.New("").Funcs(stubs).ParseFS(templateFS, "templates/layout.html"))
	for _, name := range []string{"alert", "code", "link", "notice"} {
		textTemplates[name] = texttemplate.Must(texttemplate.Must(textLayout.Clone()).ParseFS(templateFS, "templates/"+name+".txt"))
		htmlTemplates[name] = htmltemplate.Must(htmltemplate.Must(htmlLayout.Clone()).ParseFS(templateFS, "templates/"+name+".html"))
	}
}

// langTemplates are one language's templates.
type langTemplates struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

var byLang sync.Map // *i18n.Localizer → *langTemplates

// templatesFor returns l's templates, made on first use. In them,
// {{t "ID" "Name" value…}} is a message in l's language (escaped for
// HTML in the HTML part), {{a MESSAGE URL COLOUR}} turns the <a>…</a> of a
// translated message into a link, and {{lang}} {{dir}} fill the html tag.
func templatesFor(l *i18n.Localizer) *langTemplates {
	if v, ok := byLang.Load(l); ok {
		return v.(*langTemplates)
	}
	lt := &langTemplates{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	common := map[string]any{"lang": func() string { return l.Code }, "dir": l.Dir}
	for name, t := range textTemplates {
		fm := texttemplate.FuncMap{"t": l.T}
		for k, v := range common {
			fm[k] = v
		}
		lt.text[name] = texttemplate.Must(t.Clone()).Funcs(fm)
	}
	for name, t := range htmlTemplates {
		fm := htmltemplate.FuncMap{"t": l.HTML, "a": link}
		for k, v := range common {
			fm[k] = v
		}
		lt.html[name] = htmltemplate.Must(t.Clone()).Funcs(fm)
	}
	v, _ := byLang.LoadOrStore(l, lt)
	return v.(*langTemplates)
}

// link makes the <a>…</a> of a translated message a link to href in
// colour, styled as the layout's links are.
func link(msg htmltemplate.HTML, href, colour string) htmltemplate.HTML {
	open := `<a class="link" href="` + html.EscapeString(href) + `" style="color:` + html.EscapeString(colour) + `;text-decoration:underline">`
	return htmltemplate.HTML(strings.Replace(string(msg), "<a>", open, 1))
}

// lang is the localizer of an i18n language code (English when unknown).
func (m *Mailer) lang(code string) *i18n.Localizer {
	cat := m.Catalog
	if cat == nil {
		cat = i18n.Builtin()
	}
	if l, ok := cat.Get(code); ok {
		return l
	}
	return cat.Default()
}

// render builds a message from the text and HTML templates of name in
// l's language. The templates see data plus Subject, Brand and
// SecurityURL.
func (m *Mailer) render(l *i18n.Localizer, to, subject, name string, data map[string]any) (*Message, error) {
	data["Subject"] = subject
	data["Brand"] = m.brand()
	data["SecurityURL"] = strings.TrimRight(m.BaseURL, "/") + "/account/security"
	lt := templatesFor(l)
	var text, html bytes.Buffer
	if err := lt.text[name].ExecuteTemplate(&text, "layout", data); err != nil {
		return nil, err
	}
	if err := lt.html[name].ExecuteTemplate(&html, "layout", data); err != nil {
		return nil, err
	}
	return &Message{To: to, Subject: subject, Text: text.String(), HTML: html.String()}, nil
}

// brand is the operator's brand as the layout shows it: a name, an
// absolute logo URL, and colours worked out so that text reads at 4.5:1.
type brand struct {
	Name     string
	Logo     string // absolute URL, or empty
	Color    string // the header band and the button
	OnColor  string // text on Color
	Link     string // the brand colour as link text on the light card
	DarkLink string // and on the dark one

	SupportURL, PrivacyURL, TermsURL string
}

// The card backgrounds of the layout's light and dark schemes.
const lightCard, darkCard = "#ffffff", "#1b1f24"

func (m *Mailer) brand() brand {
	b := brand{Name: m.Brand.Name, Logo: m.Brand.LogoURL,
		SupportURL: m.Brand.SupportURL, PrivacyURL: m.Brand.PrivacyURL, TermsURL: m.Brand.TermsURL}
	if b.Name == "" {
		b.Name = "Client Portal"
	}
	switch {
	case strings.HasPrefix(b.Logo, "//"):
		b.Logo = "https:" + b.Logo
	case strings.HasPrefix(b.Logo, "/"):
		// A path the portal serves: mail clients need the whole URL.
		b.Logo = strings.TrimRight(m.BaseURL, "/") + b.Logo
	}
	c, err := portal.ParseColor(m.Brand.Color)
	if err != nil {
		c = portal.DefaultBrandColor
	}
	b.OnColor = portal.OnColor(c)
	// A mid-tone colour reads below 4.5:1 with both white and black text:
	// the band and button then take the nearest shade that does.
	b.Color = portal.Readable(c, b.OnColor, 4.5)
	b.Link = portal.Readable(c, lightCard, 4.5)
	b.DarkLink = portal.Readable(c, darkCard, 4.5)
	return b
}

// Mailer writes every email the portal sends. Codes go out at once through
// Sender (the person is waiting and must hear of a failure); everything else
// goes through the durable outbox.
type Mailer struct {
	Sender  Sender
	Outbox  portal.OutboxStore
	Clock   portal.Clock
	BaseURL string
	// Brand is how every email presents the operator: name (empty is
	// "Client Portal"), logo, colour and support, privacy and terms links.
	Brand portal.Brand
	// Wake, when set, is signalled after a message is queued so a local
	// worker delivers it without waiting for its next poll.
	Wake chan<- struct{}
	// Keys seals the bodies of queued messages: links and notices rest in
	// the database only as ciphertext, opened by the worker at send time.
	Keys Sealer
	// Catalog is the message catalogue (nil: the built-in one).
	Catalog *i18n.Catalog
}

// Sealer encrypts data at rest with additional data bound to it, as
// mfa.Keyring does (AES-256-GCM, the key id kept with the ciphertext).
type Sealer interface {
	Seal(ad string, plaintext []byte) string
	Open(ad, sealed string) ([]byte, error)
}

// sealAD is the additional data of an outbox message's bodies: its id, so
// a body copied to another row does not open; the prefix keeps it apart
// from the user ids that method secrets bind.
func sealAD(id string) string { return "outbox:" + id }

// seal turns msg into an outbox message with sealed bodies and a new id.
func (m *Mailer) seal(msg *Message) (*portal.OutboxMessage, error) {
	if m.Keys == nil {
		return nil, errors.New("mail: no keys to seal the outbox with")
	}
	now := m.Clock.Now().Unix()
	om := &portal.OutboxMessage{ID: portal.NewID(), To: msg.To, Subject: msg.Subject, CreatedAt: now, NextAt: now, Sealed: true}
	om.Text = m.Keys.Seal(sealAD(om.ID), []byte(msg.Text))
	om.HTML = m.Keys.Seal(sealAD(om.ID), []byte(msg.HTML))
	return om, nil
}

// Open returns the message an outbox row holds, opening sealed bodies.
func Open(k Sealer, om *portal.OutboxMessage) (*Message, error) {
	msg := &Message{To: om.To, Subject: om.Subject, Text: om.Text, HTML: om.HTML}
	if !om.Sealed {
		// Queued before bodies were sealed.
		return msg, nil
	}
	if k == nil {
		return nil, errors.New("no keys to open sealed messages")
	}
	text, err := k.Open(sealAD(om.ID), om.Text)
	if err != nil {
		return nil, err
	}
	html, err := k.Open(sealAD(om.ID), om.HTML)
	if err != nil {
		return nil, err
	}
	msg.Text, msg.HTML = string(text), string(html)
	return msg, nil
}

// Reseal seals a pending message's bodies again with k's first key (for
// `portal keys rotate`), so the key that sealed them can be dropped.
func Reseal(k Sealer, om *portal.OutboxMessage) error {
	msg, err := Open(k, om)
	if err != nil {
		return err
	}
	om.Text = k.Seal(sealAD(om.ID), []byte(msg.Text))
	om.HTML = k.Seal(sealAD(om.ID), []byte(msg.HTML))
	om.Sealed = true
	return nil
}

var _ portal.Notifier = (*Mailer)(nil)

// SendCode emails a one-time code now, in the language lang (an i18n
// code; "" is English). The subject says what the code is for
// (portal.CodeLogin or portal.CodeEnrol), never the code.
func (m *Mailer) SendCode(ctx context.Context, to, name, lang, code, purpose string, ttl time.Duration) error {
	l := m.lang(lang)
	enrol := purpose == portal.CodeEnrol
	msg, err := m.render(l, to, codeSubject(m.brand().Name, purpose).Localize(l), "code", map[string]any{
		"Name": name, "Code": code, "Enrol": enrol, "Expires": i18n.Duration(ttl).Localize(l),
	})
	if err != nil {
		return err
	}
	return m.Sender.Send(ctx, msg)
}

// Notify queues a security notification (SPEC §4) in the outbox.
func (m *Mailer) Notify(ctx context.Context, n *portal.Notification) error {
	msg, err := m.notice(n)
	if err != nil {
		return err
	}
	return m.queue(ctx, msg)
}

// Message renders a notification as a sealed outbox message, for a store
// to queue with the change it reports (then call Queued).
func (m *Mailer) Message(n *portal.Notification) (*portal.OutboxMessage, error) {
	msg, err := m.notice(n)
	if err != nil {
		return nil, err
	}
	return m.seal(msg)
}

// codeSubject is the subject of a code email for purpose.
func codeSubject(name, purpose string) i18n.Msg {
	if purpose == portal.CodeEnrol {
		return i18n.M("Your {{.Brand}} code to confirm your email address", "Brand", name)
	}
	return i18n.M("Your {{.Brand}} sign-in code", "Brand", name)
}

// notice renders a notification in its recipient's language: the event's
// title, and each line of the detail (translated when it is a message of
// the catalogue).
func (m *Mailer) notice(n *portal.Notification) (*Message, error) {
	l := m.lang(n.Locale)
	var detail []string // a paragraph a line
	for _, line := range strings.Split(n.Detail, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			detail = append(detail, l.T(line))
		}
	}
	title := l.T(portal.EventTitle(n.Kind))
	return m.render(l, n.To, title, "notice", map[string]any{
		"Name": n.Name, "Title": title, "To": n.To, "Detail": detail, "IP": n.IP,
		"When": l.Date(time.Unix(n.At, 0)) + " UTC", "Locked": n.Kind == portal.EventSecondFactorLocked || n.Kind == portal.EventSecondFactorFrozen,
	})
}

// SendLink queues an email with a one-time link (address verification,
// email change, invitation) that works for ttl, in the language lang; the
// email says how long. Unless the introduction already says what to do if
// it was not them, it adds that the email can be ignored.
func (m *Mailer) SendLink(ctx context.Context, to, name, lang string, letter portal.Letter, link string, ttl time.Duration) error {
	l := m.lang(lang)
	msg, err := m.render(l, to, letter.Subject.Localize(l), "link", map[string]any{
		"Name": name, "Intro": letter.Intro.Localize(l), "Button": letter.Button.Localize(l), "Link": link, "Expires": i18n.Duration(ttl).Localize(l),
		"Warned": strings.Contains(strings.ToLower(letter.Intro.String()), "not you"),
	})
	if err != nil {
		return err
	}
	return m.queue(ctx, msg)
}

// SendSignInAlert queues a new sign-in alert in the language lang: intro
// says what happened, then "Yes, this was me" leads to mine and "No,
// secure my account" to secure, which works for ttl.
func (m *Mailer) SendSignInAlert(ctx context.Context, to, name, lang string, subject, intro i18n.Msg, mine, secure string, ttl time.Duration) error {
	l := m.lang(lang)
	msg, err := m.render(l, to, subject.Localize(l), "alert", map[string]any{
		"Name": name, "Intro": intro.Localize(l), "Mine": mine, "Secure": secure, "Expires": i18n.Duration(ttl).Localize(l),
	})
	if err != nil {
		return err
	}
	return m.queue(ctx, msg)
}

// Lifetime says how long a link works, in English, in the largest whole
// unit: "7 days", "24 hours", "30 minutes".
func Lifetime(d time.Duration) string { return i18n.Duration(d).String() }

func (m *Mailer) queue(ctx context.Context, msg *Message) error {
	om, err := m.seal(msg)
	if err != nil {
		return err
	}
	if err := m.Outbox.Enqueue(ctx, om); err != nil {
		return err
	}
	m.Queued()
	return nil
}

// Queued wakes the outbox worker: a message was committed.
func (m *Mailer) Queued() {
	if m.Wake != nil {
		select {
		case m.Wake <- struct{}{}:
		default:
		}
	}
}
