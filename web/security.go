package web

import (
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mfa"
)

// methodView is a confirmed method as the Security page lists it.
type methodView struct {
	*portal.Method
	Label     string
	Detail    string // masked destination
	Preferred bool
}

// securityPage gathers the Security page: 2FA status and methods, backup
// codes left, recent events.
func (s *Server) securityPage(r *http.Request) (*page, error) {
	st := state(r)
	ctx := r.Context()
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
		bviews = append(bviews, map[string]any{"ID": b.ID, "Name": browserName(b.UserAgent), "IP": b.IP, "CreatedAt": b.CreatedAt, "LastUsedAt": b.LastUsedAt})
	}
	return &page{Title: "Security settings", Data: map[string]any{
		"Browsers":   bviews,
		"Events":     events,
		"Recent":     s.Sessions.RecentlyAuthenticated(st.session, s.now()),
		"TwoFactor":  tf,
		"Methods":    methods,
		"Preferable": choices,
		"CodeTypes":  s.methodChoices(tf),
		"LowBackup":  tf.Enabled && tf.BackupRemaining <= portal.LowBackupCodes,
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
	if err := formValues(r); err != nil {
		return err
	}
	next := r.PostForm.Get("new_password")
	var err error
	if next != r.PostForm.Get("new_password_confirm") {
		err = &portal.Error{Code: portal.EINVALID, Message: "The two new passwords do not match.", Field: "new_password_confirm"}
	} else {
		err = s.changePassword(r.Context(), r, r.PostForm.Get("current_password"), next)
	}
	if err != nil {
		if e, ok := err.(*portal.Error); ok && e.Field == "password" && e.Code == portal.EINVALID {
			e.Field = "new_password"
		}
		if portal.ErrorCode(err) == portal.ECREDENTIALS {
			err = &portal.Error{Code: portal.ECREDENTIALS, Message: "Your current password is not correct.", Field: "current_password"}
		}
		return s.securityError(w, r, err)
	}
	setFlash(w, "password")
	redirect(w, r, "/account/security")
	return nil
}

// renderBackupCodes shows a fresh set once, with copy, download and print.
func (s *Server) renderBackupCodes(w http.ResponseWriter, r *http.Request, codes []string, first bool) {
	txt := "Client Portal backup codes for " + state(r).user.Email + "\n" +
		"Each code works once. Keep them somewhere safe.\n\n" + strings.Join(codes, "\n") + "\n"
	s.render(w, r, http.StatusOK, "backup_codes", &page{Title: "Your backup codes", Data: map[string]any{
		"Codes": codes, "First": first,
		"Download": template.URL("data:text/plain;charset=utf-8," + url.PathEscape(txt)),
	}})
}

func (s *Server) handleBackupRegenerate(w http.ResponseWriter, r *http.Request) error {
	codes, err := s.regenerateBackupCodes(r.Context(), r)
	if err != nil {
		return s.securityError(w, r, err)
	}
	s.renderBackupCodes(w, r, codes, false)
	return nil
}

func (s *Server) handlePreferredForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	if err := s.setPreferred(r, r.PostForm.Get("method")); err != nil {
		return s.securityError(w, r, err)
	}
	setFlash(w, "preferred")
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
	setFlash(w, "method_removed")
	redirect(w, r, "/account/security")
	return nil
}

func (s *Server) handleDisableForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	f := r.PostForm
	if err := s.disableTwoFactor(r.Context(), r, f.Get("password"), f.Get("method"), f.Get("code")); err != nil {
		if e, ok := err.(*portal.Error); ok && e.Field == "" {
			e.Field = "disable"
		}
		return s.securityError(w, r, err)
	}
	setFlash(w, "2fa_disabled")
	redirect(w, r, "/account/security")
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
	out := []map[string]any{}
	for _, e := range evs {
		out = append(out, map[string]any{"id": e.ID, "type": e.Type, "title": portal.EventTitle(e.Type), "detail": e.Detail, "ip": e.IP, "created_at": unixTime(e.CreatedAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out})
	return nil
}
