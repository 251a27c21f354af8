package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tocsin"
	"tocsin/apptest"
	"tocsin/config"
	"tocsin/store/storetest"
)

// The runbook tests of this file prove issue 12's point 4 the way the
// other durable features prove themselves: the real binary killed with
// SIGKILL mid-sleep and mid-call then restarted, and two instances on one
// PostgreSQL sharing executions. What they read back is what a responder
// reads: the execution and the incident's timeline, through the API.

// rbAPI talks to a server's JSON API with the API token.
type rbAPI struct{ url string }

// call sends body (a string as is, anything else as JSON) and decodes the
// answer into out when it is not nil; it returns the status.
func (c rbAPI) call(t testing.TB, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd, ctype = strings.NewReader(b), "application/yaml"
	default:
		rd = bytes.NewReader(tocsin.MustJSON(b))
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apptest.APIToken)
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	} else if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

// putRunbook stores a YAML runbook document under name.
func (c rbAPI) putRunbook(t testing.TB, name, doc string) {
	t.Helper()
	if st := c.call(t, "PUT", "/api/v1/runbooks/"+name, doc, nil); st != http.StatusCreated && st != http.StatusOK {
		t.Fatalf("put runbook %s: %d", name, st)
	}
}

// startIncident starts an incident by hand and returns its id.
func (c rbAPI) startIncident(t testing.TB, title string) string {
	t.Helper()
	var out struct{ Incident tocsin.Incident }
	if st := c.call(t, "POST", "/api/v1/incidents", map[string]any{"title": title, "impact": 3}, &out); st != http.StatusCreated {
		t.Fatalf("start incident: %d", st)
	}
	return out.Incident.ID
}

// startRunbook starts an execution of runbook for the incident and
// returns its id.
func (c rbAPI) startRunbook(t testing.TB, runbook, incidentID string, params map[string][]string) string {
	t.Helper()
	var out struct{ Execution tocsin.RunbookExecution }
	req := map[string]any{"incident_id": incidentID, "parameters": params, "by": "dana"}
	if st := c.call(t, "POST", "/api/v1/runbooks/"+runbook+"/executions", req, &out); st != http.StatusCreated {
		t.Fatalf("start runbook %s: %d", runbook, st)
	}
	return out.Execution.ID
}

// execution reads an execution with its steps; nil when the server does
// not answer (it is down).
func (c rbAPI) execution(t testing.TB, id string) *tocsin.RunbookExecution {
	t.Helper()
	var out struct{ Execution *tocsin.RunbookExecution }
	if st := c.call(t, "GET", "/api/v1/runbook-executions/"+id, nil, &out); st != http.StatusOK {
		t.Fatalf("get execution %s: %d", id, st)
	}
	return out.Execution
}

// timeline reads an incident's timeline, oldest first.
func (c rbAPI) timeline(t testing.TB, incidentID string) []*tocsin.TimelineEvent {
	t.Helper()
	var out struct{ Events []*tocsin.TimelineEvent }
	if st := c.call(t, "GET", "/api/v1/incidents/"+incidentID+"/timeline", nil, &out); st != http.StatusOK {
		t.Fatalf("timeline of %s: %d", incidentID, st)
	}
	return out.Events
}

// await polls an execution until done says it is what the test waits
// for, and fails after within.
func (c rbAPI) await(t testing.TB, id, what string, within time.Duration, done func(*tocsin.RunbookExecution) bool) *tocsin.RunbookExecution {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		e := c.execution(t, id)
		if done(e) {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %s: not %s after %s: status %s, current step %d, steps %s", id, what, within, e.Status, e.Current, stepSummary(e))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stepSummary(e *tocsin.RunbookExecution) string {
	var parts []string
	for _, st := range e.Steps {
		parts = append(parts, fmt.Sprintf("%d:%s %s attempt %d %q", st.Seq, st.Name, st.Status, st.Attempt, st.FailureMessage))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

// stepRecord is what the timeline says of one step run (by Seq) of one
// execution.
type stepRecord struct {
	// Starts count the events of its start (started, sleeps until, is
	// waiting); Ends its end (succeeded, failed, timed out); Reruns the
	// events saying an attempt ran again after a restart.
	Starts, Ends, Reruns int
	Messages             []string
}

// stepRecords reads the runbook_step events of one execution from a
// timeline, by the step's Seq.
func stepRecords(t testing.TB, events []*tocsin.TimelineEvent, execID string) map[int]*stepRecord {
	t.Helper()
	out := map[int]*stepRecord{}
	for _, ev := range events {
		if ev.Kind != tocsin.EventRunbookStep {
			continue
		}
		var d tocsin.RunbookEventData
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatalf("event %s: data %s: %v", ev.ID, ev.Data, err)
		}
		if d.ExecutionID != execID {
			continue
		}
		r := out[d.Seq]
		if r == nil {
			r = &stepRecord{}
			out[d.Seq] = r
		}
		r.Messages = append(r.Messages, ev.Message)
		switch {
		case strings.Contains(ev.Message, "ran again after a restart"):
			r.Reruns++
		case tocsin.RunbookEnded(d.Status):
			r.Ends++
		case strings.Contains(ev.Message, "trying again"):
			// A retry of a failed attempt: neither a start nor an end.
		default:
			r.Starts++
		}
	}
	return out
}

// checkStepsOnce fails unless each of the execution's steps started once
// and, when it has ended, ended once on the timeline, with reruns[seq]
// reruns (none when not listed).
func checkStepsOnce(t testing.TB, events []*tocsin.TimelineEvent, e *tocsin.RunbookExecution, reruns map[int]int) {
	t.Helper()
	recs := stepRecords(t, events, e.ID)
	if len(recs) != len(e.Steps) {
		t.Errorf("execution %s: the timeline has events of %d step runs, the execution %d: %s", e.ID, len(recs), len(e.Steps), stepSummary(e))
	}
	for _, st := range e.Steps {
		r := recs[st.Seq]
		if r == nil {
			t.Errorf("execution %s: step %d %s is not on the timeline", e.ID, st.Seq, st.Name)
			continue
		}
		ends := 0
		if tocsin.RunbookEnded(st.Status) {
			ends = 1
		}
		if r.Starts != 1 || r.Ends != ends || r.Reruns != reruns[st.Seq] {
			t.Errorf("execution %s: step %d %s (%s) on the timeline: %d starts, %d ends, %d reruns; want 1, %d, %d:\n  %s",
				e.ID, st.Seq, st.Name, st.Status, r.Starts, r.Ends, r.Reruns, ends, reruns[st.Seq], strings.Join(r.Messages, "\n  "))
		}
	}
}

// callLog is a local HTTP server that runbook steps call: it counts the
// calls by method, path and execution (the exec query parameter), and
// answers {"n": the call's number for that key}. With hangFirst the first
// call of each key hangs until the caller goes away (the test kills it)
// and then answers nothing.
type callLog struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string]int
	total int
	// hanging counts the calls that hung.
	hanging   int
	hangFirst bool
}

func newCallLog(t testing.TB, hangFirst bool) *callLog {
	c := &callLog{calls: map[string]int{}, hangFirst: hangFirst}
	release := make(chan struct{})
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body first: the server notices a closed connection
		// (and cancels the request's context) only once it is consumed.
		io.ReadAll(r.Body)
		key := r.Method + " " + r.URL.Path + "?" + r.URL.Query().Get("exec")
		c.mu.Lock()
		c.calls[key]++
		c.total++
		n := c.calls[key]
		hang := n == 1 && c.hangFirst
		if hang {
			c.hanging++
		}
		c.mu.Unlock()
		if hang {
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"n": %d}`, n)
	}))
	// Cleanups run last-in first-out: the processes die first, then a
	// hanging handler is let go and the server closed.
	t.Cleanup(func() { close(release); c.Server.Close() })
	return c
}

// waitHanging waits until n calls hang.
func (c *callLog) waitHanging(t testing.TB, n int, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		c.mu.Lock()
		h := c.hanging
		c.mu.Unlock()
		if h >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d calls hang after %s", h, n, within)
		}
	}
}

// count returns the calls made with method to path for execution id.
func (c *callLog) count(method, path, id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[method+" "+path+"?"+id]
}

// sqliteConfig writes the configuration of a binary on an SQLite file in
// dir whose runbooks may call allow.
func sqliteConfig(t testing.TB, dir, allow string) string {
	t.Helper()
	return writeConfig(t, dir, fmt.Sprintf("sqlite://%s/tocsin.db", dir), allow)
}

func writeConfig(t testing.TB, dir, dbURL, allow string) string {
	t.Helper()
	path := filepath.Join(dir, "tocsin.yaml")
	cfg := fmt.Sprintf(`data_dir: %s
database: %q
log: {level: warn}
ingest: {tokens: [%s]}
api: {tokens: [%s]}
runbooks:
  http: {allow: [%q]}
`, dir, dbURL, apptest.IngestToken, apptest.APIToken, allow+"/")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// kill9 kills a server process with SIGKILL and reaps it.
func kill9(p *process) {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

// TestRunbookKillDuringSleep kills the binary with SIGKILL while an
// execution sleeps, and restarts it: once before the sleep ends (the
// restarted server arms the timer it finds) and once after (the timer
// came due while nobody ran). The execution resumes and succeeds, each
// step started once on the timeline, and the step after the sleep called
// its server once.
func TestRunbookKillDuringSleep(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for _, tc := range []struct {
		name  string
		sleep time.Duration
		// wakesWhileDown: the restart waits until the sleep has ended.
		wakesWhileDown bool
	}{
		{"wakes after the restart", 8 * time.Second, false},
		{"wakes while the server is down", 3 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newCallLog(t, false)
			dir := t.TempDir()
			cfg := sqliteConfig(t, dir, srv.URL)
			addr := freeAddr(t)
			p := startProcess(t, bin, cfg, addr)
			c := rbAPI{p.url}
			c.putRunbook(t, "nap-then-call", fmt.Sprintf(`schemaVersion: '0.3'
mainSteps:
  - {name: Nap, action: 'aws:sleep', inputs: {Duration: PT%dS}}
  - name: After
    action: 'tocsin:http'
    inputs: {Method: GET, URL: '%s/after?exec={{ automation:EXECUTION_ID }}'}
`, int(tc.sleep.Seconds()), srv.URL))
			inc := c.startIncident(t, "kill -9 during a sleep")
			id := c.startRunbook(t, "nap-then-call", inc, nil)
			e := c.await(t, id, "sleeping", 10*time.Second, func(e *tocsin.RunbookExecution) bool {
				return e.Current == 1 && len(e.Steps) == 1 && !e.Steps[0].WakeAt.IsZero()
			})
			wake := e.Steps[0].WakeAt
			kill9(p)
			if tc.wakesWhileDown {
				time.Sleep(time.Until(wake) + 500*time.Millisecond)
			}
			p = startProcess(t, bin, cfg, addr)
			if restarted := time.Now(); !tc.wakesWhileDown && !restarted.Before(wake) {
				t.Fatalf("the restart took until %s, after the sleep's end %s: the case proves nothing", restarted, wake)
			}
			e = c.await(t, id, "ended", 20*time.Second, func(e *tocsin.RunbookExecution) bool { return tocsin.RunbookEnded(e.Status) })
			if e.Status != tocsin.RunbookSuccess || len(e.Steps) != 2 {
				t.Fatalf("execution %s: %s %q, steps %s; want Success after Nap and After", id, e.Status, e.FailureMessage, stepSummary(e))
			}
			nap, after := e.Steps[0], e.Steps[1]
			if nap.EndedAt.Before(wake) {
				t.Errorf("Nap ended at %s, before its wake time %s", nap.EndedAt, wake)
			}
			if nap.Status != tocsin.RunbookSuccess || after.Status != tocsin.RunbookSuccess || after.Attempt != 1 {
				t.Errorf("steps %s; want both Success, After at attempt 1", stepSummary(e))
			}
			if n := srv.count("GET", "/after", id); n != 1 {
				t.Errorf("the step after the sleep called its server %d times; want once", n)
			}
			checkStepsOnce(t, c.timeline(t, inc), e, nil)
			t.Logf("slept %s, killed, restarted; woke %s after its wake time", tc.sleep, nap.EndedAt.Sub(wake).Round(time.Millisecond))
		})
	}
}

// callThenHold is a runbook whose Call step makes a method call to
// base/call, onFailure: Continue, before it waits at Hold.
func callThenHold(method, base string) string {
	return fmt.Sprintf(`schemaVersion: '0.3'
mainSteps:
  - name: Call
    action: 'tocsin:http'
    onFailure: Continue
    inputs: {Method: %s, URL: '%s/call?exec={{ automation:EXECUTION_ID }}', Body: {incident: '{{ incident:ID }}'}}
    outputs: [{Name: N, Selector: $.Body.n, Type: Integer}]
  - {name: Hold, action: 'aws:pause'}
`, method, base)
}

// checkInterruptedCall checks an execution of callThenHold whose call a
// kill -9 interrupted, once it has moved on. A GET is idempotent: it was
// made again, the timeline says so, and its result is recorded once. A
// POST is not: it was made once, Call failed saying why, and onFailure:
// Continue went on to Hold. Resumed, the execution succeeds: Call is not
// critical.
func checkInterruptedCall(t *testing.T, c rbAPI, srv *callLog, method, id, incident string, killed time.Time) {
	t.Helper()
	e := c.await(t, id, "at Hold", 30*time.Second, func(e *tocsin.RunbookExecution) bool {
		return tocsin.RunbookEnded(e.Status) || e.Current == 2
	})
	t.Logf("%s: the step moved on %s after kill -9", method, time.Since(killed).Round(100*time.Millisecond))
	if e.Status != tocsin.RunbookWaiting || len(e.Steps) != 2 || e.Steps[1].Name != "Hold" {
		t.Fatalf("execution %s: %s %q, steps %s; want Waiting at Hold", id, e.Status, e.FailureMessage, stepSummary(e))
	}
	call := e.Steps[0]
	if call.Attempt != 1 {
		t.Errorf("Call at attempt %d; an interruption is not a new attempt", call.Attempt)
	}
	reruns, calls := map[int]int{}, 1
	switch method {
	case "GET":
		reruns[1], calls = 1, 2
		if call.Status != tocsin.RunbookSuccess || call.Outputs["StatusCode"] != float64(200) || call.Outputs["N"] != float64(2) {
			t.Errorf("Call: %s %q outputs %v; want Success, StatusCode 200, N 2 (the second call's answer)", call.Status, call.FailureMessage, call.Outputs)
		}
	case "POST":
		if call.Status != tocsin.RunbookFailed || !strings.Contains(call.FailureMessage, "interrupted by a restart") ||
			!strings.Contains(call.FailureMessage, "not idempotent") {
			t.Errorf("Call: %s %q; want Failed, interrupted by a restart, not idempotent", call.Status, call.FailureMessage)
		}
	}
	// Nothing may call again later: give a stray job time to.
	time.Sleep(time.Second)
	if n := srv.count(method, "/call", id); n != calls {
		t.Errorf("the server saw %d %s calls; want %d", n, method, calls)
	}
	checkStepsOnce(t, c.timeline(t, incident), e, reruns)

	if st := c.call(t, "POST", "/api/v1/runbook-executions/"+id+"/resume", map[string]any{"by": "dana"}, nil); st != http.StatusOK {
		t.Fatalf("resume: %d", st)
	}
	e = c.await(t, id, "ended", 10*time.Second, func(e *tocsin.RunbookExecution) bool { return tocsin.RunbookEnded(e.Status) })
	if e.Status != tocsin.RunbookSuccess {
		t.Errorf("after the resume: %s %q; want Success (Call is not critical with onFailure: Continue)", e.Status, e.FailureMessage)
	}
	checkStepsOnce(t, c.timeline(t, incident), e, reruns)
}

// TestRunbookKillDuringHTTP kills the binary (SQLite) with SIGKILL while
// a tocsin:http step's call hangs at the server, and restarts it: a GET
// is made again and says so, a POST is not and fails, its onFailure
// applied (checkInterruptedCall). A SIGTERM ends the same way: the
// shutdown's grace ends, the call is cut short, and the restarted server
// knows no more of how far it got than after a kill.
func TestRunbookKillDuringHTTP(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for _, tc := range []struct {
		method string
		sig    syscall.Signal
	}{
		{"GET", syscall.SIGKILL},
		{"POST", syscall.SIGKILL},
		{"GET", syscall.SIGTERM},
		{"POST", syscall.SIGTERM},
	} {
		t.Run(tc.method+" "+tc.sig.String(), func(t *testing.T) {
			srv := newCallLog(t, true)
			dir := t.TempDir()
			cfg := sqliteConfig(t, dir, srv.URL)
			addr := freeAddr(t)
			p := startProcess(t, bin, cfg, addr)
			c := rbAPI{p.url}
			c.putRunbook(t, "call-then-hold", callThenHold(tc.method, srv.URL))
			inc := c.startIncident(t, "kill -9 during an HTTP call")
			id := c.startRunbook(t, "call-then-hold", inc, nil)
			srv.waitHanging(t, 1, 15*time.Second)
			p.cmd.Process.Signal(tc.sig)
			p.cmd.Wait()
			killed := time.Now()
			// The restarted server owns the SQLite file (its lock): it
			// releases the dead one's leases when it opens it.
			startProcess(t, bin, cfg, addr)
			checkInterruptedCall(t, c, srv, tc.method, id, inc, killed)
		})
	}
}

// TestRunbookTwoInstancesKill9 runs the binary twice on one PostgreSQL:
// A alone starts a GET's and a POST's execution, whose calls hang; B
// starts, and A is killed with SIGKILL. B takes both steps over once A's
// lease lapses: the GET is made again, the POST is not
// (checkInterruptedCall).
func TestRunbookTwoInstancesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dbURL := storetest.PostgresURL(t)
	bin := buildBinary(t)
	srv := newCallLog(t, true)
	a := startProcess(t, bin, writeConfig(t, t.TempDir(), dbURL, srv.URL), freeAddr(t))
	ca := rbAPI{a.url}
	ids, incs := map[string]string{}, map[string]string{}
	for _, method := range []string{"GET", "POST"} {
		name := "call-" + strings.ToLower(method)
		ca.putRunbook(t, name, callThenHold(method, srv.URL))
		incs[method] = ca.startIncident(t, "two instances, kill -9 during a "+method)
		ids[method] = ca.startRunbook(t, name, incs[method], nil)
	}
	srv.waitHanging(t, 2, 15*time.Second)
	b := startProcess(t, bin, writeConfig(t, t.TempDir(), dbURL, srv.URL), freeAddr(t))
	kill9(a)
	killed := time.Now()
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			checkInterruptedCall(t, rbAPI{b.url}, srv, method, ids[method], incs[method], killed)
		})
	}
	// A dead instance's jobs move on within its lease (engine.DefaultLease).
	if took := time.Since(killed); took > 25*time.Second {
		t.Errorf("B took both steps over %s after kill -9; a dead instance's lease is 10 s", took)
	}
}

// TestRunbookTwoInstances runs two servers on one PostgreSQL database and
// 20 executions of a runbook that sleeps, calls a counting server with a
// GET and then with a POST, started on both. Every execution succeeds,
// each call is made once per execution, and no step started twice on
// any timeline.
func TestRunbookTwoInstances(t *testing.T) {
	dbURL := storetest.PostgresURL(t)
	srv := newCallLog(t, false)
	mod := func(c *config.Config) {
		c.Alert.Slack.Enable, c.Alert.Email.Enable, c.Alert.Webhook.Enable = false, false, false
		c.Runbooks.HTTP.Allow = []string{srv.URL + "/"}
	}
	a, b := apptest.Start(t, dbURL, mod), apptest.Start(t, dbURL, mod)
	ca, cb := rbAPI{a.URL}, rbAPI{b.URL}
	ca.putRunbook(t, "nap-get-post", fmt.Sprintf(`schemaVersion: '0.3'
mainSteps:
  - {name: Nap, action: 'aws:sleep', inputs: {Duration: PT1S}}
  - name: Get
    action: 'tocsin:http'
    inputs: {Method: GET, URL: '%[1]s/get?exec={{ automation:EXECUTION_ID }}'}
    outputs: [{Name: N, Selector: $.Body.n, Type: Integer}]
  - name: Post
    action: 'tocsin:http'
    inputs: {Method: POST, URL: '%[1]s/post?exec={{ automation:EXECUTION_ID }}', Body: {seen: '{{ Get.N }}'}}
`, srv.URL))
	const n = 20
	type started struct{ exec, incident string }
	runs := make([]started, n)
	for i := range n {
		c := ca
		if i%2 == 1 {
			c = cb
		}
		inc := c.startIncident(t, fmt.Sprintf("two instances %d", i))
		runs[i] = started{c.startRunbook(t, "nap-get-post", inc, nil), inc}
	}
	for i, r := range runs {
		c := ca
		if i%3 == 0 {
			c = cb // read back through either: the state is in the database
		}
		e := c.await(t, r.exec, "ended", 30*time.Second, func(e *tocsin.RunbookExecution) bool { return tocsin.RunbookEnded(e.Status) })
		if e.Status != tocsin.RunbookSuccess || len(e.Steps) != 3 {
			t.Errorf("execution %s: %s %q, steps %s; want Success after 3 steps", e.ID, e.Status, e.FailureMessage, stepSummary(e))
			continue
		}
		for _, st := range e.Steps {
			if st.Attempt != 1 {
				t.Errorf("execution %s: step %s at attempt %d", e.ID, st.Name, st.Attempt)
			}
		}
		checkStepsOnce(t, c.timeline(t, r.incident), e, nil)
	}
	// A step run twice would call again after its execution ended: give
	// it the time to.
	time.Sleep(time.Second)
	for _, r := range runs {
		if g, p := srv.count("GET", "/get", r.exec), srv.count("POST", "/post", r.exec); g != 1 || p != 1 {
			t.Errorf("execution %s: %d GETs and %d POSTs; want one each", r.exec, g, p)
		}
	}
	srv.mu.Lock()
	total := srv.total
	srv.mu.Unlock()
	if total != 2*n {
		t.Errorf("the server saw %d calls; want %d", total, 2*n)
	}
}
