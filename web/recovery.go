package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/clientportal/portal"
)

// recoveryAnswer is the one answer to every recovery request, whether or
// not the address has an account: nothing to enumerate. (apiRecovery
// translates the same sentence, written out for the message extractor.)
const recoveryAnswer = "Thank you. If an account with two-factor authentication uses this address, we have emailed it with what happens next. Our staff will verify your identity before anything changes."

// requestRecovery opens a lockout recovery request for a user with 2FA.
// The answer is decided before anything about the address is looked up:
// the input is checked and the quotas taken (per network and per address,
// existing or not), then the request is handled in the background, so an
// unknown address and a real 2FA user answer alike, in the same time.
func (s *Server) requestRecovery(ctx context.Context, r *http.Request, email, message string) error {
	key, _, err := portal.NormalizeEmail(email)
	if err != nil {
		return err
	}
	message = strings.TrimSpace(message)
	if len(message) > 2000 {
		return &portal.Error{Code: portal.EINVALID, Message: "Please keep the message under 2,000 characters.", Field: "message"}
	}
	// Per address from each network: a stranger elsewhere cannot use up
	// the owner's requests. (Strangers cannot flood the owner either: a
	// user has one open request, and only opening it sends a notice.)
	if err := s.quota(ctx, "Too many recovery requests. Try again in {{.Wait}}.", portal.Attempt{Policy: portal.RecoveryIPLimit, Key: state(r).ipKey},
		portal.Attempt{Policy: portal.RecoveryAddressLimit, Key: state(r).ipKey + " " + key}); err != nil {
		return err
	}
	s.background(r, func(ctx context.Context) {
		if err := s.openRecovery(ctx, r, key, message); err != nil {
			s.Logger.Error("recovery request", logAttrs(r), "err", err)
		}
	})
	return nil
}

// openRecovery opens the request if the address is a user with 2FA and
// tells them.
func (s *Server) openRecovery(ctx context.Context, r *http.Request, key, message string) error {
	u, err := s.Store.UserByEmail(ctx, key)
	if portal.ErrorCode(err) == portal.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	tf, err := s.twoFactor(ctx, u)
	if err != nil || !tf.Enabled {
		return err
	}
	created, err := s.Store.CreateRecovery(ctx, &portal.RecoveryRequest{ID: portal.NewID(), UserID: u.ID, Message: message, CreatedAt: s.now().Unix()})
	if err != nil || !created {
		return err
	}
	s.event(r, u.ID, portal.EventRecoveryRequested, "")
	s.notify(ctx, u, portal.EventRecoveryRequested,
		"We received a request to remove two-factor authentication from your account because its methods are lost. Our staff will verify your identity; if they approve, the reset happens after a waiting period and you will be told first. If this was not you, sign in with your two-factor method: that cancels the request.", state(r).ip)
	return nil
}

func (s *Server) handleRecoverPage(w http.ResponseWriter, r *http.Request) error {
	s.render(w, r, http.StatusOK, "recover", &page{Title: "Can't use your two-factor methods?", Form: map[string]string{"email": s.pendingEmail(r)}})
	return nil
}

// pendingEmail pre-fills the form for someone coming from the 2FA step.
func (s *Server) pendingEmail(r *http.Request) string {
	if st := state(r); st.session != nil {
		return st.user.Email
	}
	return ""
}

func (s *Server) handleRecoverForm(w http.ResponseWriter, r *http.Request) error {
	err := formValues(r)
	email, msg := r.PostForm.Get("email"), r.PostForm.Get("message")
	p := &page{Title: "Can't use your two-factor methods?", Form: map[string]string{"email": email, "message": msg}}
	if err == nil {
		err = s.requestRecovery(r.Context(), r, email, msg)
	}
	if err != nil {
		return s.formError(w, r, "recover", p, err)
	}
	s.setFlash(w, "recovery_sent")
	redirect(w, r, "/recover")
	return nil
}

func (s *Server) apiRecovery(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email   string `json:"email"`
		Message string `json:"message"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.requestRecovery(r.Context(), r, in.Email, in.Message); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "received", "message": s.lang(r).T("Thank you. If an account with two-factor authentication uses this address, we have emailed it with what happens next. Our staff will verify your identity before anything changes.")})
	return nil
}

// decideRecovery approves (scheduling the reset after the waiting period)
// or denies a request; the user is told either way.
func (s *Server) decideRecovery(ctx context.Context, r *http.Request, id string, approve bool, note string) (*portal.RecoveryRequest, error) {
	if err := s.requireRecent(r); err != nil {
		return nil, err
	}
	note = strings.TrimSpace(note)
	if !approve && note == "" {
		return nil, &portal.Error{Code: portal.EINVALID, Message: "Write a note for the user saying why the request is denied.", Field: "note"}
	}
	if len(note) > 2000 {
		return nil, &portal.Error{Code: portal.EINVALID, Message: "Please keep the note under 2,000 characters.", Field: "note"}
	}
	req, err := s.Store.RecoveryByID(ctx, id)
	if err != nil {
		return nil, portal.Errorf(portal.ENOTFOUND, "That recovery request does not exist.")
	}
	if state(r).token != nil {
		if u, err := s.Store.UserByID(ctx, req.UserID); err == nil && u.IsStaff() {
			return nil, errTokenStaff
		}
	}
	set, err := s.settings(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	status, effective := portal.RecoveryDenied, int64(0)
	if approve {
		status, effective = portal.RecoveryApproved, now.Add(set.RecoveryWait).Unix()
	}
	if err := s.Store.DecideRecovery(ctx, id, status, state(r).user.ID, note, now.Unix(), effective); err != nil {
		return nil, err
	}
	u, err := s.Store.UserByID(ctx, req.UserID)
	if err != nil {
		return nil, err
	}
	if approve {
		when := time.Unix(effective, 0).UTC().Format("2 Jan 2006 15:04 UTC")
		s.event(r, u.ID, portal.EventRecoveryApproved, "Reset scheduled for "+when)
		s.notify(ctx, u, portal.EventRecoveryApproved, "Your two-factor authentication will be removed on "+when+
			". If you did not ask for this, sign in with your two-factor method before then: that cancels the reset.", "")
	} else {
		s.event(r, u.ID, portal.EventRecoveryDenied, note)
		s.notify(ctx, u, portal.EventRecoveryDenied, "Your request to remove two-factor authentication was denied. "+note, "")
	}
	return s.Store.RecoveryByID(ctx, id)
}

// ApplyDueRecoveries carries out approved resets whose waiting period is
// over: every method and backup code goes, sessions end, the user is told
// and must set up 2FA again where policy requires it. Safe to run on every
// replica at once: each request completes exactly once.
func (s *Server) ApplyDueRecoveries(ctx context.Context) (int, error) {
	due, err := s.Store.DueRecoveries(ctx, s.now().Unix())
	if err != nil {
		return 0, err
	}
	n := 0
	for _, req := range due {
		// The request's completion and the reset are one transaction: a
		// crash between them must not close a request and leave the user
		// locked out.
		ok, err := s.resetTwoFactor(ctx, req.UserID, req.DecidedBy, "approved account recovery request", req.ID)
		if err != nil {
			return n, err
		} else if ok {
			n++
		}
	}
	return n, nil
}

func recoveryJSON(q *portal.RecoveryRequest) map[string]any {
	out := map[string]any{"id": q.ID, "user_id": q.UserID, "email": q.Email, "name": q.Name, "message": q.Message, "status": q.Status,
		"created_at": unixTime(q.CreatedAt), "note": q.Note}
	if q.EffectiveAt > 0 {
		out["effective_at"] = unixTime(q.EffectiveAt)
	}
	return out
}

func (s *Server) apiRecoveries(w http.ResponseWriter, r *http.Request) error {
	status := r.URL.Query().Get("status")
	switch status {
	case "", portal.RecoveryPending, portal.RecoveryApproved, portal.RecoveryDenied, portal.RecoveryCancelled, portal.RecoveryCompleted:
	default:
		return portal.Errorf(portal.EINVALID, "status must be pending, approved, denied, cancelled or completed.")
	}
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return portal.Errorf(portal.EINVALID, "limit must be a number from 1 to 500.")
		}
		limit = n
	}
	reqs, err := s.Store.Recoveries(r.Context(), status, limit)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, q := range reqs {
		out = append(out, recoveryJSON(q))
	}
	writeJSON(w, http.StatusOK, map[string]any{"requests": out})
	return nil
}

func (s *Server) apiRecoveryDecide(w http.ResponseWriter, r *http.Request, approve bool) error {
	var in struct {
		Note string `json:"note"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
	}
	q, err := s.decideRecovery(r.Context(), r, r.PathValue("id"), approve, in.Note)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"request": recoveryJSON(q)})
	return nil
}

func (s *Server) apiRecoveryApprove(w http.ResponseWriter, r *http.Request) error {
	return s.apiRecoveryDecide(w, r, true)
}

func (s *Server) apiRecoveryDeny(w http.ResponseWriter, r *http.Request) error {
	return s.apiRecoveryDecide(w, r, false)
}
