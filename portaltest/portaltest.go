// Package portaltest holds test doubles shared by the portal's test suites.
package portaltest

import (
	"context"

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
