package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/web"
)

// tokensCreate makes an API token for a machine and prints it alone.
func (m *Main) tokensCreate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("tokens create", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	name := fs.String("name", "", "what the token is for, e.g. the billing system")
	scopes := fs.String("scopes", "", "comma-separated: "+strings.Join(portal.Scopes, ", "))
	expires := fs.Duration("expires", 0, "lifetime, e.g. 720h (default: never)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := m.open(ctx); err != nil {
		return err
	}
	var list []string
	for _, s := range strings.Split(*scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			list = append(list, s)
		}
	}
	value, _, err := m.Server.CreateAPIToken(ctx, "", web.TokenSpec{Name: *name, Scopes: list, Expires: *expires})
	if err != nil {
		return fmt.Errorf("tokens create: %s", portal.ErrorMessage(err))
	}
	fmt.Fprintln(m.Stdout, value)
	return nil
}

// tokensList prints every token (never its value).
func (m *Main) tokensList(ctx context.Context) error {
	if err := m.open(ctx); err != nil {
		return err
	}
	list, err := m.DB.APITokens(ctx)
	if err != nil {
		return err
	}
	now := m.Clock.Now().Unix()
	for _, t := range list {
		state := "active"
		switch {
		case t.RevokedAt > 0:
			state = "revoked"
		case !t.Active(now):
			state = "expired"
		}
		expires := "never"
		if t.ExpiresAt > 0 {
			expires = time.Unix(t.ExpiresAt, 0).UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(m.Stdout, "%s\t%s\t%s\t%s\texpires %s\n", t.ID, t.Name, strings.Join(t.Scopes, ","), state, expires)
	}
	return nil
}

// tokensRevoke ends a token.
func (m *Main) tokensRevoke(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: portal tokens revoke TOKEN_ID")
	}
	if err := m.open(ctx); err != nil {
		return err
	}
	if err := m.DB.RevokeAPIToken(ctx, args[0], m.Clock.Now().Unix()); err != nil {
		return fmt.Errorf("tokens revoke: no active token %q", args[0])
	}
	fmt.Fprintln(m.Stdout, "revoked")
	return nil
}
