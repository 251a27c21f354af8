package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tocsin"
	"tocsin/runbook"
	"tocsin/runbook/action"
)

// fakeStore is the runner's store as function fields.
type fakeStore struct {
	run   func(ctx context.Context, id string) (*tocsin.RunbookExecution, *runbook.Document, error)
	claim func(ctx context.Context, id string, seq, attempt int) (bool, error)
}

func (f *fakeStore) RunbookRun(ctx context.Context, id string) (*tocsin.RunbookExecution, *runbook.Document, error) {
	return f.run(ctx, id)
}

func (f *fakeStore) ClaimRunbookStep(ctx context.Context, id string, seq, attempt int) (bool, error) {
	return f.claim(ctx, id, seq, attempt)
}

// world is one execution at one step, a local HTTP server and a runner.
type world struct {
	t      *testing.T
	exec   *tocsin.RunbookExecution
	doc    *runbook.Document
	runner *Runner
	calls  atomic.Int32 // requests the server got
	claims []string     // ClaimRunbookStep calls
	// wasRunning is what the claim answers.
	wasRunning bool
	srv        *httptest.Server
	// noticeMessage is the Message of the approver's notice job.
	noticeMessage string
}

// newWorld runs a document whose steps are given as JSON, the execution
// at the step named current (seq 2, attempt 1; a step before it done).
func newWorld(t *testing.T, steps, current string) *world {
	t.Helper()
	return newWorldVars(t, steps, current, map[string]any{})
}

// newWorldVars is newWorld with the step's inputs interpolated from vars.
func newWorldVars(t *testing.T, steps, current string, vars map[string]any) *world {
	t.Helper()
	w := &world{t: t}
	w.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.calls.Add(1)
		switch r.URL.Path {
		case "/echo":
			body, _ := io.ReadAll(r.Body)
			rw.Write(body)
		case "/down":
			rw.WriteHeader(http.StatusBadGateway)
			fmt.Fprint(rw, "upstream gone")
		default:
			fmt.Fprintf(rw, `{"healthy": true, "method": %q}`, r.Method)
		}
	}))
	t.Cleanup(w.srv.Close)
	doc, err := runbook.Parse([]byte(`{"schemaVersion": "0.3", "mainSteps": [` + strings.ReplaceAll(steps, "SRV", w.srv.URL) + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	w.doc = doc
	st := doc.Step(current)
	if st == nil {
		t.Fatalf("no step %s", current)
	}
	inputs, err := runbook.Interpolate(st.Inputs, vars)
	if err != nil {
		t.Fatal(err)
	}
	w.exec = &tocsin.RunbookExecution{ID: "ex1", IncidentID: "inc1", Runbook: "check", Version: 3, Status: tocsin.RunbookInProgress, Current: 2,
		Steps: []*tocsin.RunbookStep{
			{Seq: 1, Name: "before", Action: "aws:pause", Status: tocsin.RunbookSuccess, Attempt: 1},
			{Seq: 2, Name: st.Name, Action: st.Action, Status: tocsin.RunbookInProgress, Attempt: 1, Inputs: inputs.(map[string]any)},
		}}
	store := &fakeStore{
		run: func(_ context.Context, id string) (*tocsin.RunbookExecution, *runbook.Document, error) {
			if id != w.exec.ID {
				return nil, nil, tocsin.Errorf(tocsin.ENOTFOUND, "no execution %s", id)
			}
			return w.exec, w.doc, nil
		},
		claim: func(_ context.Context, id string, seq, attempt int) (bool, error) {
			w.claims = append(w.claims, fmt.Sprintf("%s/%d/%d", id, seq, attempt))
			return w.wasRunning, nil
		},
	}
	w.runner = &Runner{Store: store, HTTP: &action.HTTP{Allow: []string{w.srv.URL}, MaxResponse: 1 << 20}, Now: time.Now}
	if bash, err := exec.LookPath("bash"); err == nil {
		w.runner.Script = &action.Script{Interpreters: map[string]string{"bash": bash}, MaxOutput: 1 << 16}
	}
	return w
}

// job is the step job of seq 2 at attempt, claimed for the claims-th time.
func job(wake bool, attempt, claims int) *tocsin.Job {
	args := tocsin.RunbookStepArgs{ExecutionID: "ex1", Seq: 2, Attempt: attempt, Wake: wake}
	return &tocsin.Job{ID: "j1", Kind: tocsin.JobRunbookStep, Key: tocsin.RunbookStepKey("ex1", 2, attempt), Args: tocsin.MustJSON(args), Attempts: claims}
}

const (
	stepGet    = `{"name": "probe", "action": "tocsin:http", "inputs": {"Method": "GET", "URL": "SRV/health"}}`
	stepPost   = `{"name": "page", "action": "tocsin:http", "inputs": {"Method": "POST", "URL": "SRV/pages", "Body": {"x": 1}}}`
	stepDown   = `{"name": "down", "action": "tocsin:http", "inputs": {"Method": "GET", "URL": "SRV/down"}}`
	stepScript = `{"name": "fix", "action": "tocsin:script", "inputs": {"Runtime": "bash", "Script": "echo '{\"fixed\": true}'"}}`
	stepSlow   = `{"name": "slow", "action": "tocsin:script", "timeoutSeconds": 1, "inputs": {"Runtime": "bash", "Script": "sleep 30"}}`
	stepSleep  = `{"name": "wait", "action": "aws:sleep", "inputs": {"Duration": "PT10M"}}`
	stepBefore = `{"name": "before", "action": "aws:pause", "inputs": {}}`
)

func TestHandleStep(t *testing.T) {
	for _, tc := range []struct {
		name, step, current string
		wake                bool
		claims              int  // the job's claims (Attempts)
		wasRunning          bool // what ClaimRunbookStep answers
		noScript            bool
		wantCalls           int32
		wantClaims          int
		want                tocsin.RunbookResult
	}{
		{name: "wake", step: stepSleep, current: "wait", wake: true, claims: 1,
			want: tocsin.RunbookResult{ExecutionID: "ex1", Seq: 2, Attempt: 1, Woke: true}},
		{name: "idempotent GET", step: stepGet, current: "probe", claims: 1, wantCalls: 1, wantClaims: 1,
			want: tocsin.RunbookResult{ExecutionID: "ex1", Seq: 2, Attempt: 1, Outputs: map[string]any{"healthy": true, "method": "GET"}}},
		{name: "idempotent GET claimed before: a rerun", step: stepGet, current: "probe", claims: 2, wasRunning: true, wantCalls: 1, wantClaims: 1,
			want: tocsin.RunbookResult{ExecutionID: "ex1", Seq: 2, Attempt: 1, Rerun: true, Outputs: map[string]any{"healthy": true, "method": "GET"}}},
		// A job handed back at a shutdown does not count the claim it
		// lost: the step's claim still says the call was under way.
		{name: "idempotent GET handed back at a shutdown: a rerun", step: stepGet, current: "probe", claims: 1, wasRunning: true, wantCalls: 1, wantClaims: 1,
			want: tocsin.RunbookResult{ExecutionID: "ex1", Seq: 2, Attempt: 1, Rerun: true, Outputs: map[string]any{"healthy": true, "method": "GET"}}},
		// A job re-armed before its action started (the store was down)
		// counts a claim that ran nothing: not a rerun.
		{name: "idempotent GET retried before it ran: not a rerun", step: stepGet, current: "probe", claims: 2, wantCalls: 1, wantClaims: 1,
			want: tocsin.RunbookResult{ExecutionID: "ex1", Seq: 2, Attempt: 1, Outputs: map[string]any{"healthy": true, "method": "GET"}}},
		{name: "POST claimed first", step: stepPost, current: "page", claims: 1, wantCalls: 1, wantClaims: 1,
			want: tocsin.RunbookResult{ExecutionID: "ex1", Seq: 2, Attempt: 1, Outputs: map[string]any{"healthy": true, "method": "POST"}}},
		{name: "POST interrupted: not run again", step: stepPost, current: "page", claims: 2, wasRunning: true, wantClaims: 1,
			want: tocsin.RunbookResult{ExecutionID: "ex1", Seq: 2, Attempt: 1, Interrupted: true, Error: "interrupted by a restart; tocsin:http is not idempotent, not run again"}},
		{name: "script interrupted: not run again", step: stepScript, current: "fix", claims: 2, wasRunning: true, wantClaims: 1,
			want: tocsin.RunbookResult{ExecutionID: "ex1", Seq: 2, Attempt: 1, Interrupted: true, Error: "interrupted by a restart; tocsin:script is not idempotent, not run again"}},
		{name: "script runs", step: stepScript, current: "fix", claims: 1, wantClaims: 1,
			want: tocsin.RunbookResult{ExecutionID: "ex1", Seq: 2, Attempt: 1, Outputs: map[string]any{"Payload": map[string]any{"fixed": true}, "Stderr": ""}}},
		{name: "script disabled", step: stepScript, current: "fix", claims: 1, noScript: true,
			want: tocsin.RunbookResult{ExecutionID: "ex1", Seq: 2, Attempt: 1, Error: "tocsin:script is disabled: set runbooks.scripts.enabled: true"}},
		{name: "non-2xx", step: stepDown, current: "down", claims: 1, wantCalls: 1, wantClaims: 1,
			want: tocsin.RunbookResult{ExecutionID: "ex1", Seq: 2, Attempt: 1, Error: "HTTP 502: upstream gone"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, stepBefore+","+tc.step, tc.current)
			w.wasRunning = tc.wasRunning
			if tc.noScript {
				w.runner.Script = nil
			} else if w.runner.Script == nil && strings.Contains(tc.step, "tocsin:script") {
				t.Skip("bash is not installed")
			}
			out := w.runner.HandleStep(context.Background(), job(tc.wake, 1, tc.claims))
			if out.Runbook == nil || !out.RetryAt.IsZero() || out.Failed {
				t.Fatalf("outcome %+v", out)
			}
			got := *out.Runbook
			if strings.Contains(tc.step, "tocsin:http") && got.Outputs != nil {
				// The answer's headers (its Date) vary; the body is the point.
				if got.Outputs["StatusCode"] == 200 {
					got.Outputs = got.Outputs["Body"].(map[string]any)
				}
			}
			if tc.name == "non-2xx" {
				if got.Outputs["StatusCode"] != 502 {
					t.Errorf("a failed call's outputs: %v", got.Outputs)
				}
				got.Outputs = nil
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("result\n %+v\nwant\n %+v", got, tc.want)
			}
			if n := w.calls.Load(); n != tc.wantCalls {
				t.Errorf("%d calls to the server, want %d", n, tc.wantCalls)
			}
			if len(w.claims) != tc.wantClaims || (tc.wantClaims > 0 && w.claims[0] != "ex1/2/1") {
				t.Errorf("claims %v, want %d", w.claims, tc.wantClaims)
			}
		})
	}
}

func TestHTTPDisabled(t *testing.T) {
	w := newWorld(t, stepBefore+","+stepGet, "probe")
	w.runner.HTTP = nil
	out := w.runner.HandleStep(context.Background(), job(false, 1, 1))
	if out.Runbook == nil || !strings.Contains(out.Runbook.Error, "runbooks.http.allow") || w.calls.Load() != 0 {
		t.Fatalf("outcome %+v", out.Runbook)
	}
}

// A stale job (the execution ended or moved on, or a later attempt
// exists) runs nothing and records nothing.
func TestHandleStepStale(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*tocsin.RunbookExecution)
		job    *tocsin.Job
	}{
		{"execution ended", func(e *tocsin.RunbookExecution) { e.Status = tocsin.RunbookCancelled }, job(false, 1, 1)},
		{"another step is current", func(e *tocsin.RunbookExecution) { e.Current = 1 }, job(false, 1, 1)},
		{"step ended", func(e *tocsin.RunbookExecution) { e.Steps[1].Status = tocsin.RunbookSuccess }, job(false, 1, 1)},
		{"not the latest attempt", func(e *tocsin.RunbookExecution) { e.Steps[1].Attempt = 2 }, job(false, 1, 1)},
		{"a wake not the latest attempt", func(e *tocsin.RunbookExecution) { e.Steps[1].Attempt = 2 }, job(true, 1, 1)},
		{"no such step", func(e *tocsin.RunbookExecution) { e.Steps = e.Steps[:1] }, job(false, 1, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, stepBefore+","+stepPost, "page")
			tc.change(w.exec)
			out := w.runner.HandleStep(context.Background(), tc.job)
			if !reflect.DeepEqual(out, tocsin.JobOutcome{}) {
				t.Fatalf("outcome %+v", out)
			}
			if w.calls.Load() != 0 || len(w.claims) != 0 {
				t.Fatalf("ran: %d calls, claims %v", w.calls.Load(), w.claims)
			}
		})
	}
}

func TestHandleStepStoreErrors(t *testing.T) {
	w := newWorld(t, stepBefore+","+stepPost, "page")
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	w.runner.Now = func() time.Time { return now }
	// The store is down: the job is re-armed with a backoff, nothing run.
	w.runner.Store.(*fakeStore).run = func(context.Context, string) (*tocsin.RunbookExecution, *runbook.Document, error) {
		return nil, nil, errors.New("database is locked")
	}
	out := w.runner.HandleStep(context.Background(), job(false, 1, 3))
	if !out.RetryAt.After(now) || out.Runbook != nil || !strings.Contains(out.Error, "database is locked") {
		t.Fatalf("store down: %+v", out)
	}
	// An execution that no longer exists ends the job.
	w = newWorld(t, stepBefore+","+stepPost, "page")
	out = w.runner.HandleStep(context.Background(), &tocsin.Job{Args: tocsin.MustJSON(tocsin.RunbookStepArgs{ExecutionID: "gone", Seq: 1, Attempt: 1})})
	if !reflect.DeepEqual(out, tocsin.JobOutcome{}) {
		t.Fatalf("gone: %+v", out)
	}
	// The claim fails: re-armed, the action not run.
	w = newWorld(t, stepBefore+","+stepPost, "page")
	w.runner.Store.(*fakeStore).claim = func(context.Context, string, int, int) (bool, error) { return false, errors.New("connection reset") }
	out = w.runner.HandleStep(context.Background(), job(false, 1, 1))
	if out.RetryAt.IsZero() || out.Runbook != nil || w.calls.Load() != 0 {
		t.Fatalf("claim failed: %+v, %d calls", out, w.calls.Load())
	}
	// Bad arguments end the job.
	if out := w.runner.HandleStep(context.Background(), &tocsin.Job{Args: json.RawMessage(`{"seq": "x"}`)}); !reflect.DeepEqual(out, tocsin.JobOutcome{}) {
		t.Fatalf("bad args: %+v", out)
	}
}

func TestHandleStepTimeouts(t *testing.T) {
	w := newWorld(t, stepBefore+","+stepSlow, "slow")
	if w.runner.Script == nil {
		t.Skip("bash is not installed")
	}
	start := time.Now()
	out := w.runner.HandleStep(context.Background(), job(false, 1, 1))
	if out.Runbook == nil || !out.Runbook.TimedOut || !strings.HasPrefix(out.Runbook.Error, "timed out after 1s") {
		t.Fatalf("outcome %+v", out.Runbook)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a 1 s step took %s", d)
	}
	// The worker's bound on a job, when shorter, is the step's time.
	w = newWorld(t, stepBefore+","+stepSlow, "slow")
	w.doc.Step("slow").TimeoutSeconds = 0
	ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
	out = w.runner.HandleStep(ctx, job(false, 1, 1))
	cancel()
	if out.Runbook == nil || !out.Runbook.TimedOut || !strings.HasPrefix(out.Runbook.Error, "timed out after 1s") {
		t.Fatalf("the worker's timeout: %+v", out)
	}
	// A shutdown is not a timeout: the job is handed back, no result.
	w = newWorld(t, stepBefore+","+stepSlow, "slow")
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	out = w.runner.HandleStep(ctx, job(false, 1, 1))
	if out.Runbook != nil || out.RetryAt.IsZero() {
		t.Fatalf("shutdown: %+v", out)
	}
	for _, tc := range []struct {
		seconds int
		limit   time.Duration
		want    time.Duration
	}{
		{0, 0, 600 * time.Second},
		{30, 0, 30 * time.Second},
		{3600, 0, time.Hour},
		{0, MaxScriptTimeout, 600 * time.Second},
		{3600, MaxScriptTimeout, 600 * time.Second},
		{5, MaxScriptTimeout, 5 * time.Second},
	} {
		if got := timeout(&runbook.Step{TimeoutSeconds: tc.seconds}, tc.limit); got != tc.want {
			t.Errorf("timeout(%d s, cap %s) = %s, want %s", tc.seconds, tc.limit, got, tc.want)
		}
	}
}

// Issue 12: hostile incident fields interpolated into an HTTP body and a
// script's payload arrive as data, unchanged, and nothing in them runs.
func TestHostileFieldsAreData(t *testing.T) {
	marker := t.TempDir() + "/pwned"
	title := `{{ x }} $(touch ` + marker + `) '; rm -rf ~; echo ' "quotes"`
	vars := map[string]any{"title": title}
	for _, tc := range []struct{ name, step, current string }{
		{"http body", `{"name": "post", "action": "tocsin:http", "inputs": {"Method": "POST", "URL": "SRV/echo", "Body": {"title": "{{ title }}", "text": "Incident: {{ title }}"}}}`, "post"},
		{"script payload", `{"name": "fix", "action": "tocsin:script", "inputs": {"Runtime": "bash", "Script": "cat", "InputPayload": {"title": "{{ title }}", "text": "Incident: {{ title }}"}}}`, "fix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorldVars(t, stepBefore+","+tc.step, tc.current, vars)
			if w.runner.Script == nil && tc.current == "fix" {
				t.Skip("bash is not installed")
			}
			out := w.runner.HandleStep(context.Background(), job(false, 1, 1))
			if out.Runbook == nil || out.Runbook.Error != "" {
				t.Fatalf("outcome %+v", out.Runbook)
			}
			got := out.Runbook.Outputs["Body"]
			if tc.current == "fix" {
				got = out.Runbook.Outputs["Payload"]
			}
			want := map[string]any{"title": title, "text": "Incident: " + title}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("arrived as %#v\nwant %#v", got, want)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the title ran as a command")
			}
		})
	}
}

// A reference inside a script's text would make data code: the title
// below would run in bash. The step fails instead, saying that values
// reach a script through InputPayload, and nothing runs.
func TestScriptTextTakesNoReferences(t *testing.T) {
	marker := t.TempDir() + "/pwned"
	vars := map[string]any{"title": `$(touch ` + marker + `)`}
	w := newWorldVars(t, stepBefore+`,{"name": "fix", "action": "tocsin:script", "inputs": {"Runtime": "bash", "Script": "echo {{ title }}"}}`, "fix", vars)
	if w.runner.Script == nil {
		t.Skip("bash is not installed")
	}
	out := w.runner.HandleStep(context.Background(), job(false, 1, 1))
	if out.Runbook == nil || !strings.Contains(out.Runbook.Error, "InputPayload") {
		t.Fatalf("outcome %+v", out.Runbook)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the title ran as a command")
	}
	if len(w.claims) != 0 {
		t.Fatalf("claimed %v for a step that cannot run", w.claims)
	}
}
