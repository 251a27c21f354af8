package engine

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Defaults of Pacer's options.
const (
	// DefaultPaceBacklog is how many due jobs a busy lane may have before
	// intake's answers wait: about a quarter of a second of a webhook
	// lane's drain on a small machine, so a storm's notifications go out
	// within about a second of their alerts instead of queueing behind all
	// of them.
	DefaultPaceBacklog = 500
	// DefaultPaceMaxWait bounds how long one answer waits: a sender is
	// slowed, never made to time out.
	DefaultPaceMaxWait = 250 * time.Millisecond
	// DefaultPaceInterval is how often the pacer looks at the lanes.
	DefaultPaceInterval = 50 * time.Millisecond
	// DefaultPaceFast is the slot time below which a lane's jobs are fast:
	// their pace is set by the CPU and the database, which intake shares,
	// not by a slow destination, which waiting would not speed up.
	DefaultPaceFast = 50 * time.Millisecond
)

// DueCounter counts a lane's pending jobs due by now, up to limit (the
// store's Jobs).
type DueCounter interface {
	DueJobs(ctx context.Context, lane string, limit int) (int, error)
}

// Pacer holds intake's answers while the worker falls behind on fast work.
//
// At full intake speed the accepting of alerts takes the CPU (and, on
// SQLite, the one writer) their deliveries need, so the outbox grows by
// thousands and every notification of a storm waits behind the whole
// storm. While a lane that is running jobs fast (each holding its slot
// under Fast) has more than Backlog jobs due, Wait holds an answer —
// after its alerts are committed — until the lane is back under Backlog,
// or MaxWait: senders slow down to the pace deliveries keep, nothing is
// refused, and notifications stay seconds ahead of where they would be.
// A slow destination (a channel timing out, a provider taking a second)
// is never a reason to wait: waiting would not make it faster.
type Pacer struct {
	// Worker is the worker whose lanes are watched.
	Worker *Worker
	// Counter counts a lane's due jobs.
	Counter DueCounter
	// Backlog is how many due jobs a fast lane may have before answers
	// wait; 0 turns pacing off.
	Backlog int
	// MaxWait bounds one answer's wait.
	MaxWait time.Duration
	// Interval is how often the lanes are looked at.
	Interval time.Duration
	// Fast is the slot time under which a lane's jobs count as fast.
	Fast   time.Duration
	Logger *slog.Logger

	// behind is non-nil while some lane is behind; it is closed when all
	// are caught up, which lets every waiting answer go.
	behind atomic.Pointer[chan struct{}]
}

// NewPacer returns a pacer of w's lanes with the default options.
func NewPacer(w *Worker, c DueCounter) *Pacer {
	return &Pacer{Worker: w, Counter: c, Backlog: DefaultPaceBacklog, MaxWait: DefaultPaceMaxWait,
		Interval: DefaultPaceInterval, Fast: DefaultPaceFast, Logger: slog.New(slog.DiscardHandler)}
}

// Run looks at the lanes every Interval until ctx ends; Wait returns at
// once when Run is not running.
func (p *Pacer) Run(ctx context.Context) {
	if p.Backlog <= 0 {
		return
	}
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	defer p.set(false)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.set(p.isBehind(ctx))
	}
}

// isBehind reports whether a fast lane has more than Backlog jobs due. An
// idle worker costs no query.
func (p *Pacer) isBehind(ctx context.Context) bool {
	for _, lane := range p.Worker.fastLanes(p.Fast) {
		n, err := p.Counter.DueJobs(ctx, lane, p.Backlog+1)
		if err != nil {
			if ctx.Err() == nil {
				p.Logger.Debug("pace: count due jobs", "lane", lane, "err", err)
			}
			continue
		}
		if n > p.Backlog {
			return true
		}
	}
	return false
}

// set records whether a lane is behind; caught up, it lets every waiting
// answer go. Only Run calls it: Wait only reads behind.
func (p *Pacer) set(behind bool) {
	if behind {
		if p.behind.Load() == nil {
			ch := make(chan struct{})
			p.behind.Store(&ch)
		}
		return
	}
	if ch := p.behind.Swap(nil); ch != nil {
		close(*ch)
	}
}

// Wait holds the caller while a fast lane is behind: until it catches up,
// MaxWait passes or ctx ends. It returns how long it waited (0: not at
// all). A nil Pacer never waits.
func (p *Pacer) Wait(ctx context.Context) time.Duration {
	if p == nil {
		return 0
	}
	ch := p.behind.Load()
	if ch == nil {
		return 0
	}
	start := time.Now()
	t := time.NewTimer(p.MaxWait)
	defer t.Stop()
	select {
	case <-*ch:
	case <-t.C:
	case <-ctx.Done():
	}
	return time.Since(start)
}

// fastLanes returns the lanes this worker is busy with (jobs running,
// claimed ahead or being recorded) whose jobs are fast: their recent jobs
// held a slot for less than fast each, and none running now has held its
// slot that long (a destination that just began to hang is slow at once,
// not when its jobs end). Pacer.
func (w *Worker) fastLanes(fast time.Duration) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	busy := map[string]bool{}
	for _, m := range []map[string]int{w.inflight, w.completing} {
		for lane, n := range m {
			busy[lane] = busy[lane] || n > 0
		}
	}
	for lane, q := range w.ready {
		busy[lane] = busy[lane] || len(q) > 0
	}
	for _, r := range w.running {
		if !r.started.IsZero() && now.Sub(r.started) >= fast {
			busy[r.job.Lane] = false
		}
	}
	var lanes []string
	for lane, ok := range busy {
		if p := w.pace[lane]; ok && p > 0 && p < fast {
			lanes = append(lanes, lane)
		}
	}
	return lanes
}
