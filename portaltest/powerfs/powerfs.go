// Package powerfs is a file system for tests that loses every write not yet
// flushed when the power goes: a FUSE loopback over a backing directory in
// which each file's writes go to a volatile, in-memory copy, and only fsync
// or fdatasync puts the copy on the backing file (and fsyncs that). PowerCut
// throws every copy away and unmounts; a new Mount over the same backing
// directory then shows exactly what was flushed.
//
// What it models: a disk with a volatile write cache that drops all of it at
// a power cut, and whose flush is the only promise, as the POSIX fsync
// contract allows. Closing a file, the kernel's FLUSH on close and writeback
// of the page cache are not flushes. Each fsync stores the whole file at
// once, so it models neither torn writes nor a cut that keeps some
// unflushed writes and drops others. File creation, renames, unlinks,
// directories and metadata (mode, times) are durable as soon as they
// happen. File locks are the kernel's, local to this machine.
//
// Mounting needs /dev/fuse and root (see Available).
package powerfs

import (
	"context"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// FS is a mounted power-cut file system.
type FS struct {
	// Dir is where the file system is mounted.
	Dir string

	backing string
	server  *fuse.Server
	cut     atomic.Bool

	mu     sync.Mutex
	files  map[uint64]*file // by backing inode number
	fsyncs map[string]int   // by path under Dir
}

// Available reports why this machine cannot mount the file system, or nil.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("mounting FUSE needs root")
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// Mount mounts a power-cut file system over backing at dir. The backing
// directory must be one file system (copies are known by inode number).
func Mount(dir, backing string) (*FS, error) {
	root, err := fs.NewLoopbackRoot(backing)
	if err != nil {
		return nil, err
	}
	p := &FS{Dir: dir, backing: backing, files: map[uint64]*file{}, fsyncs: map[string]int{}}
	// DirectMount: the mount(2) call itself, as no fusermount may be
	// installed. No EnableLocks: the kernel keeps POSIX locks locally.
	// ExplicitDataCacheControl: the page cache stays valid when an fsync
	// changes the backing file's mtime (every change goes through it).
	opts := &fs.Options{MountOptions: fuse.MountOptions{DirectMount: true, FsName: backing, Name: "powerfs", ExplicitDataCacheControl: true}}
	p.server, err = fs.Mount(dir, &node{LoopbackNode: root.(*fs.LoopbackNode), p: p}, opts)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// PowerCut drops every write not flushed and unmounts the file system. From
// the cut on, every operation on a file fails with EIO. Calling it again
// does nothing.
func (p *FS) PowerCut() error {
	if p.cut.Swap(true) {
		return nil
	}
	p.mu.Lock()
	for _, f := range p.files {
		f.mu.Lock() // waits for an operation in progress, an fsync too
		f.data = nil
		f.backing.Close()
		f.mu.Unlock()
	}
	p.files = nil
	p.mu.Unlock()
	if err := p.server.Unmount(); err != nil {
		// Something still holds a file open: detach the mount, which
		// answers EIO until the last file is closed.
		return syscall.Unmount(p.Dir, syscall.MNT_DETACH)
	}
	return nil
}

// Fsyncs reports how many times each file was flushed since the mount, by
// its path under Dir when it was flushed.
func (p *FS) Fsyncs() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.fsyncs)
}

// open returns the volatile copy of the backing file at path, reading it
// from the backing file when no handle has opened it yet.
func (p *FS) open(path string) (*file, syscall.Errno) {
	b, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fs.ToErrno(err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(b.Fd()), &st); err != nil {
		b.Close()
		return nil, fs.ToErrno(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut.Load() { // PowerCut sets it before it takes p.mu
		b.Close()
		return nil, syscall.EIO
	}
	if f := p.files[st.Ino]; f != nil {
		b.Close()
		return f, 0
	}
	data, err := io.ReadAll(b)
	if err != nil {
		b.Close()
		return nil, fs.ToErrno(err)
	}
	f := &file{backing: b, data: data, clean: len(data)}
	p.files[st.Ino] = f
	return f, 0
}

// forget drops the copy of inode ino once its last name is gone, so a new
// file given the same inode number starts from its own content. Handles
// still open keep the orphaned copy (and its backing descriptor), as an
// unlinked file lives on while open.
func (p *FS) forget(ino uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.files, ino)
}

// sizeOf puts the size of a file's volatile copy, if it has one, in attr.
func (p *FS) sizeOf(attr *fuse.Attr) {
	if attr.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return
	}
	p.mu.Lock()
	f := p.files[attr.Ino]
	p.mu.Unlock()
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	attr.Size = uint64(len(f.data))
	attr.Blocks = (attr.Size + 511) / 512
}

// file is the volatile copy of one backing file, shared by all its handles.
type file struct {
	mu      sync.Mutex
	backing *os.File // read-write, for flushing
	data    []byte
	// clean is how much of data is on the backing file as it is: every
	// change since the last flush lies at or after it.
	clean int
}

// resize sets the length of the copy; new bytes are zero.
func (f *file) resize(n int) {
	if n > cap(f.data) {
		f.data = append(f.data[:cap(f.data)], make([]byte, n-cap(f.data))...)
	}
	if old := len(f.data); n > old {
		clear(f.data[old:n]) // bytes cut off earlier may still be there
	}
	f.data = f.data[:n]
	f.clean = min(f.clean, n)
}

// flush writes the copy to the backing file and fsyncs it.
func (f *file) flush() error {
	if err := f.backing.Truncate(int64(len(f.data))); err != nil {
		return err
	}
	if _, err := f.backing.WriteAt(f.data[f.clean:], int64(f.clean)); err != nil {
		return err
	}
	if err := f.backing.Sync(); err != nil {
		return err
	}
	f.clean = len(f.data)
	return nil
}

// node is a loopback node whose regular files are opened as volatile copies.
type node struct {
	*fs.LoopbackNode
	p *FS
}

var (
	_ fs.NodeWrapChilder = (*node)(nil)
	_ fs.NodeLookuper    = (*node)(nil)
	_ fs.NodeLinker      = (*node)(nil)
	_ fs.NodeOpener      = (*node)(nil)
	_ fs.NodeCreater     = (*node)(nil)
	_ fs.NodeGetattrer   = (*node)(nil)
	_ fs.NodeSetattrer   = (*node)(nil)
	_ fs.NodeStatxer     = (*node)(nil)
	_ fs.NodeUnlinker    = (*node)(nil)
	_ fs.NodeRenamer     = (*node)(nil)
	_ fs.NodeTmpfiler    = (*node)(nil)
)

// WrapChild makes every node below the root one of ours.
func (n *node) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &node{LoopbackNode: ops.(*fs.LoopbackNode), p: n.p}
}

// backingPath is the path of n in the backing directory.
func (n *node) backingPath() string {
	return filepath.Join(n.p.backing, n.Path(nil))
}

// Lookup gives the size of the volatile copy, not the backing file's.
func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ch, errno := n.LoopbackNode.Lookup(ctx, name, out)
	if errno == 0 {
		n.p.sizeOf(&out.Attr)
	}
	return ch, errno
}

// Link gives the size of the volatile copy of the file linked.
func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ch, errno := n.LoopbackNode.Link(ctx, target, name, out)
	if errno == 0 {
		n.p.sizeOf(&out.Attr)
	}
	return ch, errno
}

// Open opens the volatile copy; O_TRUNC truncates the copy alone.
// FOPEN_KEEP_CACHE: every change goes through the kernel, so its page cache
// (which a shared mmap, like SQLite's -shm, lives in) is never stale.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	f, errno := n.p.open(n.backingPath())
	if errno != 0 {
		return nil, 0, errno
	}
	h := &handle{n: n, f: f}
	if flags&syscall.O_TRUNC != 0 {
		if errno := h.truncate(0); errno != 0 {
			return nil, 0, errno
		}
	}
	return h, fuse.FOPEN_KEEP_CACHE, 0
}

// Create creates the backing file (durably) and opens its volatile copy.
func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if n.p.cut.Load() {
		return nil, nil, 0, syscall.EIO
	}
	ch, lf, _, errno := n.LoopbackNode.Create(ctx, name, flags&^syscall.O_TRUNC, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	lf.(fs.FileReleaser).Release(ctx) // the data goes through the copy
	// The new inode joins the tree after Create returns: no path yet.
	f, errno := n.p.open(filepath.Join(n.backingPath(), name))
	if errno != 0 {
		return nil, nil, 0, errno
	}
	h := &handle{n: ch.Operations().(*node), f: f}
	if flags&syscall.O_TRUNC != 0 {
		if errno := h.truncate(0); errno != 0 {
			return nil, nil, 0, errno
		}
	}
	n.p.sizeOf(&out.Attr)
	return ch, h, fuse.FOPEN_KEEP_CACHE, 0
}

// Getattr gives the size of the volatile copy.
func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if h, ok := f.(*handle); ok {
		return h.Getattr(ctx, out)
	}
	if errno := n.LoopbackNode.Getattr(ctx, nil, out); errno != 0 {
		return errno
	}
	n.p.sizeOf(&out.Attr)
	return 0
}

// Setattr truncates the volatile copy; other attributes go to the backing
// file.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		h, ok := f.(*handle)
		if !ok {
			c, errno := n.p.open(n.backingPath())
			if errno != 0 {
				return errno
			}
			h = &handle{n: n, f: c}
		}
		if errno := h.truncate(int(size)); errno != 0 {
			return errno
		}
		in.Valid &^= fuse.FATTR_SIZE
	}
	errno := n.LoopbackNode.Setattr(ctx, nil, in, out)
	if errno == 0 {
		n.p.sizeOf(&out.Attr)
	}
	return errno
}

// Statx is refused, so the kernel asks Getattr, which knows the copy's size.
func (n *node) Statx(ctx context.Context, f fs.FileHandle, flags, mask uint32, out *fuse.StatxOut) syscall.Errno {
	return syscall.ENOSYS
}

// Unlink drops the copy of a file whose last name goes.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	if n.p.cut.Load() {
		return syscall.EIO
	}
	var st syscall.Stat_t
	err := syscall.Lstat(filepath.Join(n.backingPath(), name), &st)
	errno := n.LoopbackNode.Unlink(ctx, name)
	if err == nil && errno == 0 && st.Nlink <= 1 {
		n.p.forget(st.Ino)
	}
	return errno
}

// Rename drops the copy of a file that the rename replaces.
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if n.p.cut.Load() {
		return syscall.EIO
	}
	var st syscall.Stat_t
	err := syscall.Lstat(filepath.Join(n.p.backing, newParent.EmbeddedInode().Path(nil), newName), &st)
	errno := n.LoopbackNode.Rename(ctx, name, newParent, newName, flags)
	if err == nil && errno == 0 && st.Nlink <= 1 && flags&unix.RENAME_EXCHANGE == 0 {
		n.p.forget(st.Ino)
	}
	return errno
}

// Tmpfile is refused: an O_TMPFILE handle would bypass the copies.
func (n *node) Tmpfile(ctx context.Context, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EOPNOTSUPP
}

// handle is one open of a file: all handles of a file share its copy.
type handle struct {
	n *node
	f *file
}

var (
	_ fs.FileReader    = (*handle)(nil)
	_ fs.FileWriter    = (*handle)(nil)
	_ fs.FileFsyncer   = (*handle)(nil)
	_ fs.FileFlusher   = (*handle)(nil)
	_ fs.FileGetattrer = (*handle)(nil)
)

// lock locks the copy, or reports EIO after a power cut.
func (h *handle) lock() syscall.Errno {
	h.f.mu.Lock()
	if h.n.p.cut.Load() {
		h.f.mu.Unlock()
		return syscall.EIO
	}
	return 0
}

// Read reads the copy.
func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if errno := h.lock(); errno != 0 {
		return nil, errno
	}
	defer h.f.mu.Unlock()
	if off >= int64(len(h.f.data)) {
		return fuse.ReadResultData(nil), 0
	}
	// A copy, not a slice of data: the reply is sent after the lock goes.
	return fuse.ReadResultData(dest[:copy(dest, h.f.data[off:])]), 0
}

// Write writes to the copy only.
func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if errno := h.lock(); errno != 0 {
		return 0, errno
	}
	defer h.f.mu.Unlock()
	if end := int(off) + len(data); end > len(h.f.data) {
		h.f.resize(end)
	}
	copy(h.f.data[off:], data)
	h.f.clean = min(h.f.clean, int(off))
	return uint32(len(data)), 0
}

// truncate sets the copy's length.
func (h *handle) truncate(n int) syscall.Errno {
	if errno := h.lock(); errno != 0 {
		return errno
	}
	defer h.f.mu.Unlock()
	h.f.resize(n)
	return 0
}

// Fsync (and fdatasync) is the one way data reaches the backing file.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if errno := h.lock(); errno != 0 {
		return errno
	}
	err := h.f.flush()
	h.f.mu.Unlock()
	if err != nil {
		return fs.ToErrno(err)
	}
	// Counted after the copy is unlocked: PowerCut takes the locks the
	// other way round.
	h.n.p.mu.Lock()
	h.n.p.fsyncs[h.n.Path(nil)]++
	h.n.p.mu.Unlock()
	return 0
}

// Flush (on close) keeps the data volatile, as closing a file does on a
// real disk.
func (h *handle) Flush(ctx context.Context) syscall.Errno { return 0 }

// Getattr gives the backing file's attributes with the copy's size.
func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	if errno := h.lock(); errno != 0 {
		return errno
	}
	defer h.f.mu.Unlock()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(h.f.backing.Fd()), &st); err != nil {
		return fs.ToErrno(err)
	}
	out.FromStat(&st)
	out.Size = uint64(len(h.f.data))
	out.Blocks = (out.Size + 511) / 512
	return 0
}
