package engine_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"tocsin"
	"tocsin/engine"
	"tocsin/store"
	"tocsin/store/storetest"
)

// TestInstancesWakeEachOther: two instances on one PostgreSQL database,
// B idle with a poll interval of a minute. A job A queues is run by B long
// before B's next poll: only A's NOTIFY, heard on B's LISTEN connection,
// can have woken it.
func TestInstancesWakeEachOther(t *testing.T) {
	url := storetest.PostgresURL(t)
	ctx := context.Background()
	a := storetest.Open(t, url, store.Options{})
	sig := engine.NewSignal()
	b := storetest.Open(t, url, store.Options{Wake: sig.Wake})
	var ranOnB atomic.Int32
	startWorker(t, b, time.Now, map[string]engine.Handler{"ping": engine.HandlerFunc(func(ctx context.Context, j *tocsin.Job) tocsin.JobOutcome {
		ranOnB.Add(1)
		return tocsin.JobOutcome{}
	})}, func(w *engine.Worker) { w.Signal, w.PollInterval = sig, time.Minute })
	// B has looked once, found nothing, and sleeps its minute.
	time.Sleep(300 * time.Millisecond)
	t0 := time.Now()
	if err := a.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "ping", DueAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "B to run the job A queued", func() bool { return ranOnB.Load() == 1 })
	t.Logf("B ran A's job %s after it was queued", time.Since(t0).Round(time.Millisecond))
	waitFor(t, "B to complete it", func() bool { n, err := a.Jobs().PendingJobs(ctx); return err == nil && n == 0 })
}
