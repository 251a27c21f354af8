// Package lateness measures, in process, how late durable timers fire
// when many fall due together (bench/timers measures the same end to end,
// through a running tocsin and a fake PagerDuty): N escalation timers (ack-or-escalate, oncall.provider set) due
// within a short window, run by the real engine and the real escalation
// handler against an on-call provider that answers at once (or after
// -timers.latency). It reports lateness — when the handler started minus
// when the timer was due — at p50, p99 and max, and the escalations/s.
//
//	go test -run '^$' -bench Timers -benchtime 1x ./bench/lateness/
//	go test -run '^$' -bench Timers -benchtime 1x ./bench/lateness/ -timers.n 2000 -timers.spread 1m
//
// PostgreSQL runs when TOCSIN_TEST_POSTGRES_URL is set.
package lateness_test

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	"tocsin"
	"tocsin/bench/internal/latency"
	"tocsin/engine"
	"tocsin/integration"
	"tocsin/store"
	"tocsin/store/storetest"
)

var (
	timersN       = flag.Int("timers.n", 10000, "escalation timers due together")
	timersSpread  = flag.Duration("timers.spread", time.Second, "window the timers fall due in (spread evenly)")
	timersLatency = flag.Duration("timers.latency", 0, "how long the fake provider takes to answer")
	timersWorkers = flag.Int("timers.lane-workers", engine.DefaultLaneWorkers, "the worker's LaneWorkers")
)

// provider is an on-call provider that opens incidents at once.
type provider struct{ latency time.Duration }

func (p provider) Name() string { return "bench" }
func (p provider) Trigger(ctx context.Context, e *integration.Escalation) (string, error) {
	time.Sleep(p.latency)
	return "ref-" + e.IncidentID, nil
}
func (p provider) Resolve(context.Context, *integration.Escalation, string) error { return nil }
func (p provider) HasTarget(string) bool                                          { return false }

// BenchmarkTimers arms -timers.n escalation timers, makes them due within
// -timers.spread from one second on, and runs them with the engine's
// defaults. Each op is one whole run.
func BenchmarkTimers(b *testing.B) {
	for _, kind := range storetest.Kinds() {
		b.Run(kind.Name, func(b *testing.B) {
			for range b.N {
				s := runTimers(b, kind.URL(b), *timersN, *timersSpread, *timersLatency)
				b.ReportMetric(s.late.P50, "p50-ms")
				b.ReportMetric(s.late.P99, "p99-ms")
				b.ReportMetric(s.late.Max, "max-ms")
				b.ReportMetric(s.rate, "escalations/s")
				b.Logf("%s: %d timers due within %s: lateness p50 %.0f ms, p99 %.0f ms, max %.0f ms; %.0f escalations/s",
					kind.Name, s.late.Count, *timersSpread, s.late.P50, s.late.P99, s.late.Max, s.rate)
			}
		})
	}
}

type result struct {
	late latency.Summary
	rate float64
}

func runTimers(b *testing.B, url string, n int, spread, providerLatency time.Duration) result {
	b.Helper()
	ctx := context.Background()
	db := storetest.Open(b, url, store.Options{Policy: tocsin.Policy{Impacts: tocsin.DefaultImpacts()}})
	seed(b, db, n)
	// Due from one second on, evenly within spread, in the order armed.
	t0 := time.Now().Add(time.Second)
	rows, err := db.SQL().QueryContext(ctx, `SELECT id FROM jobs WHERE kind = $1 ORDER BY id`, tocsin.JobEscalate)
	if err != nil {
		b.Fatal(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		rows.Scan(&id)
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) != n {
		b.Fatalf("%d timers armed; want %d", len(ids), n)
	}
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i, id := range ids {
		due := t0.Add(time.Duration(int64(spread) * int64(i) / int64(n)))
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET due_at = $1 WHERE id = $2`, due.UnixMicro(), id); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}

	var mu sync.Mutex
	late := make([]time.Duration, 0, n)
	var last time.Time
	all := make(chan struct{})
	h := &integration.Handler{Source: db.Incidents(), Providers: map[string]integration.Provider{"bench": provider{providerLatency}},
		Backoff: engine.Backoff, Now: time.Now}
	handler := engine.HandlerFunc(func(ctx context.Context, j *tocsin.Job) tocsin.JobOutcome {
		now := time.Now()
		mu.Lock()
		late = append(late, now.Sub(j.DueAt))
		last = now
		if len(late) == n {
			close(all)
		}
		mu.Unlock()
		return h.HandleEscalate(ctx, j)
	})
	sig := engine.NewSignal()
	w := engine.NewWorker(db.Jobs(), map[string]engine.Handler{tocsin.JobEscalate: handler})
	w.Signal, w.LaneWorkers = sig, *timersWorkers
	w.Lanes = map[string][]string{tocsin.JobEscalate: {tocsin.EscalateLane("bench")}}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	b.ResetTimer()
	go func() { defer close(done); w.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-all:
	case <-time.After(10*time.Minute + spread):
		b.Fatalf("only %d of %d timers fired", len(late), n)
	}
	// Every escalation recorded (its completion committed), not only run.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if p, err := db.Jobs().PendingJobs(ctx); err == nil && p == 0 {
			break
		} else if time.Now().After(deadline) {
			b.Fatalf("%d jobs still pending (%v)", p, err)
		}
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	return result{late: latency.Summarize(late), rate: float64(n) / last.Sub(t0).Seconds()}
}

// seed opens n incidents, each with an ack-or-escalate timer an hour
// away, 500 alerts a request.
func seed(b *testing.B, db *store.DB, n int) {
	b.Helper()
	ctx := context.Background()
	opts := tocsin.IngestOptions{OnCall: &tocsin.OnCallOptions{Provider: "bench", Wait: time.Hour}}
	for i := 0; i < n; i += 500 {
		var alerts []*tocsin.Alert
		for j := i; j < min(i+500, n); j++ {
			alerts = append(alerts, storetest.NewAlert(fmt.Sprintf("timer-%d", j), "fp", tocsin.AlertFiring, "critical"))
		}
		if _, err := db.Incidents().Ingest(ctx, alerts, opts); err != nil {
			b.Fatal(err)
		}
	}
}
