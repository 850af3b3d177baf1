package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/provider"
)

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func (m *Main) appsCreate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("apps create", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	name := fs.String("name", "", "the app's name, shown to users")
	logo := fs.String("logo-url", "", "https URL of the app's logo (consent page)")
	var redirects, logouts, scopes stringList
	fs.Var(&redirects, "redirect-uri", "a redirect URI (repeatable; exact match)")
	fs.Var(&logouts, "post-logout-uri", "a post-logout redirect URI (repeatable)")
	fs.Var(&scopes, "scope", "an allowed scope (repeatable; default openid, profile, email, offline_access, account)")
	public := fs.Bool("public", false, "a public client (browser or mobile app): no secret, PKCE required")
	skip := fs.Bool("skip-consent", false, "a first-party app: users are not asked to allow it")
	req2fa := fs.Bool("requires-2fa", false, "users without two-factor authentication set it up first")
	machine := fs.Bool("client-credentials", false, "also allow the client credentials grant (machine to machine)")
	alg := fs.String("signing-alg", "ES256", "the ID token algorithm: ES256, or RS256 for old apps")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	spec := provider.AppSpec{Name: *name, LogoURL: *logo, RedirectURIs: redirects, PostLogoutURIs: logouts, Public: *public,
		SkipConsent: *skip, Requires2FA: *req2fa, ClientCredentials: *machine, Scopes: scopes, SigningAlg: *alg}
	app := &portal.App{}
	secret, err := spec.Apply(app, m.Clock.Now().Unix())
	if err != nil {
		return fmt.Errorf("apps create: %s", portal.ErrorMessage(err))
	}
	if err := m.open(ctx); err != nil {
		return err
	}
	if err := m.DB.CreateApp(ctx, app); err != nil {
		return fmt.Errorf("apps create: %w", err)
	}
	if *asJSON {
		return json.NewEncoder(m.Stdout).Encode(map[string]any{"client_id": app.ID, "client_secret": secret, "name": app.Name})
	}
	fmt.Fprintf(m.Stdout, "client_id: %s\n", app.ID)
	if secret != "" {
		fmt.Fprintf(m.Stdout, "client_secret: %s\n(shown only now; it is stored as a hash)\n", secret)
	}
	return nil
}

func (m *Main) appsList(ctx context.Context) error {
	if err := m.open(ctx); err != nil {
		return err
	}
	apps, err := m.DB.Apps(ctx)
	if err != nil {
		return err
	}
	for _, a := range apps {
		kind := "confidential"
		if a.Public {
			kind = "public"
		}
		fmt.Fprintf(m.Stdout, "%s\t%s\t%s\t%s\n", a.ID, a.Name, kind, strings.Join(a.RedirectURIs, " "))
	}
	return nil
}

func (m *Main) appsDelete(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return errors.New("apps delete: give the app's client ID")
	}
	if err := m.open(ctx); err != nil {
		return err
	}
	if err := m.DB.DeleteApp(ctx, args[0]); err != nil {
		if errors.Is(err, portal.ErrNotFound) {
			return fmt.Errorf("apps delete: no app with client ID %s", args[0])
		}
		return err
	}
	fmt.Fprintf(m.Stdout, "deleted %s; its tokens no longer work\n", args[0])
	return nil
}

// keysRotateSigning makes a new ID token signing key; the old one stays
// published until the tokens it signed have expired.
func (m *Main) keysRotateSigning(ctx context.Context) error {
	if err := m.open(ctx); err != nil {
		return err
	}
	id, err := provider.Rotate(ctx, m.DB, m.keys, m.Clock.Now())
	if err != nil {
		return fmt.Errorf("keys rotate-signing: %w", err)
	}
	fmt.Fprintf(m.Stdout, "new signing key %s; the previous one stays published until its tokens expire\n", id)
	return nil
}
