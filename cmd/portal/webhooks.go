package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/clientportal/portal"
)

// webhooksCreate registers an endpoint and prints its id and secret.
func (m *Main) webhooksCreate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("webhooks create", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	u := fs.String("url", "", "the receiver's address (https://…)")
	events := fs.String("events", "", "comma-separated: "+strings.Join(portal.WebhookTypeList, ", "))
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := m.open(ctx); err != nil {
		return err
	}
	e, secret, err := m.Server.CreateWebhook(ctx, *u, strings.Split(*events, ","))
	if err != nil {
		return fmt.Errorf("webhooks create: %s", portal.ErrorMessage(err))
	}
	fmt.Fprintf(m.Stdout, "id: %s\nsecret: %s\n(the secret is shown only now: the receiver verifies signatures with it)\n", e.ID, secret)
	return nil
}

// webhooksList prints the endpoints (never their secrets).
func (m *Main) webhooksList(ctx context.Context) error {
	if err := m.open(ctx); err != nil {
		return err
	}
	list, err := m.DB.Webhooks(ctx)
	if err != nil {
		return err
	}
	for _, e := range list {
		fmt.Fprintf(m.Stdout, "%s\t%s\t%s\n", e.ID, e.URL, strings.Join(e.Types, ","))
	}
	return nil
}

func (m *Main) webhooksDelete(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: portal webhooks delete ID")
	}
	if err := m.open(ctx); err != nil {
		return err
	}
	if err := m.DB.DeleteWebhook(ctx, args[0]); err != nil {
		return fmt.Errorf("webhooks delete: no endpoint %q", args[0])
	}
	fmt.Fprintln(m.Stdout, "deleted")
	return nil
}
