package web

import (
	"errors"
	"github.com/clientportal/portal/i18n"
	"net/http"
	"strings"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/password"
)

// The admin API for a billing system: create a customer (account and
// owner), look one up by address, disable and enable, and follow the event
// log forward (GET /api/v1/admin/events?after=…).

// eventSettle is how far behind now the event log is read forward
// (settleOverride in tests).
func (s *Server) eventSettle() time.Duration {
	if d := s.settleOverride.Load(); d != nil {
		return *d
	}
	return 5 * time.Second
}

// welcomeLinkTTL is how long a new customer's "choose your password" link
// works.
const welcomeLinkTTL = 7 * 24 * time.Hour

// adminUserDetail is one user for the admin API, with 2FA status.
func (s *Server) adminUserDetail(r *http.Request, u *portal.User) (map[string]any, error) {
	tf, err := s.twoFactor(r.Context(), u)
	if err != nil {
		return nil, err
	}
	var methods []string
	for _, t := range s.loginMethods(tf) {
		if t != portal.MethodBackupCode {
			methods = append(methods, t)
		}
	}
	if methods == nil {
		methods = []string{}
	}
	return map[string]any{"id": u.ID, "email": u.Email, "name": u.Name, "role": u.Role, "account_id": u.AccountID, "disabled": u.Disabled,
		"created_at": unixTime(u.CreatedAt), "last_login_at": optTime(u.LastLoginAt),
		"twofa": map[string]any{"enabled": tf.Enabled, "methods": methods, "backup_codes_remaining": tf.BackupRemaining}}, nil
}

// apiAdminUserCreate creates a customer account and its owner, without a
// password: with "invite", the owner is emailed a link to choose one
// (7 days); without, they use "Forgot your password?" when the operator
// tells them to.
func (s *Server) apiAdminUserCreate(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email   string `json:"email"`
		Name    string `json:"name"`
		Account string `json:"account_name"`
		Invite  bool   `json:"invite"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.requireRecent(r); err != nil {
		return err
	}
	_, display, err := portal.NormalizeEmail(in.Email)
	if err != nil {
		return err
	}
	name, err := portal.NormalizeName(in.Name)
	if err != nil {
		return err
	}
	acctName := strings.TrimSpace(in.Account)
	if err := portal.CheckText("account_name", acctName, portal.SingleLine); err != nil {
		return err
	}
	if acctName == "" {
		acctName = name
	}
	now := s.now().Unix()
	acct := &portal.Account{ID: portal.NewID(), Name: acctName, CreatedAt: now}
	u := &portal.User{ID: portal.NewID(), AccountID: acct.ID, Email: display, Name: name, Role: portal.RoleOwner, PasswordHash: password.NoPassword, CreatedAt: now}
	if err := s.Store.CreateUser(r.Context(), u, acct); err != nil {
		return err
	}
	s.event(r, u.ID, portal.EventUserCreated, "By the admin API")
	invited := false
	if in.Invite && s.Links != nil {
		link, err := s.newLink(r.Context(), u, portal.TokenReset, u.Email, "/password/reset", "", welcomeLinkTTL)
		if err != nil {
			return err
		}
		if err := s.Links.SendLink(r.Context(), u.Email, u.Name, s.userLang(r, u).Code, portal.Letter{
			Subject: i18n.M("Your {{.Brand}} account is ready", "Brand", s.Brand.Name),
			Intro:   i18n.M("An account was made for you at {{.Brand}}. Choose your password to sign in; then set up two-factor authentication on the Security page.", "Brand", s.Brand.Name),
			Button:  i18n.M("Choose your password")}, link, welcomeLinkTTL); err != nil {
			return err
		}
		invited = true
	}
	out, err := s.adminUserDetail(r, u)
	if err != nil {
		return err
	}
	out["invited"] = invited
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// apiAdminUserLookup finds a user by exact address (?email=).
func (s *Server) apiAdminUserLookup(w http.ResponseWriter, r *http.Request) error {
	key, _, err := portal.NormalizeEmail(r.URL.Query().Get("email"))
	if err != nil {
		return err
	}
	u, err := s.Store.UserByEmail(r.Context(), key)
	if errors.Is(err, portal.ErrNotFound) {
		return portal.Errorf(portal.ENOTFOUND, "No user has that email address.")
	} else if err != nil {
		return err
	}
	out, err := s.adminUserDetail(r, u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) apiAdminUserDisable(w http.ResponseWriter, r *http.Request) error {
	return s.setDisabled(w, r, true)
}

func (s *Server) apiAdminUserEnable(w http.ResponseWriter, r *http.Request) error {
	return s.setDisabled(w, r, false)
}

// setDisabled disables (every session, device cookie and app token ends)
// or enables a customer, with an optional reason, audited. Staff are not
// disabled through the API.
func (s *Server) setDisabled(w http.ResponseWriter, r *http.Request, disabled bool) error {
	var in struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
	}
	if err := portal.CheckText("reason", in.Reason, portal.MultiLine); err != nil {
		return err
	}
	if err := s.requireRecent(r); err != nil {
		return err
	}
	u, err := s.Store.UserByID(r.Context(), r.PathValue("id"))
	if errors.Is(err, portal.ErrNotFound) {
		return portal.Errorf(portal.ENOTFOUND, "There is no such user.")
	} else if err != nil {
		return err
	}
	if u.IsStaff() {
		return errTokenStaff
	}
	typ, detail := portal.EventUserEnabled, "The account can sign in again."
	if disabled {
		typ, detail = portal.EventUserDisabled, "Every session ended."
	}
	if in.Reason != "" {
		detail += " Reason: " + in.Reason
	}
	rec := &portal.Record{Event: s.newEvent(r, u.ID, typ, detail)}
	if err := s.Store.SetDisabled(r.Context(), u.ID, disabled, rec); err != nil {
		if errors.Is(err, portal.ErrNotFound) {
			if disabled {
				return portal.Msg(portal.ECONFLICT, "The user is disabled already.")
			}
			return portal.Msg(portal.ECONFLICT, "The user is enabled already.")
		}
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
