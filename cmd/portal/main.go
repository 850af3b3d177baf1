// Command portal runs Client Portal: `portal serve` (the default), `portal
// migrate`, `portal users create`. This is the only place that wires the
// packages together.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/mail"
	"github.com/clientportal/portal/mfa"
	"github.com/clientportal/portal/password"
	"github.com/clientportal/portal/provider"
	"github.com/clientportal/portal/sqlstore"
	"github.com/clientportal/portal/web"
	"github.com/clientportal/portal/webhook"
	"github.com/clientportal/portal/whatsapp"
	"github.com/clientportal/portal/yubico"
)

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		// Each argon2id hash allocates 19 MiB that is garbage a moment later;
		// a soft limit makes the collector return it before the heap doubles.
		// The collector's target stays at Go's default (100): what a hash
		// costs beyond its arithmetic is mostly the page faults of memory the
		// runtime gave back to the system and takes again, and a higher
		// target (400 was tried) gives back more between collections: at
		// 100 a login costs about a sixth less CPU (51 against 61 ms).
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain()
	if err := m.ParseFlags(ctx, os.Args[1:]); err == flag.ErrHelp {
		os.Exit(0)
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "portal:", err)
		os.Exit(2)
	}
	err := m.Run(ctx)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0) // a command's --help: its flags were printed
	}
	if err == nil && m.HTTP != nil {
		// Serving: wait for SIGTERM or Ctrl-C, then shut down gracefully.
		select {
		case <-ctx.Done():
		case err = <-m.serveErr:
		}
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "portal:", err)
		os.Exit(1)
	}
}

// defaultMemoryLimit is the Go heap's soft limit unless GOMEMLIMIT is set.
const defaultMemoryLimit = 100 << 20

// Main is the program: configuration, the opened database and the server.
type Main struct {
	Config  *Config
	Command []string

	// Getenv, Stdin, Stdout and Stderr default to the process's own; tests
	// replace them.
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Clock and Params let tests freeze time and use cheap hashes.
	Clock  portal.Clock
	Params *password.Params

	DB     *sqlstore.DB
	Server *web.Server
	HTTP   *http.Server
	// Addr is the address actually listened on (useful with port 0).
	Addr string
	// MetricsAddr is where the metrics listener listens, when configured.
	MetricsAddr string

	keys      *mfa.Keyring
	metrics   *http.Server
	sender    mail.Sender
	wake      chan struct{}
	logger    *slog.Logger
	serveErr  chan error
	sweepCtx  context.Context
	stopSweep context.CancelFunc
	// background runs the sweeper and the outbox worker.
	background sync.WaitGroup
	// access is the request log, written out at Close.
	access *web.AccessLog
}

// NewMain returns a Main reading the real environment.
func NewMain() *Main {
	return &Main{Getenv: os.Getenv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Clock: portal.SystemClock{}}
}

const usage = `Usage:
  portal [serve]                 run the portal (the default)
  portal migrate                 apply database migrations and exit
  portal users create --email E --name N [--admin] --password-stdin
  portal users reset-2fa --email E --reason R
  portal users disable --email E --reason R | portal users enable --email E
                                 (staff too: how someone leaves the staff; their API tokens stop)
  portal keys rotate             re-encrypt every stored secret with the first key
  portal keys rotate-signing     new ID token signing key (the old one stays published until its tokens expire)
  portal apps create --name N --redirect-uri URI [--redirect-uri …] [--post-logout-uri URI] [--public]
                     [--skip-consent] [--requires-2fa] [--client-credentials] [--scope S …] [--json]
  portal apps list | portal apps delete CLIENT_ID
  portal tokens create --name N --scopes S1,S2 [--expires 720h]   an admin API token (printed alone, once)
  portal tokens list | portal tokens revoke TOKEN_ID
  portal webhooks create --url U --events T1,T2 | portal webhooks list | portal webhooks delete ID
  portal import users FILE [--dry-run]   customers from another system (CSV with a header, or JSON Lines)
  portal dev-whatsapp [--addr A] a local stand-in for the WhatsApp Cloud API (development)
  portal bench [flags]           seed a benchmark database, load a portal and report (see README)
  portal argon2-rate [--duration D] [--cpuprofile F]  how fast password hashes run alone (used by bench)
  portal healthcheck [--url U]    exit 0 when the running portal answers /healthz (the container's HEALTHCHECK)
  portal backup FILE             a consistent copy of the SQLite database while it runs (PostgreSQL: pg_dump)
  portal version                 the version, commit and Go version (also --version)
  portal help                    this text (also --help, and --help after any command)

Configuration comes from PORTAL_* environment variables; see README.md.`

// ParseFlags reads the command line and the configuration.
func (m *Main) ParseFlags(ctx context.Context, args []string) error {
	if len(args) > 0 && (args[0] == "version" || args[0] == "--version" || args[0] == "-version") {
		fmt.Fprintln(m.Stdout, versionLine())
		return flag.ErrHelp
	}
	if len(args) > 0 && args[0] == "help" || asksHelp(args) {
		fmt.Fprintln(m.Stdout, usage)
		return flag.ErrHelp
	}
	if len(args) == 0 {
		args = []string{"serve"}
	}
	m.Command = args
	cfg, err := LoadConfig(m.Getenv)
	if err != nil {
		return err
	}
	m.Config = cfg
	return nil
}

// Run executes the command. For serve it returns once the server is
// listening; Close stops it.
func (m *Main) Run(ctx context.Context) error {
	m.logger = slog.New(slog.NewJSONHandler(m.Stderr, nil))
	switch m.Command[0] {
	case "serve":
		return m.serve(ctx)
	case "migrate":
		if err := m.open(ctx); err != nil {
			return err
		}
		fmt.Fprintln(m.Stdout, "migrations applied")
		return nil
	case "users":
		if len(m.Command) > 1 && m.Command[1] == "create" {
			return m.usersCreate(ctx, m.Command[2:])
		}
		if len(m.Command) > 1 && m.Command[1] == "reset-2fa" {
			return m.usersReset(ctx, m.Command[2:])
		}
		if len(m.Command) > 1 && (m.Command[1] == "disable" || m.Command[1] == "enable") {
			return m.usersDisable(ctx, m.Command[1] == "disable", m.Command[2:])
		}
	case "dev-whatsapp":
		return m.devWhatsApp(ctx, m.Command[1:])
	case "bench":
		return m.bench(ctx, m.Command[1:])
	case "argon2-rate":
		return m.argon2RateCommand(ctx, m.Command[1:])
	case "keys":
		if len(m.Command) > 1 && m.Command[1] == "rotate" {
			return m.keysRotate(ctx)
		}
		if len(m.Command) > 1 && m.Command[1] == "rotate-signing" {
			return m.keysRotateSigning(ctx)
		}
	case "healthcheck":
		return m.healthcheck(ctx, m.Command[1:])
	case "backup":
		return m.backup(ctx, m.Command[1:])
	case "import":
		if len(m.Command) > 1 && m.Command[1] == "users" {
			return m.importUsers(ctx, m.Command[2:])
		}
	case "webhooks":
		if len(m.Command) > 1 {
			switch m.Command[1] {
			case "create":
				return m.webhooksCreate(ctx, m.Command[2:])
			case "list":
				return m.webhooksList(ctx)
			case "delete":
				return m.webhooksDelete(ctx, m.Command[2:])
			}
		}
	case "tokens":
		if len(m.Command) > 1 {
			switch m.Command[1] {
			case "create":
				return m.tokensCreate(ctx, m.Command[2:])
			case "list":
				return m.tokensList(ctx)
			case "revoke":
				return m.tokensRevoke(ctx, m.Command[2:])
			}
		}
	case "apps":
		if len(m.Command) > 1 {
			switch m.Command[1] {
			case "create":
				return m.appsCreate(ctx, m.Command[2:])
			case "list":
				return m.appsList(ctx)
			case "delete":
				return m.appsDelete(ctx, m.Command[2:])
			}
		}
	}
	return fmt.Errorf("unknown command %q\n%s", strings.Join(m.Command, " "), usage)
}

// open opens and migrates the database and builds the web server.
func (m *Main) open(ctx context.Context) error {
	db, err := sqlstore.OpenWith(m.Config.DatabaseURL, sqlstore.Options{Synchronous: m.Config.SQLiteSynchronous})
	if err != nil {
		return fmt.Errorf("PORTAL_DATABASE_URL: %w", err)
	}
	m.DB = db
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	keys := m.Config.SecretKeys
	if keys == nil {
		var err error
		if keys, err = m.keyFile(false); err != nil {
			return err
		}
	}
	params := password.DefaultParams
	if m.Params != nil {
		params = *m.Params
	}
	hasher := password.NewHasher(params, 0)
	if m.Config.SMTPURL != "" {
		smtp, err := mail.NewSMTP(m.Config.SMTPURL, m.Config.MailFrom)
		if err != nil {
			return fmt.Errorf("PORTAL_SMTP_URL: %w", err)
		}
		m.sender = smtp
	} else {
		m.sender = &mail.Dir{Path: filepath.Join(m.Config.DataDir, "mail"), From: m.Config.MailFrom, Clock: m.Clock, Logger: m.logger}
	}
	m.wake = make(chan struct{}, 1)
	brand, logo, err := loadLogo(m.Config.Brand, m.Config.DataDir)
	if err != nil {
		return err
	}
	mailer := &mail.Mailer{Sender: m.sender, Outbox: db, Keys: keys, Clock: m.Clock, BaseURL: m.Config.BaseURL.String(), Brand: brand, Wake: m.wake, Catalog: m.Config.Catalog}
	totp := &mfa.TOTP{Store: db, Keys: keys, Issuer: m.Config.Name}
	backup := &mfa.Backup{Store: db, Hasher: hasher}
	codes := &mfa.Codes{Store: db, Keys: keys, Policy: portal.DefaultCodePolicy}
	email := &mfa.Email{Codes: codes, Mailer: mailer}
	var wa *mfa.WhatsApp
	if m.Config.WhatsApp != nil {
		wa = &mfa.WhatsApp{Codes: codes, Client: whatsapp.New(*m.Config.WhatsApp)}
	}
	var yk *mfa.YubicoOTP
	if m.Config.Yubico != nil {
		client, err := yubico.New(*m.Config.Yubico)
		if err != nil {
			return fmt.Errorf("PORTAL_YUBICO_CLIENT_ID: %w", err)
		}
		yk = &mfa.YubicoOTP{Validator: client}
	}
	// Security keys need a domain name: WebAuthn refuses IP addresses as
	// relying party ids.
	var keysFactor *mfa.WebAuthn
	base := m.Config.BaseURL
	if net.ParseIP(base.Hostname()) != nil {
		m.logger.Warn("security keys are not offered: PORTAL_BASE_URL must use a domain name (such as localhost), not an IP address", "base_url", base.String())
	} else {
		rp, err := mfa.NewRelyingParty(m.Config.Name, base.Scheme+"://"+base.Host, base.Hostname())
		if err != nil {
			return fmt.Errorf("PORTAL_BASE_URL: security keys: %w", err)
		}
		keysFactor = &mfa.WebAuthn{RP: rp, Keys: keys, Clock: m.Clock, Store: db}
	}
	// The OpenID Connect provider: the issuer is the portal's base URL.
	op, err := provider.New(provider.Config{Issuer: m.Config.BaseURL.String(), AccessTokenTTL: m.Config.OIDC.AccessTokenTTL,
		RefreshTokenTTL: m.Config.OIDC.RefreshTokenTTL, Insecure: m.Config.BaseURL.Scheme == "http"}, db, keys, m.Clock, m.logger)
	if err != nil {
		return fmt.Errorf("OpenID Connect provider: %w", err)
	}
	m.Server = web.New(web.Config{
		Brand: brand, Logo: logo, BaseURL: m.Config.BaseURL, Registration: m.Config.Registration,
		Sessions: m.Config.Sessions, TrustedProxies: m.Config.TrustedProxies, MaxBody: m.Config.HTTP.MaxBodyBytes,
		WebhookAllowPrivate: m.Config.WebhookAllowPrivate, Catalog: m.Config.Catalog, DefaultLanguage: m.Config.DefaultLanguage,
	}, web.Deps{
		Store: db, Hasher: hasher, Clock: m.Clock, Logger: m.logger,
		Notifier: mailer, Links: mailer, Keys: keys, AccessLog: m.accessLog(),
		TOTP: totp, Backup: backup, Email: email, WhatsApp: wa, WebAuthn: keysFactor, YubicoOTP: yk, Provider: op, Alerts: mailer,
	})
	m.keys = keys
	if db.Dialect == sqlstore.SQLite {
		m.Server.RegisterMetrics(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "portal_sqlite_commits_total", Help: "SQLite write commits (each flushes the log to disk when PORTAL_SQLITE_SYNCHRONOUS is full)."},
				func() float64 { c, _ := db.Flushes(); return float64(c) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "portal_sqlite_checkpoints_total", Help: "SQLite checkpoints that copied the log into the database file (each flushes it)."},
				func() float64 { _, c := db.Flushes(); return float64(c) }))
	}
	return nil
}

// accessLog is the request log of a serving portal (nil for commands, which
// serve no requests).
func (m *Main) accessLog() *web.AccessLog {
	if m.Command[0] != "serve" {
		return nil
	}
	m.access = web.NewAccessLog(m.Stderr)
	return m.access
}

// keyFile reads the generated key file of a SQLite installation, creating
// it on first start. With rotate, a new key is put first (it seals from now
// on) and the old ones stay to open what they sealed.
func (m *Main) keyFile(rotate bool) (*mfa.Keyring, error) {
	path := filepath.Join(m.Config.DataDir, "secret.keys")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		data, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	spec := strings.TrimSpace(string(data))
	if spec == "" || rotate {
		id := "k" + m.Clock.Now().UTC().Format("20060102") + "-" + portal.NewID()[:6]
		spec = strings.Trim(mfa.NewKeySpec(id)+","+spec, ",")
		if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
			return nil, err
		}
		if err := writeSynced(path, []byte(spec+"\n")); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
	}
	k, err := mfa.ParseKeyring(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// writeSynced replaces the file at path with data (mode 0600) so that a
// power cut leaves the old content or the new, never less: a temporary
// file, flushed, renamed over path, and the directory flushed. Written in
// place and not flushed, a new key file can be empty after a power cut,
// and the portal would then make a key that opens none of the secrets the
// lost one sealed; a rotation cut short could lose every key.
func writeSynced(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (m *Main) serve(ctx context.Context) error {
	if err := m.open(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return fmt.Errorf("PORTAL_ADDR: %w", err)
	}
	m.Addr = ln.Addr().String()
	m.HTTP = &http.Server{
		Handler:           m.Server,
		ReadHeaderTimeout: m.Config.HTTP.ReadHeaderTimeout,
		ReadTimeout:       m.Config.HTTP.ReadTimeout,
		WriteTimeout:      m.Config.HTTP.WriteTimeout,
		IdleTimeout:       m.Config.HTTP.IdleTimeout,
		MaxHeaderBytes:    m.Config.HTTP.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(m.logger.Handler(), slog.LevelWarn),
	}
	m.logger.Info("listening", "addr", m.Addr, "base_url", m.Config.BaseURL.String(), "database", m.DB.Dialect)
	if link, err := m.Server.SetupLink(ctx); err != nil {
		return err
	} else if link != "" {
		fmt.Fprintf(m.Stdout, "\nNo administrator exists yet. Open this one-time link to create one (valid 24 hours; links printed before no longer work):\n\n  %s\n\n", link)
	}

	if m.Config.PprofAddr != "" {
		if err := m.servePprof(); err != nil {
			return err
		}
	}
	if m.Config.MetricsAddr != "" {
		if err := m.serveMetrics(); err != nil {
			return err
		}
	}
	m.sweepCtx, m.stopSweep = context.WithCancel(context.Background())
	m.background.Go(func() { m.sweepSessions(m.sweepCtx) })
	w := m.worker()
	m.background.Go(func() { w.Run(m.sweepCtx) })
	hooks := m.webhookWorker()
	m.background.Go(func() { hooks.Run(m.sweepCtx) })
	m.serveErr = make(chan error, 1)
	go func() {
		if err := m.HTTP.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			m.serveErr <- err
		}
	}()
	return nil
}

// servePprof serves the profiler on its own loopback listener, apart from
// the portal's routes and middleware.
func (m *Main) servePprof() error {
	ln, err := net.Listen("tcp", m.Config.PprofAddr)
	if err != nil {
		return fmt.Errorf("PORTAL_PPROF_ADDR: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	m.logger.Warn("profiler listening", "addr", ln.Addr().String())
	go http.Serve(ln, mux)
	return nil
}

// serveMetrics serves the Prometheus metrics on their own listener: they
// count users and 2FA adoption, which the portal's public listener must
// not tell.
func (m *Main) serveMetrics() error {
	ln, err := net.Listen("tcp", m.Config.MetricsAddr)
	if err != nil {
		return fmt.Errorf("PORTAL_METRICS_ADDR: %w", err)
	}
	m.MetricsAddr = ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Server.MetricsHandler())
	m.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: time.Minute,
		ErrorLog: slog.NewLogLogger(m.logger.Handler(), slog.LevelWarn)}
	m.logger.Info("metrics listening", "addr", m.MetricsAddr)
	go m.metrics.Serve(ln)
	return nil
}

// worker is this process's outbox worker.
func (m *Main) worker() *mail.Worker {
	host, _ := os.Hostname()
	return &mail.Worker{Store: m.DB, Sender: m.sender, Keys: m.keys, Clock: m.Clock, Logger: m.logger,
		ID: fmt.Sprintf("%s-%d-%s", host, os.Getpid(), portal.NewID()[:6]), Wake: m.wake, Poll: 2 * time.Second}
}

// webhookWorker is this process's webhook dispatcher and sender.
func (m *Main) webhookWorker() *webhook.Worker {
	host, _ := os.Hostname()
	return &webhook.Worker{Store: m.DB, Keys: m.keys, Clock: m.Clock, Logger: m.logger, Client: webhook.NewClient(m.Config.WebhookAllowPrivate),
		ID: fmt.Sprintf("%s-%d-%s", host, os.Getpid(), portal.NewID()[:6]), Poll: m.Config.WebhookPoll, Settle: m.Config.WebhookSettle}
}

// flushOutbox tries once to deliver what a command queued; anything left
// is delivered by a running server.
func (m *Main) flushOutbox(ctx context.Context) {
	if _, err := m.worker().RunOnce(ctx); err != nil {
		m.logger.Warn("outbox not delivered now; a running portal will retry", "err", err)
	}
}

// sweepSessions deletes expired sessions and the outbox rows of messages
// delivered over a week ago, and carries out due recovery resets, every
// minute.
func (m *Main) sweepSessions(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		now := m.Clock.Now()
		p := m.Config.Sessions
		if _, err := m.DB.DeleteExpiredSessions(ctx, now.Add(-p.Idle).Unix(), now.Add(-p.Absolute).Unix()); err != nil && ctx.Err() == nil {
			m.logger.Warn("sweep sessions", "err", err)
		}
		if _, err := m.DB.PurgeOutbox(ctx, now.Add(-mail.SentRetention).Unix()); err != nil && ctx.Err() == nil {
			m.logger.Warn("purge delivered mail", "err", err)
		}
		// Signing keys retired longer ago than any ID token lives are
		// dropped from the published key set.
		if err := m.DB.PruneOIDC(ctx, now.Unix(), now.Add(-2*time.Hour).Unix()); err != nil && ctx.Err() == nil {
			m.logger.Warn("prune OpenID Connect requests and tokens", "err", err)
		}
		if n, err := m.Server.ApplyDueRecoveries(ctx); err != nil && ctx.Err() == nil {
			m.logger.Warn("apply recovery resets", "err", err)
		} else if n > 0 {
			m.logger.Info("recovery resets applied", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close shuts the server down gracefully (letting requests in flight
// finish) and closes the database.
func (m *Main) Close() error {
	var err error
	if m.HTTP != nil {
		m.logger.Info("shutting down")
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		err = m.HTTP.Shutdown(ctx)
		m.stopSweep()
		// The outbox worker finishes the message in hand and gives back
		// its leases before the database closes.
		m.background.Wait()
	}
	if m.Server != nil {
		m.Server.Wait()
	}
	if m.access != nil {
		m.access.Close()
	}
	if m.metrics != nil {
		m.metrics.Close()
	}
	if m.DB != nil {
		err = errors.Join(err, m.DB.Close())
	}
	return err
}

func (m *Main) usersCreate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("users create", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	email := fs.String("email", "", "email address")
	name := fs.String("name", "", "display name")
	admin := fs.Bool("admin", false, "create a staff administrator")
	stdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*stdin {
		return errors.New("users create: --password-stdin is required (the password is never taken from the command line)")
	}
	line, err := bufio.NewReader(m.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return errors.New("users create: no password on standard input")
	}
	pw := strings.TrimRight(line, "\r\n")
	if err := m.open(ctx); err != nil {
		return err
	}
	role := portal.RoleOwner
	if *admin {
		role = portal.RoleAdmin
	}
	u, err := m.Server.CreateUser(ctx, *email, *name, pw, role)
	if err != nil {
		return fmt.Errorf("users create: %s", portal.ErrorMessage(err))
	}
	fmt.Fprintf(m.Stdout, "created %s %s (%s)\n", u.Role, u.Email, u.ID)
	return nil
}

func (m *Main) usersReset(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("users reset-2fa", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	email := fs.String("email", "", "the user's email address")
	reason := fs.String("reason", "", "why (recorded and sent to the user)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if strings.TrimSpace(*email) == "" || strings.TrimSpace(*reason) == "" {
		return errors.New("users reset-2fa: --email and --reason are both required")
	}
	if err := m.open(ctx); err != nil {
		return err
	}
	u, err := m.DB.UserByEmail(ctx, *email)
	if err != nil {
		return fmt.Errorf("users reset-2fa: no user with email %s", *email)
	}
	if err := m.Server.ResetTwoFactor(ctx, u.ID, "", "command line: "+strings.TrimSpace(*reason)); err != nil {
		return fmt.Errorf("users reset-2fa: %w", err)
	}
	m.flushOutbox(ctx)
	fmt.Fprintf(m.Stdout, "two-factor authentication reset for %s; their sessions were ended and they were notified\n", u.Email)
	return nil
}

// usersDisable disables or enables a user from the server's command line:
// staff included, which the console and the API never do. Disabling ends
// every session, device cookie, remembered browser and app token (the
// credential epoch moves on), removes unused links, and stops the API
// tokens a staff member made in the console.
func (m *Main) usersDisable(ctx context.Context, disable bool, args []string) error {
	name := "users enable"
	if disable {
		name = "users disable"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	email := fs.String("email", "", "the user's email address")
	reason := fs.String("reason", "", "why (recorded in the user's security events)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if strings.TrimSpace(*email) == "" || (disable && strings.TrimSpace(*reason) == "") {
		return fmt.Errorf("%s: --email is required (and --reason, to disable)", name)
	}
	if err := portal.CheckText("reason", *reason, portal.MultiLine); err != nil {
		return fmt.Errorf("%s: %s", name, portal.ErrorMessage(err))
	}
	if err := m.open(ctx); err != nil {
		return err
	}
	u, err := m.DB.UserByEmail(ctx, *email)
	if err != nil {
		return fmt.Errorf("%s: no user with email %s", name, *email)
	}
	typ, detail, done := portal.EventUserEnabled, "The account can sign in again (command line).", "enabled"
	if disable {
		typ, detail, done = portal.EventUserDisabled, "Every session ended (command line).", "disabled; every session, remembered browser and app token ended"
	}
	if r := strings.TrimSpace(*reason); r != "" {
		detail += " Reason: " + r
	}
	rec := &portal.Record{Event: &portal.Event{UserID: u.ID, Type: typ, Detail: detail, CreatedAt: m.Clock.Now().Unix()}}
	err = m.DB.SetDisabled(ctx, u.ID, disable, rec)
	if errors.Is(err, portal.ErrNotFound) && disable {
		// Disabled already: the tokens are still revoked below, so running
		// it again finishes a run that failed half-way.
		done = "was disabled already"
	} else if errors.Is(err, portal.ErrNotFound) {
		return fmt.Errorf("%s: %s is enabled already", name, u.Email)
	} else if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	revoked := 0
	if disable {
		// The API tokens they made go for good: enabling the user again
		// does not bring back what someone leaving the staff could use.
		tokens, err := m.DB.APITokens(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, t := range tokens {
			if t.CreatedBy == u.ID && t.RevokedAt == 0 {
				if err := m.DB.RevokeAPIToken(ctx, t.ID, m.Clock.Now().Unix()); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				revoked++
			}
		}
	}
	fmt.Fprintf(m.Stdout, "%s %s %s", u.Role, u.Email, done)
	if revoked > 0 {
		fmt.Fprintf(m.Stdout, "; %d API tokens they made revoked", revoked)
	}
	fmt.Fprintln(m.Stdout)
	return nil
}

// keysRotate re-seals every stored secret with the first key. With the
// generated key file a new key is made first; with PORTAL_SECRET_KEYS the
// operator puts the new key first before running this.
func (m *Main) keysRotate(ctx context.Context) error {
	if m.Config.SecretKeys == nil {
		if _, err := m.keyFile(true); err != nil {
			return err
		}
	}
	if err := m.open(ctx); err != nil {
		return err
	}
	ms, err := m.DB.SealedSecrets(ctx)
	if err != nil {
		return err
	}
	n := 0
	for _, meth := range ms {
		if m.keys.SealedWithPrimary(meth.Secret) {
			continue
		}
		plain, err := m.keys.Open(meth.UserID, meth.Secret)
		if err != nil {
			return fmt.Errorf("keys rotate: method %s: %w", meth.ID, err)
		}
		if err := m.DB.ReplaceSecret(ctx, meth.ID, meth.Secret, m.keys.Seal(meth.UserID, plain)); err != nil {
			return fmt.Errorf("keys rotate: %w", err)
		}
		n++
	}
	fmt.Fprintf(m.Stdout, "re-encrypted %d secrets with key %s\n", n, m.keys.Primary())
	signing, err := provider.Reseal(ctx, m.DB, m.keys)
	if err != nil {
		return fmt.Errorf("keys rotate: %w", err)
	}
	fmt.Fprintf(m.Stdout, "re-encrypted %d ID token signing keys\n", signing)
	// Pending emails (links, notices) are sealed too: re-seal them so the
	// old key can go. One that no longer opens is reported, not fatal.
	pending, err := m.DB.PendingSealed(ctx)
	if err != nil {
		return err
	}
	resealed, lost := 0, 0
	for _, om := range pending {
		if m.keys.SealedWithPrimary(om.Text) && m.keys.SealedWithPrimary(om.HTML) {
			continue
		}
		old := om.Text
		if err := mail.Reseal(m.keys, om); err != nil {
			fmt.Fprintf(m.Stderr, "keys rotate: pending email %s to %s does not open (%v); it will not be delivered unless its key is restored\n", om.ID, om.To, err)
			lost++
			continue
		}
		if err := m.DB.ResealOutbox(ctx, om.ID, old, om.Text, om.HTML); err != nil && portal.ErrorCode(err) != portal.ECONFLICT {
			return fmt.Errorf("keys rotate: %w", err)
		} else if err == nil {
			resealed++
		}
	}
	fmt.Fprintf(m.Stdout, "re-encrypted %d pending emails with key %s\n", resealed, m.keys.Primary())
	if lost > 0 {
		return fmt.Errorf("keys rotate: %d pending emails are sealed with a key that is not configured; keep that key until they are delivered", lost)
	}
	return nil
}

// flagCommands parse flags of their own, and print them for --help.
var flagCommands = map[string]bool{"users create": true, "users reset-2fa": true, "apps create": true, "tokens create": true, "import users": true, "healthcheck": true, "webhooks create": true,
	"bench": true, "argon2-rate": true, "dev-whatsapp": true}

// asksHelp reports whether args ask for help that the usage text answers:
// --help anywhere, except after a command that prints its own flags.
func asksHelp(args []string) bool {
	if len(args) > 0 && (flagCommands[args[0]] || (len(args) > 1 && flagCommands[args[0]+" "+args[1]])) {
		return false
	}
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			return true
		}
	}
	return false
}

// version is set at build time (-ldflags "-X main.version=v1.2.3"); else
// the module version from the build information.
var version = ""

// versionLine is "portal VERSION (commit COMMIT, GOVERSION)".
func versionLine() string {
	v, commit, goVersion := version, "unknown", runtime.Version()
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
				if len(commit) > 12 {
					commit = commit[:12]
				}
			case "vcs.modified":
				if s.Value == "true" {
					commit += "+dirty"
				}
			}
		}
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	return fmt.Sprintf("portal %s (commit %s, %s)", v, commit, goVersion)
}
