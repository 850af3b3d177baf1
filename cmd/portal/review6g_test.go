package main_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	main "github.com/clientportal/portal/cmd/portal"
	"github.com/clientportal/portal/portaltest"
)

// TestReview6GBackupReadableByAll: `portal backup FILE` writes a full copy
// of the database (every user's address, name, phone numbers, argon2id
// password hashes, sealed secrets, events with addresses) with SQLite's
// default mode, 0644 under the usual umask: any local account on the host
// (or a process of another service sharing the backup volume) reads the
// copy that the live database keeps 0600 in a 0700 directory. "Files: the
// data directory is created 0700 and the SQLite database with its -wal
// and -shm files 0600" (README, Security behaviour) — the backup is that
// database.
func TestReview6GBackupReadableByAll(t *testing.T) {
	old := syscall.Umask(0o022) // the usual default
	defer syscall.Umask(old)
	dir := t.TempDir()
	env := map[string]string{"PORTAL_DATA_DIR": dir}
	m := main.NewMain()
	m.Getenv = func(k string) string { return env[k] }
	var out portaltest.SyncBuffer
	m.Stdout, m.Stderr = &out, io.Discard
	file := filepath.Join(t.TempDir(), "portal-backup.db")
	if err := m.ParseFlags(context.Background(), []string{"backup", file}); err != nil {
		t.Fatal(err)
	}
	err := m.Run(context.Background())
	m.Close()
	if err != nil {
		t.Fatalf("backup: %v (%s)", err, out.String())
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("the backup is mode %#o: other local users can read the whole database; want 0600 like the database itself", perm)
	}
}
