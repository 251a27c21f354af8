package store

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"tocsin"
)

// A step's result recorded for an execution without an incident takes
// the locks in the order a signal does: the execution before its job row.
// Otherwise a cancel that holds the execution and cancels the job's key
// waits on the completion, which holds the job row and waits on the
// execution: PostgreSQL breaks the cycle by aborting one of them. Here
// the signal's side detects deadlocks at once (deadlock_timeout 10ms), so
// a cycle fails the test rather than costing a second and a retry.
func TestRunbookCompletionLockOrder(t *testing.T) {
	s := openTestPostgres(t)
	ctx := context.Background()
	const doc = `{"schemaVersion":"0.3","mainSteps":[{"name":"Call","action":"tocsin:http","inputs":{"Method":"POST","URL":"https://api.example/x"}}]}`
	if _, _, err := s.Runbooks().PutRunbook(ctx, &tocsin.Runbook{Name: "lock-book", Body: doc, Document: json.RawMessage(doc)}); err != nil {
		t.Fatal(err)
	}
	ex, err := s.Runbooks().StartRunbook(ctx, tocsin.RunbookStart{Runbook: "lock-book", By: tocsin.Actor{Name: "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := s.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "w1", Now: s.opts.Now(), Lease: time.Minute, Limit: 10, Kinds: []string{tocsin.JobRunbookStep}})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claimed %d step jobs: %v", len(jobs), err)
	}
	// The signal's transaction: the execution locked first, as
	// SignalRunbook's lockExecution does.
	sig, err := s.begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sig.Rollback()
	var pid int
	if err := sig.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := sig.ExecContext(ctx, `SET LOCAL deadlock_timeout = '10ms'`); err != nil {
		t.Fatal(err)
	}
	r := &runner{ctx: ctx, tx: sig, dialect: s.dialect, now: s.opts.Now(), incidents: map[string]*tocsin.Incident{}}
	if _, _, err := r.lockExecution(ex.ID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		res := &tocsin.RunbookResult{ExecutionID: ex.ID, Seq: 1, Attempt: 1, Outputs: map[string]any{"StatusCode": 200}}
		done <- s.Jobs().CompleteJob(ctx, jobs[0], "w1", tocsin.JobOutcome{Runbook: res})
	}()
	// Wait until the completion waits on the signal's locks.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, pid).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the completion never waited on the signal's lock")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The cancel's second half: the step's job cancelled by its key.
	if err := cancelKey(ctx, sig, tocsin.RunbookStepKey(ex.ID, 1, 1)); err != nil {
		t.Fatalf("cancelling the step's job while its result is recorded: %v", err)
	}
	if err := sig.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("recording the step's result: %v", err)
	}
}
