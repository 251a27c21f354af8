package engine_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tocsin"
	"tocsin/engine"
	"tocsin/store"
	"tocsin/store/storetest"
)

func startWorker(t *testing.T, db *store.DB, clock func() time.Time, handlers map[string]engine.Handler, mod func(*engine.Worker)) *engine.Worker {
	w := engine.NewWorker(db, handlers)
	w.Now, w.PollInterval = clock, 20*time.Millisecond
	if mod != nil {
		mod(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSlowLaneDoesNotBlockOthers(t *testing.T) {
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{})
	ctx := context.Background()
	release := make(chan struct{})
	var slowRunning, slowMax, fastDone atomic.Int32
	handler := engine.HandlerFunc(func(ctx context.Context, j *tocsin.Job) tocsin.JobOutcome {
		if j.Lane == "slow" {
			n := slowRunning.Add(1)
			for {
				m := slowMax.Load()
				if n <= m || slowMax.CompareAndSwap(m, n) {
					break
				}
			}
			<-release
			slowRunning.Add(-1)
			return tocsin.JobOutcome{}
		}
		fastDone.Add(1)
		return tocsin.JobOutcome{}
	})
	for i := 0; i < 20; i++ {
		db.ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "slow", DueAt: time.Now()})
		db.ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "fast", DueAt: time.Now()})
	}
	startWorker(t, db, time.Now, map[string]engine.Handler{"k": handler}, func(w *engine.Worker) { w.LaneWorkers = 3 })
	waitFor(t, "fast lane", func() bool { return fastDone.Load() == 20 })
	if m := slowMax.Load(); m > 3 {
		t.Fatalf("slow lane ran %d jobs at once; limit 3", m)
	}
	close(release)
	waitFor(t, "slow lane drains", func() bool { n, _ := db.PendingJobs(ctx); return n == 0 })
}

func TestRetryPanicAndTimers(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{Now: clock.Now})
	ctx := context.Background()
	var mu sync.Mutex
	runs := map[string]int{}
	handler := engine.HandlerFunc(func(ctx context.Context, j *tocsin.Job) tocsin.JobOutcome {
		mu.Lock()
		runs[j.Key]++
		n := runs[j.Key]
		mu.Unlock()
		switch {
		case j.Key == "retry" && n == 1:
			return tocsin.JobOutcome{RetryAt: clock.Now(), Error: "try again"}
		case j.Key == "panic" && n == 1:
			panic("boom")
		}
		return tocsin.JobOutcome{}
	})
	w := startWorker(t, db, clock.Now, map[string]engine.Handler{"k": handler}, nil)
	db.ScheduleJob(ctx, &tocsin.Job{Kind: "k", Key: "retry", DueAt: clock.Now()})
	db.ScheduleJob(ctx, &tocsin.Job{Kind: "k", Key: "panic", DueAt: clock.Now()})
	db.ScheduleJob(ctx, &tocsin.Job{Kind: "k", Key: "later", DueAt: clock.Now().Add(time.Hour)})
	count := func(k string) int { mu.Lock(); defer mu.Unlock(); return runs[k] }
	waitFor(t, "retry", func() bool { return count("retry") == 2 })
	// The panicked job is retried after its backoff (1s ± jitter).
	clock.Add(2 * time.Second)
	w.Wake()
	waitFor(t, "panic retried", func() bool { return count("panic") == 2 })
	time.Sleep(50 * time.Millisecond)
	if count("later") != 0 {
		t.Fatal("a timer ran before it was due")
	}
	clock.Add(time.Hour)
	w.Wake()
	waitFor(t, "timer", func() bool { return count("later") == 1 })
	waitFor(t, "queue empty", func() bool { n, _ := db.PendingJobs(ctx); return n == 0 })
}

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		attempt int
		after   time.Duration
		rnd     float64
		lo, hi  time.Duration
	}{
		{1, 0, 0.5, time.Second, time.Second},
		{2, 0, 0.5, 2 * time.Second, 2 * time.Second},
		{1, 0, 0, 800 * time.Millisecond, 800 * time.Millisecond},
		{30, 0, 0.5, 5 * time.Minute, 5 * time.Minute},
		{1, 7 * time.Second, 0.5, 7 * time.Second, 7 * time.Second},
	} {
		if got := engine.Backoff(c.attempt, c.after, c.rnd); got < c.lo || got > c.hi {
			t.Errorf("Backoff(%d, %s, %v) = %s", c.attempt, c.after, c.rnd, got)
		}
	}
}
