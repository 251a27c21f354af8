package engine_test

import (
	"context"
	"fmt"
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
	w := engine.NewWorker(db.Jobs(), handlers)
	w.Now, w.PollInterval = clock, 20*time.Millisecond
	if mod != nil {
		mod(w)
	}
	t.Cleanup(runWorker(w))
	return w
}

// runWorker runs w until the returned stop is called, which waits for
// Run to return.
func runWorker(w *engine.Worker) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	return func() { cancel(); <-done }
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
		db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "slow", DueAt: time.Now()})
		db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "fast", DueAt: time.Now()})
	}
	startWorker(t, db, time.Now, map[string]engine.Handler{"k": handler}, func(w *engine.Worker) { w.LaneWorkers = 3 })
	waitFor(t, "fast lane", func() bool { return fastDone.Load() == 20 })
	if m := slowMax.Load(); m > 3 {
		t.Fatalf("slow lane ran %d jobs at once; limit 3", m)
	}
	close(release)
	waitFor(t, "slow lane drains", func() bool { n, _ := db.Jobs().PendingJobs(ctx); return n == 0 })
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
	db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Key: "retry", DueAt: clock.Now()})
	db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Key: "panic", DueAt: clock.Now()})
	db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Key: "later", DueAt: clock.Now().Add(time.Hour)})
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
	waitFor(t, "queue empty", func() bool { n, _ := db.Jobs().PendingJobs(ctx); return n == 0 })
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
		// Retry-After: 864000 (10 days) is capped: a page days late is a failure.
		{1, 864000 * time.Second, 0.5, engine.MaxRetryAfter, engine.MaxRetryAfter},
	} {
		if got := engine.Backoff(c.attempt, c.after, c.rnd); got < c.lo || got > c.hi {
			t.Errorf("Backoff(%d, %s, %v) = %s", c.attempt, c.after, c.rnd, got)
		}
	}
}

// countingStore counts the jobs a worker holds: claimed and not yet
// completed or handed back.
type countingStore struct {
	tocsin.JobStore
	held atomic.Int32
}

func (s *countingStore) ClaimJobs(ctx context.Context, c tocsin.JobClaim) ([]*tocsin.Job, error) {
	jobs, err := s.JobStore.ClaimJobs(ctx, c)
	s.held.Add(int32(len(jobs)))
	return jobs, err
}

func (s *countingStore) CompleteJob(ctx context.Context, j *tocsin.Job, owner string, out tocsin.JobOutcome) error {
	s.held.Add(-1)
	return s.JobStore.CompleteJob(ctx, j, owner, out)
}

func (s *countingStore) ReleaseJobs(ctx context.Context, owner string, ids []string) error {
	s.held.Add(-int32(len(ids)))
	return s.JobStore.ReleaseJobs(ctx, owner, ids)
}

// TestClaimsOnlyWhatLanesCanStart: with a lane of 3 workers all stuck, the
// worker holds 3 jobs, not a batch whose leases run out while they wait.
func TestClaimsOnlyWhatLanesCanStart(t *testing.T) {
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{})
	ctx := context.Background()
	release := make(chan struct{})
	var running atomic.Int32
	handler := engine.HandlerFunc(func(ctx context.Context, j *tocsin.Job) tocsin.JobOutcome {
		running.Add(1)
		defer running.Add(-1)
		<-release
		return tocsin.JobOutcome{}
	})
	for range 20 {
		db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "slow", DueAt: time.Now()})
	}
	cs := &countingStore{JobStore: db.Jobs()}
	w := engine.NewWorker(cs, map[string]engine.Handler{"k": handler})
	w.PollInterval, w.LaneWorkers = 10*time.Millisecond, 3
	stop := runWorker(w)
	waitFor(t, "lane full", func() bool { return running.Load() == 3 })
	time.Sleep(100 * time.Millisecond) // several poll rounds
	if held := cs.held.Load(); held != 3 {
		t.Fatalf("worker holds %d jobs with 3 running; it must claim only what it can start", held)
	}
	close(release)
	waitFor(t, "drained", func() bool { n, _ := db.Jobs().PendingJobs(ctx); return n == 0 })
	stop()
}

// TestShutdownHandsJobsBackWithinGrace: a handler stuck on a hanging
// channel gets its context cancelled when the grace ends, and its job is
// handed back (unleased, the attempt not counted) instead of waiting out
// JobTimeout and then a lease.
func TestShutdownHandsJobsBackWithinGrace(t *testing.T) {
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{})
	ctx := context.Background()
	started := make(chan struct{}, 1)
	handler := engine.HandlerFunc(func(ctx context.Context, j *tocsin.Job) tocsin.JobOutcome {
		started <- struct{}{}
		<-ctx.Done() // a channel that never answers
		return tocsin.JobOutcome{RetryAt: time.Now().Add(time.Hour), Error: ctx.Err().Error()}
	})
	db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", DueAt: time.Now()})
	w := engine.NewWorker(db.Jobs(), map[string]engine.Handler{"k": handler})
	w.PollInterval, w.ShutdownGrace = 10*time.Millisecond, 200*time.Millisecond
	stop := runWorker(w)
	<-started
	t0 := time.Now()
	stop()
	if took := time.Since(t0); took > time.Second {
		t.Fatalf("shutdown took %s with a 200ms grace", took)
	}
	jobs, err := db.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "other", Now: time.Now(), Lease: time.Minute, Limit: 10})
	if err != nil || len(jobs) != 1 || jobs[0].Attempts != 1 {
		t.Fatalf("the interrupted job must be claimable at once, attempt not counted: %+v %v", jobs, err)
	}
}

// TestDeadWorkersJobsMoveOnInSeconds: the default lease is short (a dead
// instance's jobs run elsewhere within it), and a live worker's lease is
// renewed so a long job is not taken over.
func TestDeadWorkersJobsMoveOnInSeconds(t *testing.T) {
	if engine.DefaultLease > 10*time.Second {
		t.Fatalf("DefaultLease %s: a dead instance's jobs would wait that long", engine.DefaultLease)
	}
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{})
	ctx := context.Background()
	var runs atomic.Int32
	handler := engine.HandlerFunc(func(ctx context.Context, j *tocsin.Job) tocsin.JobOutcome {
		runs.Add(1)
		time.Sleep(700 * time.Millisecond)
		return tocsin.JobOutcome{}
	})
	db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", DueAt: time.Now()})
	startWorker(t, db, time.Now, map[string]engine.Handler{"k": handler}, func(w *engine.Worker) { w.Lease = 300 * time.Millisecond })
	waitFor(t, "running", func() bool { return runs.Load() == 1 })
	time.Sleep(400 * time.Millisecond) // past one lease: renewed, so not claimable
	if jobs, _ := db.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "other", Now: time.Now(), Lease: time.Minute, Limit: 10}); len(jobs) != 0 {
		t.Fatal("a running job's lease was not renewed")
	}
	// A worker that dies holding a job: its lease lapses within Lease.
	db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "dead", DueAt: time.Now()})
	now := time.Now()
	if jobs, _ := db.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "dead", Now: now, Lease: engine.DefaultLease, Limit: 10, Kinds: []string{"dead"}}); len(jobs) != 1 {
		t.Fatal("claim")
	}
	if jobs, _ := db.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "other", Now: now.Add(engine.DefaultLease + time.Millisecond), Lease: time.Minute, Limit: 10, Kinds: []string{"dead"}}); len(jobs) != 1 {
		t.Fatal("a dead worker's job was not taken over after the lease")
	}
}

// slowCompleteStore holds every CompleteJob until release is closed.
type slowCompleteStore struct {
	tocsin.JobStore
	release chan struct{}
}

func (s *slowCompleteStore) CompleteJob(ctx context.Context, j *tocsin.Job, owner string, out tocsin.JobOutcome) error {
	<-s.release
	return s.JobStore.CompleteJob(ctx, j, owner, out)
}

// TestLaneSlotFreedWhileOutcomeIsRecorded: a lane of one worker runs its
// next job while the first one's outcome still waits for its commit — the
// slot bounds what the lane's destination is asked at once, not the
// bookkeeping — but holds no more than LaneWorkers outcomes waiting, and
// every outcome is still recorded.
func TestLaneSlotFreedWhileOutcomeIsRecorded(t *testing.T) {
	// With jobs claimed ahead too: they start as workers free up, but never
	// past the lane's bound on unrecorded outcomes (2×LaneWorkers: what a
	// crash can run again).
	for _, ahead := range []int{0, 3} {
		t.Run(fmt.Sprint("ahead ", ahead), func(t *testing.T) {
			db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{})
			ctx := context.Background()
			jobs := int32(3 + ahead)
			for range jobs {
				db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "one", DueAt: time.Now()})
			}
			st := &slowCompleteStore{JobStore: db.Jobs(), release: make(chan struct{})}
			var ran atomic.Int32
			w := engine.NewWorker(st, map[string]engine.Handler{"k": engine.HandlerFunc(func(ctx context.Context, j *tocsin.Job) tocsin.JobOutcome {
				ran.Add(1)
				return tocsin.JobOutcome{}
			})})
			w.LaneWorkers, w.Ahead, w.PollInterval = 1, ahead, 20*time.Millisecond
			defer runWorker(w)()
			waitFor(t, "a second handler to run while the first outcome is not recorded", func() bool { return ran.Load() == 2 })
			time.Sleep(100 * time.Millisecond)
			if n := ran.Load(); n != 2 {
				t.Fatalf("%d handlers ran with 2 outcomes waiting in a lane of 1", n)
			}
			close(st.release)
			waitFor(t, "the outcomes", func() bool { n, err := db.Jobs().PendingJobs(ctx); return err == nil && n == 0 && ran.Load() == jobs })
		})
	}
}

// claimGate makes every ClaimJobs after the first wait until released,
// as a claim waiting for its commit would.
type claimGate struct {
	countingStore
	claims  atomic.Int32
	release chan struct{}
}

func (s *claimGate) ClaimJobs(ctx context.Context, c tocsin.JobClaim) ([]*tocsin.Job, error) {
	if s.claims.Add(1) > 1 {
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.countingStore.ClaimJobs(ctx, c)
}

// TestAheadStartsNextWithoutAClaim: with Ahead, a busy lane holds its next
// jobs claimed and starts one the moment a worker is free, without a claim
// (whose commit is an fsync on SQLite) in between; it never holds more
// than LaneWorkers+Ahead, never runs more than LaneWorkers at once, and a
// shutdown hands the jobs it held but never started back at once.
func TestAheadStartsNextWithoutAClaim(t *testing.T) {
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{})
	ctx := context.Background()
	release := make(chan struct{})
	var running, ran, most atomic.Int32
	handler := engine.HandlerFunc(func(ctx context.Context, j *tocsin.Job) tocsin.JobOutcome {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		defer running.Add(-1)
		if ran.Add(1) <= 2 {
			<-release
		}
		return tocsin.JobOutcome{}
	})
	for range 10 {
		db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "l", DueAt: time.Now()})
	}
	cs := &claimGate{countingStore: countingStore{JobStore: db.Jobs()}, release: make(chan struct{})}
	w := engine.NewWorker(cs, map[string]engine.Handler{"k": handler})
	w.PollInterval, w.LaneWorkers, w.Ahead = 10*time.Millisecond, 2, 2
	stop := runWorker(w)
	waitFor(t, "lane full", func() bool { return running.Load() == 2 })
	if held := cs.held.Load(); held != 4 {
		t.Fatalf("worker holds %d jobs with 2 running and Ahead 2; want 4", held)
	}
	// Every later claim is held up: the two jobs claimed ahead still run.
	close(release)
	waitFor(t, "the jobs claimed ahead to run without a claim", func() bool { return ran.Load() == 4 })
	if m := most.Load(); m > 2 {
		t.Fatalf("%d jobs ran at once in a lane of 2", m)
	}
	close(cs.release)
	waitFor(t, "drained", func() bool { n, _ := db.Jobs().PendingJobs(ctx); return n == 0 })
	stop()
}

// TestAheadHandedBackAtShutdown: jobs claimed ahead behind a stuck lane are
// handed back when the worker stops, their attempts not counted.
func TestAheadHandedBackAtShutdown(t *testing.T) {
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{})
	ctx := context.Background()
	var running atomic.Int32
	handler := engine.HandlerFunc(func(ctx context.Context, j *tocsin.Job) tocsin.JobOutcome {
		running.Add(1)
		<-ctx.Done()
		return tocsin.JobOutcome{RetryAt: time.Now().Add(time.Hour), Error: ctx.Err().Error()}
	})
	for range 3 {
		db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "l", DueAt: time.Now()})
	}
	w := engine.NewWorker(db.Jobs(), map[string]engine.Handler{"k": handler})
	w.PollInterval, w.LaneWorkers, w.Ahead, w.ShutdownGrace = 10*time.Millisecond, 1, 2, 100*time.Millisecond
	stop := runWorker(w)
	waitFor(t, "running", func() bool { return running.Load() == 1 })
	stop()
	if n := running.Load(); n != 1 {
		t.Fatalf("%d handlers ran; the jobs claimed ahead must not start during the shutdown", n)
	}
	jobs, err := db.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "other", Now: time.Now(), Lease: time.Minute, Limit: 10})
	if err != nil || len(jobs) != 3 {
		t.Fatalf("all 3 jobs must be claimable at once after the shutdown: %d %v", len(jobs), err)
	}
	for _, j := range jobs {
		if j.Attempts != 1 {
			t.Fatalf("job %s attempt %d after being handed back; want 1", j.ID, j.Attempts)
		}
	}
}

// TestCompletersRecordEveryOutcome: with Completers, outcomes of many jobs
// finishing together are recorded in batches, every one of them, with
// their events, follow-up jobs and retries, on both databases.
func TestCompletersRecordEveryOutcome(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			db := storetest.Open(t, kind.URL(t), store.Options{Policy: tocsin.Policy{Impacts: tocsin.DefaultImpacts()}})
			ctx := context.Background()
			const n = 60
			ids := make([]string, n)
			for i := range n {
				res, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{storetest.NewAlert(fmt.Sprint("g", i), "a", tocsin.AlertFiring, "critical")}, tocsin.IngestOptions{})
				if err != nil {
					t.Fatal(err)
				}
				ids[i] = res[0].IncidentID
				db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: fmt.Sprint("l", i%3), IncidentID: ids[i], DueAt: time.Now()})
			}
			var retried atomic.Int32
			handler := engine.HandlerFunc(func(ctx context.Context, j *tocsin.Job) tocsin.JobOutcome {
				out := tocsin.JobOutcome{Events: []*tocsin.TimelineEvent{{Kind: tocsin.EventNotificationSent, Actor: "test", Message: "done " + j.ID}}}
				if j.Attempts == 1 && retried.Add(1) <= 5 {
					return tocsin.JobOutcome{RetryAt: time.Now(), Error: "again"}
				}
				return out
			})
			startWorker(t, db, time.Now, map[string]engine.Handler{"k": handler}, func(w *engine.Worker) { w.Completers = 2 })
			waitFor(t, "every job", func() bool { n, err := db.Jobs().PendingJobs(ctx); return err == nil && n == 0 })
			var events int
			if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM timeline WHERE actor = 'test'`).Scan(&events); err != nil || events != n {
				t.Fatalf("%d events recorded (%v), want %d", events, err, n)
			}
		})
	}
}

// panickyBatches is a BatchCompleter whose first batch panics.
type panickyBatches struct {
	*store.Jobs
	calls atomic.Int32
}

func (p *panickyBatches) CompleteJobs(ctx context.Context, owner string, jobs []*tocsin.Job, outs []tocsin.JobOutcome) []error {
	if p.calls.Add(1) == 1 {
		panic("boom")
	}
	return p.Jobs.CompleteJobs(ctx, owner, jobs, outs)
}

// TestCompleterSurvivesAPanic: a store panicking while it records a batch
// fails that batch's jobs — they run again once their leases lapse — and
// the completers go on recording the others.
func TestCompleterSurvivesAPanic(t *testing.T) {
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{})
	ctx := context.Background()
	for range 10 {
		db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "l", DueAt: time.Now()})
	}
	st := &panickyBatches{Jobs: db.Jobs()}
	w := engine.NewWorker(st, map[string]engine.Handler{"k": engine.HandlerFunc(func(ctx context.Context, j *tocsin.Job) tocsin.JobOutcome {
		return tocsin.JobOutcome{}
	})})
	w.PollInterval, w.Lease, w.Completers = 20*time.Millisecond, 300*time.Millisecond, 2
	defer runWorker(w)()
	waitFor(t, "every job, the panicked batch's run again", func() bool { n, err := db.Jobs().PendingJobs(ctx); return err == nil && n == 0 })
	if st.calls.Load() < 2 {
		t.Fatalf("%d batches recorded; the completers stopped after the panic", st.calls.Load())
	}
}

// TestLaneLimits: a lane named in LaneLimits runs that many jobs at once,
// the others LaneWorkers.
func TestLaneLimits(t *testing.T) {
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{})
	ctx := context.Background()
	release := make(chan struct{})
	var mu sync.Mutex
	running := map[string]int{}
	handler := engine.HandlerFunc(func(ctx context.Context, j *tocsin.Job) tocsin.JobOutcome {
		mu.Lock()
		running[j.Lane]++
		mu.Unlock()
		<-release
		return tocsin.JobOutcome{}
	})
	for range 6 {
		db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "wide", DueAt: time.Now()})
		db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "narrow", DueAt: time.Now()})
	}
	startWorker(t, db, time.Now, map[string]engine.Handler{"k": handler}, func(w *engine.Worker) {
		w.LaneWorkers, w.LaneLimits = 1, map[string]int{"wide": 3}
	})
	waitFor(t, "both lanes full", func() bool { mu.Lock(); defer mu.Unlock(); return running["wide"] == 3 && running["narrow"] == 1 })
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	wide, narrow := running["wide"], running["narrow"]
	mu.Unlock()
	if wide != 3 || narrow != 1 {
		t.Fatalf("running wide %d, narrow %d; want 3 and 1", wide, narrow)
	}
	close(release)
	waitFor(t, "drained", func() bool { n, _ := db.Jobs().PendingJobs(ctx); return n == 0 })
}

// TestPreload: a Preloader handler is handed a claim's jobs of its kind in
// one Preload, and each job's handler starts only after it returned; a job
// claimed alone (fewer than four) is not preloaded; a panicking Preload
// stops nothing.
func TestPreload(t *testing.T) {
	for _, panics := range []bool{false, true} {
		t.Run(fmt.Sprint("panics=", panics), func(t *testing.T) {
			db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{})
			ctx := context.Background()
			for range 5 {
				db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "l", DueAt: time.Now()})
			}
			var mu sync.Mutex
			var calls []int
			loaded := map[string]bool{}
			var ran, unloaded atomic.Int32
			preload := func(ctx context.Context, jobs []*tocsin.Job) {
				time.Sleep(20 * time.Millisecond) // handlers that did not wait would start meanwhile
				mu.Lock()
				calls = append(calls, len(jobs))
				for _, j := range jobs {
					loaded[j.ID] = true
				}
				mu.Unlock()
				if panics {
					panic("preload broke")
				}
			}
			handler := engine.HandlerFunc(func(ctx context.Context, j *tocsin.Job) tocsin.JobOutcome {
				mu.Lock()
				if !loaded[j.ID] {
					unloaded.Add(1)
				}
				mu.Unlock()
				ran.Add(1)
				return tocsin.JobOutcome{}
			})
			w := engine.NewWorker(db.Jobs(), map[string]engine.Handler{"k": engine.WithPreload(handler, preload)})
			w.PollInterval = 10 * time.Millisecond
			defer runWorker(w)()
			waitFor(t, "the five jobs", func() bool { return ran.Load() == 5 })
			mu.Lock()
			if fmt.Sprint(calls) != "[5]" || unloaded.Load() != 0 {
				t.Fatalf("Preload calls %v, %d jobs ran before theirs returned; want one call of 5, none", calls, unloaded.Load())
			}
			mu.Unlock()
			db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "l", DueAt: time.Now()})
			waitFor(t, "the lone job", func() bool { return ran.Load() == 6 })
			mu.Lock()
			defer mu.Unlock()
			if len(calls) != 1 {
				t.Fatalf("Preload calls %v; a job claimed alone reads on its own", calls)
			}
		})
	}
}

// TestAheadWithinPace: with AheadWithin, a lane holds jobs ahead only as
// many as it starts within that long at its pace: none before its pace is
// known, none for a lane whose jobs hold their slot longer, Ahead for a
// fast one.
func TestAheadWithinPace(t *testing.T) {
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{})
	ctx := context.Background()
	for range 2 {
		db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "slow", DueAt: time.Now()})
	}
	for range 40 {
		db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "fast", DueAt: time.Now()})
	}
	var claimed, started sync.Map // lane → *atomic.Int32
	count := func(m *sync.Map, lane string) *atomic.Int32 {
		v, _ := m.LoadOrStore(lane, new(atomic.Int32))
		return v.(*atomic.Int32)
	}
	var mostAheadSlow atomic.Int32
	var fastDone atomic.Int32
	block := make(chan struct{})
	handler := engine.HandlerFunc(func(ctx context.Context, j *tocsin.Job) tocsin.JobOutcome {
		count(&started, j.Lane).Add(1)
		switch j.Lane {
		case "slow":
			if n := count(&claimed, "slow").Load() - count(&started, "slow").Load(); n > mostAheadSlow.Load() {
				mostAheadSlow.Store(n)
			}
			time.Sleep(1500 * time.Millisecond)
		case "fast":
			if fastDone.Add(1) == 20 {
				<-block // the fast lane's pace is known: it holds jobs ahead
			}
		}
		return tocsin.JobOutcome{}
	})
	cs := &laneCounting{JobStore: db.Jobs(), claimed: func(lane string, n int) { count(&claimed, lane).Add(int32(n)) }}
	w := engine.NewWorker(cs, map[string]engine.Handler{"k": handler})
	// Wide margins: a fast job holds its slot well under 250 ms even on a
	// loaded machine (4 ahead within 1 s), a slow one 1.5 s (none).
	w.PollInterval, w.LaneWorkers, w.Ahead, w.AheadWithin = 5*time.Millisecond, 1, 4, time.Second
	defer runWorker(w)()
	waitFor(t, "the fast lane blocked", func() bool { return fastDone.Load() == 20 })
	// It claims again once half of Ahead is free: it holds 3 or 4.
	waitFor(t, "the fast lane holding jobs ahead", func() bool {
		return count(&claimed, "fast").Load()-count(&started, "fast").Load() > 2
	})
	time.Sleep(50 * time.Millisecond) // more claims: it never holds more
	if n := count(&claimed, "fast").Load() - count(&started, "fast").Load(); n < 3 || n > 4 {
		t.Fatalf("the fast lane holds %d jobs ahead; want 3 or 4 (Ahead 4, claimed again at half)", n)
	}
	close(block)
	waitFor(t, "drained", func() bool { n, _ := db.Jobs().PendingJobs(ctx); return n == 0 })
	if n := mostAheadSlow.Load(); n != 0 {
		t.Fatalf("the slow lane (1.5 s a job, AheadWithin 1 s) held %d jobs ahead; want none", n)
	}
}

// laneCounting tells claimed how many jobs of each lane a claim returned.
type laneCounting struct {
	tocsin.JobStore
	claimed func(lane string, n int)
}

func (s *laneCounting) ClaimJobs(ctx context.Context, c tocsin.JobClaim) ([]*tocsin.Job, error) {
	jobs, err := s.JobStore.ClaimJobs(ctx, c)
	n := map[string]int{}
	for _, j := range jobs {
		n[j.Lane]++
	}
	for lane, k := range n {
		s.claimed(lane, k)
	}
	return jobs, err
}

// claimThenTick is a job store whose claims take long enough for a timer
// to come due meanwhile: after each claim, the clock moves on by tick.
type claimThenTick struct {
	*store.Jobs
	clock *storetest.Clock
	tick  time.Duration
}

func (s claimThenTick) ClaimJobs(ctx context.Context, c tocsin.JobClaim) ([]*tocsin.Job, error) {
	jobs, err := s.Jobs.ClaimJobs(ctx, c)
	s.clock.Add(s.tick)
	return jobs, err
}

// TestTimerDueDuringTheClaim: a timer that comes due after the claim's
// clock read it but before the worker looks for the next due time runs at
// once, not at the next poll (10,000 timers due over a few seconds on
// PostgreSQL stalled for a second each time the lane had caught up: no
// job was running to wake the worker). The poll interval is an hour here:
// waiting for it fails the test.
func TestTimerDueDuringTheClaim(t *testing.T) {
	clock := storetest.NewClock(time.Now())
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{Now: clock.Now})
	ctx := context.Background()
	var ran atomic.Int32
	handler := engine.HandlerFunc(func(ctx context.Context, j *tocsin.Job) tocsin.JobOutcome {
		ran.Add(1)
		return tocsin.JobOutcome{}
	})
	if err := db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: "timers", DueAt: clock.Now().Add(10 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	w := engine.NewWorker(claimThenTick{db.Jobs(), clock, 20 * time.Millisecond}, map[string]engine.Handler{"k": handler})
	w.Now, w.PollInterval = clock.Now, time.Hour
	t.Cleanup(runWorker(w))
	waitFor(t, "the timer that came due during the claim", func() bool { return ran.Load() == 1 })
}
