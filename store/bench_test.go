package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tocsin"
	"tocsin/store"
	"tocsin/store/storetest"
)

// BenchmarkIngest measures committing one new-incident alert per call
// (one transaction: payload, incident, alert, timeline, one notify job per
// channel), from parallel goroutines.
func BenchmarkIngest(b *testing.B) {
	for _, kind := range storetest.Kinds() {
		b.Run(kind.Name, func(b *testing.B) {
			db := storetest.Open(b, kind.URL(b), store.Options{Policy: tocsin.Policy{
				Channels: []string{"webhook"}, AutoResolve: true, Impacts: tocsin.DefaultImpacts(),
			}})
			var n atomic.Int64
			ctx := context.Background()
			b.SetParallelism(8)
			b.ResetTimer()
			start := cpuTime(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					a := storetest.NewAlert("bench-"+strconv.FormatInt(i, 10), "fp", tocsin.AlertFiring, "critical")
					if _, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{a}, tocsin.IngestOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			})
			reportCPU(b, start)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
		})
	}
}

// BenchmarkRunbookSleepResume measures the durable half of runbook
// executions: one op starts 1,000 executions of a one-sleep runbook, one
// per incident, from 8 goroutines (each start a transaction: execution,
// step, timeline, the sleep's timer), fast-forwards past the sleep, claims
// the timers and completes each with its RunbookResult through
// CompleteJob, from 8 goroutines (each a transaction: the job's end, the
// step's and the execution's, the timeline).
func BenchmarkRunbookSleepResume(b *testing.B) {
	const n, workers = 1000, 8
	const doc = `{"schemaVersion":"0.3","mainSteps":[{"name":"Nap","action":"aws:sleep","inputs":{"Duration":"PT10M"}}]}`
	for _, kind := range storetest.Kinds() {
		b.Run(kind.Name, func(b *testing.B) {
			clock := storetest.NewClock(storetest.Epoch)
			db := storetest.Open(b, kind.URL(b), store.Options{Now: clock.Now, Policy: tocsin.Policy{Impacts: tocsin.DefaultImpacts()}})
			ctx := context.Background()
			if _, _, err := db.Runbooks().PutRunbook(ctx, &tocsin.Runbook{Name: "nap-book", Body: doc, Document: json.RawMessage(doc)}); err != nil {
				b.Fatal(err)
			}
			incidents := make([]string, n)
			for i := range incidents {
				inc, _, err := db.Incidents().StartIncident(ctx, &tocsin.IncidentStart{Title: "bench " + strconv.Itoa(i), By: tocsin.Actor{Name: "bench"}})
				if err != nil {
					b.Fatal(err)
				}
				incidents[i] = inc.ID
			}
			parallel := func(jobs int, do func(i int) error) {
				if err := storetest.Parallel(workers, jobs, do); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				parallel(n, func(i int) error {
					_, err := db.Runbooks().StartRunbook(ctx, tocsin.RunbookStart{Runbook: "nap-book", IncidentID: incidents[i], By: tocsin.Actor{Name: "bench"}})
					return err
				})
				clock.Add(10 * time.Minute)
				jobs, err := db.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "bench", Now: clock.Now(), Lease: time.Hour, Limit: n, Kinds: []string{tocsin.JobRunbookStep}})
				if err != nil || len(jobs) != n {
					b.Fatalf("claimed %d of %d sleeps: %v", len(jobs), n, err)
				}
				parallel(n, func(i int) error {
					var args tocsin.RunbookStepArgs
					if err := json.Unmarshal(jobs[i].Args, &args); err != nil {
						return err
					}
					return db.Jobs().CompleteJob(ctx, jobs[i], "bench", tocsin.JobOutcome{Runbook: &tocsin.RunbookResult{
						ExecutionID: args.ExecutionID, Seq: args.Seq, Attempt: args.Attempt, Woke: true}})
				})
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/execution")
			done, err := db.Runbooks().RunbookExecutions(ctx, tocsin.RunbookFilter{Status: []string{tocsin.RunbookSuccess}, Limit: store.MaxRunbookPage})
			if err != nil || len(done) < min(n, store.MaxRunbookPage) {
				b.Fatalf("%d executions ended in Success: %v", len(done), err)
			}
		})
	}
}

// seedJobs queues n due jobs of kind in lane in one transaction, straight
// through SQL: a backlog to claim against.
func seedJobs(b *testing.B, db *store.DB, kind, lane string, n int, due time.Time) {
	b.Helper()
	tx, err := db.SQL().Begin()
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if _, err := tx.Exec(`INSERT INTO jobs (id, kind, lane, args, due_at, created_at) VALUES ($1, $2, $3, '{}', $4, $4)`,
			fmt.Sprintf("%s-%06d", lane, i), kind, lane, due.Add(time.Duration(i)*time.Microsecond).UnixMicro()); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkClaimJobs measures one claim and the release of what it took,
// beside a backlog of 5,000 due jobs: in a lane whose workers are all busy
// (busy-lane: the claim must not pay for the backlog it cannot take), and
// in a lane with 8 free workers (drain: 8 claimed a time).
func BenchmarkClaimJobs(b *testing.B) {
	for _, kind := range storetest.Kinds() {
		b.Run(kind.Name, func(b *testing.B) {
			for _, tc := range []struct {
				name  string
				slots map[string]int
				want  int
			}{
				{"busy-lane", map[string]int{"busy": 0}, 1},
				{"drain", map[string]int{"busy": 8}, 8},
			} {
				b.Run(tc.name, func(b *testing.B) {
					now := time.Now()
					db := storetest.Open(b, kind.URL(b), store.Options{})
					seedJobs(b, db, "timer", "busy", 5000, now.Add(-time.Hour))
					seedJobs(b, db, "timer", "free", 1, now.Add(-time.Minute))
					ctx := context.Background()
					c := tocsin.JobClaim{Owner: "w", Lease: time.Minute, Limit: 128, Kinds: []string{"timer"}, Slots: tc.slots, DefaultSlots: 8}
					b.ResetTimer()
					start := cpuTime(b)
					defer reportCPU(b, start)
					for range b.N {
						c.Now = time.Now()
						jobs, err := db.Jobs().ClaimJobs(ctx, c)
						if err != nil || len(jobs) < tc.want {
							b.Fatalf("claimed %d, %v; want %d", len(jobs), err, tc.want)
						}
						ids := make([]string, len(jobs))
						for i, j := range jobs {
							ids[i] = j.ID
						}
						if err := db.Jobs().ReleaseJobs(ctx, "w", ids); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// BenchmarkLoadDelivery measures what a notification job reads before it
// sends: the incident with its alerts, the alert's payload and the
// channel's reference; batch16 reads 16 incidents' at once
// (LoadDeliveries), and an op is still one delivery.
func BenchmarkLoadDelivery(b *testing.B) {
	for _, kind := range storetest.Kinds() {
		b.Run(kind.Name, func(b *testing.B) {
			db := storetest.Open(b, kind.URL(b), store.Options{Policy: tocsin.Policy{Impacts: tocsin.DefaultImpacts()}})
			ctx := context.Background()
			var incs, alerts []string
			for i := range 16 {
				a := storetest.NewAlert(fmt.Sprint("g", i), "a", tocsin.AlertFiring, "critical")
				a.Raw = []byte(`{"receiver":"x","status":"firing","alerts":[{"labels":{"alertname":"a"}}]}`)
				res, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{a}, tocsin.IngestOptions{})
				if err != nil {
					b.Fatal(err)
				}
				incs, alerts = append(incs, res[0].IncidentID), append(alerts, res[0].AlertID)
			}
			b.Run("one", func(b *testing.B) {
				start := cpuTime(b)
				defer reportCPU(b, start)
				for i := range b.N {
					d, err := db.Incidents().LoadDelivery(ctx, incs[i%16], alerts[i%16], "webhook")
					if err != nil || d.Alert == nil || len(d.Payload) == 0 {
						b.Fatalf("delivery %+v, %v", d, err)
					}
				}
			})
			b.Run("batch16", func(b *testing.B) {
				start := cpuTime(b)
				defer reportCPU(b, start)
				for i := 0; i < b.N; i += 16 {
					ds, err := db.Incidents().LoadDeliveries(ctx, "webhook", incs, alerts)
					if err != nil || ds[15] == nil || ds[15].Alert == nil || len(ds[15].Payload) == 0 {
						b.Fatalf("deliveries %+v, %v", ds, err)
					}
				}
			})
		})
	}
}

// BenchmarkIngestRepeat measures re-sent reports of one firing alert (the
// same Alertmanager group again, its repeat_interval), from parallel
// goroutines: deduplicated into the open incident, changing nothing.
func BenchmarkIngestRepeat(b *testing.B) {
	for _, kind := range storetest.Kinds() {
		b.Run(kind.Name, func(b *testing.B) {
			db := storetest.Open(b, kind.URL(b), store.Options{Policy: tocsin.Policy{
				Channels: []string{"webhook"}, AutoResolve: true, Impacts: tocsin.DefaultImpacts(),
			}})
			ctx := context.Background()
			alert := func() *tocsin.Alert {
				a := storetest.NewAlert("repeat", "fp", tocsin.AlertFiring, "critical")
				a.Raw = []byte(`{"receiver":"webhook","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"DiskFull","instance":"db-1"},` +
					`"annotations":{"summary":"Disk full on db-1"},"startsAt":"2026-01-01T00:00:00Z","fingerprint":"fp"}],"groupKey":"{}:{alertname=\"DiskFull\"}"}`)
				return a
			}
			if _, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{alert()}, tocsin.IngestOptions{}); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(8)
			b.ResetTimer()
			start := cpuTime(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{alert()}, tocsin.IngestOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			})
			reportCPU(b, start)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
		})
	}
}

// cpuTime is the CPU time this process has used (user and system).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU time per op since start: on a
// machine shared with other work, a steadier figure than wall time.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime(b)-start).Microseconds())/float64(b.N), "cpu-µs/op")
}
