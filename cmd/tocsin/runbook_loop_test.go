package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"tocsin"
	"tocsin/apptest"
	"tocsin/config"
)

// loopHostsServer is a local host status API: GET /hosts/{host} answers
// {"state"} (web-3 is degraded, the others up); every request's path and
// query is kept, in the order they came.
type loopHostsServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newLoopHostsServer(t *testing.T) *loopHostsServer {
	s := &loopHostsServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r.Method+" "+r.URL.RequestURI())
		s.mu.Unlock()
		state := "up"
		if strings.HasSuffix(r.URL.Path, "/web-3") {
			state = "degraded"
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"state": %q}`, state)
	}))
	t.Cleanup(s.Close)
	return s
}

// Seen are the requests so far, "METHOD /path?query" each.
func (s *loopHostsServer) Seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// loopHostsDoc asks each host of Hosts how it is, once per host, then
// reports the last host and its state.
const loopHostsDoc = `schemaVersion: '0.3'
description: Ask every host how it is.
parameters:
  Hosts: {type: StringList, default: [web-1, web-2, web-3]}
outputs: [Each.CurrentIteration, Each.CurrentIteratorValue, Ask.State]
mainSteps:
  - name: Each
    action: 'aws:loop'
    inputs:
      Iterators: '{{ Hosts }}'
      Steps:
        - name: Ask
          action: 'tocsin:http'
          inputs: {Method: GET, URL: '%[1]s/hosts/{{ Each.CurrentIteratorValue }}?n={{ Each.CurrentIteration }}'}
          outputs: [{Name: State, Selector: $.Body.state, Type: String}]
  - name: Report
    action: 'tocsin:http'
    inputs: {Method: GET, URL: '%[1]s/report?last={{ Each.CurrentIteratorValue }}&state={{ Ask.State }}'}
`

// TestRunbookLoopOverHosts runs an aws:loop through the real server: the
// runbook is put through the API (stored as JSON, parsed again by the
// execution), started for an incident, and its tocsin:http step calls the
// local API once per host, in the hosts' order, each call a step run of
// its own; after the loop the last host and its state are readable. A
// loop whose nested step the configuration does not allow, or whose
// nested step jumps out of it, is refused with the nested step's path.
func TestRunbookLoopOverHosts(t *testing.T) {
	forBothDatabases(t, testRunbookLoopOverHosts)
}

func testRunbookLoopOverHosts(t *testing.T, dbURL func(testing.TB) string) {
	hosts := newLoopHostsServer(t)
	ts := apptest.Start(t, dbURL(t), func(c *config.Config) {
		c.Runbooks.HTTP.Allow = []string{hosts.URL + "/"}
	})
	if code, body := ts.Put(t, "/api/v1/runbooks/ask-hosts", fmt.Sprintf(loopHostsDoc, hosts.URL)); code != http.StatusCreated {
		t.Fatalf("put runbook: %d %v", code, body)
	}
	_, body := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"web tier slow","severity":"high","dedup_key":"web-tier"}`)
	incID := apptest.FirstID(t, body)
	code, body := ts.Post(t, "/api/v1/runbooks/ask-hosts/executions", apptest.APIToken,
		fmt.Sprintf(`{"incident_id": %q, "by": "dana"}`, incID))
	exec, _ := body["execution"].(map[string]any)
	if code != http.StatusCreated || exec == nil {
		t.Fatalf("start: %d %v", code, body)
	}
	id := exec["id"].(string)

	e := scnWaitStatus(t, ts, id, tocsin.RunbookSuccess, tocsin.RunbookFailed).Execution
	if e.Status != tocsin.RunbookSuccess {
		t.Fatalf("execution %s: %s\n%s", e.Status, e.FailureMessage, scnSteps(e))
	}
	want := []string{"GET /hosts/web-1?n=1", "GET /hosts/web-2?n=2", "GET /hosts/web-3?n=3", "GET /report?last=web-3&state=degraded"}
	if got := hosts.Seen(); !reflect.DeepEqual(got, want) {
		t.Fatalf("the hosts API saw %v, want %v", got, want)
	}
	var trail []string
	for i, st := range e.Steps {
		trail = append(trail, st.Name+":"+st.Status)
		if st.Seq != i+1 {
			t.Fatalf("step %d has Seq %d:\n%s", i, st.Seq, scnSteps(e))
		}
	}
	if got := strings.Join(trail, " "); got != "Each:Success Ask:Success Ask:Success Ask:Success Report:Success" {
		t.Fatalf("steps %s\n%s", got, scnSteps(e))
	}
	for i, host := range []string{"web-1", "web-2", "web-3"} {
		ask := e.Steps[i+1]
		if ask.Inputs["URL"] != fmt.Sprintf("%s/hosts/%s?n=%d", hosts.URL, host, i+1) || ask.Outputs["StatusCode"] != 200.0 {
			t.Fatalf("call for %s: %+v", host, ask)
		}
	}
	if loop := e.Steps[0]; !reflect.DeepEqual(loop.Outputs, map[string]any{"CurrentIteration": 3.0, "CurrentIteratorValue": "web-3"}) ||
		!reflect.DeepEqual(loop.Inputs["Iterators"], []any{"web-1", "web-2", "web-3"}) || loop.EndedAt.Before(e.Steps[3].EndedAt) {
		t.Fatalf("the loop's own step: %+v", loop)
	}
	if want := map[string]any{"Each.CurrentIteration": 3.0, "Each.CurrentIteratorValue": "web-3", "Ask.State": "degraded"}; !reflect.DeepEqual(e.Outputs, want) {
		t.Fatalf("outputs %v, want %v", e.Outputs, want)
	}
	scnWantEvents(t, scnRunbookEvents(t, ts, incID, id),
		`runbook_step: Step "Each" (aws:loop) started over 3 item(s), at most 100 iteration(s)`,
		`runbook_step: Step "Each" (aws:loop) iteration 1 of 3: web-1`,
		`runbook_step: Step "Ask" (tocsin:http) started`,
		`runbook_step: Step "Ask" succeeded`,
		`runbook_step: Step "Each" (aws:loop) iteration 2 of 3: web-2`,
		`runbook_step: Step "Ask" succeeded`,
		`runbook_step: Step "Each" (aws:loop) iteration 3 of 3: web-3`,
		`runbook_step: Step "Ask" succeeded`,
		`runbook_step: Step "Each" (aws:loop) ran 3 iteration(s)`,
		`runbook_step: Step "Each" succeeded`,
		`runbook_step: Step "Report" succeeded`,
		`runbook_ended: Runbook "ask-hosts" succeeded`)

	// Refused with the nested step's path, nothing stored: a script on a
	// server without scripts, and a jump out of the loop.
	for _, tc := range []struct{ name, doc, want string }{
		{"script-in-loop", "schemaVersion: '0.3'\nmainSteps:\n  - {name: Each, action: 'aws:loop', inputs: {Iterators: [a], Steps: [{name: Fix, action: 'tocsin:script', inputs: {Runtime: bash, Script: 'echo {}'}}]}}\n",
			`mainSteps[0].inputs.Steps[0].action: step "Fix": tocsin:script is not allowed: set runbooks.scripts.enabled: true`},
		{"jump-out", "schemaVersion: '0.3'\nmainSteps:\n  - {name: Each, action: 'aws:loop', inputs: {Iterators: [a], Steps: [{name: Hold, action: 'aws:pause', nextStep: Out}]}}\n  - {name: Out, action: 'aws:pause'}\n",
			`mainSteps[0].inputs.Steps[0].nextStep: step "Out" is not in loop "Each"`},
	} {
		code, body := ts.Put(t, "/api/v1/runbooks/"+tc.name, tc.doc)
		if code != http.StatusBadRequest || !strings.Contains(scnErrorMessage(body), tc.want) {
			t.Errorf("%s: %d %v, want 400 %q", tc.name, code, body, tc.want)
		}
		if code, _ := ts.Get(t, "/api/v1/runbooks/"+tc.name); code != http.StatusNotFound {
			t.Errorf("refused %s was stored: GET %d", tc.name, code)
		}
	}
}

// TestRunbookLoopNamesRunbook: an aws:executeAutomation inside a loop
// names a runbook as one in mainSteps does, so `apply --prune` refuses to
// delete the runbook it starts, naming the nested step's path.
func TestRunbookLoopNamesRunbook(t *testing.T) {
	ts := startRunbookServer(t)
	const restart = "kind: Runbook\nname: restart-web\ndocument: {schemaVersion: '0.3', mainSteps: [{name: Drain, action: 'aws:pause'}]}\n"
	const each = "kind: Runbook\nname: restart-each\ndocument:\n  schemaVersion: '0.3'\n  mainSteps:\n" +
		"    - name: Each\n      action: 'aws:loop'\n      inputs:\n        Iterators: [web-1, web-2]\n" +
		"        Steps: [{name: Run, action: 'aws:executeAutomation', inputs: {DocumentName: restart-web}}]\n"
	containsAll(t, "apply", mustCLI(t, ts.env, "apply", "-f", writeFiles(t, map[string]string{"rb.yaml": restart + "---\n" + each})),
		"+ runbook restart-web (create)", "+ runbook restart-each (create)")
	_, err := runCLI(t, ts.env, "apply", "-f", writeFiles(t, map[string]string{"each.yaml": each}), "--prune")
	if err == nil || !strings.Contains(err.Error(), "document.mainSteps[0].inputs.Steps[0].inputs.DocumentName: runbook restart-web is not in the files") {
		t.Fatalf("prune of a runbook a loop starts: %v", err)
	}
}
