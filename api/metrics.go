package api

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tocsin"
)

// QueueStats reports the outbox for metrics; the store implements it.
type QueueStats interface {
	PendingJobs(ctx context.Context) (int, error)
	NextDue(ctx context.Context) (time.Time, bool, error)
}

// Metrics are tocsin's Prometheus metrics on an explicit registry.
type Metrics struct {
	Registry        *prometheus.Registry
	AlertsReceived  *prometheus.CounterVec
	IncidentsOpened prometheus.Counter
	Notifications   *prometheus.CounterVec
	// IntakeWarnings counts request parameters intake ignored, by reason.
	IntakeWarnings *prometheus.CounterVec
	// DeliveryFailures counts deliveries that gave up, by channel or
	// on-call provider: each is an incident somebody was not told about.
	DeliveryFailures *prometheus.CounterVec
	// IntakePaced counts intake answers held while deliveries were behind
	// (engine.Pacer); IntakePacedSeconds sums how long they waited.
	IntakePaced        prometheus.Counter
	IntakePacedSeconds prometheus.Counter
}

// JobStatsSource reports the queue per job kind; the store implements it.
type JobStatsSource interface {
	JobStats(ctx context.Context) ([]tocsin.JobKindStats, error)
}

// NewMetrics registers tocsin's metrics; queue gauges are read from stats
// at scrape time.
func NewMetrics(stats QueueStats, now func() time.Time) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		AlertsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_alerts_received_total", Help: "Alerts accepted, by source.",
		}, []string{"source"}),
		IncidentsOpened: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tocsin_incidents_opened_total", Help: "Incidents opened.",
		}),
		Notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_notifications_total", Help: "Notification attempts by channel and result (sent, retry, failed).",
		}, []string{"channel", "result"}),
		IntakeWarnings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tocsin_intake_warnings_total",
			Help: "Request parameters intake ignored while accepting alerts, by reason (unknown_parameter, channel_disabled, unauthenticated, not_allowed, unknown_key, invalid_value, oncall_unavailable, oncall_not_armed).",
		}, []string{"reason"}),
	}
	m.DeliveryFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tocsin_delivery_failures_total", Help: "Notifications and escalations that gave up, by channel or on-call provider.",
	}, []string{"channel"})
	reg.MustRegister(m.DeliveryFailures)
	m.IntakePaced = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tocsin_intake_paced_total", Help: "Intake answers held (after commit) while a fast lane had more than ingest.pace.backlog jobs due.",
	})
	m.IntakePacedSeconds = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tocsin_intake_paced_seconds_total", Help: "How long intake answers were held in all while deliveries were behind.",
	})
	reg.MustRegister(m.IntakePaced, m.IntakePacedSeconds)
	if js, ok := stats.(JobStatsSource); ok {
		reg.MustRegister(&jobCollector{stats: js, now: now})
	}
	reg.MustRegister(m.AlertsReceived, m.IncidentsOpened, m.Notifications, m.IntakeWarnings,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tocsin_outbox_depth", Help: "Jobs not yet finished: queued notifications, retries and armed timers.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := stats.PendingJobs(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tocsin_timer_lag_seconds", Help: "How long the oldest due job has been waiting (0 when none is due).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		due, ok, err := stats.NextDue(ctx)
		if err != nil || !ok {
			return 0
		}
		return max(now().Sub(due).Seconds(), 0)
	}))
	return m
}

// jobCollector reads the queue per job kind at scrape time, so a job
// delayed for long (a provider's Retry-After, an outage, a job no running
// instance can run) shows up even while the outbox depth looks small.
type jobCollector struct {
	stats JobStatsSource
	now   func() time.Time
}

var (
	jobsPendingDesc = prometheus.NewDesc("tocsin_jobs_pending", "Unfinished jobs by kind (queued, running, armed timers).", []string{"kind"}, nil)
	jobsDelayedDesc = prometheus.NewDesc("tocsin_jobs_delayed", "Jobs waiting to be retried after a failure, by kind.", []string{"kind"}, nil)
	jobsAgeDesc     = prometheus.NewDesc("tocsin_jobs_oldest_delayed_age_seconds", "Age of the oldest job waiting to be retried, by kind (0 when none).", []string{"kind"}, nil)
	jobsOverdueDesc = prometheus.NewDesc("tocsin_jobs_overdue", "Jobs due over a minute ago that no instance is running, by kind: lanes are saturated, or no running instance is configured to run them.", []string{"kind"}, nil)
	jobsFailedDesc  = prometheus.NewDesc("tocsin_jobs_failed", "Deliveries that gave up and wait for POST /api/v1/incidents/{id}/redeliver, by kind.", []string{"kind"}, nil)
)

// Describe implements prometheus.Collector.
func (c *jobCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{jobsPendingDesc, jobsDelayedDesc, jobsAgeDesc, jobsOverdueDesc, jobsFailedDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *jobCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stats, err := c.stats.JobStats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(jobsPendingDesc, err)
		return
	}
	now := c.now()
	for _, st := range stats {
		age := 0.0
		if !st.OldestRetry.IsZero() {
			age = max(now.Sub(st.OldestRetry).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(jobsPendingDesc, prometheus.GaugeValue, float64(st.Pending), st.Kind)
		ch <- prometheus.MustNewConstMetric(jobsDelayedDesc, prometheus.GaugeValue, float64(st.Retrying), st.Kind)
		ch <- prometheus.MustNewConstMetric(jobsAgeDesc, prometheus.GaugeValue, age, st.Kind)
		ch <- prometheus.MustNewConstMetric(jobsOverdueDesc, prometheus.GaugeValue, float64(st.Overdue), st.Kind)
		ch <- prometheus.MustNewConstMetric(jobsFailedDesc, prometheus.GaugeValue, float64(st.Failed), st.Kind)
	}
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// MetricsHandler serves m behind token, when set, as a bearer token
// (metrics.token); it is mounted at GET /metrics of the main listener or
// of its own (metrics.listen).
func MetricsHandler(m *Metrics, token string) http.Handler {
	h := m.Handler()
	if token == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tokenMatches(Bearer(r), []string{token}) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tocsin-metrics"`)
			Error(w, r, tocsin.Errorf(tocsin.EUNAUTHORIZED, "a valid metrics token is required (Authorization: Bearer TOKEN)"))
			return
		}
		h.ServeHTTP(w, r)
	})
}
