package web

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/provider"
)

// methodView is a confirmed method as the Security page lists it.
type methodView struct {
	*portal.Method
	Label     string // a message ID (the factor's Label): {{t .Label}}
	Detail    string // masked destination
	Preferred bool
}

// securityPage gathers the Security page: 2FA status and methods, backup
// codes left, recent events.
func (s *Server) securityPage(r *http.Request) (*page, error) {
	st := state(r)
	ctx := r.Context()
	l := s.lang(r)
	tf, err := s.twoFactor(ctx, st.user)
	if err != nil {
		return nil, err
	}
	events, err := s.Store.UserEvents(ctx, st.user.ID, 20)
	if err != nil {
		return nil, err
	}
	var methods []methodView
	types := map[string]bool{}
	for _, m := range tf.Methods {
		label := m.Type
		if f := s.Factors.Get(m.Type); f != nil {
			label = f.Label()
		}
		v := methodView{Method: m, Label: label, Preferred: m.Type == tf.Preferred && !types[m.Type]}
		switch m.Type {
		case portal.MethodWhatsApp:
			v.Detail = mfa.MaskPhone(m.Data)
		case portal.MethodEmail:
			v.Detail = mfa.MaskEmail(m.Data)
		}
		methods = append(methods, v)
		types[m.Type] = true
	}
	var choices []choice
	for _, c := range s.methodChoices(tf) {
		if c.Type != portal.MethodBackupCode {
			choices = append(choices, c)
		}
	}
	browsers, err := s.Store.UserBrowsers(ctx, st.user.ID, s.now().Unix())
	if err != nil {
		return nil, err
	}
	var bviews []map[string]any
	for _, b := range browsers {
		bviews = append(bviews, map[string]any{"ID": b.ID, "Name": browserLabel(l, b.UserAgent), "IP": b.IP, "CreatedAt": b.CreatedAt, "LastUsedAt": b.LastUsedAt})
	}
	// Turning 2FA off takes a code from any method; the one chosen stays
	// chosen after an error or a sent code.
	chosen := r.URL.Query().Get("disable")
	if r.PostForm != nil && r.PostForm.Get("method") != "" {
		chosen = r.PostForm.Get("method")
	}
	disable := newCodeStep("disable_code", s.methodChoices(tf), chosen, func(m string) string {
		return "/account/security?disable=" + url.QueryEscape(m) + "#turn-off"
	})
	disable.SendAction = "/account/2fa/disable/send"
	if r.URL.Query().Get("sent") != "" && disable.Current.Sends {
		disable.Sent, disable.SentTo = true, s.sentTo(ctx, st.user, disable.Current.Type)
	}
	must, err := s.mustUseTwoFactor(ctx, st.user)
	if err != nil {
		return nil, err
	}
	required := ""
	if must {
		required = errRequired(st.user)
	}
	var confirm *confirmation
	switch q := r.URL.Query(); q.Get("confirm") {
	case "remove-method":
		for _, m := range methods {
			if m.ID == q.Get("id") {
				confirm = &confirmation{Question: l.T("Remove {{.Method}}?", "Method", namedMethod(l, m.Label, m.Method)), Detail: l.T("You will no longer be able to sign in with it."),
					Action: "/account/2fa/methods/" + m.ID + "/delete", Button: l.T("Remove"), Cancel: "/account/security", Danger: true}
			}
		}
	case "forget-browser":
		for _, b := range browsers {
			if b.ID == q.Get("id") {
				confirm = &confirmation{Question: l.T("Forget {{.Browser}}?", "Browser", browserLabel(l, b.UserAgent)), Detail: l.T("It will ask for a code again at the next sign-in."),
					Action: "/account/browsers/" + b.ID + "/revoke", Button: l.T("Forget"), Cancel: "/account/security", Danger: true}
			}
		}
	}
	apps, err := s.Store.UserApps(ctx, st.user.ID, s.now().Unix())
	if err != nil {
		return nil, err
	}
	sessions, err := s.sessionViews(r, st.user.ID)
	if err != nil {
		return nil, err
	}
	return &page{Title: "Security settings", Data: map[string]any{
		"Alerts":   s.alertsOn(ctx, st.user),
		"Passkeys": s.passkeySummary(tf),
		"Sessions": sessions,
		"Apps":     apps,
		"Confirm":  confirm,
		"Required": required,
		// The form to turn 2FA off opens from its button (a link here,
		// so it works without JavaScript), and stays open after an error.
		"ShowDisable": r.URL.Query().Has("disable") || strings.HasPrefix(r.URL.Path, "/account/2fa/disable"),
		"Disable":     disable,
		"Browsers":    bviews,
		"Events":      events,
		"Recent":      s.Sessions.RecentlyAuthenticated(st.session, s.now()),
		"TwoFactor":   tf,
		"Methods":     methods,
		"Preferable":  choices,
		"CodeTypes":   s.methodChoices(tf),
		"LowBackup":   tf.Enabled && tf.BackupRemaining <= portal.LowBackupCodes,
	}}, nil
}

func (s *Server) handleSecurityPage(w http.ResponseWriter, r *http.Request) error {
	p, err := s.securityPage(r)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "security", p)
	return nil
}

// securityError shows a failed Security-page form: a browser that needs to
// re-authenticate is sent to do so, anything else is shown on the page.
func (s *Server) securityError(w http.ResponseWriter, r *http.Request, err error) error {
	if portal.ErrorCode(err) == portal.EREAUTH {
		reauthFirst(w, r, "/account/security")
		return nil
	}
	p, perr := s.securityPage(r)
	if perr != nil {
		return perr
	}
	return s.formError(w, r, "security", p, err)
}

func (s *Server) handlePasswordForm(w http.ResponseWriter, r *http.Request) error {
	err := formValues(r)
	next := r.PostForm.Get("new_password")
	switch {
	case err != nil:
	case next != r.PostForm.Get("new_password_confirm"):
		err = &portal.Error{Code: portal.EINVALID, Message: "The two new passwords do not match.", Field: "new_password_confirm"}
	default:
		err = s.changePassword(r.Context(), r, r.PostForm.Get("current_password"), next)
	}
	if err != nil {
		if fieldOf(err) == "password" && portal.ErrorCode(err) == portal.EINVALID {
			err = setField(err, "new_password")
		}
		if portal.ErrorCode(err) == portal.ECREDENTIALS {
			err = &portal.Error{Code: portal.ECREDENTIALS, Message: "Your current password is not correct.", Field: "current_password"}
		}
		return s.securityError(w, r, err)
	}
	s.setFlash(w, "password")
	redirect(w, r, "/account/security")
	return nil
}

// codesCookie carries a fresh set of backup codes, sealed for the user,
// from the form that made them to the page that shows them once (post,
// redirect, get: Back never asks to send the form again).
const codesCookie = "portal_codes"

// showBackupCodes hands a fresh set to the page that shows it once.
func (s *Server) showBackupCodes(w http.ResponseWriter, r *http.Request, codes []string, first bool) {
	if s.Keys == nil {
		s.renderBackupCodes(w, r, codes, first)
		return
	}
	b, _ := json.Marshal(shownCodes{Codes: codes, First: first})
	http.SetCookie(w, &http.Cookie{Name: codesCookie, Value: s.Keys.Seal("codes:"+state(r).user.ID, b), Path: "/account/2fa/backup-codes",
		HttpOnly: true, Secure: s.secure(), SameSite: http.SameSiteStrictMode, MaxAge: 300})
	redirect(w, r, "/account/2fa/backup-codes")
}

// shownCodes is what codesCookie holds.
type shownCodes struct {
	Codes []string `json:"c"`
	First bool     `json:"f"`
}

// handleBackupCodesPage shows the set just made, once: the cookie goes
// with the first view; without it there is nothing to show.
func (s *Server) handleBackupCodesPage(w http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(codesCookie)
	if err != nil || s.Keys == nil {
		redirect(w, r, "/account/security")
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: codesCookie, Value: "", Path: "/account/2fa/backup-codes", HttpOnly: true, Secure: s.secure(), SameSite: http.SameSiteStrictMode, MaxAge: -1})
	var shown shownCodes
	b, err := s.Keys.Open("codes:"+state(r).user.ID, c.Value)
	if err != nil || json.Unmarshal(b, &shown) != nil || len(shown.Codes) == 0 {
		redirect(w, r, "/account/security")
		return nil
	}
	s.renderBackupCodes(w, r, shown.Codes, shown.First)
	return nil
}

// renderBackupCodes shows a fresh set once, with copy, download and print.
func (s *Server) renderBackupCodes(w http.ResponseWriter, r *http.Request, codes []string, first bool) {
	l := s.lang(r)
	txt := l.T("{{.Brand}} backup codes for {{.Email}}", "Brand", s.Brand.Name, "Email", state(r).user.Email) + "\n" +
		l.T("Each code works once. Keep them somewhere safe.") + "\n\n" + strings.Join(codes, "\n") + "\n"
	// An app that required 2FA is where the user goes next.
	done := "/account/security"
	if c, err := r.Cookie(continueCookie); err == nil && strings.HasPrefix(c.Value, provider.LoginPath+"?") && safeNext(c.Value) != "" {
		done = c.Value
		http.SetCookie(w, &http.Cookie{Name: continueCookie, Value: "", Path: "/", HttpOnly: true, Secure: s.secure(), SameSite: http.SameSiteLaxMode, MaxAge: -1})
	}
	s.render(w, r, http.StatusOK, "backup_codes", &page{Title: "Your backup codes", Data: map[string]any{
		"Codes": codes, "First": first, "Done": done,
		"Download": template.URL("data:text/plain;charset=utf-8," + url.PathEscape(txt)),
	}})
}

func (s *Server) handleBackupRegenerate(w http.ResponseWriter, r *http.Request) error {
	codes, err := s.regenerateBackupCodes(r.Context(), r)
	if err != nil {
		return s.securityError(w, r, err)
	}
	s.showBackupCodes(w, r, codes, false)
	return nil
}

func (s *Server) handlePreferredForm(w http.ResponseWriter, r *http.Request) error {
	err := formValues(r)
	if err == nil {
		err = s.setPreferred(r, r.PostForm.Get("method"))
	}
	if err != nil {
		return s.securityError(w, r, err)
	}
	s.setFlash(w, "preferred")
	redirect(w, r, "/account/security")
	return nil
}

// setPreferred picks the method offered first at login.
func (s *Server) setPreferred(r *http.Request, typ string) error {
	u := state(r).user
	if s.Factors.Get(typ) == nil || typ == portal.MethodBackupCode {
		return portal.Errorf(portal.EINVALID, "Choose one of your two-factor methods.")
	}
	if err := s.Store.SetPreferredMethod(r.Context(), u.ID, typ); err != nil {
		return err
	}
	u.PreferredMethod = typ
	return nil
}

func (s *Server) handleMethodDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.removeMethod(r.Context(), r, r.PathValue("id")); err != nil {
		return s.securityError(w, r, err)
	}
	s.setFlash(w, "method_removed")
	redirect(w, r, "/account/security")
	return nil
}

func (s *Server) handleDisableForm(w http.ResponseWriter, r *http.Request) error {
	err := formValues(r)
	if f := r.PostForm; err == nil {
		err = s.disableTwoFactor(r.Context(), r, f.Get("password"), f.Get("method"), f.Get("code"))
	}
	if err != nil {
		err = setField(err, "disable")
		return s.securityError(w, r, err)
	}
	s.setFlash(w, "2fa_disabled")
	redirect(w, r, "/account/security")
	return nil
}

// handleDisableSend sends a code for turning 2FA off and shows the
// Security page again with that method chosen.
func (s *Server) handleDisableSend(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	method := r.PostForm.Get("method")
	if _, err := s.sendCode(r.Context(), r, method); err != nil {
		return s.securityError(w, r, setField(err, "disable"))
	}
	redirect(w, r, "/account/security?sent=1&disable="+url.QueryEscape(method)+"#turn-off")
	return nil
}

func (s *Server) apiPreferred(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Method string `json:"method"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.setPreferred(r, in.Method); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiMethodDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.removeMethod(r.Context(), r, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiDisable(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Password string `json:"password"`
		Code     string `json:"code"`
		Method   string `json:"method"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.disableTwoFactor(r.Context(), r, in.Password, in.Method, in.Code); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiBackupRegenerate(w http.ResponseWriter, r *http.Request) error {
	codes, err := s.regenerateBackupCodes(r.Context(), r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"backup_codes": codes})
	return nil
}

func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request) error {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return portal.Errorf(portal.EINVALID, "limit must be a number from 1 to 200.")
		}
		limit = n
	}
	evs, err := s.Store.UserEvents(r.Context(), state(r).user.ID, limit)
	if err != nil {
		return err
	}
	l := s.lang(r)
	out := []map[string]any{}
	for _, e := range evs {
		out = append(out, map[string]any{"id": e.ID, "type": e.Type, "title": l.T(portal.EventTitle(e.Type)), "detail": e.Detail, "ip": e.IP, "created_at": unixTime(e.CreatedAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out})
	return nil
}
