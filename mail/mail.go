// Package mail sends the portal's email: security notifications now, and
// (with the email issue) SMTP delivery, codes and a durable outbox.
package mail

import (
	"bytes"
	"context"
	"fmt"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clientportal/portal"
)

// Message is one email: a plain-text part and, when HTML is set, an HTML
// alternative. Senders add From, Date and Message-ID.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Sender delivers a message.
type Sender interface {
	Send(ctx context.Context, m *Message) error
}

// Dir is the development mailbox: each message becomes an .eml file.
type Dir struct {
	Path  string
	From  string
	Clock portal.Clock
}

// Send writes m as DIR/<time>-<id>.eml.
func (d *Dir) Send(ctx context.Context, m *Message) error {
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return err
	}
	now := d.Clock.Now()
	name := fmt.Sprintf("%s-%s.eml", now.UTC().Format("20060102T150405.000000000"), portal.NewID()[:8])
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@client-portal>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
		d.From, (&mail.Address{Address: m.To}).String(), m.Subject, now.Format(time.RFC1123Z), portal.NewID())
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(m.Text, "\n", "\r\n")))
	qp.Close()
	return os.WriteFile(filepath.Join(d.Path, name), b.Bytes(), 0o600)
}

// Notifier turns notifications into messages.
type Notifier struct {
	Sender  Sender
	BaseURL string
}

var _ portal.Notifier = (*Notifier)(nil)

// Notify renders and sends n.
func (n *Notifier) Notify(ctx context.Context, note *portal.Notification) error {
	return n.Sender.Send(ctx, Render(note, n.BaseURL))
}

// Render builds the message for a notification.
func Render(n *portal.Notification, baseURL string) *Message {
	title := portal.EventTitle(n.Kind)
	var b strings.Builder
	fmt.Fprintf(&b, "Hello %s,\n\n", n.Name)
	fmt.Fprintf(&b, "%s on your account (%s) at %s.\n", title, n.To, time.Unix(n.At, 0).UTC().Format("2 Jan 2006 15:04 UTC"))
	if n.Detail != "" {
		fmt.Fprintf(&b, "\n%s\n", n.Detail)
	}
	if n.IP != "" {
		fmt.Fprintf(&b, "\nRequest from: %s\n", n.IP)
	}
	if n.Kind == portal.EventSecondFactorLocked {
		b.WriteString("\nSomeone entered your password and is trying second-factor codes. If this was not you, change your password now.\n")
	}
	fmt.Fprintf(&b, "\nIf this was not you, sign in at %s/account/security, change your password and review your two-factor methods.\n\n— Client Portal\n", baseURL)
	return &Message{To: n.To, Subject: title, Text: b.String()}
}
