package web

import (
	"net/http"
	"strings"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/provider"
)

// The staff console's apps: the operator's applications that sign in
// through the portal (OpenID Connect clients).

// appSpecForm reads the register/edit form.
func appSpecForm(r *http.Request) provider.AppSpec {
	f := r.PostForm
	lines := func(name string) []string {
		var out []string
		for _, l := range strings.Split(f.Get(name), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				out = append(out, l)
			}
		}
		return out
	}
	spec := provider.AppSpec{Name: f.Get("name"), LogoURL: strings.TrimSpace(f.Get("logo_url")), RedirectURIs: lines("redirect_uris"),
		PostLogoutURIs: lines("post_logout_redirect_uris"), Public: f.Get("public") != "", SkipConsent: f.Get("skip_consent") != "",
		Requires2FA: f.Get("requires_2fa") != "", ClientCredentials: f.Get("client_credentials") != "", SigningAlg: f.Get("signing_alg")}
	spec.Scopes = f["scope"]
	return spec
}

// appForm is what the form shows again after an error.
func appFormValues(spec provider.AppSpec) map[string]string {
	bool01 := func(b bool) string {
		if b {
			return "1"
		}
		return ""
	}
	return map[string]string{"name": spec.Name, "logo_url": spec.LogoURL, "redirect_uris": strings.Join(spec.RedirectURIs, "\n"),
		"post_logout_redirect_uris": strings.Join(spec.PostLogoutURIs, "\n"), "public": bool01(spec.Public), "skip_consent": bool01(spec.SkipConsent),
		"requires_2fa": bool01(spec.Requires2FA), "client_credentials": bool01(spec.ClientCredentials), "signing_alg": spec.SigningAlg}
}

func (s *Server) appsPage(r *http.Request, p *page) (*page, error) {
	apps, err := s.Store.Apps(r.Context())
	if err != nil {
		return nil, err
	}
	if p == nil {
		p = &page{Form: map[string]string{}}
	}
	p.Title = "Apps"
	if p.Data == nil {
		p.Data = map[string]any{}
	}
	p.Data["Apps"] = apps
	p.Data["Scopes"] = provider.AllScopes
	p.Data["Issuer"] = s.BaseURL.String()
	if q := r.URL.Query(); q.Get("confirm") == "delete-app" {
		l := s.lang(r)
		for _, a := range apps {
			if a.ID == q.Get("id") {
				p.Data["Confirm"] = &confirmation{Question: l.T("Delete {{.Name}}?", "Name", a.Name), Detail: l.T("Its users are signed out of it: every token it holds stops working, and it can no longer sign anyone in."),
					Action: "/admin/apps/" + a.ID + "/delete", Button: l.T("Delete the app"), Cancel: "/admin/apps", Danger: true}
			}
		}
	}
	return p, nil
}

func (s *Server) handleAdminApps(w http.ResponseWriter, r *http.Request) error {
	p, err := s.appsPage(r, nil)
	if err != nil {
		return err
	}
	s.render(w, r, http.StatusOK, "admin_apps", p)
	return nil
}

// handleAdminAppsForm registers an app (the form has no id) or changes
// one; a new confidential app's secret is shown on this answer only.
func (s *Server) handleAdminAppsForm(w http.ResponseWriter, r *http.Request) error {
	if err := formValues(r); err != nil {
		return err
	}
	if err := s.requireRecent(r); err != nil {
		reauthFirst(w, r, "/admin/apps")
		return nil
	}
	spec := appSpecForm(r)
	app := &portal.App{}
	if id := r.PostForm.Get("id"); id != "" {
		a, err := s.Store.AppByID(r.Context(), id)
		if err != nil {
			return err
		}
		app = a
	}
	secret, err := spec.Apply(app, s.now().Unix())
	if err == nil {
		if r.PostForm.Get("id") != "" {
			err = s.Store.UpdateApp(r.Context(), app)
		} else {
			err = s.Store.CreateApp(r.Context(), app)
		}
	}
	if err != nil {
		p, perr := s.appsPage(r, &page{Form: appFormValues(spec)})
		if perr != nil {
			return perr
		}
		p.Data["Editing"] = r.PostForm.Get("id")
		return s.formError(w, r, "admin_apps", p, err)
	}
	s.event(r, state(r).user.ID, portal.EventAppSaved, app.Name+" ("+app.ID+")")
	p, err := s.appsPage(r, nil)
	if err != nil {
		return err
	}
	p.Flash = s.lang(r).T("The app {{.Name}} was saved.", "Name", app.Name)
	p.Data["Created"] = map[string]string{"ID": app.ID, "Secret": secret, "Name": app.Name}
	s.render(w, r, http.StatusOK, "admin_apps", p)
	return nil
}

func (s *Server) handleAdminAppEdit(w http.ResponseWriter, r *http.Request) error {
	app, err := s.Store.AppByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	p, err := s.appsPage(r, &page{Form: appFormValues(provider.SpecOf(app))})
	if err != nil {
		return err
	}
	p.Data["Editing"] = app.ID
	p.Data["Chosen"] = app.Scopes
	s.render(w, r, http.StatusOK, "admin_apps", p)
	return nil
}

// deleteApp deletes the app of the request's path (staff in sudo mode):
// every token it holds ends with it.
func (s *Server) deleteApp(r *http.Request) error {
	if err := s.requireRecent(r); err != nil {
		return err
	}
	app, err := s.Store.AppByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.Store.DeleteApp(r.Context(), app.ID); err != nil {
		return err
	}
	s.event(r, state(r).user.ID, portal.EventAppDeleted, app.Name+" ("+app.ID+")")
	return nil
}

func (s *Server) handleAdminAppDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.deleteApp(r); portal.ErrorCode(err) == portal.EREAUTH {
		reauthFirst(w, r, "/admin/apps")
		return nil
	} else if err != nil {
		return err
	}
	s.setFlash(w, "app_deleted")
	redirect(w, r, "/admin/apps")
	return nil
}

// appJSON is an app in the JSON API (never its secret's hash).
func appJSON(a *portal.App) map[string]any {
	spec := provider.SpecOf(a)
	return map[string]any{"client_id": a.ID, "name": a.Name, "logo_url": a.LogoURL, "redirect_uris": spec.RedirectURIs,
		"post_logout_redirect_uris": spec.PostLogoutURIs, "public": a.Public, "skip_consent": a.SkipConsent, "requires_2fa": a.Requires2FA,
		"client_credentials": spec.ClientCredentials, "scopes": a.Scopes, "created_at": a.CreatedAt}
}

func (s *Server) apiAdminApps(w http.ResponseWriter, r *http.Request) error {
	apps, err := s.Store.Apps(r.Context())
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, a := range apps {
		out = append(out, appJSON(a))
	}
	writeJSON(w, http.StatusOK, map[string]any{"apps": out})
	return nil
}

func (s *Server) apiAdminAppCreate(w http.ResponseWriter, r *http.Request) error {
	if err := s.requireRecent(r); err != nil {
		return err
	}
	var spec provider.AppSpec
	if err := decodeJSON(r, &spec); err != nil {
		return err
	}
	app := &portal.App{}
	secret, err := spec.Apply(app, s.now().Unix())
	if err != nil {
		return err
	}
	if err := s.Store.CreateApp(r.Context(), app); err != nil {
		return err
	}
	s.event(r, state(r).user.ID, portal.EventAppSaved, app.Name+" ("+app.ID+")")
	out := appJSON(app)
	if secret != "" {
		out["client_secret"] = secret
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) apiAdminAppDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.deleteApp(r); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
