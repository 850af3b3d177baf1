package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/password"
	"github.com/clientportal/portal/sqlstore"
)

// The benchmark's scenarios (issue: second-factor step, full login, staff
// list, email code).
const (
	scenarioSecondFactor = "second-factor"
	scenarioLogin        = "login"
	scenarioAdminList    = "admin-list"
	scenarioEmailCode    = "email-code"
	scenarioOIDCToken    = "oidc-token"   // an app redeems an authorization code
	scenarioOIDCRefresh  = "oidc-refresh" // an app exchanges a refresh token
)

var allScenarios = []string{scenarioSecondFactor, scenarioLogin, scenarioAdminList, scenarioEmailCode, scenarioOIDCToken, scenarioOIDCRefresh}

// benchPassword is every seeded user's password.
const benchPassword = "bench-password-42!"

// benchSecret is the TOTP secret (base32) of a seeded user: derived from the
// user id, so a later run against the same database can compute codes
// without storing them.
func benchSecret(userID string) string {
	mac := hmac.New(sha256.New, []byte("client portal benchmark"))
	mac.Write([]byte(userID))
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(mac.Sum(nil)[:20])
}

var benchTOTP = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// bench is `portal bench`: seed, start (or target) a portal, drive it over
// HTTP on loopback and report.
type bench struct {
	m        *Main
	users    int
	clients  int
	duration time.Duration
	url      string
	pid      int
	profiles string
	shuffle  bool   // users in a random order, not in email order
	pprof    string // the portal's profiler address, with --cpuprofile
	sync     string // the started portal's PORTAL_SQLITE_SYNCHRONOUS
	metrics  string // the started portal's metrics address (SQLite flushes)
	client   *http.Client
	sink     *smtpSink

	mu    sync.Mutex
	pool  []sqlstore.SeededUser // users not yet used by a scenario
	share map[string]int        // users each scenario may take
	start int                   // where in the seeded users this run began
	total int                   // how many seeded users the pool began with
}

// usersPerSecond is how many users each scenario may use per second of
// run, well above what this kind of machine reaches: a user's TOTP step
// and email code can be used once, so each request needs a fresh user.
var usersPerSecond = map[string]float64{scenarioSecondFactor: 8000, scenarioEmailCode: 4000, scenarioLogin: 200}

const benchUsage = `Usage: portal bench [flags]

Seeds users with TOTP and email codes into PORTAL_DATABASE_URL (an empty
database: use one only for benchmarks), starts the portal on loopback (or
uses --url), drives it with concurrent clients and prints a table.
`

func (m *Main) bench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() { fmt.Fprint(m.Stderr, benchUsage); fs.PrintDefaults() }
	scenarios := fs.String("scenario", strings.Join(allScenarios, ","), "comma-separated scenarios: "+strings.Join(allScenarios, ", "))
	b := &bench{m: m}
	fs.IntVar(&b.users, "users", 100_000, "users to seed when the database has none")
	fs.IntVar(&b.clients, "clients", 16, "concurrent clients")
	fs.DurationVar(&b.duration, "duration", 10*time.Second, "how long each scenario runs")
	fs.StringVar(&b.url, "url", "", "benchmark a portal already running on this URL (sharing the database and keys) instead of starting one")
	fs.IntVar(&b.pid, "pid", 0, "with --url: the portal's process id, to report its CPU time and memory")
	fs.StringVar(&b.sync, "sync", "", "SQLite: the started portal's PORTAL_SQLITE_SYNCHRONOUS, full or normal (default: as configured, full)")
	fs.StringVar(&b.profiles, "cpuprofile", "", "write the portal's CPU profile of each scenario to this directory (SCENARIO.pprof)")
	fs.BoolVar(&b.shuffle, "shuffle", false, "sign users in in a random order (the same for every run on one database) instead of in email order, whose users the seeding wrote next to each other")
	jsonOut := fs.String("json", "", "also write the results as JSON to this file (- for standard output)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// The load generator keeps its users in memory: a collector that
		// runs only near 1 GiB, so that it takes as little CPU (and memory
		// bandwidth, which argon2id needs) from the portal as it can.
		debug.SetMemoryLimit(1 << 30)
		if os.Getenv("GOGC") == "" {
			debug.SetGCPercent(-1)
		}
	}
	names := strings.Split(*scenarios, ",")
	for _, n := range names {
		if !slices.Contains(allScenarios, n) {
			return fmt.Errorf("bench: unknown scenario %q (want %s)", n, strings.Join(allScenarios, ", "))
		}
	}
	if b.users < 1 || b.clients < 1 || b.duration <= 0 {
		return errors.New("bench: --users, --clients and --duration must be positive")
	}
	switch b.sync {
	case "":
		b.sync = m.Config.SQLiteSynchronous
	case sqlstore.SyncFull, sqlstore.SyncNormal:
		if b.url != "" {
			return errors.New("bench: --sync sets up the portal bench starts; with --url, start it with PORTAL_SQLITE_SYNCHRONOUS")
		}
	default:
		return fmt.Errorf("bench: --sync must be full or normal, not %q", b.sync)
	}
	if err := m.open(ctx); err != nil {
		return err
	}
	if err := b.seed(ctx); err != nil {
		return err
	}
	b.plan(names)
	b.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		MaxIdleConnsPerHost: b.clients, DisableCompression: true, IdleConnTimeout: time.Minute,
		DialContext: dialFromRandomLoopback,
	}}
	sink, err := startSMTPSink()
	if err != nil {
		return err
	}
	defer sink.Close()
	b.sink = sink
	// The portal under test checkpoints its own log, as it does in
	// production; this process keeps the database open to add sessions.
	if err := m.DB.StopCheckpoints(ctx); err != nil {
		return fmt.Errorf("bench: checkpoint the seeding: %w", err)
	}
	if b.url == "" {
		stop, err := b.startPortal(ctx)
		if err != nil {
			return err
		}
		defer stop()
	}
	b.waitForFreshStep()
	defer b.markRun()
	var results []*benchResult
	for _, name := range names {
		res, err := b.run(ctx, name)
		if err != nil {
			return fmt.Errorf("bench %s: %w", name, err)
		}
		results = append(results, res)
	}
	printResults(m.Stdout, results)
	if *jsonOut != "" {
		data, _ := json.MarshalIndent(map[string]any{
			"clients": b.clients, "duration_seconds": b.duration.Seconds(), "database": m.DB.Dialect, "sqlite_synchronous": b.syncLabel(),
			"gomaxprocs": runtime.GOMAXPROCS(0), "results": results,
		}, "", "  ")
		data = append(data, '\n')
		if *jsonOut == "-" {
			_, err = m.Stdout.Write(data)
		} else {
			err = os.WriteFile(*jsonOut, data, 0o644)
		}
		if err != nil {
			return fmt.Errorf("bench: write JSON: %w", err)
		}
	}
	return nil
}

// seed adds the users unless the database already has seeded ones, and
// loads the pool of users with 2FA that scenarios take from.
func (b *bench) seed(ctx context.Context) error {
	db := b.m.DB
	pool, err := db.SeededUsers(ctx, 1, false)
	if err != nil {
		return err
	}
	if len(pool) == 0 {
		hash, err := password.NewHasher(password.DefaultParams, 0).Hash(ctx, benchPassword)
		if err != nil {
			return err
		}
		start := time.Now()
		err = db.SeedUsers(ctx, b.users, sqlstore.SeedOptions{
			Seed: 1, TwoFAPercent: 60, StaffEvery: max(2, min(1000, b.users/10)), PasswordHash: hash,
			Methods: []string{portal.MethodTOTP, portal.MethodEmail},
			Secret: func(userID, typ string) string {
				if typ != portal.MethodTOTP {
					return ""
				}
				return b.m.keys.Seal(userID, []byte(benchSecret(userID)))
			},
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(b.m.Stdout, "seeded %d users in %.1f s\n", b.users, time.Since(start).Seconds())
	} else {
		fmt.Fprintln(b.m.Stdout, "using the users already seeded in this database")
	}
	// Enough users for every scenario at rates well above the targets;
	// each is used once per run (a TOTP step and an email code can only
	// be used once).
	if b.pool, err = db.SeededUsers(ctx, 400_000, false); err != nil {
		return err
	}
	if b.shuffle {
		// The seeding wrote users in email order, so users next in the
		// pool share the pages of the users and methods tables, which
		// sign-ins of customers in production do not. A fixed seed keeps
		// runs on copies of one database comparable.
		rand.New(rand.NewPCG(1, 2)).Shuffle(len(b.pool), func(i, j int) { b.pool[i], b.pool[j] = b.pool[j], b.pool[i] })
	}
	// Start where the last run stopped, so that runs close together use
	// different users (an email code can be resent once a minute and ten
	// times an hour, and a user's second new browser sends an alert), and
	// two runs from copies of the same database use the same users.
	b.total = len(b.pool)
	if b.total > 0 {
		b.start = b.lastRun().next % b.total
		b.pool = append(b.pool[b.start:], b.pool[:b.start]...)
	}
	return nil
}

// benchMarker is the file that remembers the last run: the time it last
// verified codes and where in the seeded users the next run starts.
const benchMarker = "bench-last-run"

type lastRun struct {
	at   int64
	next int
}

func (b *bench) lastRun() lastRun {
	var r lastRun
	data, _ := os.ReadFile(filepath.Join(b.m.Config.DataDir, benchMarker))
	fields := strings.Fields(string(data))
	if len(fields) > 0 {
		r.at, _ = strconv.ParseInt(fields[0], 10, 64)
	}
	if len(fields) > 1 {
		r.next, _ = strconv.Atoi(fields[1])
	}
	return r
}

// waitForFreshStep waits for the next 30-second TOTP step when a previous
// run ended in the current one: its users' codes for this step are spent,
// and replaying them would count as wrong codes.
func (b *bench) waitForFreshStep() {
	if last, now := b.lastRun().at, time.Now().Unix(); last/30 == now/30 {
		wait := time.Duration(30-now%30) * time.Second
		fmt.Fprintf(b.m.Stdout, "waiting %s for a new TOTP step (the last run used this one)\n", wait)
		time.Sleep(wait)
	}
}

// markRun records when this run last verified codes, and where the next
// run starts in the seeded users.
func (b *bench) markRun() {
	b.mu.Lock()
	next := b.start + b.total - len(b.pool)
	b.mu.Unlock()
	os.WriteFile(filepath.Join(b.m.Config.DataDir, benchMarker), fmt.Appendf(nil, "%d %d\n", time.Now().Unix(), next), 0o644)
}

// plan shares the pool among the scenarios, in proportion to their needs
// when it is too small for all of them.
func (b *bench) plan(names []string) {
	want := map[string]int{}
	total := 0
	for _, n := range names {
		want[n] = int(usersPerSecond[n]*b.duration.Seconds()) + b.clients
		if usersPerSecond[n] == 0 {
			want[n] = 0
		}
		total += want[n]
	}
	// Logins need few users (each costs a password hash): they get theirs
	// first, the others share the rest.
	pool := len(b.pool)
	b.share = map[string]int{}
	if w, ok := want[scenarioLogin]; ok {
		b.share[scenarioLogin] = min(w, pool/2)
		pool -= b.share[scenarioLogin]
		total -= w
	}
	for n, w := range want {
		if n == scenarioLogin {
			continue
		}
		b.share[n] = w
		if total > pool {
			b.share[n] = w * pool / total
		}
	}
}

// take hands out the unused users planned for a scenario.
func (b *bench) take(name string) []sqlstore.SeededUser {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := min(b.share[name], len(b.pool))
	out := b.pool[:n:n]
	b.pool = b.pool[n:]
	return out
}

// startPortal runs this binary's `serve` on a free loopback port with the
// same configuration and the SMTP sink, and waits until it is ready.
func (b *bench) startPortal(ctx context.Context) (func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	logPath := filepath.Join(b.m.Config.DataDir, "bench-portal.log")
	if err := os.MkdirAll(b.m.Config.DataDir, 0o700); err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "serve")
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b.metrics = mln.Addr().String()
	mln.Close()
	cmd.Env = append(os.Environ(), "PORTAL_SQLITE_SYNCHRONOUS="+b.sync, "PORTAL_METRICS_ADDR="+b.metrics,
		"PORTAL_DATABASE_URL="+b.m.Config.DatabaseURL, "PORTAL_DATA_DIR="+b.m.Config.DataDir,
		"PORTAL_ADDR=127.0.0.1:"+strconv.Itoa(port), "PORTAL_BASE_URL=http://localhost:"+strconv.Itoa(port),
		"PORTAL_SMTP_URL=smtp://"+b.sink.Addr())
	if keys := b.m.Getenv("PORTAL_SECRET_KEYS"); keys != "" {
		cmd.Env = append(cmd.Env, "PORTAL_SECRET_KEYS="+keys)
	}
	if b.profiles != "" {
		if err := os.MkdirAll(b.profiles, 0o755); err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		b.pprof = ln.Addr().String()
		ln.Close()
		cmd.Env = append(cmd.Env, "PORTAL_PPROF_ADDR="+b.pprof)
	}
	cmd.Stdout, cmd.Stderr = io.Discard, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logFile.Close()
	}
	b.url, b.pid = "http://127.0.0.1:"+strconv.Itoa(port), cmd.Process.Pid
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := b.client.Get(b.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				fmt.Fprintf(b.m.Stdout, "portal pid %d on %s (log: %s)\n", b.pid, b.url, logPath)
				return stop, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return nil, fmt.Errorf("the portal did not become ready; see %s", logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sessions stores one session per user at level, returning the cookies.
func (b *bench) sessions(ctx context.Context, users []sqlstore.SeededUser, level string) ([]string, error) {
	at := time.Now()
	now := at.Unix()
	tokens := make([]string, len(users))
	rows := make([]*portal.Session, len(users))
	for i, u := range users {
		// As if each had signed in with the password a moment before its
		// turn, in the order they are used: a session's id starts with the
		// time it was made (portal.NewSessionToken).
		token, id := portal.NewSessionToken(at.Add(-time.Duration(len(users)-i) * time.Millisecond))
		tokens[i] = token
		rows[i] = &portal.Session{ID: id, UserID: u.ID, Level: level, CreatedAt: now, LastSeenAt: now, ReauthAt: now, IP: "127.0.0.1"}
	}
	return tokens, b.m.DB.SeedSessions(ctx, rows)
}

// run prepares and drives one scenario.
func (b *bench) run(ctx context.Context, name string) (*benchResult, error) {
	var op func(ctx context.Context, i int) (int, error)
	switch name {
	case scenarioSecondFactor, scenarioEmailCode:
		users := b.take(name)
		if len(users) == 0 {
			return nil, errors.New("no unused users with 2FA left: seed more with --users")
		}
		tokens, err := b.sessions(ctx, users, portal.LevelPassword)
		if err != nil {
			return nil, err
		}
		if name == scenarioSecondFactor {
			op = func(ctx context.Context, i int) (int, error) {
				if i >= len(users) {
					return 0, errPoolEmpty
				}
				return b.post(ctx, "/api/v1/login/2fa", tokens[i], map[string]any{"method": portal.MethodTOTP, "code": code(users[i].ID)}, nil)
			}
		} else {
			op = func(ctx context.Context, i int) (int, error) {
				if i >= len(users) {
					return 0, errPoolEmpty
				}
				return b.post(ctx, "/api/v1/login/2fa/send", tokens[i], map[string]any{"method": portal.MethodEmail}, nil)
			}
		}
	case scenarioLogin:
		users := b.take(name)
		if len(users) == 0 {
			return nil, errors.New("no unused users with 2FA left: seed more with --users")
		}
		op = func(ctx context.Context, i int) (int, error) {
			if i >= len(users) {
				return 0, errPoolEmpty
			}
			var token string
			status, err := b.post(ctx, "/api/v1/login", "", map[string]any{"email": users[i].Email, "password": benchPassword}, &token)
			if err != nil || status != http.StatusOK {
				return status, err
			}
			return b.post(ctx, "/api/v1/login/2fa", token, map[string]any{"method": portal.MethodTOTP, "code": code(users[i].ID)}, nil)
		}
		// Hashing alone is measured before and after the logins, and
		// averaged: the machine's speed drifts over a minute more than
		// the difference being measured.
		before, err := b.argon2Rate(ctx)
		if err != nil {
			return nil, err
		}
		res, err := b.drive(ctx, name, op)
		if err != nil {
			return nil, err
		}
		after, err := b.argon2Rate(ctx)
		if err != nil {
			return nil, err
		}
		alone := &argon2Result{PerSecond: (before.PerSecond + after.PerSecond) / 2, CPUmsPerHash: (before.CPUmsPerHash + after.CPUmsPerHash) / 2}
		res.Argon2PerSecond, res.Argon2CPUms = alone.PerSecond, alone.CPUmsPerHash
		res.OfArgon2 = res.PerSecond / alone.PerSecond
		if res.CPUPerRequestMs > 0 {
			res.HashShareOfCPU = alone.CPUmsPerHash / res.CPUPerRequestMs
		}
		res.Note = fmt.Sprintf("%.0f%% of the rate of argon2id alone (%.1f hashes/s, %.1f ms CPU each); the hash is %.0f%% of a login's CPU",
			100*res.OfArgon2, alone.PerSecond, alone.CPUmsPerHash, 100*res.HashShareOfCPU)
		return res, nil
	case scenarioOIDCToken, scenarioOIDCRefresh:
		var err error
		if op, err = b.oidcScenario(ctx, name); err != nil {
			return nil, err
		}
	case scenarioAdminList:
		admins, err := b.m.DB.SeededUsers(ctx, 1, true)
		if err != nil {
			return nil, err
		} else if len(admins) == 0 {
			return nil, errors.New("no staff user with 2FA among the seeded users")
		}
		tokens, err := b.sessions(ctx, admins, portal.LevelFull)
		if err != nil {
			return nil, err
		}
		op = func(ctx context.Context, i int) (int, error) {
			filter := []string{portal.TwoFAActivated, portal.TwoFANotActivated}[i%2]
			return b.get(ctx, "/api/v1/admin/users?twofa="+filter, tokens[0])
		}
	}
	return b.drive(ctx, name, op)
}

// dialFromRandomLoopback connects from a random address of 127.0.0.0/8,
// so the clients look like customers on different networks: the per-IP
// limits count each separately, as they would in production, and a run is
// not held back by failures of an earlier one.
func dialFromRandomLoopback(ctx context.Context, network, addr string) (net.Conn, error) {
	local := &net.TCPAddr{IP: net.IPv4(127, byte(1+rand.IntN(254)), byte(rand.IntN(256)), byte(1+rand.IntN(254)))}
	return (&net.Dialer{LocalAddr: local, Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
}

// code is the current TOTP code of a seeded user.
func code(userID string) string {
	c, _ := totp.GenerateCodeCustom(benchSecret(userID), time.Now(), benchTOTP)
	return c
}

// argon2Rate runs `portal argon2-rate` in a new process: the same binary
// and runtime settings as the portal, with nothing else running.
func (b *bench) argon2Rate(ctx context.Context) (*argon2Result, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	out, err := exec.CommandContext(ctx, exe, "argon2-rate", "--duration", b.duration.String()).Output()
	if err != nil {
		return nil, fmt.Errorf("argon2-rate: %w", err)
	}
	var res argon2Result
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("argon2-rate: %w: %s", err, out)
	}
	return &res, nil
}

// argon2Result is what `portal argon2-rate` measured.
type argon2Result struct {
	PerSecond    float64 `json:"per_second"`
	CPUmsPerHash float64 `json:"cpu_ms_per_hash"`
	Concurrency  int     `json:"concurrency"`
	MemoryKiB    uint32  `json:"memory_kib"`
	Hashes       int     `json:"hashes"`
}

// argon2RateCommand is `portal argon2-rate`: password verifications with
// the default parameters, as many at once as the portal allows, for a
// while; it prints how many per second and the CPU time of each as JSON.
// It is the cost a login cannot beat, for `portal bench`.
func (m *Main) argon2RateCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("argon2-rate", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	d := fs.Duration("duration", 10*time.Second, "how long to hash")
	profile := fs.String("cpuprofile", "", "write a CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	h := password.NewHasher(password.DefaultParams, 0)
	hash, err := h.Hash(ctx, benchPassword)
	if err != nil {
		return err
	}
	var n atomic.Int64
	cpu0, start := selfCPU(), time.Now()
	var wg sync.WaitGroup
	for range h.Limit() {
		wg.Go(func() {
			for time.Since(start) < *d {
				if ok, _, err := h.Verify(ctx, hash, benchPassword); err != nil || !ok {
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed, cpu := time.Since(start).Seconds(), selfCPU()-cpu0
	return json.NewEncoder(m.Stdout).Encode(argon2Result{
		PerSecond: float64(n.Load()) / elapsed, CPUmsPerHash: 1000 * cpu / float64(n.Load()),
		Concurrency: h.Limit(), MemoryKiB: password.DefaultParams.Memory, Hashes: int(n.Load()),
	})
}
