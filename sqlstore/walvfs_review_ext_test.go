package sqlstore_test

import (
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clientportal/portal/sqlstore"
)

// TestLogDiskFullNotCommitted is TestLogWriteFailureNotCommitted on a
// real full disk: a small tmpfs (so root only; skipped elsewhere). A big
// transaction spills frames to the log; the disk fills up; a statement
// reading the log back fails with SQLITE_FULL; the disk gets room again
// and the transaction commits. The commit must hold everything it wrote.
func TestLogDiskFullNotCommitted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	})
	path := filepath.Join(mnt, "portal.db")
	db, err := sqlstore.Open("sqlite:" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	must := func(q string) {
		t.Helper()
		if err := db.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	must(`CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT)`)
	must(`PRAGMA cache_size = 20`)
	must(`BEGIN IMMEDIATE`)
	must(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
		INSERT INTO big (id, v) SELECT i, printf('%.2000c', 's') FROM n`)
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for chunk := make([]byte, 4096); ; {
		if _, err := f.Write(chunk); err != nil {
			break // ENOSPC: the disk is full
		}
	}
	f.Close()
	err = db.Exec(`INSERT INTO big (id, v) SELECT id + 10000, v FROM big WHERE id <= 20`)
	t.Logf("a statement on the full disk: %v", err)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(`INSERT INTO big (id, v) VALUES (5000, 'after')`); err != nil {
		t.Logf("insert after: %v", err)
	}
	err = db.Exec(`COMMIT`)
	t.Logf("commit: %v", err)
	want := 0
	if err == nil {
		want = 300
	} else {
		db.Exec(`ROLLBACK`)
	}
	check := func() {
		t.Helper()
		requireIntact(t, path)
		c, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var n int
		if err := c.QueryRow(`SELECT count(*) FROM big WHERE v = $1`, strings.Repeat("s", 2000)).Scan(&n); err != nil || n != want {
			t.Fatalf("rows of the first statement: %d (%v), want %d", n, err, want)
		}
	}
	check()
	db.Close()
	check()
}
