package main_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clientportal/portal/sqlstore/storetest"
)

// TestBenchSmoke runs `portal bench` with a few hundred users for a second
// per scenario, on each database: it seeds, starts the real binary, drives
// every scenario over HTTP and reports numbers for each, with no errors.
// (The measurements themselves are in the README, made with real sizes.)
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	bin := buildPortal(t)
	storetest.ForEachDialect(t, func(t *testing.T, dialect string) {
		dsn := storetest.DSN(t, dialect)
		dir := t.TempDir()
		out := filepath.Join(dir, "bench.json")
		cmd := exec.Command(bin, "bench", "--users", "2000", "--clients", "4", "--duration", "1s", "--shuffle", "--json", out)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "PORTAL_DATABASE_URL=" + dsn, "PORTAL_DATA_DIR=" + dir, "PORTAL_SECRET_KEYS=" + testKeys}
		table, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("portal bench: %v\n%s", err, table)
		}
		for _, s := range []string{"seeded 2000 users", "second-factor", "login", "admin-list", "email-code", "oidc-token", "oidc-refresh", "req/s", "database CPU ms/req", "of the rate of argon2id alone", "of a login's CPU"} {
			if !strings.Contains(string(table), s) {
				t.Errorf("output lacks %q:\n%s", s, table)
			}
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var report struct {
			Database string
			Results  []struct {
				Scenario  string
				Requests  int
				PerSecond float64 `json:"per_second"`
				P99       float64 `json:"p99_ms"`
				Errors    map[string]int
				CPU       float64 `json:"portal_cpu_ms_per_request"`
				RSS       float64 `json:"portal_peak_rss_mib"`
				Argon2    float64 `json:"argon2id_per_second"`
				DBCPU     float64 `json:"database_cpu_ms_per_request"`
			}
		}
		if err := json.Unmarshal(data, &report); err != nil {
			t.Fatalf("JSON report: %v\n%s", err, data)
		}
		if report.Database != dialect || len(report.Results) != 6 {
			t.Fatalf("report for %q with %d scenarios, want %s and 6:\n%s", report.Database, len(report.Results), dialect, data)
		}
		for _, r := range report.Results {
			t.Logf("%s: %d requests, database CPU %.3f ms/req", r.Scenario, r.Requests, r.DBCPU)
			if r.Requests == 0 || r.PerSecond <= 0 || r.P99 <= 0 || r.CPU <= 0 || r.RSS <= 0 || len(r.Errors) != 0 {
				t.Errorf("%s: %+v; want requests, latency, the portal's CPU and memory, and no errors", r.Scenario, r)
			}
			if r.Scenario == "login" && r.Argon2 <= 0 {
				t.Errorf("login: no argon2id baseline: %+v", r)
			}
			// PostgreSQL's own CPU is reported when its processes run
			// here; SQLite's is the portal's.
			switch {
			case dialect == "sqlite" && r.DBCPU != 0:
				t.Errorf("%s on SQLite: database CPU %v ms/req reported beside the portal's", r.Scenario, r.DBCPU)
			case dialect == "postgres" && r.Scenario == "second-factor" && localPostgres() && r.DBCPU <= 0:
				t.Errorf("%s: PostgreSQL runs on this machine, but no database CPU: %+v", r.Scenario, r)
			}
		}
	})
}

// localPostgres tells whether a PostgreSQL server process runs on this
// machine (one the bench can measure).
func localPostgres() bool {
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		comm, err := os.ReadFile(filepath.Join("/proc", d.Name(), "comm"))
		if err == nil && strings.TrimSpace(string(comm)) == "postgres" {
			return true
		}
	}
	return false
}
