// Package portaltest holds test doubles shared by the portal's test suites.
package portaltest

import (
	"context"
	"errors"
	"github.com/clientportal/portal/i18n"

	"bytes"
	"github.com/clientportal/portal"
	"sync"
	"time"
)

// Clock is a frozen clock that moves only when told.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock frozen at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the frozen time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock forward by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Parallel runs fn n times at once and returns how many calls returned true:
// the shape of every "exactly once under concurrency" test.
func Parallel(n int, fn func(i int) bool) int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	count := 0
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start // release all together
			if fn(i) {
				mu.Lock()
				count++
				mu.Unlock()
			}
		}()
	}
	close(start)
	wg.Wait()
	return count
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers, for capturing logs.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Notifier records security notifications instead of sending them.
type Notifier struct {
	mu   sync.Mutex
	sent []*portal.Notification
}

// Notify records n.
func (r *Notifier) Notify(_ context.Context, n *portal.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, n)
	return nil
}

// Message records n, as queued with the change it reports, and returns a
// plain message.
func (r *Notifier) Message(n *portal.Notification) (*portal.OutboxMessage, error) {
	r.Notify(context.Background(), n)
	return &portal.OutboxMessage{To: n.To, Subject: portal.EventTitle(n.Kind), Text: n.Detail, CreatedAt: n.At, NextAt: n.At}, nil
}

// Queued does nothing: messages are recorded when rendered.
func (r *Notifier) Queued() {}

// Kinds lists the kinds notified to userID, in order.
func (r *Notifier) Kinds(userID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.sent {
		if n.UserID == userID {
			out = append(out, n.Kind)
		}
	}
	return out
}

// Addresses lists the addresses userID was notified at about kind, in
// order.
func (r *Notifier) Addresses(userID, kind string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.sent {
		if n.UserID == userID && n.Kind == kind {
			out = append(out, n.To)
		}
	}
	return out
}

// Mailbox records codes and links instead of emailing them, with the
// language each went out in, and can be told the mail server is down.
type Mailbox struct {
	mu    sync.Mutex
	Down  bool
	codes map[string][]string
	links map[string][]string
	mine  map[string]string
	langs map[string]string
	subj  map[string]string
	intro map[string]string
}

// SendCode records a code for to, or fails when Down.
func (m *Mailbox) SendCode(_ context.Context, to, _, lang, code, _ string, _ time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Down {
		return errors.New("dial tcp 127.0.0.1:25: connection refused")
	}
	if m.codes == nil {
		m.codes = map[string][]string{}
	}
	m.codes[to] = append(m.codes[to], code)
	m.setLang(to, lang, "")
	return nil
}

func (m *Mailbox) setLang(to, lang, subject string) {
	if m.langs == nil {
		m.langs, m.subj = map[string]string{}, map[string]string{}
	}
	m.langs[to], m.subj[to] = lang, subject
}

// LastLang is the language code of the newest code or link to to, and
// the subject of that link in it ("" for a code).
func (m *Mailbox) LastLang(to string) (lang, subject string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.langs[to], m.subj[to]
}

// SendLink records a link for to.
func (m *Mailbox) SendLink(_ context.Context, to, _, lang string, letter portal.Letter, link string, _ time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.links == nil {
		m.links = map[string][]string{}
	}
	m.links[to] = append(m.links[to], link)
	if m.intro == nil {
		m.intro = map[string]string{}
	}
	m.intro[to] = letter.Intro.Localize(i18n.English())
	subject := letter.Subject.String()
	if l, ok := i18n.Builtin().Get(lang); ok {
		subject = letter.Subject.Localize(l)
	}
	m.setLang(to, lang, subject)
	return nil
}

// SendSignInAlert records a new sign-in alert: the link to secure the
// account as a link (LastLink), the "this was me" one apart (LastMine).
func (m *Mailbox) SendSignInAlert(ctx context.Context, to, name, lang string, subject, intro i18n.Msg, mine, secure string, ttl time.Duration) error {
	m.mu.Lock()
	if m.mine == nil {
		m.mine = map[string]string{}
	}
	m.mine[to] = mine
	m.mu.Unlock()
	return m.SendLink(ctx, to, name, lang, portal.Letter{Subject: subject, Intro: intro}, secure, ttl)
}

// LastIntro is the newest letter's text to to, in English.
func (m *Mailbox) LastIntro(to string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.intro[to]
}

// LastMine is the "Yes, this was me" link of the newest alert to to.
func (m *Mailbox) LastMine(to string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mine[to]
}

// LastCode is the newest code sent to to.
func (m *Mailbox) LastCode(to string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.codes[to]; len(c) > 0 {
		return c[len(c)-1]
	}
	return ""
}

// Count is how many codes went to to.
func (m *Mailbox) Count(to string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.codes[to])
}

// LinkCount is how many links were sent to to.
func (m *Mailbox) LinkCount(to string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.links[to])
}

// LastLink is the newest link sent to to.
func (m *Mailbox) LastLink(to string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.links[to]; len(l) > 0 {
		return l[len(l)-1]
	}
	return ""
}
