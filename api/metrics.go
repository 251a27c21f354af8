package api

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
