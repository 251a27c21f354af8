// Package engine runs durable jobs: the outbox and the timers. A Worker
// claims due rows from the store with a lease, hands each to the handler
// of its kind in a bounded pool per lane, and records the outcome in one
// transaction. It never sleeps on a job: it sleeps until the next due row,
// a wake-up from a commit, or the poll interval (other instances' work).
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"tocsin"
)

// Handler runs one job and says what happened. It must be idempotent: the
// same job may run again after a crash or a lost lease.
type Handler interface {
	Handle(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome
}

// Preloader is a Handler whose jobs read the same kind of data before
// their side effect (a notification's incident): Preload reads it for
// many claimed jobs of its kind at once, before they start — one query
// for a claim's jobs instead of one per job, and outside the lanes'
// slots, which bound side effects (a read repeats nothing after a
// crash). Handle must still work on its own: for a job claimed alone,
// after a failed read, or when what was read has grown old.
type Preloader interface {
	Handler
	Preload(ctx context.Context, jobs []*tocsin.Job)
}

// WithPreload is h with preload as its Preload.
func WithPreload(h Handler, preload func(ctx context.Context, jobs []*tocsin.Job)) Preloader {
	return preloading{h, preload}
}

type preloading struct {
	Handler
	preload func(ctx context.Context, jobs []*tocsin.Job)
}

func (p preloading) Preload(ctx context.Context, jobs []*tocsin.Job) { p.preload(ctx, jobs) }

// preloadMin is the fewest jobs of a kind a claim preloads: a few jobs
// read on their own in parallel as fast as in one query, and sooner (the
// jobs of a preload wait for all of it), so a steady trickle is not
// delayed; a backlog's claims are large.
const preloadMin = 4

// preloadTimeout bounds a claim's Preload: a read that takes longer only
// delays the jobs, which then read on their own.
const preloadTimeout = 2 * time.Second

// BatchCompleter is a JobStore that records many jobs' outcomes at once
// (one transaction and commit for all of them): errs[i] is jobs[i]'s
// result, as CompleteJob's would be.
type BatchCompleter interface {
	CompleteJobs(ctx context.Context, owner string, jobs []*tocsin.Job, outs []tocsin.JobOutcome) (errs []error)
}

// completion is one finished job waiting for its outcome to be recorded.
type completion struct {
	job  *tocsin.Job
	out  tocsin.JobOutcome
	done chan error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome

// Handle implements Handler.
func (f HandlerFunc) Handle(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	return f(ctx, job)
}

// Defaults of Worker's options.
const (
	// DefaultLease is short and renewed every Lease/3 while a job runs, so
	// a dead instance's jobs move on within seconds.
	DefaultLease        = 10 * time.Second
	DefaultLaneWorkers  = 8
	DefaultBatch        = 128
	DefaultPollInterval = time.Second
	DefaultJobTimeout   = time.Minute
	// DefaultShutdownGrace is how long running jobs may finish after Run's
	// context ends before their contexts are cancelled; with the second
	// it takes to record what they return, a shutdown takes at most about
	// 6 s, well inside a container's kill grace.
	DefaultShutdownGrace = 5 * time.Second
	// DefaultStrandedAfter is longer than a rolling upgrade: a job no
	// instance could run for that long is failed, not kept forever.
	DefaultStrandedAfter = 15 * time.Minute
)

// stopWait is how long Run waits, after cancelling handlers at the end of
// the grace, for them to return before it releases their jobs anyway.
const stopWait = time.Second

// Worker claims and runs jobs.
type Worker struct {
	store    tocsin.JobStore
	handlers map[string]Handler

	// Owner identifies this worker in leases (default hostname-pid-random).
	Owner string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Lease is how long a claimed job is reserved. Running jobs' leases
	// are renewed every Lease/3, so only a dead worker's jobs lapse and
	// are taken over (on PostgreSQL) after at most Lease.
	Lease time.Duration
	// LaneWorkers bounds concurrent jobs per lane, so one slow channel
	// fills only its own lane. A worker claims only what its lanes can
	// start at once: nothing it holds waits.
	LaneWorkers int
	// LaneLimits overrides LaneWorkers for some lanes: those whose calls
	// the destination deduplicates (an on-call provider finds the incident
	// it already opened by its dedup key), where running more at once, and
	// so repeating more after a crash, costs nothing.
	LaneLimits map[string]int
	// Batch is the most jobs claimed at once.
	Batch int
	// Ahead is how many jobs per lane may be claimed beyond the lane's idle
	// workers, to start the moment one of them is free instead of after
	// the next claim (a round trip or two, on SQLite behind an fsync): a
	// busy lane's claims then never make its workers wait.
	Ahead int
	// AheadWithin, when set, holds a lane's jobs ahead only as many as its
	// workers start within that long at the lane's recent pace (the time
	// a job holds its slot, averaged): none for a lane whose pace is not
	// known yet or whose jobs are slow. A job held ahead on one instance
	// is one another instance could run, and a job that waits long reads
	// stale data (Preloader): they wait at most about this long.
	AheadWithin time.Duration
	// Completers, when the store is a BatchCompleter, is how many batches
	// of outcomes are recorded at once (while one waits for its commit,
	// the outcomes finishing meanwhile gather for the next); 0 records each
	// outcome alone. Batches save
	// PostgreSQL a transaction per job; SQLite's group commit already
	// shares one among concurrent writes, and a batch handed to it waits
	// for the group in progress (measured slower there).
	Completers int
	// Lanes narrows job kinds to the lanes this instance can run (a
	// notify job only in the lanes of its configured channels, an
	// escalation only in its provider's), so instances configured
	// differently never take each other's work. Kinds without handlers
	// are never claimed.
	Lanes map[string][]string
	// StrandedAfter is how long a job outside Lanes may be overdue before
	// this worker takes it anyway, to fail it on the incident's timeline:
	// by then no running instance is configured to run it.
	StrandedAfter time.Duration
	// PollInterval bounds the sleep between claims, so jobs written by
	// other instances are seen.
	PollInterval time.Duration
	// JobTimeout bounds one handler run.
	JobTimeout time.Duration
	// KindTimeouts override JobTimeout for the kinds whose work is
	// allowed to take longer (a runbook's script: up to ten minutes).
	KindTimeouts map[string]time.Duration
	// ShutdownGrace is how long running jobs may finish once Run's
	// context ends; then their contexts are cancelled and the jobs are
	// handed back for another worker to retry.
	ShutdownGrace time.Duration
	Logger        *slog.Logger
	// Signal is what wakes the worker (Wake, a store's commit). NewWorker
	// makes one; a server that opens its store first makes it before
	// both (NewSignal) and sets it here before Run.
	Signal *Signal

	mu       sync.Mutex
	inflight map[string]int       // running handlers per lane
	running  map[string]*runState // claimed jobs by id, for lease renewal
	// completing counts, per lane, jobs whose handler returned and whose
	// outcome is being recorded: they hold no handler slot (a slot bounds
	// what a lane's destination is asked at once, not the bookkeeping),
	// but a lane has at most LaneWorkers of them too (on PostgreSQL each
	// is a transaction on a pooled connection that intake needs as well),
	// and they count against Batch.
	completing map[string]int
	// ready holds, per lane, jobs claimed ahead (Ahead) in due order,
	// leased and renewed like running ones, waiting for a worker.
	ready map[string][]*tocsin.Job
	// pace is, per lane, how long its jobs recently held a slot (a moving
	// average), for AheadWithin.
	pace map[string]time.Duration
	wg   sync.WaitGroup
	// stopping is closed when the grace ends: handlers' contexts derive
	// from it.
	stopping chan struct{}
	// completions feeds the completers (a BatchCompleter store);
	// completersDone is closed once they stopped, after which outcomes are
	// recorded one by one.
	completions    chan *completion
	completersDone chan struct{}
}

// runState is one running job.
type runState struct {
	job *tocsin.Job
	// released is set when Run gave the job back while its handler still
	// ran: its outcome is then discarded.
	released bool
	// preloaded, when set, is closed once the job's Preload returned: its
	// handler starts after that.
	preloaded chan struct{}
	// started is when the job took a slot of its lane (start); zero
	// before, and again once the slot is freed, when its time in the slot
	// goes into the lane's pace. Pacer reads it too: a job holding its slot
	// long makes its lane slow before its time is in the pace.
	started time.Time
}

// NewWorker returns a worker over store running handlers by job kind.
func NewWorker(store tocsin.JobStore, handlers map[string]Handler) *Worker {
	host, _ := os.Hostname()
	return &Worker{
		store: store, handlers: handlers,
		Owner:          fmt.Sprintf("%s-%d-%08x", host, os.Getpid(), rand.Uint32()),
		Now:            time.Now,
		Lease:          DefaultLease,
		LaneWorkers:    DefaultLaneWorkers,
		Batch:          DefaultBatch,
		PollInterval:   DefaultPollInterval,
		JobTimeout:     DefaultJobTimeout,
		ShutdownGrace:  DefaultShutdownGrace,
		StrandedAfter:  DefaultStrandedAfter,
		Logger:         slog.New(slog.DiscardHandler),
		Signal:         NewSignal(),
		inflight:       map[string]int{},
		completing:     map[string]int{},
		ready:          map[string][]*tocsin.Job{},
		pace:           map[string]time.Duration{},
		running:        map[string]*runState{},
		stopping:       make(chan struct{}),
		completions:    make(chan *completion),
		completersDone: make(chan struct{}),
	}
}

// Wake makes the worker look for due jobs now. It never blocks.
func (w *Worker) Wake() { w.Signal.Wake() }

// Signal is a worker's wake-up: wakes that come while the worker is busy
// collapse into one, and Wake never blocks.
type Signal struct{ c chan struct{} }

// NewSignal returns a signal nobody has rung yet.
func NewSignal() *Signal { return &Signal{c: make(chan struct{}, 1)} }

// Wake rings the signal. It never blocks.
func (s *Signal) Wake() {
	select {
	case s.c <- struct{}{}:
	default:
	}
}

// Run claims and runs jobs until ctx ends, then lets running jobs finish
// within ShutdownGrace, cancels the rest and hands their jobs back.
func (w *Worker) Run(ctx context.Context) error {
	renewCtx, stopRenew := context.WithCancel(context.Background())
	renewDone := make(chan struct{})
	go func() { defer close(renewDone); w.renewLeases(renewCtx) }()
	stopCompleters := w.startCompleters()
	defer func() {
		w.shutdown()
		stopCompleters()
		stopRenew()
		<-renewDone
	}()
	for {
		if ctx.Err() != nil {
			return nil
		}
		n, looked, err := w.claimOnce(ctx)
		if err != nil && ctx.Err() == nil {
			w.Logger.Warn("claim jobs", "err", err)
		}
		if err == nil && n > 0 {
			continue
		}
		wait := w.PollInterval
		if err == nil {
			due, ok, err := w.store.NextDue(ctx)
			if err == nil && ok && due.After(looked) {
				// Came due after the claim's clock (a timer due a moment
				// later): claim again now — no job would wake us for it.
				if wait = max(due.Sub(w.Now()), 0); wait == 0 {
					continue
				}
				wait = min(wait, w.PollInterval)
			}
		}
		if wait <= 0 {
			// Due work exists but every lane holding it is busy (or it is
			// another instance's): wait for a slot (a finishing job wakes
			// us) or the poll interval.
			wait = w.PollInterval
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-w.Signal.c:
		case <-t.C:
		}
		t.Stop()
	}
}

// shutdown waits ShutdownGrace for running jobs, then cancels them and
// waits a moment more; jobs still running after that are handed back.
func (w *Worker) shutdown() {
	// Jobs claimed ahead never started: hand them back at once.
	w.mu.Lock()
	var ahead []string
	for lane, jobs := range w.ready {
		for _, j := range jobs {
			ahead = append(ahead, j.ID)
			delete(w.running, j.ID)
		}
		delete(w.ready, lane)
	}
	w.mu.Unlock()
	w.release(ahead, "claimed ahead, not started before the shutdown")
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	grace := time.NewTimer(w.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
		return
	case <-grace.C:
	}
	close(w.stopping)
	select {
	case <-done:
		return
	case <-time.After(stopWait):
	}
	w.mu.Lock()
	var ids []string
	for id, r := range w.running {
		r.released = true
		ids = append(ids, id)
	}
	w.mu.Unlock()
	w.release(ids, "handler did not return after its context was cancelled")
}

// release hands jobs back to the queue.
func (w *Worker) release(ids []string, why string) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := w.store.ReleaseJobs(ctx, w.Owner, ids); err != nil {
		// Their leases lapse within Lease and they run elsewhere.
		w.Logger.Warn("hand back jobs", "jobs", len(ids), "why", why, "err", err)
		return
	}
	w.Logger.Info("jobs handed back for retry", "jobs", len(ids), "why", why)
}

// renewLeases extends the leases of running jobs every Lease/3 until ctx
// ends.
func (w *Worker) renewLeases(ctx context.Context) {
	t := time.NewTicker(w.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		ids := make([]string, 0, len(w.running))
		for id, r := range w.running {
			if !r.released {
				ids = append(ids, id)
			}
		}
		w.mu.Unlock()
		if err := w.store.ExtendLeases(ctx, w.Owner, ids, w.Now().Add(w.Lease)); err != nil && ctx.Err() == nil {
			w.Logger.Warn("renew job leases", "err", err)
		}
	}
}

// claim is what this worker may claim now: its kinds and lanes, and per
// lane only as many jobs as it has idle workers.
func (w *Worker) claim() (tocsin.JobClaim, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := tocsin.JobClaim{Owner: w.Owner, Now: w.Now(), Lease: w.Lease, Lanes: w.Lanes, Slots: map[string]int{},
		DefaultSlots: w.LaneWorkers + w.ahead(""), StrandedAfter: w.StrandedAfter}
	// Every lane with a limit of its own, jobs held or a pace gets its
	// slots; the others DefaultSlots.
	for _, m := range []map[string]int{w.LaneLimits, w.inflight, w.completing} {
		for lane := range m {
			c.Slots[lane] = w.claimSlots(lane)
		}
	}
	for lane := range w.pace {
		c.Slots[lane] = w.claimSlots(lane)
	}
	total := 0
	for _, m := range []map[string]int{w.inflight, w.completing} {
		for _, n := range m {
			total += n
		}
	}
	for lane, jobs := range w.ready {
		total += len(jobs)
		c.Slots[lane] = w.claimSlots(lane)
	}
	c.Limit = w.Batch - total
	for k := range w.handlers {
		c.Kinds = append(c.Kinds, k)
	}
	sort.Strings(c.Kinds)
	return c, c.Limit > 0 && len(c.Kinds) > 0
}

// freeSlots is how many more jobs of lane the worker may hold: its workers
// and its ahead, less the jobs it holds, and no more than keeps the bound
// on unrecorded outcomes (canStart) once they start. w.mu is held.
func (w *Worker) freeSlots(lane string) int {
	held, lw, ahead := w.inflight[lane]+len(w.ready[lane]), w.laneWorkers(lane), w.ahead(lane)
	return max(min(lw+ahead-held, 2*lw+ahead-held-w.completing[lane]), 0)
}

// ahead is how many jobs of lane may be held beyond its idle workers:
// Ahead, and with AheadWithin only what the lane starts within it at its
// pace (none while the pace is unknown). w.mu is held.
func (w *Worker) ahead(lane string) int {
	if w.Ahead <= 0 || w.AheadWithin <= 0 {
		return max(w.Ahead, 0)
	}
	p := w.pace[lane]
	if p <= 0 {
		return 0
	}
	return min(w.Ahead, int(time.Duration(w.laneWorkers(lane))*w.AheadWithin/p))
}

// paced adds one job's time in its slot to its lane's pace: a moving
// average over about the last eight. w.mu is held.
func (w *Worker) paced(lane string, held time.Duration) {
	held = max(held, time.Microsecond)
	if p := w.pace[lane]; p > 0 {
		held = p + (held-p)/8
	}
	w.pace[lane] = held
}

// claimOnce claims the due jobs this worker can start now and starts them;
// looked is the claim's clock: jobs due by then that it did not take wait
// for a slot.
func (w *Worker) claimOnce(ctx context.Context) (n int, looked time.Time, err error) {
	c, ok := w.claim()
	if !ok {
		return 0, c.Now, nil
	}
	jobs, err := w.store.ClaimJobs(ctx, c)
	if err != nil {
		return 0, c.Now, err
	}
	preloaded := w.preload(ctx, jobs)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, j := range jobs {
		w.running[j.ID] = &runState{job: j, preloaded: preloaded}
		if w.canStart(j.Lane) {
			w.start(j)
		} else {
			w.ready[j.Lane] = append(w.ready[j.Lane], j)
		}
	}
	return len(jobs), c.Now, nil
}

// preload hands each Preloader handler its kind's claimed jobs, when it
// has at least preloadMin, in a goroutine
// of its own: the next claim does not wait for the read, the jobs do. The
// channel returned is closed once every Preload returned; nil when there
// is nothing to read.
func (w *Worker) preload(ctx context.Context, jobs []*tocsin.Job) chan struct{} {
	if len(jobs) < preloadMin {
		return nil
	}
	byKind := map[string][]*tocsin.Job{}
	for _, j := range jobs {
		if _, ok := w.handlers[j.Kind].(Preloader); ok {
			byKind[j.Kind] = append(byKind[j.Kind], j)
		}
	}
	for kind, js := range byKind {
		if len(js) < preloadMin {
			delete(byKind, kind)
		}
	}
	if len(byKind) == 0 {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for kind, js := range byKind {
			w.preloadKind(ctx, w.handlers[kind].(Preloader), js)
		}
	}()
	return done
}

// preloadKind runs one Preload. A panic in it is logged, not spread: the
// jobs then read on their own.
func (w *Worker) preloadKind(ctx context.Context, p Preloader, jobs []*tocsin.Job) {
	defer func() {
		if r := recover(); r != nil {
			w.Logger.Error("job preload panicked", "kind", jobs[0].Kind, "jobs", len(jobs), "panic", r, "stack", string(debug.Stack()))
		}
	}()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), preloadTimeout)
	defer cancel()
	p.Preload(ctx, jobs)
}

// claimSlots is how many jobs of lane a claim now takes: its free slots,
// but a lane with jobs claimed ahead has work for its next free workers
// and claims again only once half of its ahead is free, so every finished
// job does not cost a claim of one. w.mu is held.
func (w *Worker) claimSlots(lane string) int {
	free := w.freeSlots(lane)
	if len(w.ready[lane]) > 0 && free < max(w.ahead(lane)/2, 1) {
		return 0
	}
	return free
}

// claimable reports whether a claim now would take jobs of lane: a job
// of it finished, and only then is the claim loop woken for it (on
// PostgreSQL a claim that finds every lane full is still a round trip).
// Other lanes' work is found by the loop itself. w.mu is held.
func (w *Worker) claimable(lane string) bool { return w.claimSlots(lane) > 0 }

// canStart reports whether a job of lane may start now: the lane runs at
// most its workers' count of handlers (laneWorkers), and has at most twice
// that many jobs started whose outcomes are not recorded yet — what a
// crash can run again.
// w.mu is held.
func (w *Worker) canStart(lane string) bool {
	n, lw := w.inflight[lane], w.laneWorkers(lane)
	return n < lw && n+w.completing[lane] < 2*lw
}

// laneWorkers is how many jobs of lane run at once.
func (w *Worker) laneWorkers(lane string) int {
	if n := w.LaneLimits[lane]; n > 0 {
		return n
	}
	return w.LaneWorkers
}

// start runs a claimed job in a worker of its lane. w.mu is held.
func (w *Worker) start(j *tocsin.Job) {
	w.inflight[j.Lane]++
	if r := w.running[j.ID]; r != nil {
		r.started = time.Now()
	}
	w.wg.Add(1)
	go w.run(j)
}

// next starts the lane's oldest job claimed ahead, if any and if the lane
// can start one (a worker or an outcome was just freed). w.mu is held.
func (w *Worker) next(lane string) {
	q := w.ready[lane]
	if len(q) == 0 || !w.canStart(lane) {
		return
	}
	j := q[0]
	q[0] = nil
	if q = q[1:]; len(q) == 0 {
		delete(w.ready, lane)
	} else {
		w.ready[lane] = q
	}
	w.start(j)
}

// run executes one job and completes it. It is detached from Run's
// context: a shutdown lets running jobs finish within ShutdownGrace.
//
// The job's lane slot is given back as soon as its handler returns, and
// the worker woken to fill it, while the outcome is recorded: recording
// waits for a commit (an fsync), and holding the slot through it would
// let a lane run only LaneWorkers jobs per commit — 10,000 timers due
// together would fire seconds late. Commits then carry many outcomes at
// once (SQLite's group commit). The job keeps its lease, renewed, until
// its outcome is recorded. A lane has at most 2×LaneWorkers jobs started
// and not yet recorded (canStart): at most that many run again after a
// crash.
func (w *Worker) run(j *tocsin.Job) {
	var released bool
	slotHeld := true
	freeSlot := func() {
		if w.inflight[j.Lane]--; w.inflight[j.Lane] <= 0 {
			delete(w.inflight, j.Lane)
		}
		slotHeld = false
		if r := w.running[j.ID]; r != nil {
			w.paced(j.Lane, time.Since(r.started))
			r.started = time.Time{}
		}
		w.next(j.Lane)
	}
	defer func() {
		w.mu.Lock()
		if slotHeld {
			freeSlot()
		} else {
			if w.completing[j.Lane]--; w.completing[j.Lane] <= 0 {
				delete(w.completing, j.Lane)
			}
			w.next(j.Lane)
		}
		delete(w.running, j.ID)
		wake := w.claimable(j.Lane)
		w.mu.Unlock()
		w.wg.Done()
		if wake {
			w.Wake()
		}
	}()
	timeout := w.JobTimeout
	if t, ok := w.KindTimeouts[j.Kind]; ok {
		timeout = t
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		select {
		case <-w.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	w.mu.Lock()
	var preloaded chan struct{}
	if r := w.running[j.ID]; r != nil {
		preloaded = r.preloaded
	}
	w.mu.Unlock()
	if preloaded != nil {
		select {
		case <-preloaded:
		case <-ctx.Done():
		}
	}
	out := w.handle(ctx, j)
	w.mu.Lock()
	if r := w.running[j.ID]; r != nil {
		released = r.released
	}
	wake := false
	if !released {
		// Counted as completing before the slot starts another job: the
		// lane's bound on unrecorded outcomes holds at every moment.
		w.completing[j.Lane]++
		freeSlot()
		wake = w.claimable(j.Lane)
	}
	w.mu.Unlock()
	if released {
		return
	}
	if wake {
		w.Wake()
	}
	if ctx.Err() != nil && isShutdown(w.stopping) && (!out.RetryAt.IsZero() || out.Failed) {
		// Cut short by the shutdown, not failed: hand the job back so it
		// runs again at once elsewhere, without spending an attempt.
		w.release([]string{j.ID}, "shutdown grace ended")
		return
	}
	if err := w.complete(j, out); err != nil {
		if tocsin.ErrorCode(err) == tocsin.ECONFLICT {
			w.Logger.Info("job finished after losing its lease", "job_id", j.ID, "kind", j.Kind)
			return
		}
		// The lease will expire and the job run again: at-least-once.
		w.Logger.Error("complete job", "job_id", j.ID, "kind", j.Kind, "err", err)
	}
}

// startCompleters starts the goroutines that record outcomes in batches,
// when the store can (BatchCompleter); the returned func stops them once
// no handler is left to hand them an outcome.
func (w *Worker) startCompleters() (stop func()) {
	bc, ok := w.store.(BatchCompleter)
	if !ok || w.Completers <= 0 {
		close(w.completersDone)
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for range w.Completers {
		wg.Add(1)
		go func() { defer wg.Done(); w.completeBatches(bc, quit) }()
	}
	return func() {
		close(quit)
		wg.Wait()
		close(w.completersDone)
	}
}

// completeBatches records every outcome waiting when the previous batch
// was recorded, as one batch, until quit.
func (w *Worker) completeBatches(bc BatchCompleter, quit chan struct{}) {
	var batch []*completion
	for {
		batch = batch[:0]
		select {
		case c := <-w.completions:
			batch = append(batch, c)
		case <-quit:
			return
		}
	gather:
		for len(batch) < w.Batch {
			select {
			case c := <-w.completions:
				batch = append(batch, c)
			default:
				break gather
			}
		}
		errs := w.completeBatch(bc, batch)
		for i, c := range batch {
			c.done <- errs[i]
		}
	}
}

// completeBatch records one batch. A panic in the store fails the batch's
// jobs (their leases lapse and they run again) rather than the completer:
// a completer gone would leave every later outcome waiting.
func (w *Worker) completeBatch(bc BatchCompleter, batch []*completion) (errs []error) {
	defer func() {
		if r := recover(); r != nil {
			w.Logger.Error("recording job outcomes panicked", "jobs", len(batch), "panic", r, "stack", string(debug.Stack()))
			errs = make([]error, len(batch))
			for i := range errs {
				errs[i] = fmt.Errorf("recording the outcome panicked: %v", r)
			}
		}
	}()
	jobs := make([]*tocsin.Job, len(batch))
	outs := make([]tocsin.JobOutcome, len(batch))
	for i, c := range batch {
		jobs[i], outs[i] = c.job, c.out
	}
	errs = bc.CompleteJobs(context.Background(), w.Owner, jobs, outs)
	if len(errs) != len(batch) {
		panic(fmt.Sprintf("CompleteJobs answered %d results for %d jobs", len(errs), len(batch)))
	}
	return errs
}

// complete records a job's outcome: through a completer when they run,
// else alone.
func (w *Worker) complete(j *tocsin.Job, out tocsin.JobOutcome) error {
	c := &completion{job: j, out: out, done: make(chan error, 1)}
	select {
	case w.completions <- c:
		return <-c.done
	case <-w.completersDone:
		return w.store.CompleteJob(context.Background(), j, w.Owner, out)
	}
}

func isShutdown(stopping chan struct{}) bool {
	select {
	case <-stopping:
		return true
	default:
		return false
	}
}

func (w *Worker) handle(ctx context.Context, j *tocsin.Job) (out tocsin.JobOutcome) {
	h, ok := w.handlers[j.Kind]
	if !ok {
		// Claims name only kinds with handlers, so this is a bug: keep the
		// job as a failed delivery on its incident's timeline.
		msg := fmt.Sprintf("job of kind %q has no handler on this instance", j.Kind)
		w.Logger.Error("no handler for job kind", "job_id", j.ID, "kind", j.Kind)
		out := tocsin.JobOutcome{Failed: true, Error: msg}
		if j.IncidentID != "" {
			out.Events = []*tocsin.TimelineEvent{{IncidentID: j.IncidentID, Kind: tocsin.EventNotificationFailed, Message: msg}}
		}
		return out
	}
	defer func() {
		if r := recover(); r != nil {
			w.Logger.Error("job handler panicked", "job_id", j.ID, "kind", j.Kind, "panic", r, "stack", string(debug.Stack()))
			out = tocsin.JobOutcome{RetryAt: w.Now().Add(Backoff(j.Attempts, 0, 0)), Error: fmt.Sprint("panic: ", r)}
		}
	}()
	return h.Handle(ctx, j)
}

// MaxRetryAfter caps the wait a provider may ask for (Retry-After): a
// page or a notification hours late is a failure, not a delivery, so a
// provider asking for more is retried after 5 minutes (and, if it keeps
// refusing, gives up and says so).
const MaxRetryAfter = 5 * time.Minute

// Backoff is the wait before retry number attempt (1-based): 1s doubling
// to at most 5 minutes, with ±20% jitter (rnd in [0,1) picks it), and
// never less than what the provider asked for, up to MaxRetryAfter.
func Backoff(attempt int, retryAfter time.Duration, rnd float64) time.Duration {
	d := time.Second << min(max(attempt-1, 0), 9)
	d = min(d, 5*time.Minute)
	d = time.Duration(float64(d) * (0.8 + 0.4*rnd))
	return max(d, min(retryAfter, MaxRetryAfter))
}
