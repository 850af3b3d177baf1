package powerfs_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/clientportal/portal/portaltest/powerfs"
	"github.com/clientportal/portal/sqlstore/storetest"
)

// mount mounts a power-cut file system over backing, cut at cleanup; it
// skips where FUSE cannot be mounted.
func mount(t *testing.T, backing string) *powerfs.FS {
	t.Helper()
	const how = "run the tests as root with /dev/fuse (in a container: --device /dev/fuse --cap-add SYS_ADMIN)"
	if err := powerfs.Available(); err != nil {
		storetest.Skip(t, "power-cut file system unavailable ("+err.Error()+"): "+how)
	}
	p, err := powerfs.Mount(t.TempDir(), backing)
	if errors.Is(err, syscall.EPERM) {
		storetest.Skip(t, "power-cut file system: mount refused ("+err.Error()+"): "+how)
	} else if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.PowerCut() })
	return p
}

// cut cuts the power of p and mounts the backing directory again.
func cut(t *testing.T, p *powerfs.FS, backing string) *powerfs.FS {
	t.Helper()
	if err := p.PowerCut(); err != nil {
		t.Fatal(err)
	}
	return mount(t, backing)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func size(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// TestUnflushedWriteLost: a file written and closed without fsync reads
// back until the power cut; after it the file is there (creation is
// durable) but empty.
func TestUnflushedWriteLost(t *testing.T) {
	backing := t.TempDir()
	p := mount(t, backing)
	path := filepath.Join(p.Dir, "a")
	if err := os.WriteFile(path, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "hello" || size(t, path) != 5 {
		t.Fatalf("before the cut: %q, size %d", got, size(t, path))
	}
	if got := readFile(t, filepath.Join(backing, "a")); got != "" {
		t.Fatalf("unflushed data reached the backing file: %q", got)
	}
	p = cut(t, p, backing)
	if got := readFile(t, filepath.Join(p.Dir, "a")); got != "" {
		t.Fatalf("after the cut: %q, want empty", got)
	}
}

// TestFlushedWriteKept: what an fsync flushed survives the cut, what was
// written after it does not.
func TestFlushedWriteKept(t *testing.T) {
	backing := t.TempDir()
	p := mount(t, backing)
	f, err := os.Create(filepath.Join(p.Dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("flushed")
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.WriteString(" and not")
	f.Close()
	if got := readFile(t, filepath.Join(p.Dir, "a")); got != "flushed and not" {
		t.Fatalf("before the cut: %q", got)
	}
	if n := p.Fsyncs()["a"]; n != 1 {
		t.Fatalf("%d fsyncs counted, want 1", n)
	}
	p = cut(t, p, backing)
	if got := readFile(t, filepath.Join(p.Dir, "a")); got != "flushed" {
		t.Fatalf("after the cut: %q, want %q", got, "flushed")
	}
}

// TestHandlesShareData: two opens of one file (as SQLite's connections
// are) see each other's writes, and an fsync on either flushes both.
func TestHandlesShareData(t *testing.T) {
	backing := t.TempDir()
	p := mount(t, backing)
	path := filepath.Join(p.Dir, "db")
	f1, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	f2, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	f1.WriteAt([]byte("one"), 0)
	buf := make([]byte, 3)
	if _, err := f2.ReadAt(buf, 0); err != nil || string(buf) != "one" {
		t.Fatalf("second handle reads %q, %v", buf, err)
	}
	if err := f2.Sync(); err != nil {
		t.Fatal(err)
	}
	f2.WriteAt([]byte("two"), 3)
	if n := size(t, path); n != 6 {
		t.Fatalf("size %d, want 6", n)
	}
	f1.Close()
	f2.Close()
	p = cut(t, p, backing)
	if got := readFile(t, filepath.Join(p.Dir, "db")); got != "one" {
		t.Fatalf("after the cut: %q, want %q", got, "one")
	}
}

// TestTruncate: truncation (by path, by handle, by O_TRUNC) changes the
// copy; it reaches the disk only with an fsync, and a file grown again
// reads zeros where it was cut.
func TestTruncate(t *testing.T) {
	backing := t.TempDir()
	p := mount(t, backing)
	path := filepath.Join(p.Dir, "a")
	full := bytes.Repeat([]byte("x"), 100)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(full)
	f.Sync()
	if err := os.Truncate(path, 10); err != nil {
		t.Fatal(err)
	}
	if n := size(t, path); n != 10 {
		t.Fatalf("size after truncate %d, want 10", n)
	}
	if err := f.Truncate(20); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != string(full[:10])+string(make([]byte, 10)) {
		t.Fatalf("grown again: %q", got)
	}
	f.Close()
	p = cut(t, p, backing)
	path = filepath.Join(p.Dir, "a")
	if got := readFile(t, path); got != string(full) {
		t.Fatalf("unflushed truncation survived: %q", got)
	}

	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil { // O_TRUNC
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "short" {
		t.Fatalf("after O_TRUNC: %q", got)
	}
	f, err = os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Truncate(2)
	f.Sync()
	f.Close()
	p = cut(t, p, backing)
	if got := readFile(t, filepath.Join(p.Dir, "a")); got != "sh" {
		t.Fatalf("flushed truncation: %q, want %q", got, "sh")
	}
}

// TestSharedMmap: writes through a shared mapping (SQLite's -shm file)
// reach the copy, and only an fsync puts them on disk. The mapping is made
// by another process, as the portal's is: a page fault on a FUSE file is
// served by the file system's goroutines, which a fault in their own
// process can stop (a collection stops every goroutine and waits for the
// faulting one, which waits for the server): the test once hung so.
func TestSharedMmap(t *testing.T) {
	backing := t.TempDir()
	p := mount(t, backing)
	path := filepath.Join(p.Dir, "shm")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mmapChild+"="+path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the mapping process: %v\n%s", err, out)
	}
	p = cut(t, p, backing)
	got := readFile(t, filepath.Join(p.Dir, "shm"))
	if len(got) != 4096 || got[:4] != "kept" || got[100:104] != "\x00\x00\x00\x00" {
		t.Fatalf("after the cut: size %d, %q at 0, %q at 100", len(got), got[:4], got[100:104])
	}
}

// mmapChild names the variable that makes the test binary the mapping
// process of TestSharedMmap, on the file it holds.
const mmapChild = "POWERFS_TEST_MMAP_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(mmapChild); path != "" {
		if err := sharedMmap(path); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// sharedMmap maps path shared and writable, writes "kept" at 0 and
// flushes, then writes "lost" at 100 and does not, and checks that another
// handle reads it.
func sharedMmap(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(4096); err != nil {
		return err
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("shared writable mmap: %w", err)
	}
	defer syscall.Munmap(m)
	copy(m, "kept")
	if err := f.Sync(); err != nil { // writes the dirty page back, then flushes
		return err
	}
	copy(m[100:], "lost")
	buf := make([]byte, 4)
	g, err := os.Open(path)
	if err != nil {
		return err
	}
	defer g.Close()
	if _, err := g.ReadAt(buf, 100); err != nil || string(buf) != "lost" {
		return fmt.Errorf("read through another handle: %q, %v", buf, err)
	}
	return nil
}
