package sqlstore

import (
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

	"modernc.org/libc"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// diskFull makes the unix VFS's xWrite of the log files given to
// failLogWrites answer as it does on a full disk (SQLITE_FULL, from
// ENOSPC) while it is set.
var (
	diskFull  atomic.Bool
	unixWrite atomic.Uintptr
)

func fullDiskWrite(tls *libc.TLS, file, data uintptr, n int32, off int64) int32 {
	if diskFull.Load() {
		return sqlite3.SQLITE_FULL
	}
	return fnOf[xIOFn](unixWrite.Load())(tls, file, data, n, off)
}

// failLogWrites puts fullDiskWrite under the portal-wal VFS for the log
// files that have writes waiting in their buffer (the writer's, inside a
// write transaction): the writes the VFS makes for them fail while
// diskFull is set. It returns how many logs it changed.
func failLogWrites(t *testing.T) int {
	t.Helper()
	walVFS.mu.Lock()
	defer walVFS.mu.Unlock()
	n := 0
	for _, st := range walVFS.files {
		if st.db == 0 || len(st.buf) == 0 {
			continue
		}
		tls := libc.NewTLS()
		p := libc.Xcalloc(tls, 1, libc.Tsize_t(unsafe.Sizeof(sqlite3.Tsqlite3_io_methods{})))
		tls.Close()
		m := (*sqlite3.Tsqlite3_io_methods)(ptr(p))
		*m = *origMethods(st)
		unixWrite.Store(m.FxWrite)
		m.FxWrite = cfunc[xIOFn](fullDiskWrite)
		st.orig = p
		n++
	}
	return n
}

func isFull(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL
}

// spillThenFailRead opens a database through the portal's configuration,
// starts a write transaction that spills frames to the log (so some of
// them wait in the VFS's buffer), and then, with the disk full, runs a
// statement that reads the log back and fails. It returns the database and
// the path of its file.
func spillThenFailRead(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "portal.db")
	db, err := Open("sqlite:" + path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	must := func(q string) {
		t.Helper()
		if _, err := db.rw.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	must(`CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT)`)
	must(`PRAGMA cache_size = 20`) // so the transaction below spills
	must(`BEGIN IMMEDIATE`)
	must(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
		INSERT INTO big (id, v) SELECT i, printf('%.2000c', 's') FROM n`)
	if n := failLogWrites(t); n != 1 {
		t.Fatalf("%d logs have writes waiting, want the writer's", n)
	}
	// The disk fills up. A statement that reads pages of the log back
	// (and uses a statement journal, so SQLITE_FULL rolls back that
	// statement alone) fails.
	diskFull.Store(true)
	t.Cleanup(func() { diskFull.Store(false) })
	_, err = db.rw.Exec(`INSERT INTO big (id, v) SELECT id + 10000, v FROM big WHERE id <= 20`)
	if !isFull(err) {
		t.Fatalf("the statement run on a full disk: %v, want SQLITE_FULL", err)
	}
	return db, path
}

// checkRows opens the file on its own and checks that it is intact and
// holds want rows of the first statement.
func checkRows(t *testing.T, path string, want int) {
	t.Helper()
	c, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var res string
	if err := c.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity check: %.300q (%v)", res, err)
	}
	var n int
	if err := c.QueryRow(`SELECT count(*) FROM big WHERE v = $1`, strings.Repeat("s", 2000)).Scan(&n); err != nil || n != want {
		t.Fatalf("rows of the first statement: %d (%v), want %d", n, err, want)
	}
}

// TestLogWriteFailureNotCommitted: a write the VFS put off (frames a big
// transaction spilled) fails when the buffer is written, on a full disk,
// from a read of the log. SQLite told only of a failed read rolls back the
// statement, not the transaction, and goes on believing those frames are
// in the log. A commit that follows must then either fail or hold every
// frame: never be acknowledged over frames that are missing.
func TestLogWriteFailureNotCommitted(t *testing.T) {
	t.Run("disk freed before the commit", func(t *testing.T) {
		db, path := spillThenFailRead(t)
		diskFull.Store(false)
		if _, err := db.rw.Exec(`INSERT INTO big (id, v) VALUES (5000, 'after')`); err != nil {
			t.Logf("insert after the failure: %v", err)
		}
		err := func() error { _, err := db.rw.Exec(`COMMIT`); return err }()
		t.Logf("commit: %v", err)
		want := 0
		if err == nil {
			want = 300 // acknowledged: every row of the first statement
		} else {
			db.rw.Exec(`ROLLBACK`)
		}
		checkRows(t, path, want)
		db.Close()
		checkRows(t, path, want)
	})
	t.Run("disk still full at the commit", func(t *testing.T) {
		db, path := spillThenFailRead(t)
		db.rw.Exec(`INSERT INTO big (id, v) VALUES (5000, 'after')`)
		_, err := db.rw.Exec(`COMMIT`)
		if err == nil {
			t.Fatal("a commit on a full disk succeeded")
		}
		db.rw.Exec(`ROLLBACK`)
		diskFull.Store(false)
		// The disk has room again: the next commit works.
		if _, err := db.rw.Exec(`INSERT INTO big (id, v) VALUES (6000, 'later')`); err != nil {
			t.Fatalf("a commit once the disk has room: %v", err)
		}
		checkRows(t, path, 0)
	})
}

// TestLogRolledBackWriteFailureForgotten: the frames of a rolled-back
// transaction that could not be written (disk full) are of no use to
// anyone; once the disk has room, the next, unrelated transaction commits.
func TestLogRolledBackWriteFailureForgotten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "portal.db")
	db, err := Open("sqlite:" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The log copied into the database and emptied first, so that the
	// rollback below reads nothing back from the log: the frames it gives
	// up are written (and fail) when the write lock is let go.
	for _, q := range []string{`CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT)`, `PRAGMA wal_checkpoint(TRUNCATE)`, `PRAGMA cache_size = 20`, `BEGIN IMMEDIATE`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
		INSERT INTO big (id, v) SELECT i, printf('%.2000c', 's') FROM n`} {
		if _, err := db.rw.Exec(q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	if n := failLogWrites(t); n != 1 {
		t.Fatalf("%d logs have writes waiting, want the writer's", n)
	}
	diskFull.Store(true)
	_, err = db.rw.Exec(`ROLLBACK`)
	diskFull.Store(false)
	t.Logf("rollback on a full disk: %v", err)
	for i := range 3 {
		if _, err := db.rw.Exec(`INSERT INTO big (id, v) VALUES ($1, 'small')`, 7000+i); err != nil {
			t.Fatalf("commit %d after the disk has room again: %v", i, err)
		}
	}
	checkRows(t, path, 0)
}
