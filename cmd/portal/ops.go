package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/clientportal/portal/sqlstore"
)

// healthcheck asks the running portal's /healthz (at PORTAL_ADDR, or
// --url) and fails unless it answers 200: the container's HEALTHCHECK.
func (m *Main) healthcheck(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	target := fs.String("url", "", "the URL to ask (default: /healthz at PORTAL_ADDR)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *target == "" {
		host, port, err := net.SplitHostPort(m.Config.Addr)
		if err != nil {
			return fmt.Errorf("healthcheck: PORTAL_ADDR %q: %w", m.Config.Addr, err)
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		*target = "http://" + net.JoinHostPort(host, port) + "/healthz"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *target, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", *target, resp.StatusCode)
	}
	fmt.Fprintln(m.Stdout, "ok")
	return nil
}

// backup writes a consistent copy of the SQLite database to FILE while the
// portal runs (VACUUM INTO). PostgreSQL is backed up with pg_dump.
func (m *Main) backup(ctx context.Context, args []string) error {
	if len(args) != 1 || args[0] == "" || args[0][0] == '-' {
		return errors.New("usage: portal backup FILE   (SQLite; for PostgreSQL use pg_dump)")
	}
	file := args[0]
	if _, err := os.Stat(file); err == nil {
		return fmt.Errorf("backup: %s exists already; name a new file", file)
	}
	if err := m.open(ctx); err != nil {
		return err
	}
	if m.DB.Dialect != sqlstore.SQLite {
		return errors.New("backup: the database is PostgreSQL: back it up with pg_dump (see README, Running in production)")
	}
	if err := m.DB.BackupTo(ctx, file); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(m.Stdout, "backed up to %s (secrets in it are sealed: keep the keys, PORTAL_SECRET_KEYS or the data directory's key file, apart from it)\n", file)
	return nil
}
