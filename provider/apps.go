package provider

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strings"

	"github.com/clientportal/portal"
)

// AppSpec is what staff give to register or change an app.
type AppSpec struct {
	Name              string   `json:"name"`
	LogoURL           string   `json:"logo_url"`
	RedirectURIs      []string `json:"redirect_uris"`
	PostLogoutURIs    []string `json:"post_logout_redirect_uris"`
	Public            bool     `json:"public"`
	SkipConsent       bool     `json:"skip_consent"`
	Requires2FA       bool     `json:"requires_2fa"`
	ClientCredentials bool     `json:"client_credentials"`
	Scopes            []string `json:"scopes"`
	// SigningAlg signs the app's ID tokens: "ES256" (the default) or
	// "RS256" for old apps that verify only RSA; "" keeps an app's own.
	SigningAlg string `json:"signing_alg"`
}

// CheckRedirectURI accepts an app's redirect or post-logout URI: absolute,
// without a fragment or credentials, and https unless it is http on this
// machine (localhost or a loopback address) for development.
func CheckRedirectURI(s string) error {
	bad := func() error {
		e := portal.Msg(portal.EINVALID, "“{{.URI}}” is not an absolute https:// address without a fragment (http:// only for localhost or 127.0.0.1).", "URI", s)
		e.Field = "redirect_uris"
		return e
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Fragment != "" || u.User != nil || len(s) > 2000 ||
		strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '\\' }) {
		return bad()
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && (u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1" || u.Hostname() == "::1"):
		return nil
	}
	return bad()
}

// Apply checks spec and writes it into a (a new app when a.ID is empty,
// which then gets an id and, when confidential, a secret: returned once,
// stored as a hash).
func (spec *AppSpec) Apply(a *portal.App, now int64) (secret string, err error) {
	spec.Name = strings.TrimSpace(spec.Name)
	if err := portal.CheckText("name", spec.Name, portal.SingleLine); err != nil || spec.Name == "" || len(spec.Name) > 100 {
		return "", &portal.Error{Code: portal.EINVALID, Field: "name", Message: "Give the app a name of at most 100 characters."}
	}
	if len(spec.RedirectURIs) == 0 {
		return "", &portal.Error{Code: portal.EINVALID, Field: "redirect_uris", Message: "Give at least one redirect URI."}
	}
	if len(spec.RedirectURIs)+len(spec.PostLogoutURIs) > 20 {
		return "", &portal.Error{Code: portal.EINVALID, Field: "redirect_uris", Message: "An app has at most 20 addresses."}
	}
	for _, u := range spec.RedirectURIs {
		if err := CheckRedirectURI(u); err != nil {
			return "", err
		}
	}
	for _, u := range spec.PostLogoutURIs {
		if err := CheckRedirectURI(u); err != nil {
			err.(*portal.Error).Field = "post_logout_redirect_uris"
			return "", err
		}
	}
	if spec.LogoURL != "" {
		if u, err := url.Parse(spec.LogoURL); err != nil || u.Scheme != "https" || u.Host == "" || len(spec.LogoURL) > 2000 {
			return "", &portal.Error{Code: portal.EINVALID, Field: "logo_url", Message: "The logo must be an https:// address."}
		}
	}
	if len(spec.Scopes) == 0 {
		spec.Scopes = AllScopes
	}
	for _, sc := range spec.Scopes {
		if !slices.Contains(AllScopes, sc) {
			e := portal.Msg(portal.EINVALID, "Unknown scope “{{.Scope}}”: the portal knows {{.Scopes}}.", "Scope", sc, "Scopes", strings.Join(AllScopes, ", "))
			e.Field = "scopes"
			return "", e
		}
	}
	switch spec.SigningAlg {
	case "", "ES256", "RS256":
	default:
		return "", &portal.Error{Code: portal.EINVALID, Field: "signing_alg", Message: "The ID token algorithm is ES256 or RS256."}
	}
	if spec.Public && spec.ClientCredentials {
		return "", &portal.Error{Code: portal.EINVALID, Field: "client_credentials", Message: "A public app has no secret, so it cannot use client credentials."}
	}
	grants := []string{"authorization_code", "refresh_token"}
	if spec.ClientCredentials {
		grants = append(grants, "client_credentials")
	}
	if a.ID == "" {
		a.ID, a.CreatedAt, a.SigningAlg = portal.NewID(), now, "ES256"
	}
	if spec.SigningAlg != "" {
		a.SigningAlg = spec.SigningAlg
	}
	switch {
	case spec.Public:
		a.SecretHash = ""
	case a.SecretHash == "":
		secret = base64.RawURLEncoding.EncodeToString(portal.RandomToken(32))
		a.SecretHash = HashSecret(secret)
	}
	a.Name, a.LogoURL, a.RedirectURIs, a.PostLogoutURIs = spec.Name, spec.LogoURL, spec.RedirectURIs, spec.PostLogoutURIs
	a.Public, a.SkipConsent, a.Requires2FA, a.Scopes, a.GrantTypes = spec.Public, spec.SkipConsent, spec.Requires2FA, spec.Scopes, grants
	return secret, nil
}

// SpecOf is an app's settings as a spec (for the edit form and the API).
func SpecOf(a *portal.App) AppSpec {
	return AppSpec{Name: a.Name, LogoURL: a.LogoURL, RedirectURIs: a.RedirectURIs, PostLogoutURIs: a.PostLogoutURIs, Public: a.Public,
		SkipConsent: a.SkipConsent, Requires2FA: a.Requires2FA, ClientCredentials: slices.Contains(a.GrantTypes, "client_credentials"), Scopes: a.Scopes, SigningAlg: a.SigningAlg}
}
