package mail_test

import (
	"context"
	"github.com/clientportal/portal/i18n"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mail"
	"github.com/clientportal/portal/mail/mailtest"
	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/portaltest"
	"github.com/clientportal/portal/sqlstore/storetest"
)

func mustKeys(tb testing.TB, spec string) *mfa.Keyring {
	tb.Helper()
	k, err := mfa.ParseKeyring(spec)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// TestOutboxKeys: queued mail is sealed with the first key. A worker whose
// keys no longer hold that key delivers none of it, says which key is
// missing and keeps it for later; with the old key back it all goes out
// once. Re-sealed (as `portal keys rotate` does), it needs the new key only.
func TestOutboxKeys(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		db := storetest.MustOpen(t, dialect)
		srv := mailtest.NewServer(t)
		smtp := MustNewSMTP(t, srv.URL())
		clock := portaltest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		k1, k2 := mfa.NewKeySpec("k1"), mfa.NewKeySpec("k2")
		old, newOnly, both := mustKeys(t, k1), mustKeys(t, k2), mustKeys(t, k2+","+k1)
		var logs portaltest.SyncBuffer
		worker := func(keys *mfa.Keyring) *mail.Worker {
			return &mail.Worker{Store: db, Sender: smtp, Keys: keys, Clock: clock, Logger: slog.New(slog.NewJSONHandler(&logs, nil)), ID: "w"}
		}
		m := &mail.Mailer{Sender: smtp, Outbox: db, Keys: old, Clock: clock, BaseURL: "http://portal.test", Brand: portal.Brand{Name: "Test Portal"}}
		link := "http://portal.test/invite?token=secret-link-token"
		if err := m.SendLink(ctx, "a@example.com", "A", "", portal.Letter{Subject: i18n.M("You're invited"), Intro: i18n.M("Join us."), Button: i18n.M("Accept")}, link, 7*24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := m.Notify(ctx, &portal.Notification{To: "b@example.com", Name: "B", Kind: portal.EventTwoFactorEnabled, At: clock.Now().Unix()}); err != nil {
			t.Fatal(err)
		}

		// The old key was dropped: nothing goes out, nothing is lost.
		if n, err := worker(newOnly).RunOnce(ctx); n != 0 || err != nil {
			t.Fatalf("without the sealing key: %d sent, %v", n, err)
		}
		if pending, _ := db.OutboxPending(ctx); pending != 2 || len(srv.Messages()) != 0 {
			t.Fatalf("without the sealing key: %d pending, %d delivered; want 2 and 0", pending, len(srv.Messages()))
		}
		if l := logs.String(); !strings.Contains(l, "does not open") || !strings.Contains(l, `"key":"k1"`) {
			t.Fatalf("the log does not name the missing key: %s", l)
		}

		// The old key is back (second in the ring): both go out, once.
		clock.Add(mail.Backoff(1))
		if n, err := worker(both).RunOnce(ctx); n != 2 || err != nil {
			t.Fatalf("with the old key second: %d sent, %v; want 2", n, err)
		}
		if n, _ := worker(both).RunOnce(ctx); n != 0 {
			t.Fatalf("sent again: %d", n)
		}
		msgs, err := srv.WaitFor(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(msgs[0].Text+msgs[1].Text, link) {
			t.Fatal("the delivered invitation lacks its link")
		}

		// Re-sealed with the new first key, a pending message needs only it.
		if err := m.SendLink(ctx, "c@example.com", "C", "", portal.Letter{Subject: i18n.M("Confirm"), Intro: i18n.M("Confirm it."), Button: i18n.M("Confirm")}, link, 7*24*time.Hour); err != nil {
			t.Fatal(err)
		}
		pending, err := db.PendingSealed(ctx)
		if err != nil || len(pending) != 1 {
			t.Fatalf("pending sealed = %d, %v", len(pending), err)
		}
		before := pending[0].Text
		if err := mail.Reseal(both, pending[0]); err != nil {
			t.Fatal(err)
		}
		if err := db.ResealOutbox(ctx, pending[0].ID, before, pending[0].Text, pending[0].HTML); err != nil {
			t.Fatal(err)
		}
		if n, err := worker(newOnly).RunOnce(ctx); n != 1 || err != nil {
			t.Fatalf("re-sealed message with the new key only: %d sent, %v; want 1", n, err)
		}
	})
}

// threeQueued queues three notices (SQLite or PostgreSQL, a frozen clock)
// and returns the mail server, the sender that reaches it, and workers by
// id.
func threeQueued(t *testing.T, dialect string) (*mailtest.Server, *mail.SMTP, func(id string) *mail.Worker) {
	db := storetest.MustOpen(t, dialect)
	srv := mailtest.NewServer(t)
	smtp := MustNewSMTP(t, srv.URL())
	clock := portaltest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	keys := mustKeys(t, mfa.NewKeySpec("k1"))
	m := &mail.Mailer{Sender: smtp, Outbox: db, Keys: keys, Clock: clock, BaseURL: "http://portal.test", Brand: portal.Brand{Name: "Test Portal"}}
	for _, to := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		if err := m.Notify(context.Background(), &portal.Notification{To: to, Name: "X", Kind: portal.EventTwoFactorEnabled, At: clock.Now().Unix()}); err != nil {
			t.Fatal(err)
		}
	}
	return srv, smtp, func(id string) *mail.Worker {
		return &mail.Worker{Store: db, Sender: smtp, Keys: keys, Clock: clock, Logger: slog.New(slog.DiscardHandler), ID: id}
	}
}

// TestOutboxFailureReleasesTheRest: when the mail server fails on the first
// message of a batch, the worker gives the rest back at once; another
// worker (a replica, or this one restarted) need not wait for the lease.
func TestOutboxFailureReleasesTheRest(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		ctx := context.Background()
		srv, _, worker := threeQueued(t, dialect)
		srv.Stop()
		if n, err := worker("first").RunOnce(ctx); n != 0 || err != nil {
			t.Fatalf("with the server down: %d sent, %v", n, err)
		}
		srv.Start()
		// Straight away, without the clock moving: the two untried ones go.
		if n, err := worker("second").RunOnce(ctx); n != 2 || err != nil {
			t.Fatalf("after the failure: %d sent, %v; want the 2 untried messages", n, err)
		}
	})
}

// cancelAfterSend delivers a message and then stops the worker, as a
// shutdown arriving during a send does.
type cancelAfterSend struct {
	mail.Sender
	cancel context.CancelFunc
}

func (s cancelAfterSend) Send(ctx context.Context, m *mail.Message) error {
	err := s.Sender.Send(ctx, m)
	s.cancel()
	return err
}

// TestOutboxStopReleasesTheRest: a worker stopped in the middle of a batch
// (the portal shutting down) gives back the messages it had claimed but not
// sent, so the restarted portal sends them at once instead of after the
// lease.
func TestOutboxStopReleasesTheRest(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		srv, smtp, worker := threeQueued(t, dialect)
		ctx, cancel := context.WithCancel(context.Background())
		stopping := worker("stopping")
		stopping.Sender = cancelAfterSend{smtp, cancel}
		if n, err := stopping.RunOnce(ctx); n != 1 || err == nil {
			t.Fatalf("stopped after the first send: %d sent, %v; want 1 and the context's error", n, err)
		}
		// The restarted worker, with the clock where it was: the two
		// unsent ones go now, and the sent one not again.
		if n, err := worker("restarted").RunOnce(context.Background()); n != 2 || err != nil {
			t.Fatalf("after the stop: %d sent, %v; want the 2 unsent messages", n, err)
		}
		if msgs := srv.Messages(); len(msgs) != 3 {
			t.Fatalf("%d messages delivered; want 3, each once", len(msgs))
		}
	})
}

// stopDuringSend is a stop that cuts a send off.
type stopDuringSend struct{ cancel context.CancelFunc }

func (s stopDuringSend) Send(ctx context.Context, _ *mail.Message) error {
	s.cancel()
	<-ctx.Done()
	return ctx.Err()
}

// TestOutboxStopMidSendCountsNoAttempt: a send cut off by the stop is no
// failure of the mail server: the message is given back untouched, and
// the restarted worker sends it at once.
func TestOutboxStopMidSendCountsNoAttempt(t *testing.T) {
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		srv, _, worker := threeQueued(t, dialect)
		ctx, cancel := context.WithCancel(context.Background())
		stopping := worker("stopping")
		stopping.Sender = stopDuringSend{cancel}
		if n, err := stopping.RunOnce(ctx); n != 0 || err == nil {
			t.Fatalf("stopped during the first send: %d sent, %v", n, err)
		}
		if n, err := worker("restarted").RunOnce(context.Background()); n != 3 || err != nil {
			t.Fatalf("after the stop: %d sent, %v; want all 3 at once", n, err)
		}
		if msgs := srv.Messages(); len(msgs) != 3 {
			t.Fatalf("%d messages delivered; want 3", len(msgs))
		}
	})
}
