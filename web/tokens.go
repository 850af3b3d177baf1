package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/clientportal/portal"
)

// API tokens authenticate the operator's systems on the admin API
// (Authorization: Bearer cpt_…). Each admin API route needs one scope; a
// token never reaches any other route, nor the routes that manage tokens.
// A token made in the console acts as the staff member who made it (while
// they are staff); one made on the command line acts as itself.

// routeScopes is the scope each admin API route needs from a token.
var routeScopes = map[string]string{
	"GET /api/v1/admin/users":                            portal.ScopeUsersRead,
	"GET /api/v1/admin/stats":                            portal.ScopeUsersRead,
	"GET /api/v1/admin/recovery":                         portal.ScopeUsersRead,
	"GET /api/v1/admin/events":                           portal.ScopeEventsRead,
	"POST /api/v1/admin/users/import":                    portal.ScopeUsersWrite,
	"GET /api/v1/admin/webhooks":                         portal.ScopeWebhooksRead,
	"GET /api/v1/admin/webhooks/{id}/deliveries":         portal.ScopeWebhooksRead,
	"POST /api/v1/admin/webhooks":                        portal.ScopeWebhooksWrite,
	"DELETE /api/v1/admin/webhooks/{id}":                 portal.ScopeWebhooksWrite,
	"POST /api/v1/admin/webhooks/deliveries/{id}/resend": portal.ScopeWebhooksWrite,
	"POST /api/v1/admin/users":                           portal.ScopeUsersWrite,
	"GET /api/v1/admin/users/lookup":                     portal.ScopeUsersRead,
	"POST /api/v1/admin/users/{id}/disable":              portal.ScopeUsersWrite,
	"POST /api/v1/admin/users/{id}/enable":               portal.ScopeUsersWrite,
	"POST /api/v1/admin/users/{id}/2fa/reset":            portal.ScopeTwoFactorReset,
	"POST /api/v1/admin/recovery/{id}/approve":           portal.ScopeTwoFactorReset,
	"POST /api/v1/admin/recovery/{id}/deny":              portal.ScopeTwoFactorReset,
	"PUT /api/v1/admin/settings":                         portal.ScopeSettingsWrite,
	"GET /api/v1/admin/apps":                             portal.ScopeAppsRead,
	"POST /api/v1/admin/apps":                            portal.ScopeAppsWrite,
	"DELETE /api/v1/admin/apps/{id}":                     portal.ScopeAppsWrite,
}

var errBadToken = portal.Errorf(portal.EUNAUTHORIZED, "The API token is not valid: it is unknown, expired or revoked.")

// errTokenStaff refuses an API token a change to staff: their 2FA, their
// recovery, their account. Staff change staff in the console.
var errTokenStaff = portal.Errorf(portal.EFORBIDDEN, "API tokens do not change staff accounts; do it in the staff console.")

// bearerToken is the request's "Authorization: Bearer" value, if any.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, v, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(v), true
}

// tokenAuth lets a request with an API token in, or says why not.
func (s *Server) tokenAuth(r *http.Request, rt Route, bearer string) error {
	st := state(r)
	scope, ok := routeScopes[st.route]
	if !ok {
		return portal.Errorf(portal.EFORBIDDEN, "API tokens work on the admin API only (/api/v1/admin/…), and cannot manage API tokens.")
	}
	if !strings.HasPrefix(bearer, portal.APITokenPrefix) || len(bearer) > 100 {
		return errBadToken
	}
	// The token is checked before the body is read (one unknown, revoked,
	// expired, of a maker no longer staff or without the scope gets nothing
	// read, nor buffered) and again once it is in: a request whose body
	// arrives slowly must not act for a token revoked meanwhile.
	ctx := r.Context()
	t, actor, err := s.tokenFor(ctx, bearer, scope)
	if err != nil {
		return err
	}
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return portal.Errorf(portal.ETOOLARGE, "The request is too large.")
			}
			return portal.Errorf(portal.EINVALID, "The request body could not be read.")
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if t, actor, err = s.tokenFor(ctx, bearer, scope); err != nil {
			return err
		}
	}
	now := s.now().Unix()
	st.session, st.user, st.token = nil, actor, t
	if err := s.Store.TouchAPIToken(context.WithoutCancel(ctx), t.ID, now); err != nil {
		s.Logger.Error("record API token use", "request_id", st.id, "err", err)
	}
	if portal.WriteScope(scope) {
		s.event(r, t.CreatedBy, portal.EventAPITokenUsed, fmt.Sprintf("API token “%s” (%s): %s %s", t.Name, scope, r.Method, r.URL.Path))
	}
	return nil
}

// tokenFor finds the API token with value bearer and the staff member it
// acts as, refusing one unknown, revoked, expired, whose maker is no longer
// staff, or without scope.
func (s *Server) tokenFor(ctx context.Context, bearer, scope string) (*portal.APIToken, *portal.User, error) {
	t, err := s.Store.APITokenByHash(ctx, portal.HashToken(bearer))
	if errors.Is(err, portal.ErrNotFound) {
		return nil, nil, errBadToken
	} else if err != nil {
		return nil, nil, err
	}
	if !t.Active(s.now().Unix()) {
		return nil, nil, errBadToken
	}
	actor := &portal.User{Name: "API token “" + t.Name + "”", Role: portal.RoleAdmin}
	if t.CreatedBy != "" {
		u, err := s.Store.UserByID(ctx, t.CreatedBy)
		if err != nil || u.Disabled || !u.IsStaff() {
			return nil, nil, errBadToken // its maker is no longer staff
		}
		actor = u
	}
	if !t.Has(scope) {
		return nil, nil, portal.Msg(portal.EFORBIDDEN, "This API token lacks the {{.Scope}} scope this request needs.", "Scope", scope)
	}
	return t, actor, nil
}

// TokenSpec is what a new API token is made from.
type TokenSpec struct {
	Name    string
	Scopes  []string
	Expires time.Duration // 0: never
}

// CreateAPIToken makes a token (for the console, the API and the command
// line) and returns its value, shown once.
func (s *Server) CreateAPIToken(ctx context.Context, creator string, spec TokenSpec) (string, *portal.APIToken, error) {
	name := strings.TrimSpace(spec.Name)
	if err := portal.CheckText("name", name, portal.SingleLine); err != nil {
		return "", nil, err
	}
	if name == "" || utf8.RuneCountInString(name) > 60 {
		return "", nil, &portal.Error{Code: portal.EINVALID, Message: "Give the token a name of 1 to 60 characters, such as the system that will use it.", Field: "name"}
	}
	if len(spec.Scopes) == 0 {
		return "", nil, &portal.Error{Code: portal.EINVALID, Message: "Choose at least one scope.", Field: "scopes"}
	}
	var scopes []string
	for _, sc := range spec.Scopes {
		if !validScope(sc) {
			e := portal.Msg(portal.EINVALID, "Unknown scope \"{{.Scope}}\". Scopes: {{.Scopes}}.", "Scope", portal.CleanText(sc, 40), "Scopes", strings.Join(portal.Scopes, ", "))
			e.Field = "scopes"
			return "", nil, e
		}
		if !contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	if spec.Expires < 0 || spec.Expires > 5*365*24*time.Hour {
		return "", nil, &portal.Error{Code: portal.EINVALID, Message: "A token expires within 5 years, or never.", Field: "expires"}
	}
	value, hash := portal.NewAPIToken()
	now := s.now()
	t := &portal.APIToken{ID: portal.NewID(), Name: name, Hash: hash, Scopes: scopes, CreatedBy: creator, CreatedAt: now.Unix()}
	if spec.Expires > 0 {
		t.ExpiresAt = now.Add(spec.Expires).Unix()
	}
	if err := s.Store.CreateAPIToken(ctx, t); err != nil {
		return "", nil, err
	}
	return value, t, nil
}

func validScope(sc string) bool { return contains(portal.Scopes, sc) }

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// tokenJSON shows a token without its value or hash.
func tokenJSON(t *portal.APIToken) map[string]any {
	return map[string]any{"id": t.ID, "name": t.Name, "scopes": t.Scopes, "created_by": t.CreatedBy, "created_at": unixTime(t.CreatedAt),
		"expires_at": optTime(t.ExpiresAt), "last_used_at": optTime(t.LastUsedAt), "revoked_at": optTime(t.RevokedAt)}
}

func optTime(t int64) any {
	if t == 0 {
		return nil
	}
	return unixTime(t)
}

func (s *Server) apiAdminTokens(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Store.APITokens(r.Context())
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, t := range list {
		out = append(out, tokenJSON(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

func (s *Server) apiAdminTokenCreate(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name         string   `json:"name"`
		Scopes       []string `json:"scopes"`
		ExpiresHours int      `json:"expires_in_hours"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := s.requireRecent(r); err != nil {
		return err
	}
	if in.ExpiresHours < 0 || in.ExpiresHours > 5*365*24 {
		return &portal.Error{Code: portal.EINVALID, Message: "A token expires within 5 years, or never.", Field: "expires_in_hours"}
	}
	value, t, err := s.CreateAPIToken(r.Context(), state(r).user.ID, TokenSpec{Name: in.Name, Scopes: in.Scopes, Expires: time.Duration(in.ExpiresHours) * time.Hour})
	if err != nil {
		return err
	}
	s.event(r, state(r).user.ID, portal.EventAPITokenCreated, fmt.Sprintf("API token “%s” (%s)", t.Name, strings.Join(t.Scopes, ", ")))
	out := tokenJSON(t)
	out["token"] = value
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) revokeToken(r *http.Request, id string) error {
	if err := s.requireRecent(r); err != nil {
		return err
	}
	if err := s.Store.RevokeAPIToken(r.Context(), id, s.now().Unix()); err != nil {
		if err == portal.ErrNotFound {
			return portal.Errorf(portal.ENOTFOUND, "There is no such API token, or it was revoked already.")
		}
		return err
	}
	s.event(r, state(r).user.ID, portal.EventAPITokenRevoked, "API token "+id)
	return nil
}

func (s *Server) apiAdminTokenRevoke(w http.ResponseWriter, r *http.Request) error {
	if err := s.revokeToken(r, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// tokensPage is the console's API tokens page.
func (s *Server) tokensPage(r *http.Request) (*page, error) {
	list, err := s.Store.APITokens(r.Context())
	if err != nil {
		return nil, err
	}
	var confirm *confirmation
	if q := r.URL.Query(); q.Get("confirm") == "revoke-token" {
		l := s.lang(r)
		for _, t := range list {
			if t.ID == q.Get("id") && t.RevokedAt == 0 {
				confirm = &confirmation{Question: l.T("Revoke the token “{{.Name}}”?", "Name", t.Name), Detail: l.T("Systems using it are refused at once. This cannot be undone."),
					Action: "/admin/tokens/" + t.ID + "/revoke", Button: l.T("Revoke"), Cancel: "/admin/tokens", Danger: true}
			}
		}
	}
	return &page{Title: "API tokens", Form: map[string]string{}, Data: map[string]any{"Tokens": list, "Scopes": portal.Scopes, "Now": s.now().Unix(), "Confirm": confirm}}, nil
}

func (s *Server) handleAdminTokens(w http.ResponseWriter, r *http.Request) error {
	p, err := s.tokensPage(r)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "admin_tokens", p)
	return nil
}

// handleAdminTokensForm creates a token and shows its value on this answer
// only.
func (s *Server) handleAdminTokensForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	if err := s.requireRecent(r); err != nil {
		reauthFirst(w, r, "/admin/tokens")
		return nil
	}
	days, err := strconv.Atoi(r.PostForm.Get("expires_days"))
	if err != nil || days < 0 || days > 5*365 {
		days = 90
	}
	value, t, err := s.CreateAPIToken(r.Context(), state(r).user.ID, TokenSpec{Name: r.PostForm.Get("name"), Scopes: r.PostForm["scopes"], Expires: time.Duration(days) * 24 * time.Hour})
	p, perr := s.tokensPage(r)
	if perr != nil {
		return perr
	}
	if err != nil {
		p.Form["name"] = r.PostForm.Get("name")
		return s.formError(w, r, "admin_tokens", p, err)
	}
	s.event(r, state(r).user.ID, portal.EventAPITokenCreated, fmt.Sprintf("API token “%s” (%s)", t.Name, strings.Join(t.Scopes, ", ")))
	if p, err = s.tokensPage(r); err != nil {
		return err
	}
	p.Data["Created"], p.Data["Value"] = t, value
	w.Header().Set("Cache-Control", "no-store")
	s.render(w, r, http.StatusOK, "admin_tokens", p)
	return nil
}

func (s *Server) handleAdminTokenRevoke(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	if err := s.requireRecent(r); err != nil {
		reauthFirst(w, r, "/admin/tokens")
		return nil
	}
	if err := s.revokeToken(r, r.PathValue("id")); err != nil {
		return err
	}
	s.setFlash(w, "token_revoked")
	redirect(w, r, "/admin/tokens")
	return nil
}
