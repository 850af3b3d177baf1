package web

import (
	"context"
	"encoding/json"
	"github.com/clientportal/portal/i18n"
	"net/http"
	"net/url"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/password"
)

// InvitationTTL is how long an invitation link works.
const InvitationTTL = 7 * 24 * time.Hour

// requireOwner refuses everyone but the account's owner.
func requireOwner(r *http.Request) (*portal.User, error) {
	u := state(r).user
	if u.Role != portal.RoleOwner || u.AccountID == "" {
		return nil, portal.Errorf(portal.EFORBIDDEN, "Only the account owner can manage its users.")
	}
	return u, nil
}

// members lists the account's users, filtered by 2FA status.
func (s *Server) members(ctx context.Context, r *http.Request, twofa string) ([]*portal.Member, []*portal.Invitation, error) {
	owner, err := requireOwner(r)
	if err != nil {
		return nil, nil, err
	}
	switch twofa {
	case "", "activated", "not_activated":
	default:
		return nil, nil, portal.Errorf(portal.EINVALID, "twofa must be activated or not_activated.")
	}
	all, err := s.Store.Members(ctx, owner.AccountID)
	if err != nil {
		return nil, nil, err
	}
	var out []*portal.Member
	for _, m := range all {
		on := len(m.Methods) > 0
		if twofa == "" || (twofa == "activated") == on {
			out = append(out, m)
		}
	}
	inv, err := s.Store.Invitations(ctx, owner.AccountID, s.now().Unix())
	return out, inv, err
}

// invite sends an invitation link to a new member of the owner's account.
func (s *Server) invite(ctx context.Context, r *http.Request, email, name string) (*portal.Invitation, error) {
	owner, err := requireOwner(r)
	if err != nil {
		return nil, err
	}
	// A new member is a new way into the account: like the other
	// changes to it, it needs a recent password and code.
	if err := s.requireRecent(r); err != nil {
		return nil, err
	}
	key, display, err := portal.NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if name, err = portal.NormalizeName(name); err != nil {
		return nil, err
	}
	if taken, err := s.sendQuotaUnlessTaken(ctx, r, owner, key); err != nil {
		return nil, err
	} else if taken {
		return nil, &portal.Error{Code: portal.ECONFLICT, Message: "Someone already has an account with this email address.", Field: "email"}
	}
	token, hash := portal.NewSecretToken()
	now := s.now()
	data, _ := json.Marshal(map[string]string{"email": display, "name": name})
	t := &portal.Token{ID: hash, Kind: portal.TokenInvite, UserID: owner.ID, AccountID: owner.AccountID, Data: string(data), CreatedAt: now.Unix(), ExpiresAt: now.Add(InvitationTTL).Unix()}
	if err := s.Store.CreateInvitation(ctx, t); err != nil {
		return nil, err
	}
	if err := s.sendInvitation(ctx, owner, token, display, name); err != nil {
		return nil, err
	}
	s.event(r, owner.ID, portal.EventMemberInvited, display)
	return &portal.Invitation{ID: hash, Email: display, Name: name, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt}, nil
}

// sendInvitation emails an invitation link.
func (s *Server) sendInvitation(ctx context.Context, owner *portal.User, token, email, name string) error {
	if s.Links == nil {
		return nil
	}
	link := s.BaseURL.JoinPath("/invite").String() + "?token=" + url.QueryEscape(token)
	// The subject is fixed: the owner's name is theirs to choose, and a
	// subject is what a mail client shows before any escaping.
	return s.Links.SendLink(ctx, email, name, s.mailLang(ctx, nil).Code, portal.Letter{Subject: i18n.M("You're invited to {{.Brand}}", "Brand", s.Brand.Name),
		Intro:  i18n.M("{{.Owner}} ({{.Email}}) invited you to use their account. Choose a password to get started.", "Owner", owner.Name, "Email", owner.Email),
		Button: i18n.M("Accept the invitation")}, link, InvitationTTL)
}

// resendInvitation sends a pending invitation again with a new link (the
// old one dies), valid 7 days from now, within the sending quotas.
func (s *Server) resendInvitation(ctx context.Context, r *http.Request, id string) error {
	owner, err := requireOwner(r)
	if err != nil {
		return err
	}
	if err := s.requireRecent(r); err != nil {
		return err
	}
	inv, err := s.pendingInvitation(ctx, owner, id)
	if err != nil {
		return err
	}
	if err := s.sendQuota(ctx, r, owner, portal.MustKey(inv.Email)); err != nil {
		return err
	}
	token, hash := portal.NewSecretToken()
	now := s.now()
	if _, err := s.Store.ReplaceInvitation(ctx, owner.AccountID, id, &portal.Token{ID: hash, CreatedAt: now.Unix(), ExpiresAt: now.Add(InvitationTTL).Unix()}, now.Unix()); err != nil {
		return errNoInvitation
	}
	if err := s.sendInvitation(ctx, owner, token, inv.Email, inv.Name); err != nil {
		return err
	}
	s.event(r, owner.ID, portal.EventMemberInvited, inv.Email+" (sent again)")
	return nil
}

// revokeInvitation withdraws a pending invitation: its link dies.
func (s *Server) revokeInvitation(ctx context.Context, r *http.Request, id string) error {
	owner, err := requireOwner(r)
	if err != nil {
		return err
	}
	if err := s.requireRecent(r); err != nil {
		return err
	}
	inv, err := s.pendingInvitation(ctx, owner, id)
	if err != nil {
		return err
	}
	if err := s.Store.RevokeInvitation(ctx, owner.AccountID, id); err != nil {
		return errNoInvitation
	}
	s.event(r, owner.ID, portal.EventInvitationRevoked, inv.Email)
	return nil
}

var errNoInvitation = portal.Errorf(portal.ENOTFOUND, "That invitation is not pending any more.")

// pendingInvitation finds a pending invitation of the owner's account.
func (s *Server) pendingInvitation(ctx context.Context, owner *portal.User, id string) (*portal.Invitation, error) {
	invs, err := s.Store.Invitations(ctx, owner.AccountID, s.now().Unix())
	if err != nil {
		return nil, err
	}
	for _, inv := range invs {
		if inv.ID == id {
			return inv, nil
		}
	}
	return nil, errNoInvitation
}

// invitation finds a live invitation by its link token.
func (s *Server) invitation(ctx context.Context, token string) (*portal.Token, string, string, error) {
	t, err := s.Store.TokenByID(ctx, portal.TokenInvite, portal.HashToken(token), s.now().Unix())
	if err != nil {
		return nil, "", "", portal.Errorf(portal.ENOTFOUND, "This invitation link is invalid, expired or already used. Ask the account owner for a new one.")
	}
	var d struct{ Email, Name string }
	json.Unmarshal([]byte(t.Data), &d)
	return t, d.Email, d.Name, nil
}

// acceptInvitation creates the member (consuming the link once) and signs
// them in as the login flow would, policy included.
func (s *Server) acceptInvitation(ctx context.Context, w http.ResponseWriter, r *http.Request, token, name, pw string) (*loginResult, error) {
	t, email, _, err := s.invitation(ctx, token)
	if err != nil {
		return nil, err
	}
	u, err := s.newUser(ctx, email, name, pw, portal.RoleMember)
	if err != nil {
		return nil, err
	}
	u.AccountID = t.AccountID
	u.EmailVerifiedAt = s.now().Unix() // the link proved the address
	if err := s.Store.CreateUserWithToken(ctx, u, nil, portal.TokenInvite, t.ID, s.now().Unix()); err != nil {
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			return nil, portal.Errorf(portal.ENOTFOUND, "This invitation link was already used.")
		}
		return nil, err
	}
	s.event(r, u.ID, portal.EventUserCreated, "Accepted an invitation")
	if setup, err := s.startWithout2FA(ctx, w, r, u, true, &portal.LoginStep{At: s.now()}); err != nil {
		return nil, err
	} else if setup {
		return &loginResult{Status: "2fa_setup_required"}, nil
	}
	return &loginResult{Status: "authenticated", User: toUserJSON(u)}, nil
}

// removeMember deletes a member of the owner's account.
func (s *Server) removeMember(ctx context.Context, r *http.Request, id string) error {
	owner, err := requireOwner(r)
	if err != nil {
		return err
	}
	if err := s.requireRecent(r); err != nil {
		return err
	}
	u, err := s.Store.UserByID(ctx, id)
	if err != nil || u.AccountID != owner.AccountID {
		return portal.Errorf(portal.ENOTFOUND, "That user is not part of your account.")
	}
	if u.ID == owner.ID {
		return portal.Errorf(portal.ECONFLICT, "You cannot remove yourself, the account owner.")
	}
	if err := s.Store.DeleteUser(ctx, u.ID); err != nil {
		return err
	}
	s.event(r, owner.ID, portal.EventMemberRemoved, u.Email)
	return nil
}

// setPolicy turns the owner's 2FA requirement on or off.
func (s *Server) setPolicy(ctx context.Context, r *http.Request, on bool) error {
	owner, err := requireOwner(r)
	if err != nil {
		return err
	}
	if err := s.requireRecent(r); err != nil {
		return err
	}
	if err := s.Store.SetAccountRequire2FA(ctx, owner.AccountID, on, sessionID(r)); err != nil {
		return err
	}
	detail := "Two-factor authentication is no longer required of the account's users."
	if on {
		detail = "Two-factor authentication is now required of every user of the account."
	}
	s.event(r, owner.ID, portal.EventPolicyChanged, detail)
	return nil
}

func memberJSON(m *portal.Member) map[string]any {
	methods := m.Methods
	if methods == nil {
		methods = []string{}
	}
	return map[string]any{"id": m.User.ID, "email": m.User.Email, "name": m.User.Name, "role": m.User.Role,
		"last_login_at": optionalTime(m.User.LastLoginAt),
		"twofa":         map[string]any{"enabled": len(m.Methods) > 0, "methods": methods}}
}

func optionalTime(t int64) any {
	if t == 0 {
		return nil
	}
	return unixTime(t)
}

func (s *Server) apiMembers(w http.ResponseWriter, r *http.Request) error {
	ms, inv, err := s.members(r.Context(), r, r.URL.Query().Get("twofa"))
	if err != nil {
		return err
	}
	users := []map[string]any{}
	for _, m := range ms {
		users = append(users, memberJSON(m))
	}
	invs := []map[string]any{}
	for _, i := range inv {
		invs = append(invs, map[string]any{"id": i.ID, "email": i.Email, "name": i.Name, "expires_at": unixTime(i.ExpiresAt)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users, "invitations": invs})
	return nil
}

func (s *Server) apiInvite(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email string `json:"email"`
		Name  string `json:"name"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	inv, err := s.invite(r.Context(), r, in.Email, in.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"invitation": map[string]any{"email": inv.Email, "name": inv.Name, "expires_at": unixTime(inv.ExpiresAt)}})
	return nil
}

func (s *Server) apiMemberRemove(w http.ResponseWriter, r *http.Request) error {
	if err := s.removeMember(r.Context(), r, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiPolicy(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Require *bool `json:"require_2fa"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Require == nil {
		return portal.Errorf(portal.EINVALID, "Send require_2fa as true or false.")
	}
	if err := s.setPolicy(r.Context(), r, *in.Require); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiInviteAccept(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Token    string `json:"token"`
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	res, err := s.acceptInvitation(r.Context(), w, r, in.Token, in.Name, in.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, res)
	return nil
}

// membersPage builds /account/users.
func (s *Server) membersPage(r *http.Request, filter string) (*page, error) {
	ms, inv, err := s.members(r.Context(), r, filter)
	if err != nil {
		return nil, err
	}
	acct, err := s.Store.AccountByID(r.Context(), state(r).user.AccountID)
	if err != nil {
		return nil, err
	}
	l := s.lang(r)
	var rows []map[string]any
	for _, m := range ms {
		var labels []string
		for _, t := range m.Methods {
			if f := s.Factors.Get(t); f != nil {
				labels = append(labels, f.Label())
			} else {
				labels = append(labels, t)
			}
		}
		rows = append(rows, map[string]any{"User": m.User, "Activated": len(m.Methods) > 0, "Methods": labels})
	}
	var confirm *confirmation
	switch q := r.URL.Query(); q.Get("confirm") {
	case "remove-user":
		for _, m := range ms {
			if m.User.ID == q.Get("id") && m.User.Role != portal.RoleOwner {
				confirm = &confirmation{Question: l.T("Remove {{.Name}} ({{.Email}})?", "Name", m.User.Name, "Email", m.User.Email),
					Detail: l.T("They can no longer sign in, and everything of theirs is deleted."),
					Action: "/account/users/" + m.User.ID + "/remove", Button: l.T("Remove user"), Cancel: "/account/users", Danger: true}
			}
		}
	case "revoke-invitation":
		for _, i := range inv {
			if i.ID == q.Get("id") {
				confirm = &confirmation{Question: l.T("Withdraw the invitation of {{.Email}}?", "Email", i.Email), Detail: l.T("The link we emailed will no longer work."),
					Action: "/account/users/invitations/" + i.ID + "/revoke", Button: l.T("Withdraw invitation"), Cancel: "/account/users", Danger: true}
			}
		}
	}
	return &page{Title: "Users", Data: map[string]any{"Confirm": confirm, "Members": rows, "Invitations": inv, "Filter": filter, "Require2FA": acct.Require2FA}}, nil
}

func (s *Server) handleInvitationResend(w http.ResponseWriter, r *http.Request) error {
	if err := s.resendInvitation(r.Context(), r, r.PathValue("id")); err != nil {
		return s.membersError(w, r, err, nil)
	}
	s.setFlash(w, "invitation_resent")
	redirect(w, r, "/account/users")
	return nil
}

func (s *Server) handleInvitationRevoke(w http.ResponseWriter, r *http.Request) error {
	if err := s.revokeInvitation(r.Context(), r, r.PathValue("id")); err != nil {
		return s.membersError(w, r, err, nil)
	}
	s.setFlash(w, "invitation_revoked")
	redirect(w, r, "/account/users")
	return nil
}

func (s *Server) apiInvitationResend(w http.ResponseWriter, r *http.Request) error {
	if err := s.resendInvitation(r.Context(), r, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Server) apiInvitationRevoke(w http.ResponseWriter, r *http.Request) error {
	if err := s.revokeInvitation(r.Context(), r, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleMembersPage(w http.ResponseWriter, r *http.Request) error {
	p, err := s.membersPage(r, r.URL.Query().Get("twofa"))
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "members", p)
	return nil
}

// membersError shows a failed form on the members page.
func (s *Server) membersError(w http.ResponseWriter, r *http.Request, err error, form map[string]string) error {
	if portal.ErrorCode(err) == portal.EREAUTH {
		reauthFirst(w, r, "/account/users")
		return nil
	}
	p, perr := s.membersPage(r, "")
	if perr != nil {
		return perr
	}
	p.Form = form
	return s.formError(w, r, "members", p, err)
}

func (s *Server) handleInviteForm(w http.ResponseWriter, r *http.Request) error {
	err := formValues(r)
	email, name := r.PostForm.Get("email"), r.PostForm.Get("name")
	if err == nil {
		_, err = s.invite(r.Context(), r, email, name)
	}
	if err != nil {
		return s.membersError(w, r, err, map[string]string{"email": email, "name": name})
	}
	s.setFlash(w, "invited")
	redirect(w, r, "/account/users")
	return nil
}

func (s *Server) handleMemberRemove(w http.ResponseWriter, r *http.Request) error {
	if err := s.removeMember(r.Context(), r, r.PathValue("id")); err != nil {
		return s.membersError(w, r, err, nil)
	}
	s.setFlash(w, "member_removed")
	redirect(w, r, "/account/users")
	return nil
}

func (s *Server) handlePolicyForm(w http.ResponseWriter, r *http.Request) error {
	err := formValues(r)
	if err == nil {
		err = s.setPolicy(r.Context(), r, r.PostForm.Get("require_2fa") != "")
	}
	if err != nil {
		return s.membersError(w, r, err, nil)
	}
	s.setFlash(w, "policy")
	redirect(w, r, "/account/users")
	return nil
}

func (s *Server) handleInvitePage(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	_, email, name, err := s.invitation(r.Context(), token)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "invite", &page{Title: "Accept your invitation", Form: map[string]string{"name": name}, Data: map[string]any{"Token": token, "Email": email}})
	return nil
}

func (s *Server) handleInviteAccept(w http.ResponseWriter, r *http.Request) error {
	ferr := formValues(r)
	token, name, pw := r.PostForm.Get("token"), r.PostForm.Get("name"), r.PostForm.Get("password")
	_, email, _, err := s.invitation(r.Context(), token)
	if err != nil {
		return err
	}
	p := &page{Title: "Accept your invitation", Form: map[string]string{"name": name}, Data: map[string]any{"Token": token, "Email": email}}
	if ferr != nil {
		return s.formError(w, r, "invite", p, ferr)
	}
	if pw != r.PostForm.Get("password_confirm") {
		return s.formError(w, r, "invite", p, &portal.Error{Code: portal.EINVALID, Message: "The two passwords do not match.", Field: "password_confirm"})
	}
	if err := password.Validate(pw, email); err != nil {
		return s.formError(w, r, "invite", p, err)
	}
	res, err := s.acceptInvitation(r.Context(), w, r, token, name, pw)
	if err != nil {
		return s.formError(w, r, "invite", p, err)
	}
	if res.Status == "2fa_setup_required" {
		s.setFlash(w, "setup_required")
		redirect(w, r, "/account/2fa")
		return nil
	}
	s.setFlash(w, "registered")
	redirect(w, r, "/dashboard")
	return nil
}
