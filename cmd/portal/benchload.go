package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/clientportal/portal/sqlstore"
)

// errPoolEmpty ends a scenario early: every prepared user was used.
var errPoolEmpty = errors.New("no unused users left")

// benchResult is one scenario's measurement.
type benchResult struct {
	Scenario  string         `json:"scenario"`
	Clients   int            `json:"clients"`
	Requests  int            `json:"requests"`
	Seconds   float64        `json:"seconds"`
	PerSecond float64        `json:"per_second"`
	P50ms     float64        `json:"p50_ms"`
	P90ms     float64        `json:"p90_ms"`
	P99ms     float64        `json:"p99_ms"`
	Errors    map[string]int `json:"errors"`
	// Portal process: CPU seconds per request and peak resident memory
	// during the scenario (absent when the portal's pid is unknown).
	CPUPerRequestMs float64 `json:"portal_cpu_ms_per_request,omitempty"`
	PeakRSSMiB      float64 `json:"portal_peak_rss_mib,omitempty"`
	// The load generator's own CPU, to show what it takes from the portal.
	LoadCPUPerRequestMs float64 `json:"load_generator_cpu_ms_per_request"`
	// PostgreSQL on this machine: its processes' CPU per request (absent
	// for SQLite, which runs in the portal's process, and for a server
	// whose processes this machine does not show).
	DatabaseCPUPerRequestMs float64 `json:"database_cpu_ms_per_request,omitempty"`
	// SQLite: commits and checkpoints per second during the scenario, the
	// portal's flushes to disk (commits flush only with synchronous=full).
	CommitsPerSecond     float64 `json:"sqlite_commits_per_second,omitempty"`
	CheckpointsPerSecond float64 `json:"sqlite_checkpoints_per_second,omitempty"`
	// Login only: argon2id verifications per second on their own, and the
	// login rate as a share of it.
	Argon2PerSecond float64 `json:"argon2id_per_second,omitempty"`
	Argon2CPUms     float64 `json:"argon2id_cpu_ms_per_hash,omitempty"`
	OfArgon2        float64 `json:"rate_share_of_argon2id,omitempty"`
	// HashShareOfCPU is the argon2id hash's share of the portal's CPU per
	// login: the rest is everything else a login does.
	HashShareOfCPU float64 `json:"hash_share_of_login_cpu,omitempty"`
	Note           string  `json:"note,omitempty"`
}

// drive runs op from b.clients goroutines for b.duration (or until op runs
// out of users) and measures the successful operations (rate, latency),
// the other answers by status, and the portal's cost per success.
// op gets a sequence number unique to the call and returns the final HTTP
// status of the operation.
func (b *bench) drive(ctx context.Context, name string, op func(ctx context.Context, i int) (int, error)) (*benchResult, error) {
	okStatus := map[string]int{scenarioEmailCode: http.StatusAccepted}[name]
	if okStatus == 0 {
		okStatus = http.StatusOK
	}
	profiled := b.profile(ctx, name)
	resetPeakRSS(b.pid)
	commits0, checkpoints0 := b.flushes()
	cpu0, load0, db0 := processCPU(b.pid), selfCPU(), b.databaseCPU()
	var next atomic.Int64
	var emptied atomic.Bool
	var mu sync.Mutex
	var lat []time.Duration
	errs := map[string]int{}
	ctx, cancel := context.WithTimeout(ctx, b.duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for range b.clients {
		wg.Go(func() {
			var mine []time.Duration
			myErrs := map[string]int{}
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				t := time.Now()
				status, err := op(ctx, i)
				if errors.Is(err, errPoolEmpty) {
					// This client is done; the others finish what they started.
					emptied.Store(true)
					break
				}
				switch {
				case ctx.Err() != nil:
					// Cut off by the end of the run: not counted.
				case err != nil:
					myErrs["network: "+shortError(err)]++
				case status != okStatus:
					myErrs[strconv.Itoa(status)+" "+http.StatusText(status)]++
				default:
					mine = append(mine, time.Since(t))
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			for k, v := range myErrs {
				errs[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	cpu1, load1, db1 := processCPU(b.pid), selfCPU(), b.databaseCPU()
	commits1, checkpoints1 := b.flushes()
	if err := <-profiled; err != nil {
		fmt.Fprintf(b.m.Stderr, "bench: CPU profile of %s: %v\n", name, err)
	}
	slices.Sort(lat)
	res := &benchResult{Scenario: name, Clients: b.clients, Requests: len(lat), Seconds: elapsed, Errors: errs}
	if commits0 >= 0 && commits1 >= 0 {
		res.CommitsPerSecond, res.CheckpointsPerSecond = (commits1-commits0)/elapsed, (checkpoints1-checkpoints0)/elapsed
	}
	if len(lat) == 0 {
		return res, nil
	}
	res.PerSecond = float64(len(lat)) / elapsed
	res.P50ms, res.P90ms, res.P99ms = ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99))
	if b.pid != 0 && cpu1 >= 0 {
		res.CPUPerRequestMs = 1000 * (cpu1 - cpu0) / float64(len(lat))
		res.PeakRSSMiB = peakRSS(b.pid)
	}
	res.LoadCPUPerRequestMs = 1000 * (load1 - load0) / float64(len(lat))
	if db0 != nil && db1 != nil {
		res.DatabaseCPUPerRequestMs = 1000 * cpuSince(db0, db1) / float64(len(lat))
	}
	if emptied.Load() && elapsed < b.duration.Seconds()*0.99 {
		res.Note = "stopped early: every prepared user was used (seed more with --users)"
	}
	return res, nil
}

// profile fetches the portal's CPU profile over most of the scenario into
// the --cpuprofile directory; the channel reports when it is written.
func (b *bench) profile(ctx context.Context, name string) <-chan error {
	done := make(chan error, 1)
	if b.pprof == "" {
		done <- nil
		return done
	}
	secs := max(1, int(b.duration.Seconds())-1)
	go func() {
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", b.pprof, secs))
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(b.profiles, name+".pprof"))
		if err == nil {
			_, err = io.Copy(f, resp.Body)
			err = errors.Join(err, f.Close())
		}
		done <- err
	}()
	return done
}

func percentile(sorted []time.Duration, p int) time.Duration {
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func shortError(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// post sends a JSON body with the session cookie (if any) and returns the
// status; with newToken, the session cookie the answer sets is stored there.
func (b *bench) post(ctx context.Context, path, token string, body any, newToken *string) (int, error) {
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.url+path, bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	return b.send(req, token, newToken)
}

func (b *bench) get(ctx context.Context, path, token string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.url+path, nil)
	if err != nil {
		return 0, err
	}
	return b.send(req, token, nil)
}

func (b *bench) send(req *http.Request, token string, newToken *string) (int, error) {
	if token != "" {
		req.Header.Set("Cookie", b.cookie()+"="+token)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if newToken != nil {
		for _, c := range resp.Cookies() {
			if c.Name == b.cookie() {
				*newToken = c.Value
			}
		}
	}
	return resp.StatusCode, nil
}

// cookie is the session cookie's name (SPEC §3: prefixed on https).
func (b *bench) cookie() string {
	if strings.HasPrefix(b.url, "https:") {
		return "__Host-portal_session"
	}
	return "portal_session"
}

// processCPU is a process's user+system CPU seconds from /proc, or -1.
func processCPU(pid int) float64 {
	if pid == 0 {
		return -1
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	_, cpu := parseStat(data)
	return cpu
}

// parseStat reads a /proc/PID/stat line: the command name and the CPU
// seconds (-1 when the line is not one).
func parseStat(data []byte) (name string, cpu float64) {
	open, end := bytes.IndexByte(data, '('), bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return "", -1
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3, utime 14 and stime 15, in clock ticks of 1/100 s.
	f := strings.Fields(string(data[end+1:]))
	if len(f) < 13 {
		return "", -1
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	s, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return "", -1
	}
	return string(data[open+1 : end]), (u + s) / 100
}

// databaseCPU samples the CPU seconds of the PostgreSQL server's
// processes on this machine, by process id; nil for SQLite (it runs in
// the portal's process, whose CPU is counted already) and when no
// process named postgres is to be seen (a server elsewhere).
func (b *bench) databaseCPU() map[int]float64 {
	if b.m.DB.Dialect != sqlstore.Postgres {
		return nil
	}
	return namedProcessesCPU("/proc", "postgres")
}

// namedProcessesCPU is the CPU seconds of each process called name under
// proc (a /proc file system), or nil when there is none.
func namedProcessesCPU(proc, name string) map[int]float64 {
	entries, err := os.ReadDir(proc)
	if err != nil {
		return nil
	}
	var out map[int]float64
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(proc, e.Name(), "stat"))
		if err != nil {
			continue // ended since the listing
		}
		if n, cpu := parseStat(data); n == name && cpu >= 0 {
			if out == nil {
				out = map[int]float64{}
			}
			out[pid] = cpu
		}
	}
	return out
}

// cpuSince is the CPU the processes of the second sample used since the
// first: all of it for one that started in between (or took the id of one
// that ended, whose count it does not continue). One that ended in between
// takes its CPU with it: the portal keeps its connections, and with them
// their server processes.
func cpuSince(before, after map[int]float64) float64 {
	var d float64
	for pid, cpu := range after {
		if prev, ok := before[pid]; ok && prev <= cpu {
			cpu -= prev
		}
		d += cpu
	}
	return d
}

// selfCPU is this process's CPU seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// resetPeakRSS starts a new peak ("5" to clear_refs resets VmHWM).
func resetPeakRSS(pid int) {
	if pid != 0 {
		os.WriteFile("/proc/"+strconv.Itoa(pid)+"/clear_refs", []byte("5"), 0)
	}
}

// peakRSS is the process's peak resident memory in MiB since the reset.
func peakRSS(pid int) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// printResults writes the table.
func printResults(w io.Writer, results []*benchResult) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tclients\trequests\treq/s\tp50 ms\tp90 ms\tp99 ms\tportal CPU ms/req\tload CPU ms/req\tdatabase CPU ms/req\tportal peak RSS MiB\tcommits/s\tcheckpoints/s\terrors\t")
	for _, r := range results {
		var errs []string
		for k, v := range r.Errors {
			errs = append(errs, fmt.Sprintf("%d×%s", v, k))
		}
		slices.Sort(errs)
		if len(errs) == 0 {
			errs = []string{"none"}
		}
		dbCPU := "—"
		if r.DatabaseCPUPerRequestMs > 0 {
			dbCPU = fmt.Sprintf("%.3f", r.DatabaseCPUPerRequestMs)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.3f\t%.3f\t%s\t%.0f\t%.0f\t%.1f\t%s\t\n", r.Scenario, r.Clients, r.Requests, r.PerSecond,
			r.P50ms, r.P90ms, r.P99ms, r.CPUPerRequestMs, r.LoadCPUPerRequestMs, dbCPU, r.PeakRSSMiB, r.CommitsPerSecond, r.CheckpointsPerSecond, strings.Join(errs, ", "))
	}
	tw.Flush()
	for _, r := range results {
		if r.Note != "" {
			fmt.Fprintf(w, "%s: %s\n", r.Scenario, r.Note)
		}
	}
}

// smtpSink is an SMTP server on loopback that accepts and drops every
// message: the mail server of the email-code scenario.
type smtpSink struct {
	srv      *smtp.Server
	ln       net.Listener
	received atomic.Int64
}

func startSMTPSink() (*smtpSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &smtpSink{ln: ln}
	s.srv = smtp.NewServer(s)
	s.srv.Domain = "localhost"
	s.srv.ErrorLog = log.New(io.Discard, "", 0)
	go s.srv.Serve(ln)
	return s, nil
}

func (s *smtpSink) Addr() string { return s.ln.Addr().String() }
func (s *smtpSink) Close()       { s.srv.Close() }

// NewSession implements smtp.Backend.
func (s *smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return sinkSession{s}, nil }

type sinkSession struct{ s *smtpSink }

func (sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (sinkSession) Reset()                               {}
func (sinkSession) Logout() error                        { return nil }
func (x sinkSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	x.s.received.Add(1)
	return err
}

// flushes reads the started SQLite portal's commit and checkpoint
// counters from its metrics; -1 when there are none (PostgreSQL, --url).
func (b *bench) flushes() (commits, checkpoints float64) {
	if b.metrics == "" {
		return -1, -1
	}
	resp, err := http.Get("http://" + b.metrics + "/metrics")
	if err != nil {
		return -1, -1
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	commits, checkpoints = -1, -1
	for _, line := range strings.Split(string(page), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		switch {
		case err != nil:
		case name == "portal_sqlite_commits_total":
			commits = v
		case name == "portal_sqlite_checkpoints_total":
			checkpoints = v
		}
	}
	return commits, checkpoints
}

// syncLabel says how the portal under test flushed SQLite.
func (b *bench) syncLabel() string {
	if b.m.DB.Dialect != sqlstore.SQLite {
		return ""
	}
	return b.sync
}
