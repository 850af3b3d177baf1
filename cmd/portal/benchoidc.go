package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/provider"
)

// benchAppSecret is the client secret of the benchmark's app.
const benchAppSecret = "bench-app-secret-0123456789abcdefghijklmnopqrstuvwxyz"

// benchApp registers the benchmark's app: confidential, first-party.
func (b *bench) benchApp(ctx context.Context) (*portal.App, error) {
	spec := provider.AppSpec{Name: "Bench", RedirectURIs: []string{"https://bench.example/callback"}, SkipConsent: true}
	app := &portal.App{}
	if _, err := spec.Apply(app, time.Now().Unix()); err != nil {
		return nil, err
	}
	app.SecretHash = provider.HashSecret(benchAppSecret)
	return app, b.m.DB.CreateApp(ctx, app)
}

// oidcScenario prepares the OpenID Connect scenarios: codes to redeem
// (each op redeems one, with PKCE, and gets signed ID, access and refresh
// tokens), or one refresh token chain per client (each op exchanges the
// chain's current token and keeps the new one).
func (b *bench) oidcScenario(ctx context.Context, name string) (func(ctx context.Context, i int) (int, error), error) {
	app, err := b.benchApp(ctx)
	if err != nil {
		return nil, err
	}
	users, err := b.m.DB.SeededUsers(ctx, 1000, false)
	if err != nil || len(users) == 0 {
		return nil, fmt.Errorf("no seeded users: %v", err)
	}
	verifier := oauth2.GenerateVerifier()
	now := time.Now()
	// Enough codes for 5,000 redemptions a second.
	n := 1
	if name == scenarioOIDCToken {
		n = int(5000 * b.duration.Seconds())
	} else {
		n = b.clients
	}
	data, _ := json.Marshal(&oidc.AuthRequest{ClientID: app.ID, RedirectURI: app.RedirectURIs[0], ResponseType: oidc.ResponseTypeCode,
		Scopes: oidc.SpaceDelimitedArray{"openid", "email", "offline_access"}, Nonce: "bench", State: "bench",
		CodeChallenge: oauth2.S256ChallengeFromVerifier(verifier), CodeChallengeMethod: oidc.CodeChallengeMethodS256})
	codes := make([]string, n)
	reqs := make([]*portal.AuthRequest, n)
	hashes := make([]string, n)
	for i := range n {
		codes[i], hashes[i] = portal.NewSecretToken()
		reqs[i] = &portal.AuthRequest{ID: portal.NewID(), AppID: app.ID, Data: data, UserID: users[i%len(users)].ID, AuthTime: now.Unix(),
			AMR: "pwd otp mfa", CreatedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix()}
	}
	if err := b.m.DB.SeedAuthCodes(ctx, reqs, hashes); err != nil {
		return nil, err
	}
	redeem := func(ctx context.Context, code string) (int, *tokenAnswer, error) {
		return b.tokenRequest(ctx, app.ID, url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {app.RedirectURIs[0]}, "code_verifier": {verifier}})
	}
	if name == scenarioOIDCToken {
		return func(ctx context.Context, i int) (int, error) {
			if i >= len(codes) {
				return 0, errPoolEmpty
			}
			st, _, err := redeem(ctx, codes[i])
			return st, err
		}, nil
	}
	// One refresh token chain per client, started by redeeming a code.
	chains := make(chan string, n)
	for _, c := range codes {
		st, tok, err := redeem(ctx, c)
		if err != nil || st != http.StatusOK || tok.RefreshToken == "" {
			return nil, fmt.Errorf("start a refresh token chain: %d %v", st, err)
		}
		chains <- tok.RefreshToken
	}
	return func(ctx context.Context, i int) (int, error) {
		var current string
		select {
		case current = <-chains:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		st, tok, err := b.tokenRequest(ctx, app.ID, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {current}})
		if err == nil && st == http.StatusOK && tok.RefreshToken != "" {
			current = tok.RefreshToken
		} else if err == nil {
			err = errors.New("refresh refused: the chain ends")
		}
		chains <- current
		return st, err
	}, nil
}

// tokenAnswer is what the token endpoint answers.
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

func (b *bench) tokenRequest(ctx context.Context, clientID string, form url.Values) (int, *tokenAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.url+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(benchAppSecret))
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out tokenAnswer
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode == http.StatusOK && (out.AccessToken == "" || out.IDToken == "") {
		return resp.StatusCode, &out, errors.New("the token answer lacks a token")
	}
	return resp.StatusCode, &out, nil
}
