// Package mail sends the portal's email: one-time codes at once, security
// notifications and links through a durable outbox in the database, over
// SMTP or into a development mailbox of .eml files.
package mail

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"mime"
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
	Path   string
	From   string
	Clock  portal.Clock
	Logger *slog.Logger
}

// Send writes m as DIR/<time>-<id>.eml.
func (d *Dir) Send(ctx context.Context, m *Message) error {
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return err
	}
	now := d.Clock.Now()
	name := fmt.Sprintf("%s-%s.eml", now.UTC().Format("20060102T150405.000000000"), portal.NewID()[:8])
	var b bytes.Buffer
	boundary := "b-" + portal.NewID()
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@client-portal>\r\nMIME-Version: 1.0\r\n",
		d.From, (&mail.Address{Address: m.To}).String(), mime.QEncoding.Encode("utf-8", m.Subject), now.Format(time.RFC1123Z), portal.NewID())
	fmt.Fprintf(&b, "Content-Type: multipart/alternative; boundary=%s\r\n\r\n", boundary)
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		if part.body == "" {
			continue
		}
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", boundary, part.typ)
		qp := quotedprintable.NewWriter(&b)
		qp.Write([]byte(strings.ReplaceAll(part.body, "\n", "\r\n")))
		qp.Close()
		b.WriteString("\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	path := filepath.Join(d.Path, name)
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		return err
	}
	if d.Logger != nil {
		// Where it went, never what it says: it may hold a code.
		d.Logger.Info("mail written to the development mailbox", "path", path)
	}
	return nil
}
