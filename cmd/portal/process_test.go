package main_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// binDir holds the binary built once for the tests that run it.
var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildPortal compiles the real binary (without -race, as operators run
// it), once per test run; PORTAL_TEST_BINARY names one built already (CI:
// the binary that then goes into the container image).
func buildPortal(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("PORTAL_TEST_BINARY"); bin != "" {
		return bin
	}
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "portal-test-bin"); binErr != nil {
			return
		}
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", filepath.Join(binDir, "portal"), ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "portal")
}

// startProcess runs the binary with env and waits until it answers /healthz.
func startProcess(t *testing.T, bin string, env ...string) (*exec.Cmd, string) {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve")
	cmd.Env = append([]string{"PORTAL_ADDR=" + addr, "PORTAL_DATA_DIR=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := "http://" + addr
	for i := 0; i < 200; i++ {
		if r, err := http.Get(url + "/healthz"); err == nil {
			r.Body.Close()
			return cmd, url
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatal("portal did not start")
	return nil, ""
}

// TestLoginFloodMemory: 200 concurrent logins against a real portal process
// with the real argon2id cost never run more hashes than 2×GOMAXPROCS and
// keep the process under 300 MB resident.
func TestLoginFloodMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := buildPortal(t)
	metricsAddr := freeAddr(t)
	cmd, url := startProcess(t, bin, "PORTAL_TRUSTED_PROXIES=127.0.0.1/32", "PORTAL_METRICS_ADDR="+metricsAddr)
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", url+"/api/v1/login", strings.NewReader(fmt.Sprintf(`{"email":"flood%d@example.com","password":"wrong password"}`, i)))
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i%250))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	for code := range statuses {
		if code != 401 && code != 503 {
			t.Fatalf("unexpected status %d: %v", code, statuses)
		}
	}
	metrics := get(t, "http://"+metricsAddr+"/metrics")
	peak, limit := metric(metrics, "portal_password_hashes_peak"), metric(metrics, "portal_password_hash_limit")
	if peak < 1 || peak > limit {
		t.Fatalf("peak hashes %v, bound %v", peak, limit)
	}
	rss := vmHWM(t, cmd.Process.Pid)
	if rss > 300<<20 {
		t.Fatalf("peak RSS %d MiB, want under 300", rss>>20)
	}
	t.Logf("statuses %v; peak %v hashes of %v; peak RSS %d MiB", statuses, peak, limit, rss>>20)
}

func get(t *testing.T, url string) string {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// metric reads one unlabelled series from a Prometheus text page.
func metric(page, name string) float64 {
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(page)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// vmHWM is a process's peak resident set size.
func vmHWM(t *testing.T, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skip("no /proc: cannot measure memory here")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("VmHWM not found")
	return 0
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func netListen() (interface {
	Close() error
	Addr() net.Addr
}, error) {
	return net.Listen("tcp", "127.0.0.1:0")
}
