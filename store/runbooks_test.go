package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"tocsin"
	"tocsin/store"
	"tocsin/store/storetest"
)

// Runbook documents the tests run, as the API stores them (JSON bodies).
const (
	pauseBook = `{"schemaVersion":"0.3","parameters":{"Count":{"type":"Integer","default":1},"Title":{"type":"String","default":"none"}},
		"mainSteps":[{"name":"Inspect","action":"aws:pause"},{"name":"Done","action":"aws:pause"}]}`
	pauseBookV2 = `{"schemaVersion":"0.3","mainSteps":[{"name":"Other","action":"aws:pause"}]}`
	sleepBook   = `{"schemaVersion":"0.3","mainSteps":[{"name":"Nap","action":"aws:sleep","inputs":{"Duration":"PT10M"}},
		{"name":"Nap2","action":"aws:sleep","inputs":{"Duration":"PT10M"}}]}`
	parentBook = `{"schemaVersion":"0.3","mainSteps":[{"name":"Nested","action":"aws:executeAutomation","inputs":{"DocumentName":"child-book"}},
		{"name":"After","action":"aws:pause"}]}`
	childBook = `{"schemaVersion":"0.3","mainSteps":[{"name":"Wait","action":"aws:pause"}]}`
	loopBook  = `{"schemaVersion":"0.3","mainSteps":[{"name":"Again","action":"aws:executeAutomation","inputs":{"DocumentName":"loop-book"}}]}`
)

// runbookEnv is a store with a settable clock, for runbook tests.
type runbookEnv struct {
	db    *store.DB
	clock *storetest.Clock
	ctx   context.Context
}

func newRunbookEnv(t *testing.T, url string) *runbookEnv {
	clock := storetest.NewClock(storetest.Epoch)
	db := storetest.Open(t, url, store.Options{Now: clock.Now, Policy: tocsin.Policy{Impacts: tocsin.DefaultImpacts()}})
	return &runbookEnv{db: db, clock: clock, ctx: context.Background()}
}

// forKinds runs test against SQLite and PostgreSQL.
func forKinds(t *testing.T, test func(t *testing.T, e *runbookEnv)) {
	for _, k := range storetest.Kinds() {
		t.Run(k.Name, func(t *testing.T) { test(t, newRunbookEnv(t, k.URL(t))) })
	}
}

func (e *runbookEnv) put(t *testing.T, name, doc string) (*tocsin.Runbook, bool) {
	t.Helper()
	rb, created, err := e.db.Runbooks().PutRunbook(e.ctx, &tocsin.Runbook{Name: name, Body: doc, Format: "json", Document: json.RawMessage(doc)})
	if err != nil {
		t.Fatalf("put runbook %s: %v", name, err)
	}
	return rb, created
}

func (e *runbookEnv) incident(t *testing.T) string {
	t.Helper()
	inc, _, err := e.db.Incidents().StartIncident(e.ctx, &tocsin.IncidentStart{Title: "CPU high", Impact: 2, By: tocsin.Actor{Name: "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	return inc.ID
}

func (e *runbookEnv) start(t *testing.T, name, incidentID string, params map[string][]string) *tocsin.RunbookExecution {
	t.Helper()
	ex, err := e.db.Runbooks().StartRunbook(e.ctx, tocsin.RunbookStart{Runbook: name, IncidentID: incidentID, Parameters: params, By: tocsin.Actor{Name: "alice"}})
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return ex
}

func (e *runbookEnv) exec(t *testing.T, id string) *tocsin.RunbookExecution {
	t.Helper()
	ex, err := e.db.Runbooks().RunbookExecution(e.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

func (e *runbookEnv) signal(id, typ string) (*tocsin.RunbookExecution, error) {
	return e.db.Runbooks().SignalRunbook(e.ctx, tocsin.RunbookSignal{ExecutionID: id, Type: typ, By: tocsin.Actor{Name: "bob", Via: "api"}})
}

// current is the name and status of the execution's current step ("" when none).
func current(ex *tocsin.RunbookExecution) string {
	for _, s := range ex.Steps {
		if s.Seq == ex.Current {
			return s.Name + ":" + s.Status
		}
	}
	return ""
}

// jobKeys are the keys of pending jobs of a kind, in key order.
func (e *runbookEnv) jobKeys(t *testing.T, kind string) []string {
	t.Helper()
	rows, err := e.db.SQL().Query(`SELECT job_key FROM jobs WHERE kind = $1 AND state = 'pending' ORDER BY job_key`, kind)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		out = append(out, k)
	}
	return out
}

func (e *runbookEnv) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.SQL().QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRunbookVersions(t *testing.T) {
	forKinds(t, func(t *testing.T, e *runbookEnv) {
		v1, created := e.put(t, "ec2-book", pauseBook)
		if !created || v1.Version != 1 || v1.Latest != 1 {
			t.Fatalf("first put: created=%v %+v", created, v1)
		}
		if again, created := e.put(t, "ec2-book", pauseBook); created || again.Version != 1 {
			t.Fatalf("same body again: created=%v version %d", created, again.Version)
		}
		ex := e.start(t, "ec2-book", e.incident(t), nil)
		if ex.Version != 1 || ex.Status != tocsin.RunbookWaiting || current(ex) != "Inspect:"+tocsin.RunbookWaiting {
			t.Fatalf("started: version %d status %s current %q", ex.Version, ex.Status, current(ex))
		}
		v2, created := e.put(t, "ec2-book", pauseBookV2)
		if !created || v2.Version != 2 {
			t.Fatalf("changed body: created=%v version %d", created, v2.Version)
		}
		if got, err := e.db.Runbooks().Runbook(e.ctx, "ec2-book", 0); err != nil || got.Version != 2 || got.Latest != 2 || got.Body != pauseBookV2 {
			t.Fatalf("latest: %+v %v", got, err)
		}
		if got, err := e.db.Runbooks().Runbook(e.ctx, "ec2-book", 1); err != nil || got.Version != 1 || got.Latest != 2 || got.Body != pauseBook {
			t.Fatalf("version 1: %+v %v", got, err)
		}
		if _, err := e.db.Runbooks().Runbook(e.ctx, "ec2-book", 3); tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
			t.Fatalf("version 3: %v", err)
		}
		list, err := e.db.Runbooks().Runbooks(e.ctx)
		if err != nil || len(list) != 1 || list[0].Version != 2 {
			t.Fatalf("list: %+v %v", list, err)
		}
		// The execution runs the version it started with, also once the
		// runbook is gone.
		if err := e.db.Runbooks().DeleteRunbook(e.ctx, "ec2-book"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.Runbooks().Runbook(e.ctx, "ec2-book", 1); tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
			t.Fatalf("deleted runbook's version: %v", err)
		}
		ex, err = e.signal(ex.ID, tocsin.SignalResume)
		if err != nil {
			t.Fatal(err)
		}
		if current(ex) != "Done:"+tocsin.RunbookWaiting || len(ex.Steps) != 2 || ex.Steps[0].Status != tocsin.RunbookSuccess {
			t.Fatalf("after resume: current %q steps %d", current(ex), len(ex.Steps))
		}
		_, doc, err := e.db.Runbooks().RunbookRun(e.ctx, ex.ID)
		if err != nil || len(doc.MainSteps) != 2 || doc.MainSteps[1].Name != "Done" {
			t.Fatalf("the execution's document: %+v %v", doc, err)
		}
	})
}

func TestRunbookStartRefused(t *testing.T) {
	forKinds(t, func(t *testing.T, e *runbookEnv) {
		e.put(t, "ec2-book", pauseBook)
		inc := e.incident(t)
		for _, tc := range []struct {
			name string
			req  tocsin.RunbookStart
			code string
			want string
		}{
			{"bad integer", tocsin.RunbookStart{Runbook: "ec2-book", IncidentID: inc, Parameters: map[string][]string{"Count": {"many"}}}, tocsin.EINVALID, "parameters.Count"},
			{"unknown parameter", tocsin.RunbookStart{Runbook: "ec2-book", Parameters: map[string][]string{"Nope": {"1"}}}, tocsin.EINVALID, "parameters.Nope"},
			{"no incident", tocsin.RunbookStart{Runbook: "ec2-book", IncidentID: "missing"}, tocsin.ENOTFOUND, `incident "missing"`},
			{"no runbook", tocsin.RunbookStart{Runbook: "nope-book", IncidentID: inc}, tocsin.ENOTFOUND, `runbook "nope-book"`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.db.Runbooks().StartRunbook(e.ctx, tc.req)
				if tocsin.ErrorCode(err) != tc.code || !strings.Contains(tocsin.ErrorMessage(err), tc.want) {
					t.Fatalf("start: %v; want %s naming %q", err, tc.code, tc.want)
				}
			})
		}
		if n := e.count(t, `SELECT COUNT(*) FROM runbook_executions`); n != 0 {
			t.Fatalf("refused starts wrote %d executions", n)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM timeline WHERE kind LIKE 'runbook%'`); n != 0 {
			t.Fatalf("refused starts wrote %d timeline events", n)
		}
		// Typed parameters are kept.
		ex := e.start(t, "ec2-book", inc, map[string][]string{"Count": {"3"}})
		if ex.Parameters["Count"] != int64(3) || ex.Parameters["Title"] != "none" || ex.StartedBy != "alice" {
			t.Fatalf("parameters %#v started by %q", ex.Parameters, ex.StartedBy)
		}
		list, err := e.db.Runbooks().RunbookExecutions(e.ctx, tocsin.RunbookFilter{IncidentID: inc})
		if err != nil || len(list) != 1 || list[0].ID != ex.ID || list[0].Steps != nil {
			t.Fatalf("executions of the incident: %+v %v", list, err)
		}
	})
}

func TestRunbookSignalNotWaiting(t *testing.T) {
	forKinds(t, func(t *testing.T, e *runbookEnv) {
		e.put(t, "sleep-book", sleepBook)
		ex := e.start(t, "sleep-book", e.incident(t), nil)
		if ex.Status != tocsin.RunbookInProgress || current(ex) != "Nap:"+tocsin.RunbookInProgress {
			t.Fatalf("sleeping: %s %q", ex.Status, current(ex))
		}
		before := e.count(t, `SELECT COUNT(*) FROM timeline`)
		for _, typ := range []string{tocsin.SignalResume, tocsin.SignalApprove} {
			if _, err := e.signal(ex.ID, typ); tocsin.ErrorCode(err) != tocsin.ECONFLICT {
				t.Fatalf("%s while sleeping: %v", typ, err)
			}
		}
		after := e.exec(t, ex.ID)
		if after.Row != ex.Row || after.Status != ex.Status || current(after) != current(ex) {
			t.Fatalf("refused signal changed the execution: row %d→%d %s %q", ex.Row, after.Row, after.Status, current(after))
		}
		if n := e.count(t, `SELECT COUNT(*) FROM timeline`); n != before {
			t.Fatalf("refused signal wrote %d timeline events", n-before)
		}
		if _, err := e.signal("missing", tocsin.SignalResume); tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
			t.Fatalf("signal to no execution: %v", err)
		}
	})
}

// Two responders resume one pause at once: exactly one wins, the other is
// told the execution no longer waits, and the step moves on once.
func TestRunbookConcurrentSignals(t *testing.T) {
	forKinds(t, func(t *testing.T, e *runbookEnv) {
		e.put(t, "child-book", childBook)
		inc := e.incident(t)
		ex := e.start(t, "child-book", inc, nil)
		const n = 4
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() { defer wg.Done(); _, errs[i] = e.signal(ex.ID, tocsin.SignalResume) }()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch tocsin.ErrorCode(err) {
			case "":
				won++
			case tocsin.ECONFLICT:
			default:
				t.Fatalf("concurrent resume: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d concurrent resumes won: %v", won, n, errs)
		}
		after := e.exec(t, ex.ID)
		if after.Status != tocsin.RunbookSuccess || len(after.Steps) != 1 || after.Row != ex.Row+1 {
			t.Fatalf("after the race: %s, %d steps, row %d→%d", after.Status, len(after.Steps), ex.Row, after.Row)
		}
		if ended := e.eventsOf(t, inc, tocsin.EventRunbookEnded); len(ended) != 1 {
			t.Fatalf("%d %s events", len(ended), tocsin.EventRunbookEnded)
		}
	})
}

// claim leases every due job of kind, as the engine does.
func (e *runbookEnv) claim(t *testing.T, kind string) []*tocsin.Job {
	t.Helper()
	jobs, err := e.db.Jobs().ClaimJobs(e.ctx, tocsin.JobClaim{Owner: "w1", Now: e.clock.Now(), Lease: time.Minute, Limit: 100, Kinds: []string{kind}})
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func TestRunbookCompleteJobAdvances(t *testing.T) {
	forKinds(t, func(t *testing.T, e *runbookEnv) {
		e.put(t, "sleep-book", sleepBook)
		ex := e.start(t, "sleep-book", e.incident(t), nil)
		if keys := e.jobKeys(t, tocsin.JobRunbookStep); len(keys) != 1 || keys[0] != tocsin.RunbookStepKey(ex.ID, 1, 1) {
			t.Fatalf("sleep timer: %v", keys)
		}
		if jobs := e.claim(t, tocsin.JobRunbookStep); len(jobs) != 0 {
			t.Fatalf("the timer is due in 10 minutes, claimed %d", len(jobs))
		}
		e.clock.Add(10 * time.Minute)
		jobs := e.claim(t, tocsin.JobRunbookStep)
		if len(jobs) != 1 {
			t.Fatalf("claimed %d", len(jobs))
		}
		woke := &tocsin.RunbookResult{ExecutionID: ex.ID, Seq: 1, Attempt: 1, Woke: true}
		// A worker that lost its lease records nothing: neither the job's
		// end nor the step's.
		if err := e.db.Jobs().CompleteJob(e.ctx, jobs[0], "w2", tocsin.JobOutcome{Runbook: woke}); tocsin.ErrorCode(err) != tocsin.ECONFLICT {
			t.Fatalf("complete by another owner: %v", err)
		}
		if got := e.exec(t, ex.ID); got.Row != ex.Row || current(got) != "Nap:"+tocsin.RunbookInProgress {
			t.Fatalf("a lost lease moved the execution: %q", current(got))
		}
		if err := e.db.Jobs().CompleteJob(e.ctx, jobs[0], "w1", tocsin.JobOutcome{Runbook: woke}); err != nil {
			t.Fatal(err)
		}
		got := e.exec(t, ex.ID)
		if current(got) != "Nap2:"+tocsin.RunbookInProgress || got.Steps[0].Status != tocsin.RunbookSuccess {
			t.Fatalf("after the first sleep: %q", current(got))
		}
		if keys := e.jobKeys(t, tocsin.JobRunbookStep); len(keys) != 1 || keys[0] != tocsin.RunbookStepKey(ex.ID, 2, 1) {
			t.Fatalf("the next timer, queued with the completion: %v", keys)
		}
		// A stale result (the first sleep's, run twice) changes nothing.
		e.clock.Add(10 * time.Minute)
		jobs = e.claim(t, tocsin.JobRunbookStep)
		if len(jobs) != 1 {
			t.Fatalf("claimed %d", len(jobs))
		}
		if err := e.db.Jobs().CompleteJob(e.ctx, jobs[0], "w1", tocsin.JobOutcome{Runbook: woke}); err != nil {
			t.Fatal(err)
		}
		if stale := e.exec(t, ex.ID); stale.Row != got.Row || current(stale) != current(got) || len(stale.Steps) != 2 {
			t.Fatalf("a stale result moved the execution: row %d→%d %q", got.Row, stale.Row, current(stale))
		}
	})
}

func TestRunbookCancelRemovesTimer(t *testing.T) {
	forKinds(t, func(t *testing.T, e *runbookEnv) {
		e.put(t, "sleep-book", sleepBook)
		ex := e.start(t, "sleep-book", e.incident(t), nil)
		if keys := e.jobKeys(t, tocsin.JobRunbookStep); len(keys) != 1 {
			t.Fatalf("sleep timer: %v", keys)
		}
		got, err := e.signal(ex.ID, tocsin.SignalCancel)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != tocsin.RunbookCancelled || got.EndedAt.IsZero() {
			t.Fatalf("cancelled: %s", got.Status)
		}
		if keys := e.jobKeys(t, tocsin.JobRunbookStep); len(keys) != 0 {
			t.Fatalf("the timer outlived the cancel: %v", keys)
		}
		if _, err := e.signal(ex.ID, tocsin.SignalCancel); tocsin.ErrorCode(err) != tocsin.ECONFLICT {
			t.Fatalf("cancel an ended execution: %v", err)
		}
	})
}

// A timer a worker holds when the execution is cancelled is marked
// cancelled and gives up its key; its result, recorded after, is stale.
func TestRunbookCancelWhileTimerRuns(t *testing.T) {
	forKinds(t, func(t *testing.T, e *runbookEnv) {
		e.put(t, "sleep-book", sleepBook)
		ex := e.start(t, "sleep-book", e.incident(t), nil)
		e.clock.Add(10 * time.Minute)
		jobs := e.claim(t, tocsin.JobRunbookStep)
		if len(jobs) != 1 {
			t.Fatalf("claimed %d", len(jobs))
		}
		if _, err := e.signal(ex.ID, tocsin.SignalCancel); err != nil {
			t.Fatal(err)
		}
		cancelled := e.exec(t, ex.ID)
		if err := e.db.Jobs().CompleteJob(e.ctx, jobs[0], "w1", tocsin.JobOutcome{Runbook: &tocsin.RunbookResult{ExecutionID: ex.ID, Seq: 1, Attempt: 1, Woke: true}}); err != nil {
			t.Fatal(err)
		}
		if got := e.exec(t, ex.ID); got.Status != tocsin.RunbookCancelled || got.Row != cancelled.Row {
			t.Fatalf("a result after the cancel: %s row %d→%d", got.Status, cancelled.Row, got.Row)
		}
		if n := e.count(t, `SELECT COUNT(*) FROM jobs`); n != 0 {
			t.Fatalf("%d jobs left", n)
		}
	})
}

func TestRunbookChildExecution(t *testing.T) {
	forKinds(t, func(t *testing.T, e *runbookEnv) {
		e.put(t, "parent-book", parentBook)
		e.put(t, "child-book", childBook)
		inc := e.incident(t)
		parent := e.start(t, "parent-book", inc, nil)
		step := parent.Steps[0]
		if parent.Status != tocsin.RunbookInProgress || step.ChildID == "" || step.Status != tocsin.RunbookInProgress {
			t.Fatalf("parent: %s, step %+v", parent.Status, step)
		}
		child := e.exec(t, step.ChildID)
		if child.ParentID != parent.ID || child.ParentStep != 1 || child.IncidentID != inc || child.Status != tocsin.RunbookWaiting {
			t.Fatalf("child: %+v", child)
		}
		if _, err := e.signal(child.ID, tocsin.SignalResume); err != nil {
			t.Fatal(err)
		}
		if child = e.exec(t, child.ID); child.Status != tocsin.RunbookSuccess {
			t.Fatalf("child after resume: %s", child.Status)
		}
		parent = e.exec(t, parent.ID)
		if parent.Steps[0].Status != tocsin.RunbookSuccess || current(parent) != "After:"+tocsin.RunbookWaiting {
			t.Fatalf("the child's end did not move the parent: %q", current(parent))
		}
		// Cancelling a parent cancels the child it waits for.
		p2 := e.start(t, "parent-book", inc, nil)
		if _, err := e.signal(p2.ID, tocsin.SignalCancel); err != nil {
			t.Fatal(err)
		}
		if c2 := e.exec(t, p2.Steps[0].ChildID); c2.Status != tocsin.RunbookCancelled {
			t.Fatalf("child of a cancelled parent: %s", c2.Status)
		}
		if p2 = e.exec(t, p2.ID); p2.Status != tocsin.RunbookCancelled {
			t.Fatalf("cancelled parent: %s", p2.Status)
		}
	})
}

func TestRunbookChildCannotStart(t *testing.T) {
	forKinds(t, func(t *testing.T, e *runbookEnv) {
		inc := e.incident(t)
		// Its child's runbook is missing: the parent's step fails.
		e.put(t, "parent-book", parentBook)
		parent := e.start(t, "parent-book", inc, nil)
		if parent.Status != tocsin.RunbookFailed || parent.Steps[0].Status != tocsin.RunbookFailed {
			t.Fatalf("parent of a missing child: %s, step %s", parent.Status, parent.Steps[0].Status)
		}
		if child := e.exec(t, parent.Steps[0].ChildID); child.Status != tocsin.RunbookFailed || !strings.Contains(child.FailureMessage, `"child-book" not found`) {
			t.Fatalf("the child that could not start: %s %q", child.Status, child.FailureMessage)
		}
		// A runbook that runs itself stops MaxRunbookDepth deep, each
		// level failing in turn.
		e.put(t, "loop-book", loopBook)
		top := e.start(t, "loop-book", inc, nil)
		if top.Status != tocsin.RunbookFailed {
			t.Fatalf("self-nesting runbook: %s", top.Status)
		}
		list, err := e.db.Runbooks().RunbookExecutions(e.ctx, tocsin.RunbookFilter{Runbook: "loop-book"})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != store.MaxRunbookDepth+1 {
			t.Fatalf("%d loop-book executions; want %d running and the one refused", len(list), store.MaxRunbookDepth+1)
		}
		deep := 0
		for _, ex := range list {
			if ex.Status != tocsin.RunbookFailed {
				t.Fatalf("execution %s: %s", ex.ID, ex.Status)
			}
			if strings.Contains(ex.FailureMessage, "nest at most") {
				deep++
			}
		}
		if deep == 0 {
			t.Fatalf("no execution says why: %+v", list)
		}
	})
}

func TestRunbookDeleteNamedByPlan(t *testing.T) {
	forKinds(t, func(t *testing.T, e *runbookEnv) {
		e.put(t, "ec2-book", pauseBook)
		plan := &tocsin.ResponsePlan{Name: "cpu", IncidentTemplate: tocsin.IncidentTemplate{Title: "CPU", Impact: 3},
			Runbook: &tocsin.RunbookRef{Name: "ec2-book"}}
		if _, err := e.db.ResponsePlans().PutResponsePlan(e.ctx, plan); err != nil {
			t.Fatal(err)
		}
		err := e.db.Runbooks().DeleteRunbook(e.ctx, "ec2-book")
		if tocsin.ErrorCode(err) != tocsin.ECONFLICT || !strings.Contains(tocsin.ErrorMessage(err), `response plan "cpu"`) {
			t.Fatalf("delete a runbook a plan names: %v", err)
		}
		if _, err := e.db.Runbooks().Runbook(e.ctx, "ec2-book", 0); err != nil {
			t.Fatalf("refused delete removed it: %v", err)
		}
		if err := e.db.ResponsePlans().DeleteResponsePlan(e.ctx, "cpu"); err != nil {
			t.Fatal(err)
		}
		if err := e.db.Runbooks().DeleteRunbook(e.ctx, "ec2-book"); err != nil {
			t.Fatal(err)
		}
		if err := e.db.Runbooks().DeleteRunbook(e.ctx, "ec2-book"); tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

func TestRunbookPutRefused(t *testing.T) {
	forKinds(t, func(t *testing.T, e *runbookEnv) {
		for _, tc := range []struct {
			name string
			rb   tocsin.Runbook
			want string
		}{
			{"no name", tocsin.Runbook{Body: pauseBook, Document: json.RawMessage(pauseBook)}, "name is required"},
			{"no document", tocsin.Runbook{Name: "ec2-book", Body: pauseBook}, "document is required"},
			{"invalid", tocsin.Runbook{Name: "ec2-book", Body: "x", Document: json.RawMessage(`{"schemaVersion":"0.3","mainSteps":[{"name":"A","action":"aws:runInstances"}]}`)}, "aws:runInstances"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := e.db.Runbooks().PutRunbook(e.ctx, &tc.rb)
				if tocsin.ErrorCode(err) != tocsin.EINVALID || !strings.Contains(tocsin.ErrorMessage(err), tc.want) {
					t.Fatalf("put: %v; want EINVALID naming %q", err, tc.want)
				}
			})
		}
		if n := e.count(t, `SELECT COUNT(*) FROM runbook_versions`); n != 0 {
			t.Fatalf("refused puts stored %d versions", n)
		}
	})
}

// eventsOf returns the incident's timeline events of kind.
func (e *runbookEnv) eventsOf(t *testing.T, incidentID, kind string) []*tocsin.TimelineEvent {
	t.Helper()
	inc, err := e.db.Incidents().FindIncident(e.ctx, incidentID)
	if err != nil {
		t.Fatal(err)
	}
	var out []*tocsin.TimelineEvent
	for _, ev := range inc.Timeline {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func TestRunbookStartsWithPlanIncident(t *testing.T) {
	forKinds(t, func(t *testing.T, e *runbookEnv) {
		e.put(t, "ec2-book", pauseBook)
		for _, p := range []*tocsin.ResponsePlan{
			{Name: "cpu", IncidentTemplate: tocsin.IncidentTemplate{Title: "CPU high", Impact: 3},
				Runbook: &tocsin.RunbookRef{Name: "ec2-book", Parameters: map[string][]string{"Count": {"2"}},
					DynamicParameters: map[string]string{"Title": "INCIDENT_TITLE"}}},
			{Name: "missing", IncidentTemplate: tocsin.IncidentTemplate{Title: "Disk full", Impact: 3},
				Runbook: &tocsin.RunbookRef{Name: "gone-book"}},
			{Name: "mistyped", IncidentTemplate: tocsin.IncidentTemplate{Title: "Mistyped", Impact: 3},
				Runbook: &tocsin.RunbookRef{Name: "ec2-book", Parameters: map[string][]string{"Count": {"lots"}}}},
		} {
			if _, err := e.db.ResponsePlans().PutResponsePlan(e.ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		// By hand, with the plan.
		inc, _, err := e.db.Incidents().StartIncident(e.ctx, &tocsin.IncidentStart{ResponsePlan: "cpu", By: tocsin.Actor{Name: "alice"}})
		if err != nil {
			t.Fatal(err)
		}
		list, err := e.db.Runbooks().RunbookExecutions(e.ctx, tocsin.RunbookFilter{IncidentID: inc.ID})
		if err != nil || len(list) != 1 {
			t.Fatalf("executions of the plan's incident: %+v %v", list, err)
		}
		ex := list[0]
		if ex.Runbook != "ec2-book" || ex.Status != tocsin.RunbookWaiting || ex.Parameters["Count"] != int64(2) ||
			ex.Parameters["Title"] != "CPU high" || ex.StartedBy != "response plan cpu" {
			t.Fatalf("the plan's execution: %+v", ex)
		}
		if len(e.eventsOf(t, inc.ID, tocsin.EventRunbookStarted)) != 1 {
			t.Fatalf("no %s event", tocsin.EventRunbookStarted)
		}
		// Through intake, naming the plan.
		res, err := e.db.Incidents().Ingest(e.ctx, []*tocsin.Alert{storetest.NewAlert("cpu", "fp1", tocsin.AlertFiring, "critical")},
			tocsin.IngestOptions{ResponsePlan: "cpu"})
		if err != nil {
			t.Fatal(err)
		}
		if list, err := e.db.Runbooks().RunbookExecutions(e.ctx, tocsin.RunbookFilter{IncidentID: res[0].IncidentID}); err != nil || len(list) != 1 {
			t.Fatalf("executions of the alert's incident: %+v %v", list, err)
		}
		// A second alert joins the incident and starts nothing.
		if _, err := e.db.Incidents().Ingest(e.ctx, []*tocsin.Alert{storetest.NewAlert("cpu", "fp2", tocsin.AlertFiring, "critical")},
			tocsin.IngestOptions{ResponsePlan: "cpu"}); err != nil {
			t.Fatal(err)
		}
		if list, _ := e.db.Runbooks().RunbookExecutions(e.ctx, tocsin.RunbookFilter{IncidentID: res[0].IncidentID}); len(list) != 1 {
			t.Fatalf("a joining alert started another execution: %d", len(list))
		}
		// A runbook that cannot start: the incident opens anyway, and its
		// timeline says why.
		for plan, why := range map[string]string{"missing": `"gone-book" not found`, "mistyped": "parameters.Count"} {
			inc, _, err := e.db.Incidents().StartIncident(e.ctx, &tocsin.IncidentStart{ResponsePlan: plan, By: tocsin.Actor{Name: "alice"}})
			if err != nil {
				t.Fatalf("plan %s: %v", plan, err)
			}
			if list, _ := e.db.Runbooks().RunbookExecutions(e.ctx, tocsin.RunbookFilter{IncidentID: inc.ID}); len(list) != 0 {
				t.Fatalf("plan %s: %d executions", plan, len(list))
			}
			ended := e.eventsOf(t, inc.ID, tocsin.EventRunbookEnded)
			if len(ended) != 1 || !strings.Contains(ended[0].Message, why) {
				t.Fatalf("plan %s: events %+v; want one saying %q", plan, ended, why)
			}
			var data tocsin.RunbookEventData
			if err := json.Unmarshal(ended[0].Data, &data); err != nil || data.Status != tocsin.RunbookFailed {
				t.Fatalf("plan %s: event data %s %v", plan, ended[0].Data, err)
			}
		}
	})
}

func TestClaimRunbookStep(t *testing.T) {
	forKinds(t, func(t *testing.T, e *runbookEnv) {
		e.put(t, "sleep-book", sleepBook)
		ex := e.start(t, "sleep-book", "", nil)
		rb := e.db.Runbooks()
		for _, tc := range []struct {
			name         string
			seq, attempt int
			running      bool
			code         string
		}{
			{"first claim", 1, 1, false, ""},
			{"claimed again after a crash", 1, 1, true, ""},
			{"an older attempt", 1, 0, false, tocsin.ECONFLICT},
			{"no such step", 7, 1, false, tocsin.ENOTFOUND},
		} {
			t.Run(tc.name, func(t *testing.T) {
				was, err := rb.ClaimRunbookStep(e.ctx, ex.ID, tc.seq, tc.attempt)
				if tocsin.ErrorCode(err) != tc.code || was != tc.running {
					t.Fatalf("claim: running=%v %v; want %v %q", was, err, tc.running, tc.code)
				}
			})
		}
		got, _, err := rb.RunbookRun(e.ctx, ex.ID)
		if err != nil || !got.Steps[0].Running || got.Row != ex.Row+1 {
			t.Fatalf("claimed step: running=%v row %d→%d %v", got.Steps[0].Running, ex.Row, got.Row, err)
		}
	})
}

// TestRunbookPlanLabelMissing: a plan's dynamic parameter from a label the
// incident does not have leaves the parameter to the document's default;
// without a default the runbook cannot start, and the timeline names the
// label.
func TestRunbookPlanLabelMissing(t *testing.T) {
	forKinds(t, func(t *testing.T, e *runbookEnv) {
		e.put(t, "ec2-book", pauseBook) // Title defaults to "none"
		e.put(t, "strict-book", `{"schemaVersion":"0.3","parameters":{"Host":{"type":"String"}},"mainSteps":[{"name":"Wait","action":"aws:pause"}]}`)
		for name, book := range map[string]string{"defaulted": "ec2-book", "required": "strict-book"} {
			dyn := map[string]string{"Title": "LABEL:service"}
			if book == "strict-book" {
				dyn = map[string]string{"Host": "LABEL:host"}
			}
			if _, err := e.db.ResponsePlans().PutResponsePlan(e.ctx, &tocsin.ResponsePlan{Name: name,
				IncidentTemplate: tocsin.IncidentTemplate{Title: "No labels", Impact: 3},
				Runbook:          &tocsin.RunbookRef{Name: book, DynamicParameters: dyn}}); err != nil {
				t.Fatal(err)
			}
		}
		start := func(plan string) string {
			inc, _, err := e.db.Incidents().StartIncident(e.ctx, &tocsin.IncidentStart{ResponsePlan: plan, By: tocsin.Actor{Name: "alice"}})
			if err != nil {
				t.Fatalf("plan %s: %v", plan, err)
			}
			return inc.ID
		}
		id := start("defaulted")
		list, err := e.db.Runbooks().RunbookExecutions(e.ctx, tocsin.RunbookFilter{IncidentID: id})
		if err != nil || len(list) != 1 || list[0].Parameters["Title"] != "none" {
			t.Fatalf("a missing label with a default: %+v %v %v", list, err, e.eventsOf(t, id, tocsin.EventRunbookEnded))
		}
		id = start("required")
		if list, _ := e.db.Runbooks().RunbookExecutions(e.ctx, tocsin.RunbookFilter{IncidentID: id}); len(list) != 0 {
			t.Fatalf("a required parameter without its label started: %+v", list)
		}
		ended := e.eventsOf(t, id, tocsin.EventRunbookEnded)
		if len(ended) != 1 || !strings.Contains(ended[0].Message, "parameters.Host: is required") || !strings.Contains(ended[0].Message, `the incident has no label "host"`) {
			t.Fatalf("timeline: %+v", ended)
		}
	})
}
