package web

import (
	"context"
	"net/http"

	"github.com/clientportal/portal"
)

// quota takes one use of each counter, all or none; over any of them the
// answer is a 429 with message, whose {{.Wait}} says how long to wait. Quotas count requests,
// not failures: they bound what a stranger can make the portal do.
func (s *Server) quota(ctx context.Context, message string, attempts ...portal.Attempt) error {
	taken, err := s.Store.TakeAttempts(ctx, s.now(), attempts...)
	if err != nil {
		return err
	} else if !taken.OK {
		return portal.RateLimited(taken.Retry, message, "Wait", wait(taken.Retry))
	}
	return nil
}

// sendQuota takes one message to dest (an email key or a phone number)
// on behalf of user (nil: nobody signed in) from this request's network.
func (s *Server) sendQuota(ctx context.Context, r *http.Request, u *portal.User, dest string) error {
	attempts := []portal.Attempt{{Policy: portal.SendIPLimit, Key: state(r).ipKey}}
	if u != nil {
		attempts = append(attempts, portal.Attempt{Policy: portal.SendUserLimit, Key: u.ID})
	}
	if dest != "" {
		attempts = append(attempts, portal.Attempt{Policy: portal.SendDestLimit, Key: dest})
	}
	return s.quota(ctx, "Too many messages were requested. Try again in {{.Wait}}.", attempts...)
}

// sendQuotaUnlessTaken takes the quota of a message to the address key on
// behalf of u and says whether someone has an account with it. A taken
// address costs u and the network a message like a free one, so that
// asking cannot test a list of addresses; it does not count on the
// address's own quota, since nothing is sent there (the asker would
// otherwise use up the quota of a stranger's address).
func (s *Server) sendQuotaUnlessTaken(ctx context.Context, r *http.Request, u *portal.User, key string) (taken bool, err error) {
	if _, err := s.Store.UserByEmail(ctx, key); err == nil {
		taken = true
	} else if portal.ErrorCode(err) != portal.ENOTFOUND {
		return false, err
	}
	dest := key
	if taken {
		dest = ""
	}
	return taken, s.sendQuota(ctx, r, u, dest)
}
