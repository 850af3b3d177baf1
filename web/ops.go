package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/clientportal/portal"
	"github.com/clientportal/portal/password"
)

// metrics are the portal's Prometheus series.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.HistogramVec
	logins   *prometheus.CounterVec
	handler  http.Handler
}

func newMetrics(hasher *password.Hasher) *metrics {
	r := prometheus.NewRegistry()
	m := &metrics{registry: r}
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "portal_http_request_duration_seconds", Help: "HTTP requests by route and status.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route", "code"})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "portal_logins_total", Help: "Password steps by result."}, []string{"result"})
	r.MustRegister(m.requests, m.logins,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "portal_password_hashes_in_flight", Help: "argon2id hashes running now."},
			func() float64 { return float64(hasher.InFlight()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "portal_password_hash_limit", Help: "argon2id hashes allowed at once."},
			func() float64 { return float64(hasher.Limit()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "portal_password_hashes_peak", Help: "Most argon2id hashes that ever ran at once."},
			func() float64 { return float64(hasher.Peak()) }),
	)
	m.handler = promhttp.HandlerFor(r, promhttp.HandlerOpts{})
	return m
}

// RegisterMetrics adds collectors (the database's, say) to the portal's
// metrics.
func (s *Server) RegisterMetrics(cs ...prometheus.Collector) {
	s.metrics.registry.MustRegister(cs...)
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Observe(d.Seconds())
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		s.Logger.Warn("not ready", "request_id", state(r).id, "err", err)
		return &portal.Error{Code: portal.EUNAVAILABLE, Message: "The database is not reachable.", RetryAfter: 5 * time.Second}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// MetricsHandler serves the Prometheus metrics. They include user counts and
// 2FA adoption, so main serves them on their own listener
// (PORTAL_METRICS_ADDR), never among the portal's routes.
func (s *Server) MetricsHandler() http.Handler { return s.metrics.handler }

// adoptionCollector exports 2FA adoption as gauges, computed at scrape time.
type adoptionCollector struct {
	s                        *Server
	total, enabled, byMethod *prometheus.Desc
}

func newAdoptionCollector(s *Server) *adoptionCollector {
	return &adoptionCollector{s: s,
		total:    prometheus.NewDesc("portal_users", "Users by role.", []string{"role"}, nil),
		enabled:  prometheus.NewDesc("portal_users_2fa_enabled", "Users with two-factor authentication, by role.", []string{"role"}, nil),
		byMethod: prometheus.NewDesc("portal_users_2fa_method", "Users with a confirmed method of each type.", []string{"method"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *adoptionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.total
	ch <- c.enabled
	ch <- c.byMethod
}

// Collect implements prometheus.Collector.
func (c *adoptionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, _, err := c.s.stats(ctx)
	if err != nil {
		c.s.Logger.Warn("metrics: 2FA statistics", "err", err)
		return
	}
	for role, a := range st.ByRole {
		ch <- prometheus.MustNewConstMetric(c.total, prometheus.GaugeValue, float64(a.Total), role)
		ch <- prometheus.MustNewConstMetric(c.enabled, prometheus.GaugeValue, float64(a.Enabled), role)
	}
	for m, n := range st.ByMethod {
		ch <- prometheus.MustNewConstMetric(c.byMethod, prometheus.GaugeValue, float64(n), m)
	}
}
