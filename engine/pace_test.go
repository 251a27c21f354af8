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

// pacedLane queues n jobs of kind "k" in lane and returns a worker whose
// handler of them takes hold each and, once done of them have finished,
// waits until release is called: the lane's workers then all hold a job
// while the rest are due. The test's end releases them too.
func pacedLane(t *testing.T, lane string, n, done int, hold time.Duration) (db *store.DB, w *engine.Worker, finished *atomic.Int32, release func()) {
	t.Helper()
	db = storetest.Open(t, storetest.SQLiteURL(t), store.Options{})
	ctx := context.Background()
	for range n {
		if err := db.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: "k", Lane: lane}); err != nil {
			t.Fatal(err)
		}
	}
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	finished = new(atomic.Int32)
	handler := engine.HandlerFunc(func(ctx context.Context, j *tocsin.Job) tocsin.JobOutcome {
		time.Sleep(hold)
		if finished.Add(1) > int32(done) {
			select {
			case <-gate:
			case <-ctx.Done():
			}
		}
		return tocsin.JobOutcome{}
	})
	w = startWorker(t, db, time.Now, map[string]engine.Handler{"k": handler}, nil)
	t.Cleanup(release) // registered after the worker's stop, so it runs first
	return db, w, finished, release
}

// runPacer runs p until the test ends.
func runPacer(t *testing.T, p *engine.Pacer) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestPacerHoldsWhileAFastLaneIsBehind: while a lane whose jobs are fast
// has more than Backlog due, Wait holds the caller for at most MaxWait (or
// until its context ends), and lets every waiting caller go once the lane
// is back under Backlog.
func TestPacerHoldsWhileAFastLaneIsBehind(t *testing.T) {
	db, w, finished, release := pacedLane(t, "notify:webhook", 300, 40, time.Millisecond)
	waitFor(t, "40 fast jobs done", func() bool { return finished.Load() >= 40 })
	p := engine.NewPacer(w, db.Jobs())
	// Fast is long here: the jobs held at the gate must not make the lane
	// slow (TestPacerIgnoresAHangingLane), so only the backlog lets callers
	// go.
	p.Backlog, p.MaxWait, p.Interval, p.Fast = 20, 150*time.Millisecond, 5*time.Millisecond, 10*time.Second
	runPacer(t, p)
	// Behind: 250-odd jobs due, the lane's workers all held at the gate.
	waitFor(t, "the pacer to see the lane behind", func() bool { return p.Wait(context.Background()) > 0 })
	if d := p.Wait(context.Background()); d < p.MaxWait {
		t.Fatalf("held %s while the lane stayed behind; want MaxWait %s", d, p.MaxWait)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	if d := p.Wait(ctx); d >= p.MaxWait {
		t.Fatalf("held %s after the caller's context ended", d)
	}
	cancel()
	// Caught up: callers waiting now are let go once the lane drains.
	p.MaxWait = 10 * time.Second
	waited := make(chan time.Duration, 4)
	for range cap(waited) {
		go func() { waited <- p.Wait(context.Background()) }()
	}
	time.Sleep(20 * time.Millisecond)
	release()
	for range cap(waited) {
		if d := <-waited; d >= p.MaxWait {
			t.Fatalf("a caller waited %s: not let go when the lane caught up", d)
		}
	}
	waitFor(t, "every job done", func() bool { return finished.Load() == 300 })
	waitFor(t, "Wait to return at once", func() bool { return p.Wait(context.Background()) == 0 })
}

// TestPacerIgnoresSlowLanes: a lane whose jobs hold their slot longer than
// Fast (a slow destination) never makes callers wait, however deep its
// backlog: waiting would not make the destination faster.
func TestPacerIgnoresSlowLanes(t *testing.T) {
	db, w, finished, _ := pacedLane(t, "notify:slack", 1000, 1000, 30*time.Millisecond)
	waitFor(t, "16 slow jobs done", func() bool { return finished.Load() >= 16 })
	neverHeldUnlessFaster(t, db, w, 20*time.Millisecond, time.Second, "a slow lane")
}

// neverHeldUnlessFaster checks that a pacer of w with Fast fast never holds
// a caller over about 100 ms, and that one with Fast longer (a lane whose
// jobs are slower than fast but quicker than longer) does: it is Fast that
// keeps the lane out, not a backlog too small or a sample missing.
func neverHeldUnlessFaster(t *testing.T, db *store.DB, w *engine.Worker, fast, longer time.Duration, what string) {
	t.Helper()
	p := engine.NewPacer(w, db.Jobs())
	p.Backlog, p.Fast, p.Interval = 20, fast, 5*time.Millisecond
	runPacer(t, p)
	for range 20 {
		if d := p.Wait(context.Background()); d != 0 {
			t.Fatalf("held %s behind %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	p2 := engine.NewPacer(w, db.Jobs())
	p2.Backlog, p2.Fast, p2.Interval, p2.MaxWait = 20, longer, 5*time.Millisecond, 10*time.Millisecond
	runPacer(t, p2)
	waitFor(t, what+" behind under a Fast of "+longer.String(), func() bool { return p2.Wait(context.Background()) > 0 })
}

// TestPacerOff: Backlog 0 never waits, and neither does a nil Pacer.
func TestPacerOff(t *testing.T) {
	db, w, finished, _ := pacedLane(t, "notify:webhook", 100, 20, time.Millisecond)
	waitFor(t, "20 jobs done", func() bool { return finished.Load() >= 20 })
	p := engine.NewPacer(w, db.Jobs())
	p.Backlog, p.Interval = 0, 5*time.Millisecond
	runPacer(t, p)
	time.Sleep(30 * time.Millisecond)
	if d := p.Wait(context.Background()); d != 0 {
		t.Fatalf("held %s with pacing off", d)
	}
	var none *engine.Pacer
	if d := none.Wait(context.Background()); d != 0 {
		t.Fatalf("a nil pacer held %s", d)
	}
}

// TestPacerIgnoresAHangingLane: a lane whose jobs were fast but whose
// workers now all hang (a destination that stopped answering) is slow at
// once — before those jobs end and their time enters the lane's pace.
func TestPacerIgnoresAHangingLane(t *testing.T) {
	db, w, finished, _ := pacedLane(t, "notify:webhook", 300, 40, time.Millisecond)
	waitFor(t, "40 fast jobs done", func() bool { return finished.Load() >= 40 })
	time.Sleep(2 * engine.DefaultPaceFast) // every worker has hung longer than Fast
	neverHeldUnlessFaster(t, db, w, engine.DefaultPaceFast, time.Hour, "a lane whose workers all hang")
}
