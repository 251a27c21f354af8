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
	"sync"
	"time"

	"tocsin"
)

// Handler runs one job and says what happened. It must be idempotent: the
// same job may run again after a crash or a lost lease.
type Handler interface {
	Handle(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome

// Handle implements Handler.
func (f HandlerFunc) Handle(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	return f(ctx, job)
}

// Defaults of Worker's options.
const (
	DefaultLease        = 30 * time.Second
	DefaultLaneWorkers  = 8
	DefaultBatch        = 128
	DefaultPollInterval = time.Second
	DefaultJobTimeout   = time.Minute
)

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
	// fills only its own lane.
	LaneWorkers int
	// Batch is the most jobs claimed at once.
	Batch int
	// PollInterval bounds the sleep between claims, so jobs written by
	// other instances are seen.
	PollInterval time.Duration
	// JobTimeout bounds one handler run.
	JobTimeout time.Duration
	Logger     *slog.Logger

	wake       chan struct{}
	mu         sync.Mutex
	inflight   map[string]int
	runningIDs map[string]struct{} // ids of claimed jobs, for lease renewal
	lanes      map[string]chan struct{}
	running    sync.WaitGroup
}

// NewWorker returns a worker over store running handlers by job kind.
func NewWorker(store tocsin.JobStore, handlers map[string]Handler) *Worker {
	host, _ := os.Hostname()
	return &Worker{
		store: store, handlers: handlers,
		Owner:        fmt.Sprintf("%s-%d-%08x", host, os.Getpid(), rand.Uint32()),
		Now:          time.Now,
		Lease:        DefaultLease,
		LaneWorkers:  DefaultLaneWorkers,
		Batch:        DefaultBatch,
		PollInterval: DefaultPollInterval,
		JobTimeout:   DefaultJobTimeout,
		Logger:       slog.New(slog.DiscardHandler),
		wake:         make(chan struct{}, 1),
		inflight:     map[string]int{},
		runningIDs:   map[string]struct{}{},
		lanes:        map[string]chan struct{}{},
	}
}

// Wake makes the worker look for due jobs now. It never blocks.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run claims and runs jobs until ctx ends, then waits for running jobs.
func (w *Worker) Run(ctx context.Context) error {
	defer w.running.Wait()
	go w.renewLeases(ctx)
	for {
		if ctx.Err() != nil {
			return nil
		}
		n, err := w.claimOnce(ctx)
		if err != nil && ctx.Err() == nil {
			w.Logger.Warn("claim jobs", "err", err)
		}
		if err == nil && n > 0 {
			continue
		}
		wait := w.PollInterval
		if err == nil {
			if due, ok, err := w.store.NextDue(ctx); err == nil && ok {
				wait = min(wait, max(due.Sub(w.Now()), 0))
			}
		}
		if wait <= 0 {
			// Due work exists but every lane holding it is busy: wait for
			// a slot (a finishing job wakes us) or the poll interval.
			wait = w.PollInterval
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-w.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// renewLeases extends the leases of running jobs every Lease/3 until ctx
// ends (running jobs then finish on their own within JobTimeout).
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
		ids := make([]string, 0, len(w.runningIDs))
		for id := range w.runningIDs {
			ids = append(ids, id)
		}
		w.mu.Unlock()
		if err := w.store.ExtendLeases(ctx, w.Owner, ids, w.Now().Add(w.Lease)); err != nil && ctx.Err() == nil {
			w.Logger.Warn("renew job leases", "err", err)
		}
	}
}

// claimOnce claims a batch of due jobs and starts them.
func (w *Worker) claimOnce(ctx context.Context) (int, error) {
	w.mu.Lock()
	var busy []string
	total := 0
	for lane, n := range w.inflight {
		total += n
		if n >= w.LaneWorkers {
			busy = append(busy, lane)
		}
	}
	w.mu.Unlock()
	limit := w.Batch - total
	if limit <= 0 {
		return 0, nil
	}
	jobs, err := w.store.ClaimJobs(ctx, w.Owner, w.Now(), w.Lease, limit, busy)
	if err != nil {
		return 0, err
	}
	for _, j := range jobs {
		w.mu.Lock()
		w.inflight[j.Lane]++
		w.runningIDs[j.ID] = struct{}{}
		sem, ok := w.lanes[j.Lane]
		if !ok {
			sem = make(chan struct{}, w.LaneWorkers)
			w.lanes[j.Lane] = sem
		}
		w.mu.Unlock()
		w.running.Add(1)
		go w.run(j, sem)
	}
	// One claim may bring more jobs of a lane than it has workers; they
	// wait for a slot with their leases renewed.
	return len(jobs), nil
}

// run executes one job and completes it. It is detached from Run's
// context: a shutdown lets running jobs finish within JobTimeout.
func (w *Worker) run(j *tocsin.Job, sem chan struct{}) {
	sem <- struct{}{}
	defer func() {
		<-sem
		w.mu.Lock()
		if w.inflight[j.Lane]--; w.inflight[j.Lane] <= 0 {
			delete(w.inflight, j.Lane)
		}
		delete(w.runningIDs, j.ID)
		w.mu.Unlock()
		w.running.Done()
		w.Wake()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), w.JobTimeout)
	defer cancel()
	out := w.handle(ctx, j)
	if err := w.store.CompleteJob(context.Background(), j, w.Owner, out); err != nil {
		if tocsin.ErrorCode(err) == tocsin.ECONFLICT {
			w.Logger.Info("job finished after losing its lease", "job_id", j.ID, "kind", j.Kind)
			return
		}
		// The lease will expire and the job run again: at-least-once.
		w.Logger.Error("complete job", "job_id", j.ID, "kind", j.Kind, "err", err)
	}
}

func (w *Worker) handle(ctx context.Context, j *tocsin.Job) (out tocsin.JobOutcome) {
	h, ok := w.handlers[j.Kind]
	if !ok {
		w.Logger.Error("no handler for job kind; dropping it", "job_id", j.ID, "kind", j.Kind)
		return tocsin.JobOutcome{}
	}
	defer func() {
		if r := recover(); r != nil {
			w.Logger.Error("job handler panicked", "job_id", j.ID, "kind", j.Kind, "panic", r, "stack", string(debug.Stack()))
			out = tocsin.JobOutcome{RetryAt: w.Now().Add(Backoff(j.Attempts, 0, 0)), Error: fmt.Sprint("panic: ", r)}
		}
	}()
	return h.Handle(ctx, j)
}

// Backoff is the wait before retry number attempt (1-based): 1s doubling
// to at most 5 minutes, with ±20% jitter (rnd in [0,1) picks it), and
// never less than what the provider asked for.
func Backoff(attempt int, retryAfter time.Duration, rnd float64) time.Duration {
	d := time.Second << min(max(attempt-1, 0), 9)
	d = min(d, 5*time.Minute)
	d = time.Duration(float64(d) * (0.8 + 0.4*rnd))
	return max(d, retryAfter)
}
