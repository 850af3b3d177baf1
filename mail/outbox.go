package mail

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/clientportal/portal"
)

// Worker delivers the outbox: it leases due messages, sends them, and on
// failure retries with exponential backoff (10 s doubling to 1 hour) until
// delivered. Any number of workers (one per replica) may run at once; a
// message is leased to one of them at a time.
type Worker struct {
	Store  portal.OutboxStore
	Sender Sender
	// Keys opens the sealed bodies (the Mailer's keys, or a ring that
	// still holds the key that sealed them).
	Keys   Sealer
	Clock  portal.Clock
	Logger *slog.Logger
	ID     string
	// Poll is how often to look for due messages (default 2 s); Wake
	// delivers at once.
	Poll time.Duration
	Wake <-chan struct{}
	// Lease is how long a claimed message stays reserved (default 2 min).
	Lease time.Duration
}

// Run delivers until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	poll := w.Poll
	if poll == 0 {
		poll = 2 * time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
			w.Logger.Warn("outbox", "worker", w.ID, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.Wake:
		}
	}
}

// RunOnce delivers every message due now and returns how many were sent.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	lease := w.Lease
	if lease == 0 {
		lease = 2 * time.Minute
	}
	sent := 0
	for {
		now := w.Clock.Now()
		batch, err := w.Store.ClaimOutbox(ctx, w.ID, 20, now.Unix(), now.Add(lease).Unix())
		if err != nil || len(batch) == 0 {
			return sent, err
		}
		n, more, err := w.deliver(ctx, batch, lease)
		sent += n
		if err != nil || !more {
			return sent, err
		}
	}
}

// deliver sends a claimed batch one message after another and says how
// many it sent and whether to go on (not when the mail server failed).
// Whatever it has not settled when it returns early, because the server
// failed, the database did or the worker is stopping, it gives back at
// once: a restarted worker or a replica need not wait out the lease.
func (w *Worker) deliver(ctx context.Context, batch []*portal.OutboxMessage, lease time.Duration) (sent int, more bool, err error) {
	settled := 0
	defer func() {
		if settled == len(batch) {
			return
		}
		var rest []string
		for _, r := range batch[settled:] {
			rest = append(rest, r.ID)
		}
		err = errors.Join(err, w.Store.ReleaseOutbox(context.WithoutCancel(ctx), w.ID, rest))
	}()
	for _, m := range batch {
		if err := ctx.Err(); err != nil {
			return sent, false, err
		}
		msg, err := Open(w.Keys, m)
		if err != nil {
			// Sealed with a key that is no longer configured: retried
			// with backoff, so restoring the key delivers it; the
			// other messages go on.
			next := w.Clock.Now().Add(Backoff(m.Attempts + 1))
			w.Logger.Error("outbox message does not open; restore the key that sealed it", "worker", w.ID, "message_id", m.ID, "key", keyID(m.Text), "next", next.UTC().Format(time.RFC3339), "err", err)
			if err := w.Store.MarkFailed(context.WithoutCancel(ctx), m.ID, w.ID, "does not open: "+err.Error(), next.Unix()); err != nil {
				return sent, false, err
			}
			settled++
			continue
		}
		// A batch is sent one message after another: each message's
		// lease is renewed just before its send, so one that waited
		// behind slow sends is not sent by another worker as well.
		now := w.Clock.Now()
		if held, err := w.Store.RenewOutbox(ctx, m.ID, w.ID, now.Unix(), now.Add(lease).Unix()); err != nil {
			return sent, false, err
		} else if !held {
			settled++
			continue
		}
		if err := w.Sender.Send(ctx, msg); err != nil {
			if ctx.Err() != nil {
				// Cut off by the stop, not refused by the server: given
				// back untouched (the deferred release), no attempt.
				return sent, false, ctx.Err()
			}
			next := w.Clock.Now().Add(Backoff(m.Attempts + 1))
			w.Logger.Warn("outbox delivery failed; will retry", "worker", w.ID, "message_id", m.ID, "attempt", m.Attempts+1, "next", next.UTC().Format(time.RFC3339), "err", err)
			if err := w.Store.MarkFailed(context.WithoutCancel(ctx), m.ID, w.ID, err.Error(), next.Unix()); err != nil {
				return sent, false, err
			}
			// The server is probably down: the rest wait for the next
			// round, given back now rather than when the lease ends.
			settled++
			return sent, false, nil
		}
		if err := w.Store.MarkSent(context.WithoutCancel(ctx), m.ID, w.ID, w.Clock.Now().Unix()); err != nil {
			return sent, false, err
		}
		settled++
		sent++
	}
	return sent, true, nil
}

// Backoff is the wait before delivery attempt n+1.
func Backoff(n int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// keyID is the id of the key that sealed a body ("keyid.ciphertext").
func keyID(sealed string) string {
	id, _, _ := strings.Cut(sealed, ".")
	return id
}

// SentRetention is how long a delivered message's row (without its body)
// stays in the outbox before the sweeper deletes it.
const SentRetention = 7 * 24 * time.Hour
