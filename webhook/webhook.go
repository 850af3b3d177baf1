// Package webhook delivers the portal's events to the operator's other
// systems: a dispatcher turns new security events into deliveries (one per
// subscribed endpoint, once, whichever replica sees them first) and a
// worker posts them, signed in the Standard Webhooks layout, at least once,
// retrying with backoff for 24 hours.
package webhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/clientportal/portal"
)

// Store is what the worker reads and writes.
type Store interface {
	portal.WebhookStore
	Events(ctx context.Context, f portal.EventFilter) ([]*portal.Event, error)
	UserByID(ctx context.Context, id string) (*portal.User, error)
}

// Sealer opens endpoint secrets (the portal's keyring).
type Sealer interface {
	Seal(id string, plaintext []byte) string
	Open(id, sealed string) ([]byte, error)
}

// Retry schedule after each failed attempt; a delivery still failing 24
// hours after it was queued is given up.
var schedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour}

// GiveUpAfter is how long a delivery is retried.
const GiveUpAfter = 24 * time.Hour

// Worker dispatches and delivers.
type Worker struct {
	Store  Store
	Keys   Sealer
	Clock  portal.Clock
	Client *http.Client
	Logger *slog.Logger
	ID     string
	// Poll is how often to look (default 2 s); Settle how old an event
	// must be before it is dispatched (default 5 s: one written late in
	// its transaction is not passed over).
	Poll, Settle time.Duration

	skipped time.Time // when the cursor last moved on with no endpoint
}

// Run works until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	poll := w.Poll
	if poll == 0 {
		poll = 2 * time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if _, err := w.RunOnce(ctx); err != nil && ctx.Err() == nil {
			w.Logger.Warn("webhooks", "worker", w.ID, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce dispatches new events and delivers what is due; it returns how
// many deliveries succeeded.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	eps, err := w.Store.Webhooks(ctx)
	if err != nil {
		return 0, err
	}
	if err := w.dispatch(ctx, eps); err != nil {
		return 0, err
	}
	return w.deliver(ctx, eps)
}

// dispatch queues a delivery for every new event an endpoint wants.
func (w *Worker) dispatch(ctx context.Context, eps []*portal.WebhookEndpoint) error {
	settle := w.Settle
	if settle == 0 {
		settle = 5 * time.Second
	}
	cursor, err := w.Store.WebhookCursor(ctx)
	if err != nil {
		return err
	}
	// Event ids start with the database writer's wall clock.
	before := fmt.Sprintf("%016x", time.Now().Add(-settle).UnixNano())
	if len(eps) == 0 {
		// Nothing can be queued, and an endpoint made later starts after
		// its creation: once a minute the cursor moves on to the newest
		// event older than the settle time, without reading the others
		// (on a busy portal, thousands a second). It moves only to an
		// event that exists, as reading them all did, never to a time a
		// replica's clock alone decided.
		if time.Since(w.skipped) < time.Minute {
			return nil
		}
		w.skipped = time.Now()
		last, err := w.Store.Events(ctx, portal.EventFilter{Before: before, Limit: 1})
		if err != nil || len(last) == 0 || last[0].ID <= cursor {
			return err
		}
		return w.Store.QueueWebhooks(ctx, nil, last[0].ID)
	}
	for {
		evs, err := w.Store.Events(ctx, portal.EventFilter{Forward: true, After: cursor, Before: before, Limit: 500})
		if err != nil || len(evs) == 0 {
			return err
		}
		var ds []*portal.WebhookDelivery
		for _, e := range evs {
			typ := portal.WebhookTypes[e.Type]
			if typ == "" {
				continue
			}
			var payload []byte
			for _, ep := range eps {
				if e.ID <= ep.Start || !wants(ep, typ) {
					continue
				}
				if payload == nil {
					if payload, err = w.payload(ctx, typ, e); err != nil {
						return err
					}
				}
				now := w.Clock.Now().Unix()
				ds = append(ds, &portal.WebhookDelivery{ID: "msg_" + portal.NewID(), EndpointID: ep.ID, EventID: e.ID, Type: typ,
					Payload: string(payload), CreatedAt: now, NextAt: now})
			}
		}
		cursor = evs[len(evs)-1].ID
		if err := w.Store.QueueWebhooks(ctx, ds, cursor); err != nil {
			return err
		}
	}
}

func wants(ep *portal.WebhookEndpoint, typ string) bool {
	for _, t := range ep.Types {
		if t == typ {
			return true
		}
	}
	return false
}

// payload is what a receiver gets: the type, when, and who — never a
// secret, code or token.
func (w *Worker) payload(ctx context.Context, typ string, e *portal.Event) ([]byte, error) {
	data := map[string]any{"event_id": e.ID, "event": e.Type, "title": portal.EventTitle(e.Type)}
	if e.UserID != "" {
		data["user_id"] = e.UserID
		if u, err := w.Store.UserByID(ctx, e.UserID); err == nil {
			data["email"], data["account_id"] = u.Email, u.AccountID
		} else if !errors.Is(err, portal.ErrNotFound) {
			return nil, err
		}
	}
	if e.ActorID != "" {
		data["actor_id"] = e.ActorID
	}
	if e.IP != "" {
		data["ip"] = e.IP
	}
	return json.Marshal(map[string]any{"type": typ, "timestamp": time.Unix(e.CreatedAt, 0).UTC().Format(time.RFC3339), "data": data})
}

// lease is how long a claimed delivery stays reserved to one worker.
const lease = 2 * time.Minute

// Each run claims at most claimRounds batches of batchSize deliveries, at
// most perEndpoint of one endpoint's in a batch, and then returns, so that
// new events are dispatched between them: a backlog (an import's thousand
// events, a receiver that is down) does not hold up the rest.
const (
	claimRounds = 10
	batchSize   = 20
	perEndpoint = 5
)

// deliver posts the due deliveries.
func (w *Worker) deliver(ctx context.Context, eps []*portal.WebhookEndpoint) (int, error) {
	byID := map[string]*portal.WebhookEndpoint{}
	for _, ep := range eps {
		byID[ep.ID] = ep
	}
	var sent atomic.Int64
	for range claimRounds {
		now := w.Clock.Now()
		batch, err := w.Store.ClaimWebhooks(ctx, w.ID, batchSize, perEndpoint, now.Unix(), now.Add(lease).Unix())
		if err != nil || len(batch) == 0 {
			return int(sent.Load()), err
		}
		// An endpoint the list does not have: made by another replica
		// since it was read, or deleted (its deliveries never go). The
		// list is read again, once a batch.
		if slices.ContainsFunc(batch, func(d *portal.WebhookDelivery) bool { return byID[d.EndpointID] == nil }) {
			eps, err := w.Store.Webhooks(ctx)
			if err != nil {
				return int(sent.Load()), errors.Join(err, w.giveBack(ctx, batch))
			}
			clear(byID)
			for _, ep := range eps {
				byID[ep.ID] = ep
			}
		}
		// Each endpoint's deliveries go one after another, the endpoints
		// side by side: a slow receiver holds up only its own.
		var order []string
		groups := map[string][]*portal.WebhookDelivery{}
		for _, d := range batch {
			if groups[d.EndpointID] == nil {
				order = append(order, d.EndpointID)
			}
			groups[d.EndpointID] = append(groups[d.EndpointID], d)
		}
		errs := make([]error, len(order))
		var wg sync.WaitGroup
		for i, id := range order {
			wg.Go(func() {
				n, err := w.deliverTo(ctx, byID[id], groups[id])
				sent.Add(int64(n))
				errs[i] = err
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return int(sent.Load()), err
		}
	}
	return int(sent.Load()), nil
}

// giveBack returns claimed deliveries untouched (no attempt counted), for a
// replica or the restarted portal to send at once rather than after the
// lease.
func (w *Worker) giveBack(ctx context.Context, ds []*portal.WebhookDelivery) error {
	for _, d := range ds {
		if err := w.Store.FinishWebhook(context.WithoutCancel(ctx), d, w.ID); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// deliverTo posts one endpoint's claimed deliveries (ep is nil when the
// endpoint was deleted). Once a post gets no answer at all (the receiver
// is down, or too slow), the rest wait for the same retry, untried: each
// of them would take as long to find it out. A receiver that answers, even
// with an error for one delivery, gets the others.
func (w *Worker) deliverTo(ctx context.Context, ep *portal.WebhookEndpoint, ds []*portal.WebhookDelivery) (int, error) {
	sent := 0
	for i, d := range ds {
		if ctx.Err() != nil {
			return sent, w.giveBack(ctx, ds[i:])
		}
		now := w.Clock.Now()
		if ep == nil {
			d.FailedAt, d.LastError = now.Unix(), "the endpoint was deleted"
			if err := w.Store.FinishWebhook(context.WithoutCancel(ctx), d, w.ID); err != nil {
				return sent, err
			}
			continue
		}
		// Posts go one after another, each allowed 10 seconds: a batch
		// can outlast its lease, so each delivery's lease is renewed just
		// before its post (as the outbox does), and one that ran out,
		// which another replica may be posting, is left alone.
		if held, err := w.Store.RenewWebhook(ctx, d.ID, w.ID, now.Unix(), now.Add(lease).Unix()); err != nil {
			return sent, errors.Join(err, w.giveBack(ctx, ds[i:]))
		} else if !held {
			continue
		}
		status, err := w.post(ctx, ep, d)
		if err != nil && ctx.Err() != nil {
			return sent, w.giveBack(ctx, ds[i:])
		}
		now = w.Clock.Now()
		d.Attempts++
		d.LastStatus = status
		if err == nil {
			d.DeliveredAt, d.LastError = now.Unix(), ""
			sent++
			if err := w.Store.FinishWebhook(context.WithoutCancel(ctx), d, w.ID); err != nil {
				return sent, err
			}
			continue
		}
		d.LastError = err.Error()
		wait := schedule[min(d.Attempts-1, len(schedule)-1)]
		d.NextAt = now.Add(wait).Unix()
		w.Logger.Warn("webhook delivery failed", "worker", w.ID, "delivery", d.ID, "endpoint", ep.ID, "attempt", d.Attempts, "status", status, "err", err)
		rest := ds[i : i+1]
		if status == 0 {
			rest = ds[i:]
		}
		for _, r := range rest {
			if r != d {
				r.NextAt = max(r.NextAt, d.NextAt)
				if r.Attempts == 0 { // a delivery tried before keeps its own error
					r.LastError = "not tried yet: the endpoint's delivery before it got no answer"
				}
			}
			if time.Unix(r.NextAt, 0).After(time.Unix(r.CreatedAt, 0).Add(GiveUpAfter)) {
				r.FailedAt = now.Unix()
			}
			if err := w.Store.FinishWebhook(context.WithoutCancel(ctx), r, w.ID); err != nil {
				return sent, err
			}
		}
		if status == 0 {
			return sent, nil
		}
	}
	return sent, nil
}

// post sends one delivery; a 2xx answer is a success.
func (w *Worker) post(ctx context.Context, ep *portal.WebhookEndpoint, d *portal.WebhookDelivery) (int, error) {
	secret, err := w.Keys.Open(ep.ID, ep.Secret)
	if err != nil {
		return 0, fmt.Errorf("open the endpoint's secret: %w", err)
	}
	wh, err := standardwebhooks.NewWebhook(string(secret))
	if err != nil {
		return 0, err
	}
	// The receiver checks the timestamp against its own clock.
	ts := time.Now()
	sig, err := wh.Sign(d.ID, ts, []byte(d.Payload))
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.URL, bytes.NewReader([]byte(d.Payload)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "ClientPortal-Webhooks/1")
	req.Header.Set("webhook-id", d.ID)
	req.Header.Set("webhook-timestamp", fmt.Sprint(ts.Unix()))
	req.Header.Set("webhook-signature", sig)
	resp, err := w.Client.Do(req)
	if errors.Is(err, errInternal) {
		return 0, errInternal
	} else if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

// NewSecret returns a signing secret in the Standard Webhooks form.
func NewSecret() string {
	return "whsec_" + base64.StdEncoding.EncodeToString(portal.RandomToken(24))
}

// errInternal refuses a connection to an internal address. The delivery
// log says only that (not which address a name resolved to).
var errInternal = errors.New("the receiver's address is internal (loopback, private or reserved); set PORTAL_WEBHOOK_ALLOW_PRIVATE=1 to allow it")

// NewClient is the client deliveries use: a timeout, no redirects followed,
// no proxy from the environment, and (unless allowPrivate) no connection to
// a loopback, private, link-local or otherwise internal address, checked on
// the address actually dialled (so a name that resolves there later is
// refused too).
func NewClient(allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if !allowPrivate {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || Internal(ip) {
				return errInternal
			}
			return nil
		}
	}
	return &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{Proxy: nil, DialContext: dialer.DialContext, TLSHandshakeTimeout: 5 * time.Second,
			ResponseHeaderTimeout: 10 * time.Second, MaxIdleConnsPerHost: 2},
	}
}

// special are the IPv4 and IPv6 ranges that are not the public internet
// beyond what net.IP's methods know (RFC 6890 and friends).
var special = func() []*net.IPNet {
	var out []*net.IPNet
	for _, c := range []string{"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "240.0.0.0/4", "fec0::/10", "100::/64", "2001:db8::/32",
		// Local-use NAT64 (RFC 8215) and Teredo, which carry an IPv4
		// address in a form embedded() does not read.
		"64:ff9b:1::/48", "2001::/32"} {
		_, n, _ := net.ParseCIDR(c)
		out = append(out, n)
	}
	return out
}()

// embedded is the IPv4 address an IPv6 address carries to reach it: NAT64
// (64:ff9b::/96), 6to4 (2002::/16) and IPv4-compatible (::a.b.c.d).
func embedded(ip net.IP) net.IP {
	ip16 := ip.To16()
	if ip16 == nil || ip.To4() != nil {
		return nil
	}
	switch {
	case ip16[0] == 0x00 && ip16[1] == 0x64 && ip16[2] == 0xff && ip16[3] == 0x9b && isZero(ip16[4:12]):
		return net.IP(ip16[12:16])
	case ip16[0] == 0x20 && ip16[1] == 0x02:
		return net.IP(ip16[2:6])
	case isZero(ip16[:12]):
		return net.IP(ip16[12:16])
	}
	return nil
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// Internal reports whether ip is anything but a public internet address:
// loopback, private, link-local, CGNAT, multicast, unspecified, reserved
// or documentation ranges, or an IPv6 address carrying such an IPv4 one.
func Internal(ip net.IP) bool {
	if v4 := embedded(ip); v4 != nil && Internal(v4) {
		return true
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() ||
		ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, n := range special {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// CheckURL checks an endpoint's address: http or https, no credentials,
// and (unless allowPrivate) not an internal address literally.
func CheckURL(raw string, allowPrivate bool) (string, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	switch {
	case raw == "" || len(raw) > 2000 || err != nil:
		return "", errors.New("Enter the receiver's address, like https://billing.example.com/hooks/portal.")
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "", u.Opaque != "":
		return "", errors.New("The address must start with https:// (or http://) and name a host.")
	case u.User != nil:
		return "", errors.New("Put no user name or password in the address; receivers check the signature instead.")
	case u.Fragment != "":
		return "", errors.New("The address must not have a #fragment.")
	}
	if ip := net.ParseIP(u.Hostname()); !allowPrivate && (ip != nil && Internal(ip) || strings.EqualFold(u.Hostname(), "localhost")) {
		return "", errors.New("The address is internal (loopback or private); the portal does not send webhooks there.")
	}
	return u.String(), nil
}
