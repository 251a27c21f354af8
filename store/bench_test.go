package store_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
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
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					a := storetest.NewAlert("bench-"+strconv.FormatInt(i, 10), "fp", tocsin.AlertFiring, "critical")
					if _, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{a}, tocsin.IngestOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			})
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
				var next atomic.Int64
				var wg sync.WaitGroup
				errs := make(chan error, workers)
				for range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := int(next.Add(1)) - 1; i < jobs; i = int(next.Add(1)) - 1 {
							if err := do(i); err != nil {
								errs <- err
								return
							}
						}
					}()
				}
				wg.Wait()
				close(errs)
				if err := <-errs; err != nil {
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
