package sqlstore

// SQLite writes each frame of its write-ahead log with two write calls (a
// 24-byte header, then the page), so a group commit of 100 changed pages
// is 200 system calls before its one flush: 29 % of the portal's CPU per
// second step went into them. The "portal-wal" VFS below sits on
// SQLite's own "unix" VFS and gathers a log file's writes that follow one
// another into one buffer, written with one call; anything else done to
// the log file (the flush at commit, a read, a truncation, closing it)
// writes the buffer first. It is used only with synchronous=FULL, where
// every commit flushes the log before the commit is published to readers,
// so no reader, and no checkpoint, can see a frame still in the buffer.
// The database file's shared-memory locks and barriers also write the
// buffer first: a write transaction that spilled frames and then rolled
// back leaves nothing behind once it lets go of the write lock, so the
// buffer can never overwrite what another process writes later.
//
// SQLite was told the buffered writes succeeded, so a failed write of the
// buffer (a full disk) must not lose them: the buffer is kept and written
// again by the next operation on the log, and each operation reports the
// failure until a write of it succeeds. Reported by a read, a full disk
// makes SQLite roll back one statement and go on with the transaction;
// the frames it spilled earlier are still in the buffer, and its commit
// either writes them or fails. Only when the write lock is let go (the
// transaction is over: with synchronous=FULL its commit flushed the log,
// so what waits is a rolled-back transaction's) is a buffer that cannot
// be written dropped, with nothing left to report.

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

const walVFSName = "portal-wal"

// walBufferSize bounds a log file's buffer: a longer run of writes is
// written in pieces. It is the most the unix VFS writes in one call
// (seekAndWriteFd keeps the low 17 bits of the length).
const walBufferSize = 1<<17 - 1

// walFile is the state of one open file of the portal-wal VFS, keyed by
// its sqlite3_file. SQLite uses a file from one connection at a time.
type walFile struct {
	file uintptr  // its sqlite3_file
	orig uintptr  // the unix VFS's io methods for it
	log  *walFile // a database file: its connection's log file, once open
	db   uintptr  // a log file: its database file
	buf  []byte   // a log file: writes not yet made, starting at off (made at its first write)
	off  int64
}

var walVFS struct {
	once  sync.Once
	err   error
	base  uintptr // the unix VFS
	mu    sync.Mutex
	files map[uintptr]*walFile
	// methods are the wrapped io methods, by the original methods and
	// whether the file is a log.
	methods map[[2]uintptr]uintptr
	// writes counts the write calls made to log files, asked the writes
	// SQLite asked of them (for tests).
	writes, asked atomic.Int64
}

// ptr turns an address in SQLite's memory into a pointer.
func ptr(u uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&u)) }

// cfunc is the C function pointer of a Go function, as modernc.org/libc
// represents them.
func cfunc[T any](f T) uintptr {
	return *(*uintptr)(unsafe.Pointer(&struct{ f T }{f}))
}

func fnOf[T any](p uintptr) T { return *(*T)(unsafe.Pointer(&struct{ uintptr }{p})) }

type (
	xOpenFn     = func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32
	xFileFn     = func(*libc.TLS, uintptr) int32
	xIOFn       = func(*libc.TLS, uintptr, uintptr, int32, int64) int32
	xTruncateFn = func(*libc.TLS, uintptr, int64) int32
	xIntFn      = func(*libc.TLS, uintptr, int32) int32
	xPtrFn      = func(*libc.TLS, uintptr, uintptr) int32
	xControlFn  = func(*libc.TLS, uintptr, int32, uintptr) int32
	xShmLockFn  = func(*libc.TLS, uintptr, int32, int32, int32) int32
	xBarrierFn  = func(*libc.TLS, uintptr)
	xFetchFn    = func(*libc.TLS, uintptr, int64, int32, uintptr) int32
	xUnfetchFn  = func(*libc.TLS, uintptr, int64, uintptr) int32
)

// registerWALVFS registers the portal-wal VFS once per process.
func registerWALVFS() error {
	walVFS.once.Do(func() {
		tls := libc.NewTLS()
		defer tls.Close()
		walVFS.base = sqlite3.Xsqlite3_vfs_find(tls, 0)
		if walVFS.base == 0 {
			walVFS.err = errors.New("sqlite: no default VFS")
			return
		}
		walVFS.files = map[uintptr]*walFile{}
		walVFS.methods = map[[2]uintptr]uintptr{}
		size := unsafe.Sizeof(sqlite3.Tsqlite3_vfs{})
		p := libc.Xcalloc(tls, 1, libc.Tsize_t(size))
		name, err := libc.CString(walVFSName)
		if p == 0 || err != nil {
			walVFS.err = errors.New("sqlite: allocate the " + walVFSName + " VFS")
			return
		}
		v := (*sqlite3.Tsqlite3_vfs)(ptr(p))
		*v = *(*sqlite3.Tsqlite3_vfs)(ptr(walVFS.base))
		v.FpNext, v.FzName, v.FxOpen = 0, name, cfunc[xOpenFn](walOpen)
		if rc := sqlite3.Xsqlite3_vfs_register(tls, p, 0); rc != sqlite3.SQLITE_OK {
			walVFS.err = fmt.Errorf("sqlite: register the "+walVFSName+" VFS: code %d", rc)
		}
	})
	return walVFS.err
}

func walOpen(tls *libc.TLS, _ uintptr, name, file uintptr, flags int32, outFlags uintptr) int32 {
	base := (*sqlite3.Tsqlite3_vfs)(ptr(walVFS.base))
	rc := fnOf[xOpenFn](base.FxOpen)(tls, walVFS.base, name, file, flags, outFlags)
	f := (*sqlite3.Tsqlite3_file)(ptr(file))
	if rc != sqlite3.SQLITE_OK || f.FpMethods == 0 {
		return rc
	}
	isLog := flags&sqlite3.SQLITE_OPEN_WAL != 0
	if !isLog && flags&sqlite3.SQLITE_OPEN_MAIN_DB == 0 {
		return rc // journals and temporary files: as they are
	}
	st := &walFile{file: file, orig: f.FpMethods}
	walVFS.mu.Lock()
	defer walVFS.mu.Unlock()
	if isLog {
		st.db = sqlite3.Xsqlite3_database_file_object(tls, name)
		if db := walVFS.files[st.db]; db != nil {
			db.log = st
		}
	}
	walVFS.files[file] = st
	f.FpMethods = wrappedMethods(tls, f.FpMethods, isLog)
	return rc
}

// wrappedMethods returns (making it the first time) a copy of orig whose
// methods that matter here are the portal-wal ones. Called with mu held.
func wrappedMethods(tls *libc.TLS, orig uintptr, isLog bool) uintptr {
	key := [2]uintptr{orig, 0}
	if isLog {
		key[1] = 1
	}
	if p, ok := walVFS.methods[key]; ok {
		return p
	}
	p := libc.Xcalloc(tls, 1, libc.Tsize_t(unsafe.Sizeof(sqlite3.Tsqlite3_io_methods{})))
	if p == 0 {
		panic("sqlite: out of memory for the portal-wal VFS")
	}
	m := (*sqlite3.Tsqlite3_io_methods)(ptr(p))
	*m = *(*sqlite3.Tsqlite3_io_methods)(ptr(orig))
	m.FxClose = cfunc[xFileFn](walClose)
	if isLog {
		m.FxRead = cfunc[xIOFn](logRead)
		m.FxWrite = cfunc[xIOFn](logWrite)
		m.FxTruncate = cfunc[xTruncateFn](logTruncate)
		m.FxSync = cfunc[xIntFn](logSync)
		m.FxFileSize = cfunc[xPtrFn](logFileSize)
		m.FxLock = cfunc[xIntFn](logLock)
		m.FxUnlock = cfunc[xIntFn](logUnlock)
		m.FxCheckReservedLock = cfunc[xPtrFn](logCheckReservedLock)
		m.FxFileControl = cfunc[xControlFn](logFileControl)
		if m.FiVersion >= 3 {
			m.FxFetch = cfunc[xFetchFn](logFetch)
			m.FxUnfetch = cfunc[xUnfetchFn](logUnfetch)
		}
	} else if m.FiVersion >= 2 {
		m.FxShmLock = cfunc[xShmLockFn](dbShmLock)
		m.FxShmBarrier = cfunc[xBarrierFn](dbShmBarrier)
	}
	walVFS.methods[key] = p
	return p
}

func fileState(file uintptr) *walFile {
	walVFS.mu.Lock()
	defer walVFS.mu.Unlock()
	return walVFS.files[file]
}

func origMethods(st *walFile) *sqlite3.Tsqlite3_io_methods {
	return (*sqlite3.Tsqlite3_io_methods)(ptr(st.orig))
}

// flush writes a log file's buffer. A write that fails leaves the buffer
// as it was, for the next flush to write again (a write SQLite was told
// succeeded must be made before anything that relies on it succeeds).
func (st *walFile) flush(tls *libc.TLS) int32 {
	if st == nil || len(st.buf) == 0 {
		return sqlite3.SQLITE_OK
	}
	walVFS.writes.Add(1)
	rc := fnOf[xIOFn](origMethods(st).FxWrite)(tls, st.file, uintptr(unsafe.Pointer(&st.buf[0])), int32(len(st.buf)), st.off)
	if rc == sqlite3.SQLITE_OK {
		st.buf = st.buf[:0]
	}
	return rc
}

// flushLog writes the buffer of a database file's log before a lock or a
// barrier of the database file, which cannot report a failure: a buffer
// that cannot be written stays for the next operation on the log, which
// reports it, unless the lock is the write lock let go (endsWrite), after
// which the buffer is dropped (see the top of this file).
func flushLog(tls *libc.TLS, dbFile uintptr, endsWrite bool) {
	walVFS.mu.Lock()
	var log *walFile
	if db := walVFS.files[dbFile]; db != nil {
		log = db.log
	}
	walVFS.mu.Unlock()
	if log != nil && log.flush(tls) != sqlite3.SQLITE_OK && endsWrite {
		log.buf = log.buf[:0]
	}
}

func walClose(tls *libc.TLS, file uintptr) int32 {
	st := fileState(file)
	rc := st.flush(tls)
	if st.buf != nil {
		st.buf = st.buf[:0] // closed: nothing can write it later
	}
	rc2 := fnOf[xFileFn](origMethods(st).FxClose)(tls, file)
	walVFS.mu.Lock()
	delete(walVFS.files, file)
	if db := walVFS.files[st.db]; st.db != 0 && db != nil && db.log == st {
		db.log = nil
	}
	walVFS.mu.Unlock()
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	return rc2
}

func logWrite(tls *libc.TLS, file, data uintptr, n int32, off int64) int32 {
	st := fileState(file)
	walVFS.asked.Add(1)
	if st.buf == nil { // the writer's log: readers never write theirs
		st.buf = make([]byte, 0, walBufferSize)
	}
	if len(st.buf) > 0 && (off != st.off+int64(len(st.buf)) || len(st.buf)+int(n) > cap(st.buf)) {
		if rc := st.flush(tls); rc != sqlite3.SQLITE_OK {
			return rc
		}
	}
	if int(n) > cap(st.buf) {
		walVFS.writes.Add(1)
		return fnOf[xIOFn](origMethods(st).FxWrite)(tls, file, data, n, off)
	}
	if len(st.buf) == 0 {
		st.off = off
	}
	st.buf = append(st.buf, unsafe.Slice((*byte)(ptr(data)), n)...)
	return sqlite3.SQLITE_OK
}

// flushThen writes a log file's buffer, then calls the original method.
func flushThen(tls *libc.TLS, file uintptr, call func(*sqlite3.Tsqlite3_io_methods) int32) int32 {
	st := fileState(file)
	if rc := st.flush(tls); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return call(origMethods(st))
}

func logRead(tls *libc.TLS, file, data uintptr, n int32, off int64) int32 {
	return flushThen(tls, file, func(m *sqlite3.Tsqlite3_io_methods) int32 { return fnOf[xIOFn](m.FxRead)(tls, file, data, n, off) })
}

func logTruncate(tls *libc.TLS, file uintptr, size int64) int32 {
	return flushThen(tls, file, func(m *sqlite3.Tsqlite3_io_methods) int32 { return fnOf[xTruncateFn](m.FxTruncate)(tls, file, size) })
}

func logSync(tls *libc.TLS, file uintptr, flags int32) int32 {
	return flushThen(tls, file, func(m *sqlite3.Tsqlite3_io_methods) int32 { return fnOf[xIntFn](m.FxSync)(tls, file, flags) })
}

func logFileSize(tls *libc.TLS, file, size uintptr) int32 {
	return flushThen(tls, file, func(m *sqlite3.Tsqlite3_io_methods) int32 { return fnOf[xPtrFn](m.FxFileSize)(tls, file, size) })
}

func logLock(tls *libc.TLS, file uintptr, lock int32) int32 {
	return flushThen(tls, file, func(m *sqlite3.Tsqlite3_io_methods) int32 { return fnOf[xIntFn](m.FxLock)(tls, file, lock) })
}

func logUnlock(tls *libc.TLS, file uintptr, lock int32) int32 {
	return flushThen(tls, file, func(m *sqlite3.Tsqlite3_io_methods) int32 { return fnOf[xIntFn](m.FxUnlock)(tls, file, lock) })
}

func logCheckReservedLock(tls *libc.TLS, file, out uintptr) int32 {
	return flushThen(tls, file, func(m *sqlite3.Tsqlite3_io_methods) int32 { return fnOf[xPtrFn](m.FxCheckReservedLock)(tls, file, out) })
}

func logFileControl(tls *libc.TLS, file uintptr, op int32, arg uintptr) int32 {
	return flushThen(tls, file, func(m *sqlite3.Tsqlite3_io_methods) int32 {
		return fnOf[xControlFn](m.FxFileControl)(tls, file, op, arg)
	})
}

func logFetch(tls *libc.TLS, file uintptr, off int64, n int32, pp uintptr) int32 {
	return flushThen(tls, file, func(m *sqlite3.Tsqlite3_io_methods) int32 { return fnOf[xFetchFn](m.FxFetch)(tls, file, off, n, pp) })
}

func logUnfetch(tls *libc.TLS, file uintptr, off int64, p uintptr) int32 {
	return flushThen(tls, file, func(m *sqlite3.Tsqlite3_io_methods) int32 { return fnOf[xUnfetchFn](m.FxUnfetch)(tls, file, off, p) })
}

// walWriteLock is the shared-memory lock a writer holds (WAL_WRITE_LOCK).
const walWriteLock = 0

func dbShmLock(tls *libc.TLS, file uintptr, offset, n, flags int32) int32 {
	endsWrite := flags == sqlite3.SQLITE_SHM_UNLOCK|sqlite3.SQLITE_SHM_EXCLUSIVE && offset <= walWriteLock && walWriteLock < offset+n
	flushLog(tls, file, endsWrite)
	return fnOf[xShmLockFn](origMethods(fileState(file)).FxShmLock)(tls, file, offset, n, flags)
}

func dbShmBarrier(tls *libc.TLS, file uintptr) {
	flushLog(tls, file, false)
	fnOf[xBarrierFn](origMethods(fileState(file)).FxShmBarrier)(tls, file)
}
