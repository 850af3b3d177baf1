package mail

import (
	"bytes"
	"context"
	"embed"
	htmltemplate "html/template"
	texttemplate "text/template"
	"time"

	"github.com/clientportal/portal"
)

//go:embed templates
var templateFS embed.FS

var (
	textTemplates = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/*.txt"))
	htmlTemplates = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/*.html"))
)

// render builds a message from the text and HTML templates of name.
func render(to, subject, name string, data any) (*Message, error) {
	var text, html bytes.Buffer
	if err := textTemplates.ExecuteTemplate(&text, name+".txt", data); err != nil {
		return nil, err
	}
	if err := htmlTemplates.ExecuteTemplate(&html, name+".html", data); err != nil {
		return nil, err
	}
	return &Message{To: to, Subject: subject, Text: text.String(), HTML: html.String()}, nil
}

// Mailer writes every email the portal sends. Codes go out at once through
// Sender (the person is waiting and must hear of a failure); everything else
// goes through the durable outbox.
type Mailer struct {
	Sender  Sender
	Outbox  portal.OutboxStore
	Clock   portal.Clock
	BaseURL string
	Portal  string // the portal's name
	// Wake, when set, is signalled after a message is queued so a local
	// worker delivers it without waiting for its next poll.
	Wake chan<- struct{}
}

var _ portal.Notifier = (*Mailer)(nil)

// SendCode emails a one-time code now.
func (m *Mailer) SendCode(ctx context.Context, to, name, code, purpose string, ttl time.Duration) error {
	msg, err := render(to, m.Portal+" verification code", "code", map[string]any{
		"Name": name, "Code": code, "Purpose": purpose, "Minutes": int(ttl / time.Minute), "BaseURL": m.BaseURL, "Portal": m.Portal,
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

// Message renders a notification as an outbox message, for a store to
// queue with the change it reports (then call Queued).
func (m *Mailer) Message(n *portal.Notification) (*portal.OutboxMessage, error) {
	msg, err := m.notice(n)
	if err != nil {
		return nil, err
	}
	now := m.Clock.Now().Unix()
	return &portal.OutboxMessage{To: msg.To, Subject: msg.Subject, Text: msg.Text, HTML: msg.HTML, CreatedAt: now, NextAt: now}, nil
}

func (m *Mailer) notice(n *portal.Notification) (*Message, error) {
	return render(n.To, portal.EventTitle(n.Kind), "notice", map[string]any{
		"Name": n.Name, "Title": portal.EventTitle(n.Kind), "To": n.To, "Detail": n.Detail, "IP": n.IP,
		"When": time.Unix(n.At, 0).UTC().Format("2 Jan 2006 15:04 UTC"), "Locked": n.Kind == portal.EventSecondFactorLocked,
		"BaseURL": m.BaseURL, "Portal": m.Portal,
	})
}

// SendLink queues an email with a one-time link (address verification,
// email change).
func (m *Mailer) SendLink(ctx context.Context, to, name, subject, intro, button, link string) error {
	msg, err := render(to, subject, "link", map[string]any{
		"Name": name, "Intro": intro, "Button": button, "Link": link, "Portal": m.Portal,
	})
	if err != nil {
		return err
	}
	return m.queue(ctx, msg)
}

func (m *Mailer) queue(ctx context.Context, msg *Message) error {
	now := m.Clock.Now().Unix()
	if err := m.Outbox.Enqueue(ctx, &portal.OutboxMessage{To: msg.To, Subject: msg.Subject, Text: msg.Text, HTML: msg.HTML, CreatedAt: now, NextAt: now}); err != nil {
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
