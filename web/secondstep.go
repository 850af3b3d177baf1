package web

import (
	"net/http"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
)

// choice is a method offered in a form.
type choice struct {
	Type, Label, Prompt string
	Numeric             bool
	// Sends is true for methods that deliver a code on request.
	Sends     bool
	SendLabel string
}

// methodChoices lists the methods a user can use for a code, preferred first.
func (s *Server) methodChoices(tf *portal.TwoFactorStatus) []choice {
	var out []choice
	for _, t := range s.loginMethods(tf) {
		f := s.Factors.Get(t)
		c := choice{Type: t, Label: f.Label(), Prompt: f.Prompt(), Numeric: f.Numeric()}
		if snd, ok := f.(mfa.Sender); ok {
			c.Sends, c.SendLabel = true, snd.SendLabel()
		}
		out = append(out, c)
	}
	return out
}

func (s *Server) apiSecondStep(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Method   string `json:"method"`
		Code     string `json:"code"`
		Remember bool   `json:"remember_browser"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	res, err := s.secondStep(r.Context(), w, r, in.Method, in.Code, in.Remember)
	if err != nil {
		return err
	}
	out := map[string]any{"status": "authenticated", "user": toUserJSON(state(r).user)}
	if n := resultNoticeIn(s.lang(r), res); n != "" {
		out["notice"] = n
	}
	if res.BackupLeft >= 0 {
		out["next"] = "/account/security"
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// errNoMethodLeft: 2FA is on, but every method is of a kind the portal no
// longer offers and no backup code is left.
var errNoMethodLeft = portal.Errorf(portal.ECONFLICT, "Your account has no two-factor method left. Sign out and sign in again.")

// secondStepPage builds the /login/2fa page for the chosen method.
func (s *Server) secondStepPage(r *http.Request, method, next string) (*page, error) {
	st := state(r)
	tf, err := s.twoFactor(r.Context(), st.user)
	if err != nil {
		return nil, err
	}
	choices := s.methodChoices(tf)
	if len(choices) == 0 {
		return nil, errNoMethodLeft
	}
	current := choices[0]
	for _, c := range choices {
		if c.Type == method {
			current = c
		}
	}
	set, err := s.settings(r.Context())
	if err != nil {
		return nil, err
	}
	return &page{Title: "Two-factor authentication", Next: next, Data: map[string]any{"Current": current, "Choices": choices, "Remember": set.RememberBrowsers}}, nil
}

func (s *Server) handleSecondStepPage(w http.ResponseWriter, r *http.Request) error {
	if state(r).session.Level == portal.LevelFull {
		redirect(w, r, "/dashboard")
		return nil
	}
	q := r.URL.Query()
	p, err := s.secondStepPage(r, q.Get("method"), safeNext(q.Get("next")))
	if err == errNoMethodLeft {
		// Nothing to type a code from: what is left is recovery.
		redirect(w, r, "/recover")
		return nil
	} else if err != nil {
		return err
	}
	if c := p.Data["Current"].(choice); q.Get("sent") != "" && c.Sends {
		p.Data["SentTo"] = s.sentTo(r.Context(), state(r).user, c.Type)
	}
	s.render(w, r, http.StatusOK, "login2fa", p)
	return nil
}

func (s *Server) handleSecondStepForm(w http.ResponseWriter, r *http.Request) error {
	err := formValues(r)
	method, next := r.PostForm.Get("method"), safeNext(r.PostForm.Get("next"))
	var res *mfa.Result
	if err == nil {
		res, err = s.secondStep(r.Context(), w, r, method, r.PostForm.Get("code"), r.PostForm.Get("remember_browser") != "")
	}
	if err != nil {
		if portal.ErrorCode(err) == portal.ECONFLICT {
			return err
		}
		p, perr := s.secondStepPage(r, method, next)
		if perr != nil {
			return perr
		}
		if fieldOf(err) == "" {
			err = setField(err, "code")
		}
		return s.formError(w, r, "login2fa", p, err)
	}
	switch {
	case res.BackupLeft >= 0:
		// SPEC §9: a backup-code login leads to the Security page.
		s.setFlashNotice(w, res)
		next = "/account/security"
	case res.Drift != 0:
		s.setFlashNotice(w, res)
	}
	if next == "" {
		next = "/dashboard"
	}
	redirect(w, r, next)
	return nil
}

// setFlashNotice carries a second-factor notice over a redirect.
func (s *Server) setFlashNotice(w http.ResponseWriter, res *mfa.Result) {
	switch {
	case res.Drift > 0:
		s.setFlash(w, "drift_ahead")
	case res.Drift < 0:
		s.setFlash(w, "drift_behind")
	case res.BackupLeft >= 0 && res.BackupLeft <= portal.LowBackupCodes:
		s.setFlash(w, "backup_low")
	case res.BackupLeft >= 0:
		s.setFlash(w, "backup_used")
	}
}

// codeStep is a form's choice of second-factor method and code field (the
// codesend, codefield and codeswitch partials): the method chosen, the
// others as links, and for email and WhatsApp a button that sends a code.
type codeStep struct {
	ID      string // the code input's id
	Current choice
	Choices []choice
	// Switch is the link to this page with each other method chosen.
	Switch map[string]string
	// SendAction and Hidden are the send button's form.
	SendAction string
	Hidden     map[string]string
	SentTo     string // a code was just sent there (masked)
	Sent       bool   // a code was just sent
	Invalid    bool   // the code field is what the error is about
}

// newCodeStep builds a codeStep over choices with method chosen (or the
// first); link makes the page's address for another method.
func newCodeStep(id string, choices []choice, method string, link func(method string) string) *codeStep {
	cs := &codeStep{ID: id, Choices: choices, Current: pickChoice(choices, method), Switch: map[string]string{}}
	for _, c := range choices {
		cs.Switch[c.Type] = link(c.Type)
	}
	return cs
}
