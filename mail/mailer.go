package mail

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/clientportal/portal"
)

//go:embed templates
var templateFS embed.FS

// Each message is its "content" (and, in HTML, its "preheader") inside the
// shared "layout" of templates/layout.html and layout.txt.
var (
	textTemplates = map[string]*texttemplate.Template{}
	htmlTemplates = map[string]*htmltemplate.Template{}
)

func init() {
	textLayout := texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/layout.txt"))
	htmlLayout := htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/layout.html"))
	for _, name := range []string{"alert", "code", "link", "notice"} {
		textTemplates[name] = texttemplate.Must(texttemplate.Must(textLayout.Clone()).ParseFS(templateFS, "templates/"+name+".txt"))
		htmlTemplates[name] = htmltemplate.Must(htmltemplate.Must(htmlLayout.Clone()).ParseFS(templateFS, "templates/"+name+".html"))
	}
}

// render builds a message from the text and HTML templates of name. The
// templates see data plus Subject, Brand and SecurityURL.
func (m *Mailer) render(to, subject, name string, data map[string]any) (*Message, error) {
	data["Subject"] = subject
	data["Brand"] = m.brand()
	data["SecurityURL"] = strings.TrimRight(m.BaseURL, "/") + "/account/security"
	var text, html bytes.Buffer
	if err := textTemplates[name].ExecuteTemplate(&text, "layout", data); err != nil {
		return nil, err
	}
	if err := htmlTemplates[name].ExecuteTemplate(&html, "layout", data); err != nil {
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

// SendCode emails a one-time code now. The subject says what the code is
// for (portal.CodeLogin or portal.CodeEnrol), never the code.
func (m *Mailer) SendCode(ctx context.Context, to, name, code, purpose string, ttl time.Duration) error {
	enrol := purpose == portal.CodeEnrol
	msg, err := m.render(to, codeSubject(m.brand().Name, purpose), "code", map[string]any{
		"Name": name, "Code": code, "Enrol": enrol, "Expires": Lifetime(ttl),
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
func codeSubject(name, purpose string) string {
	if purpose == portal.CodeEnrol {
		return "Your " + name + " code to confirm your email address"
	}
	return "Your " + name + " sign-in code"
}

func (m *Mailer) notice(n *portal.Notification) (*Message, error) {
	var detail []string // a paragraph a line
	for _, line := range strings.Split(n.Detail, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			detail = append(detail, line)
		}
	}
	return m.render(n.To, portal.EventTitle(n.Kind), "notice", map[string]any{
		"Name": n.Name, "Title": portal.EventTitle(n.Kind), "To": n.To, "Detail": detail, "IP": n.IP,
		"When": time.Unix(n.At, 0).UTC().Format("2 Jan 2006 15:04 UTC"), "Locked": n.Kind == portal.EventSecondFactorLocked || n.Kind == portal.EventSecondFactorFrozen,
	})
}

// SendLink queues an email with a one-time link (address verification,
// email change, invitation) that works for ttl; the email says so. Unless
// intro already says what to do if it was not them, it adds that the email
// can be ignored.
func (m *Mailer) SendLink(ctx context.Context, to, name, subject, intro, button, link string, ttl time.Duration) error {
	msg, err := m.render(to, subject, "link", map[string]any{
		"Name": name, "Intro": intro, "Button": button, "Link": link, "Expires": Lifetime(ttl),
		"Warned": strings.Contains(strings.ToLower(intro), "not you"),
	})
	if err != nil {
		return err
	}
	return m.queue(ctx, msg)
}

// SendSignInAlert queues a new sign-in alert: intro says what happened,
// then "Yes, this was me" leads to mine and "No, secure my account" to
// secure, which works for ttl.
func (m *Mailer) SendSignInAlert(ctx context.Context, to, name, subject, intro, mine, secure string, ttl time.Duration) error {
	msg, err := m.render(to, subject, "alert", map[string]any{
		"Name": name, "Intro": intro, "Mine": mine, "Secure": secure, "Expires": Lifetime(ttl),
	})
	if err != nil {
		return err
	}
	return m.queue(ctx, msg)
}

// Lifetime says how long a link works, in the largest whole unit: "7 days",
// "24 hours", "30 minutes".
func Lifetime(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	const day = 24 * time.Hour
	switch {
	case d >= 2*day && d%day == 0:
		return plural(int64(d/day), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	}
	return plural(int64(d/time.Minute), "minute")
}

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
