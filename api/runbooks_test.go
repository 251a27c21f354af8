package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/runbook"
	"tocsin/store"
	"tocsin/store/storetest"
)

// fakeRunbooks is a RunbookStore whose methods are function fields; a
// method whose field is nil fails the test that calls it.
type fakeRunbooks struct {
	t      *testing.T
	put    func(ctx context.Context, rb *tocsin.Runbook) (*tocsin.Runbook, bool, error)
	get    func(ctx context.Context, name string, version int) (*tocsin.Runbook, error)
	list   func(ctx context.Context) ([]*tocsin.Runbook, error)
	del    func(ctx context.Context, name string) error
	start  func(ctx context.Context, req tocsin.RunbookStart) (*tocsin.RunbookExecution, error)
	signal func(ctx context.Context, sig tocsin.RunbookSignal) (*tocsin.RunbookExecution, error)
	exec   func(ctx context.Context, id string) (*tocsin.RunbookExecution, error)
	execs  func(ctx context.Context, f tocsin.RunbookFilter) ([]*tocsin.RunbookExecution, error)
}

func (f *fakeRunbooks) unexpected(name string) {
	f.t.Helper()
	f.t.Fatalf("unexpected call of %s", name)
}

func (f *fakeRunbooks) PutRunbook(ctx context.Context, rb *tocsin.Runbook) (*tocsin.Runbook, bool, error) {
	if f.put == nil {
		f.unexpected("PutRunbook")
	}
	return f.put(ctx, rb)
}

func (f *fakeRunbooks) Runbook(ctx context.Context, name string, version int) (*tocsin.Runbook, error) {
	if f.get == nil {
		f.unexpected("Runbook")
	}
	return f.get(ctx, name, version)
}

func (f *fakeRunbooks) Runbooks(ctx context.Context) ([]*tocsin.Runbook, error) {
	if f.list == nil {
		f.unexpected("Runbooks")
	}
	return f.list(ctx)
}

func (f *fakeRunbooks) DeleteRunbook(ctx context.Context, name string) error {
	if f.del == nil {
		f.unexpected("DeleteRunbook")
	}
	return f.del(ctx, name)
}

func (f *fakeRunbooks) StartRunbook(ctx context.Context, req tocsin.RunbookStart) (*tocsin.RunbookExecution, error) {
	if f.start == nil {
		f.unexpected("StartRunbook")
	}
	return f.start(ctx, req)
}

func (f *fakeRunbooks) SignalRunbook(ctx context.Context, sig tocsin.RunbookSignal) (*tocsin.RunbookExecution, error) {
	if f.signal == nil {
		f.unexpected("SignalRunbook")
	}
	return f.signal(ctx, sig)
}

func (f *fakeRunbooks) RunbookExecution(ctx context.Context, id string) (*tocsin.RunbookExecution, error) {
	if f.exec == nil {
		f.unexpected("RunbookExecution")
	}
	return f.exec(ctx, id)
}

func (f *fakeRunbooks) RunbookExecutions(ctx context.Context, flt tocsin.RunbookFilter) ([]*tocsin.RunbookExecution, error) {
	if f.execs == nil {
		f.unexpected("RunbookExecutions")
	}
	return f.execs(ctx, flt)
}

// versions gives the fake a memory of documents: put keeps a new version
// when the body differs from the latest, get and list read them.
func (f *fakeRunbooks) versions() map[string][]*tocsin.Runbook {
	kept := map[string][]*tocsin.Runbook{}
	f.put = func(_ context.Context, rb *tocsin.Runbook) (*tocsin.Runbook, bool, error) {
		vs := kept[rb.Name]
		if len(vs) > 0 && vs[len(vs)-1].Body == rb.Body {
			return vs[len(vs)-1], false, nil
		}
		c := *rb
		c.Version, c.Latest, c.CreatedAt = len(vs)+1, len(vs)+1, oncallEpoch
		kept[rb.Name] = append(vs, &c)
		return &c, true, nil
	}
	f.get = func(_ context.Context, name string, version int) (*tocsin.Runbook, error) {
		vs := kept[name]
		if version == 0 {
			version = len(vs)
		}
		if version < 1 || version > len(vs) {
			return nil, tocsin.Errorf(tocsin.ENOTFOUND, "runbook %s version %d not found", name, version)
		}
		return vs[version-1], nil
	}
	f.list = func(context.Context) ([]*tocsin.Runbook, error) {
		var out []*tocsin.Runbook
		for _, vs := range kept {
			out = append(out, vs[len(vs)-1])
		}
		return out, nil
	}
	return kept
}

const runbookToken = "runbook-api-token"

// newRunbookAPI serves the runbook routes over rb with policy; the
// incident store knows inc_1.
func newRunbookAPI(rb *fakeRunbooks, policy runbook.Policy) http.Handler {
	return serve(New(&incidentStore{}, Options{Tokens: Tokens{Clear: []string{runbookToken}}, Runbooks: rb, RunbookPolicy: policy, MaxBodyBytes: 64 << 10}))
}

// call sends a request with the runbook token and a content type, and
// decodes the JSON answer.
func call(t *testing.T, h http.Handler, method, path, contentType, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+runbookToken)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %s", method, path, rec.Body)
		}
	}
	return rec.Code, out
}

func seedRunbook(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../runbook/testdata/ec2-cpu-util-runbook.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// problemsOf returns the "path: message" of each listed problem.
func problemsOf(body map[string]any) []string {
	e, _ := body["error"].(map[string]any)
	list, _ := e["problems"].([]any)
	var out []string
	for _, p := range list {
		m := p.(map[string]any)
		out = append(out, fmt.Sprint(m["path"], ": ", m["message"]))
	}
	return out
}

func TestRunbookAPIRequiresToken(t *testing.T) {
	h := newRunbookAPI(&fakeRunbooks{t: t}, runbook.Policy{})
	for _, rt := range [][2]string{{"GET", "/api/v1/runbooks"}, {"PUT", "/api/v1/runbooks/abc"}, {"GET", "/api/v1/runbooks/abc"},
		{"DELETE", "/api/v1/runbooks/abc"}, {"POST", "/api/v1/runbooks/validate"}, {"POST", "/api/v1/runbooks/abc/executions"},
		{"GET", "/api/v1/runbook-executions"}, {"GET", "/api/v1/runbook-executions/e1"}, {"GET", "/api/v1/incidents/inc_1/runbook-executions"},
		{"POST", "/api/v1/runbook-executions/e1/resume"}, {"POST", "/api/v1/runbook-executions/e1/approve"},
		{"POST", "/api/v1/runbook-executions/e1/reject"}, {"POST", "/api/v1/runbook-executions/e1/cancel"}} {
		code, body, _ := request(h, rt[0], rt[1], "wrong", "")
		if c, _ := errorOf(body); code != http.StatusUnauthorized || c != tocsin.EUNAUTHORIZED {
			t.Errorf("%s %s: %d %v", rt[0], rt[1], code, body)
		}
	}
}

func TestRunbookAPINotConfigured(t *testing.T) {
	h := serve(New(&incidentStore{}, Options{Tokens: Tokens{Clear: []string{runbookToken}}}))
	if code, _ := call(t, h, "GET", "/api/v1/runbooks", "", ""); code != http.StatusNotFound {
		t.Fatalf("without a runbook store: %d", code)
	}
}

func TestRunbookPutGetList(t *testing.T) {
	rb := &fakeRunbooks{t: t}
	kept := rb.versions()
	h := newRunbookAPI(rb, runbook.Policy{})
	seed := seedRunbook(t)

	code, body := call(t, h, "PUT", "/api/v1/runbooks/ec2-cpu-util-runbook", "application/yaml", seed)
	if code != http.StatusCreated {
		t.Fatalf("put: %d %v", code, body)
	}
	stored := kept["ec2-cpu-util-runbook"][0]
	if stored.Body != seed || stored.Format != "yaml" || !strings.HasPrefix(stored.Description, "This runbook walks you through") {
		t.Fatalf("stored %+v", stored)
	}
	doc, err := runbook.Parse(stored.Document)
	if err != nil || len(doc.MainSteps) != 5 || doc.MainSteps[4].Name != "CloseIncident" || doc.SchemaVersion != "0.3" {
		t.Fatalf("stored document: %v %s", err, stored.Document)
	}
	if got := body["runbook"].(map[string]any); got["version"] != 1.0 || got["name"] != "ec2-cpu-util-runbook" || body["created"] != true {
		t.Fatalf("answer %v", got)
	}
	// The same body again is the same version; text/yaml and no type at
	// all are YAML too.
	for _, ct := range []string{"text/yaml", ""} {
		if code, body = call(t, h, "PUT", "/api/v1/runbooks/ec2-cpu-util-runbook", ct, seed); code != http.StatusOK || body["created"] != false || len(kept["ec2-cpu-util-runbook"]) != 1 {
			t.Fatalf("put again (%q): %d %v", ct, code, body)
		}
	}
	// JSON is read as JSON and kept as sent.
	js := `{"schemaVersion": "0.3", "description": "v2", "mainSteps": [{"name": "Only", "action": "aws:pause"}]}`
	if code, body = call(t, h, "PUT", "/api/v1/runbooks/ec2-cpu-util-runbook", "application/json", js); code != http.StatusCreated {
		t.Fatalf("put JSON: %d %v", code, body)
	}
	if v2 := kept["ec2-cpu-util-runbook"][1]; v2.Body != js || v2.Format != "json" || v2.Description != "v2" || v2.Version != 2 {
		t.Fatalf("v2 %+v", v2)
	}

	code, body = call(t, h, "GET", "/api/v1/runbooks", "", "")
	if list := body["runbooks"].([]any); code != 200 || len(list) != 1 || list[0].(map[string]any)["version"] != 2.0 {
		t.Fatalf("list: %d %v", code, body)
	}
	code, body = call(t, h, "GET", "/api/v1/runbooks/ec2-cpu-util-runbook?version=1", "", "")
	if code != 200 || body["runbook"].(map[string]any)["body"] != seed {
		t.Fatalf("version 1: %d %v", code, body)
	}
	code, body = call(t, h, "GET", "/api/v1/runbooks/ec2-cpu-util-runbook", "", "")
	if code != 200 || body["runbook"].(map[string]any)["version"] != 2.0 {
		t.Fatalf("latest: %d %v", code, body)
	}
	for path, want := range map[string]int{"/api/v1/runbooks/ec2-cpu-util-runbook?version=x": 400, "/api/v1/runbooks/ec2-cpu-util-runbook?version=0": 400,
		"/api/v1/runbooks/ec2-cpu-util-runbook?version=9": 404, "/api/v1/runbooks/nope": 404} {
		if code, body = call(t, h, "GET", path, "", ""); code != want {
			t.Errorf("GET %s: %d %v, want %d", path, code, body, want)
		}
	}
}

func TestRunbookEmptyListIsAList(t *testing.T) {
	rb := &fakeRunbooks{t: t}
	rb.versions()
	code, body := call(t, newRunbookAPI(rb, runbook.Policy{}), "GET", "/api/v1/runbooks", "", "")
	if list, ok := body["runbooks"].([]any); code != 200 || !ok || len(list) != 0 {
		t.Fatalf("empty list: %d %v", code, body)
	}
}

const scriptRunbook = `schemaVersion: '0.3'
mainSteps:
  - name: Check
    action: 'tocsin:script'
    inputs: {Runtime: python3.11, Handler: main, Script: 'def main(e, c): return {}'}
  - name: Call
    action: 'tocsin:http'
    inputs: {Method: GET, URL: 'https://status.example.com/api'}
`

// TestRunbookPutRefusesBadDocuments: every problem is listed with its
// path, the message joins them, and nothing is stored.
func TestRunbookPutRefusesBadDocuments(t *testing.T) {
	for _, tc := range []struct {
		name, path, contentType, body string
		policy                        runbook.Policy
		status                        int
		problems                      []string // each a fragment of one listed problem, in order
		message                       string
		// more allows problems beyond those listed: the policy's
		// wording is the runbook package's.
		more bool
	}{
		{name: "every problem", path: "broken", body: "schemaVersion: '0.2'\nmainSteps:\n- {name: a, action: 'aws:runInstances', nextStep: b}\n- {name: a, action: 'aws:sleep', inputs: {Duration: P9D}}\n",
			status: 400, problems: []string{`schemaVersion: must be "0.3"`, `mainSteps[1].name: "a" is also the name of mainSteps[0]`,
				`mainSteps[0].nextStep: no step "b"`, `mainSteps[0].action: step "a": action "aws:runInstances" is not supported`, `mainSteps[1].inputs.Duration: "P9D" is too long`}},
		{name: "unknown keys named", path: "typo", body: "schemaVersion: '0.3'\nmainStep: []\nmainSteps:\n- {name: a, action: 'aws:pause', next_step: b}\n",
			status: 400, problems: []string{"mainStep: unknown field; did you mean \"mainSteps\"?", "mainSteps[0].next_step: unknown field; did you mean \"nextStep\"?"}},
		{name: "wrong type", path: "typed", contentType: "application/json", body: `{"schemaVersion": "0.3", "mainSteps": [{"name": "a", "action": "aws:pause", "maxAttempts": "many"}]}`,
			status: 400, problems: []string{"mainSteps[0].maxAttempts:"}},
		{name: "scripts disabled", path: "scripted", body: scriptRunbook, policy: runbook.Policy{HTTPAllow: []string{"https://status.example.com/"}},
			status: 400, problems: []string{"runbooks.scripts.enabled"}, more: true},
		{name: "http not allowed", path: "scripted", body: scriptRunbook, policy: runbook.Policy{Scripts: true, Interpreters: []string{"python3", "bash"}},
			status: 400, problems: []string{"runbooks.http.allow"}, more: true},
		{name: "bad yaml", path: "bad-yaml", body: "schemaVersion: '0.3'\nmainSteps: [\n", status: 400, problems: []string{"the YAML does not decode"}},
		{name: "bad json", path: "bad-json", contentType: "application/json", body: `{"schemaVersion": "0.3",`, status: 400, problems: []string{""}},
		{name: "two documents", path: "two-docs", body: "schemaVersion: '0.3'\nmainSteps: [{name: a, action: 'aws:pause'}]\n---\nschemaVersion: '0.3'\n", status: 400, problems: []string{"more than one YAML document"}},
		{name: "not a mapping", path: "list", body: "- a\n- b\n", status: 400, problems: []string{"the YAML does not decode"}},
		{name: "empty", path: "empty", body: "  \n", status: 400, message: "the body is empty"},
		{name: "bad name", path: "a%20b", body: seedRunbookText, status: 400, message: `name: "a b" must be 3-128`},
		{name: "short name", path: "ab", body: seedRunbookText, status: 400, message: `name: "ab" must be 3-128`},
		{name: "too large", path: "large", body: "description: " + strings.Repeat("x", 70<<10) + "\n", status: 413, message: "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rb := &fakeRunbooks{t: t} // no put: a call fails the test
			h := newRunbookAPI(rb, tc.policy)
			for _, path := range []string{"/api/v1/runbooks/" + tc.path, "/api/v1/runbooks/validate"} {
				if path == "/api/v1/runbooks/validate" && tc.message != "" && strings.HasPrefix(tc.message, "name:") {
					continue // the name is the PUT's
				}
				code, body := call(t, h, map[bool]string{true: "POST", false: "PUT"}[strings.HasSuffix(path, "/validate")], path, tc.contentType, tc.body)
				c, msg := errorOf(body)
				if code != tc.status || c == "" {
					t.Fatalf("%s: %d %v, want %d", path, code, body, tc.status)
				}
				if !strings.Contains(msg, tc.message) {
					t.Errorf("%s: message %q does not contain %q", path, msg, tc.message)
				}
				got := problemsOf(body)
				if len(got) < len(tc.problems) || !tc.more && len(got) != len(tc.problems) {
					t.Fatalf("%s: problems %q, want %d like %q", path, got, len(tc.problems), tc.problems)
				}
				for _, p := range got {
					if !strings.Contains(msg, strings.TrimPrefix(p, ": ")) {
						t.Errorf("%s: problem %q is not in the message %q", path, p, msg)
					}
				}
				// The wanted problems appear in order, each in its own.
				i := 0
				for _, p := range got {
					if i < len(tc.problems) && strings.Contains(p, tc.problems[i]) {
						i++
					}
				}
				if i != len(tc.problems) {
					t.Errorf("%s: problems %q do not hold %q in order", path, got, tc.problems)
				}
			}
		})
	}
}

// seedRunbookText is a small valid document.
const seedRunbookText = "schemaVersion: '0.3'\nmainSteps: [{name: a, action: 'aws:pause'}]\n"

func TestRunbookValidate(t *testing.T) {
	rb := &fakeRunbooks{t: t}
	h := newRunbookAPI(rb, runbook.Policy{HTTPAllow: []string{"https://status.example.com/"}, Scripts: true, Interpreters: []string{"python3"}})
	for _, body := range []string{seedRunbook(t), scriptRunbook} {
		if code, out := call(t, h, "POST", "/api/v1/runbooks/validate", "", body); code != 200 || out["valid"] != true {
			t.Fatalf("validate: %d %v", code, out)
		}
	}
}

func TestRunbookDelete(t *testing.T) {
	var deleted []string
	rb := &fakeRunbooks{t: t, del: func(_ context.Context, name string) error {
		if name == "in-use" {
			return tocsin.Errorf(tocsin.ECONFLICT, "runbook in-use: response plan EC2HighCPU names it")
		}
		deleted = append(deleted, name)
		return nil
	}}
	h := newRunbookAPI(rb, runbook.Policy{})
	if code, body := call(t, h, "DELETE", "/api/v1/runbooks/old-one", "", ""); code != http.StatusNoContent || body != nil {
		t.Fatalf("delete: %d %v", code, body)
	}
	code, body := call(t, h, "DELETE", "/api/v1/runbooks/in-use", "", "")
	if c, msg := errorOf(body); code != http.StatusConflict || c != tocsin.ECONFLICT || !strings.Contains(msg, "EC2HighCPU") {
		t.Fatalf("delete in use: %d %v", code, body)
	}
	if !slices.Equal(deleted, []string{"old-one"}) {
		t.Fatalf("deleted %v", deleted)
	}
}

const paramRunbook = `schemaVersion: '0.3'
parameters:
  InstanceId: {type: String, allowedPattern: '^i-[0-9a-f]+$'}
  Count: {type: Integer, default: 1}
mainSteps:
  - {name: Inspect, action: 'aws:pause', description: 'Look at **{{ InstanceId }}**'}
  - {name: Wait, action: 'aws:sleep', inputs: {Duration: PT10M}}
  - {name: Close, action: 'aws:pause', description: Close it}
`

// withDocument gives the fake one stored runbook, "cpu" version 1.
func withDocument(t *testing.T, rb *fakeRunbooks, src string) {
	t.Helper()
	rb.versions()
	h := newRunbookAPI(rb, runbook.Policy{})
	if code, body := call(t, h, "PUT", "/api/v1/runbooks/cpu", "", src); code != http.StatusCreated {
		t.Fatalf("put: %d %v", code, body)
	}
}

func TestRunbookStart(t *testing.T) {
	var started []tocsin.RunbookStart
	rb := &fakeRunbooks{t: t}
	withDocument(t, rb, paramRunbook)
	rb.start = func(_ context.Context, req tocsin.RunbookStart) (*tocsin.RunbookExecution, error) {
		started = append(started, req)
		return &tocsin.RunbookExecution{ID: "e1", Runbook: req.Runbook, Version: 1, Status: tocsin.RunbookWaiting, IncidentID: req.IncidentID}, nil
	}
	h := newRunbookAPI(rb, runbook.Policy{})
	code, body := call(t, h, "POST", "/api/v1/runbooks/cpu/executions", "application/json",
		`{"incident_id": "inc_1", "parameters": {"InstanceId": ["i-0abc"]}, "by": "dana"}`)
	if code != http.StatusCreated || body["execution"].(map[string]any)["id"] != "e1" {
		t.Fatalf("start: %d %v", code, body)
	}
	want := tocsin.RunbookStart{Runbook: "cpu", IncidentID: "inc_1", Parameters: map[string][]string{"InstanceId": {"i-0abc"}}, By: tocsin.Actor{Name: "dana", Via: "api"}}
	if len(started) != 1 || !reflect.DeepEqual(started[0], want) {
		t.Fatalf("started %+v", started)
	}
	for _, tc := range []struct {
		path, body string
		status     int
		want       string
	}{
		{"/api/v1/runbooks/cpu/executions", `{"parameters": {"InstanceId": ["web-1"]}}`, 400, `parameters.InstanceId: "web-1" does not match allowedPattern`},
		{"/api/v1/runbooks/cpu/executions", `{"parameters": {"Count": ["many"]}}`, 400, `parameters.Count: "many" is not an Integer`},
		{"/api/v1/runbooks/cpu/executions", `{"parameters": {"Nope": ["1"], "InstanceId": ["i-1"]}}`, 400, `parameters.Nope: is not a parameter of the document`},
		{"/api/v1/runbooks/cpu/executions", ``, 400, `parameters.InstanceId: is required`},
		{"/api/v1/runbooks/cpu/executions", `{"parameters": {"InstanceId": "i-1"}}`, 400, `parameters.InstanceId`},
		{"/api/v1/runbooks/cpu/executions", `{"incident": "inc_1"}`, 400, `incident`},
		{"/api/v1/runbooks/cpu/executions", `{"incident_id": "inc_9", "parameters": {"InstanceId": ["i-1"]}}`, 400, `incident_id: no incident "inc_9"`},
		{"/api/v1/runbooks/nope/executions", `{}`, 404, `nope`},
	} {
		code, body := call(t, h, "POST", tc.path, "application/json", tc.body)
		if _, msg := errorOf(body); code != tc.status || !strings.Contains(msg, tc.want) {
			t.Errorf("%s %s: %d %v, want %d %q", tc.path, tc.body, code, body, tc.status, tc.want)
		}
	}
	if len(started) != 1 {
		t.Fatalf("refused starts reached the store: %+v", started[1:])
	}
}

func TestRunbookExecutionLists(t *testing.T) {
	var filters []tocsin.RunbookFilter
	rb := &fakeRunbooks{t: t, execs: func(_ context.Context, f tocsin.RunbookFilter) ([]*tocsin.RunbookExecution, error) {
		filters = append(filters, f)
		return []*tocsin.RunbookExecution{{ID: "e1", Runbook: "cpu", Status: tocsin.RunbookWaiting, Steps: []*tocsin.RunbookStep{
			{Seq: 1, Name: "Call", Action: "tocsin:http", Inputs: map[string]any{"Headers": map[string]any{"Authorization": "Bearer s3cret"}}},
		}}}, nil
	}}
	h := newRunbookAPI(rb, runbook.Policy{})
	code, body := call(t, h, "GET", "/api/v1/runbook-executions?incident_id=inc_1&runbook=cpu&status=Waiting,InProgress&limit=5", "", "")
	if code != 200 || len(body["executions"].([]any)) != 1 {
		t.Fatalf("list: %d %v", code, body)
	}
	if b, _ := json.Marshal(body); strings.Contains(string(b), "s3cret") {
		t.Fatalf("a list shows a header's secret: %s", b)
	}
	code, body = call(t, h, "GET", "/api/v1/incidents/inc_1/runbook-executions", "", "")
	if code != 200 || len(body["executions"].([]any)) != 1 {
		t.Fatalf("incident's: %d %v", code, body)
	}
	want := []tocsin.RunbookFilter{{IncidentID: "inc_1", Runbook: "cpu", Status: []string{"Waiting", "InProgress"}, Limit: 5}, {IncidentID: "inc_1"}}
	if !reflect.DeepEqual(filters, want) {
		t.Fatalf("filters %+v", filters)
	}
	for path, wantCode := range map[string]int{"/api/v1/runbook-executions?status=Running": 400, "/api/v1/runbook-executions?limit=0": 400,
		"/api/v1/incidents/inc_9/runbook-executions": 404} {
		if code, body := call(t, h, "GET", path, "", ""); code != wantCode {
			t.Errorf("%s: %d %v", path, code, body)
		}
	}
	if len(filters) != 2 {
		t.Fatalf("refused lists reached the store: %+v", filters[2:])
	}
}

// TestRunbookExecutionView: an execution shows its steps, the current
// step's instructions from the version it runs and the steps to come, with
// credentials in headers redacted.
func TestRunbookExecutionView(t *testing.T) {
	rb := &fakeRunbooks{t: t}
	withDocument(t, rb, paramRunbook)
	// A version 2 that the execution does not run.
	h := newRunbookAPI(rb, runbook.Policy{})
	if code, _ := call(t, h, "PUT", "/api/v1/runbooks/cpu", "", strings.ReplaceAll(paramRunbook, "Look at", "Now look at")); code != 201 {
		t.Fatal("put v2")
	}
	at := oncallEpoch
	headers := map[string]any{"Authorization": "Bearer s3cret", "cookie": "session=abc", "X-Api-Key": "k1", "X-Auth-Token": "t1",
		"Client-Secret": "c1", "X-Password": "p1", "Accept": "application/json"}
	exec := &tocsin.RunbookExecution{ID: "e1", Runbook: "cpu", Version: 1, Status: tocsin.RunbookWaiting, Current: 2, StartedAt: at,
		Parameters: map[string]any{"InstanceId": "i-0abc"},
		Steps: []*tocsin.RunbookStep{
			{Seq: 1, Name: "Inspect", Action: "aws:pause", Status: tocsin.RunbookSuccess, StartedAt: at, EndedAt: at.Add(time.Minute),
				Inputs: map[string]any{"Headers": headers, "URL": "https://x.example.com/"}},
			{Seq: 2, Name: "Wait", Action: "aws:sleep", Status: tocsin.RunbookInProgress, StartedAt: at.Add(time.Minute), Inputs: map[string]any{"Duration": "PT10M"}},
		}}
	rb.exec = func(_ context.Context, id string) (*tocsin.RunbookExecution, error) {
		if id != "e1" {
			return nil, tocsin.Errorf(tocsin.ENOTFOUND, "runbook execution %s not found", id)
		}
		return exec, nil
	}
	code, body := call(t, h, "GET", "/api/v1/runbook-executions/e1", "", "")
	if code != 200 || body["current_step"] != "Wait" || body["current_instructions"] != "" || !reflect.DeepEqual(body["upcoming"], []any{"Close"}) {
		t.Fatalf("view at Wait: %d %v", code, body)
	}
	steps := body["execution"].(map[string]any)["steps"].([]any)
	got := steps[0].(map[string]any)["inputs"].(map[string]any)["Headers"].(map[string]any)
	for k := range headers {
		want := runbook.RedactedValue
		if k == "Accept" {
			want = "application/json"
		}
		if got[k] != want {
			t.Errorf("header %s: %v, want %s", k, got[k], want)
		}
	}
	if headers["Authorization"] != "Bearer s3cret" {
		t.Fatal("redaction changed the store's execution")
	}
	if steps[1].(map[string]any)["status"] != tocsin.RunbookInProgress || steps[0].(map[string]any)["ended_at"] == nil {
		t.Fatalf("steps %v", steps)
	}

	// At the first step: its instructions are version 1's.
	exec.Current, exec.Steps = 1, exec.Steps[:1]
	exec.Steps[0].Status = tocsin.RunbookWaiting
	_, body = call(t, h, "GET", "/api/v1/runbook-executions/e1", "", "")
	if body["current_instructions"] != "Look at **{{ InstanceId }}**" || !reflect.DeepEqual(body["upcoming"], []any{"Wait", "Close"}) {
		t.Fatalf("view at Inspect: %v", body)
	}
	// Ended: nothing current, nothing to come.
	exec.Status, exec.Current = tocsin.RunbookSuccess, 0
	_, body = call(t, h, "GET", "/api/v1/runbook-executions/e1", "", "")
	if body["current_instructions"] != "" || len(body["upcoming"].([]any)) != 0 {
		t.Fatalf("ended view: %v", body)
	}
	if code, _ := call(t, h, "GET", "/api/v1/runbook-executions/e9", "", ""); code != 404 {
		t.Fatalf("unknown execution: %d", code)
	}
}

func TestRunbookSignals(t *testing.T) {
	var got []tocsin.RunbookSignal
	rb := &fakeRunbooks{t: t, signal: func(_ context.Context, sig tocsin.RunbookSignal) (*tocsin.RunbookExecution, error) {
		got = append(got, sig)
		switch {
		case sig.ExecutionID == "gone":
			return nil, tocsin.Errorf(tocsin.ENOTFOUND, "runbook execution gone not found")
		case sig.ExecutionID == "done":
			return nil, tocsin.Errorf(tocsin.ECONFLICT, "runbook execution done is not waiting (Success)")
		case sig.Type == tocsin.SignalApprove && sig.By.Name != "ann":
			return nil, tocsin.Errorf(tocsin.EFORBIDDEN, "%s is not an approver of step Approve", sig.By.Name)
		}
		return &tocsin.RunbookExecution{ID: sig.ExecutionID, Status: tocsin.RunbookInProgress}, nil
	}}
	h := newRunbookAPI(rb, runbook.Policy{})
	for _, tc := range []struct {
		verb, id, body string
		status         int
		want           string
	}{
		{"resume", "e1", `{"by": "dana", "comment": "looked"}`, 200, ""},
		{"resume", "e1", ``, 200, ""},
		{"approve", "e1", `{"by": "ann", "comment": "go"}`, 200, ""},
		{"reject", "e1", `{"by": "ann"}`, 200, ""},
		{"cancel", "e1", `{"by": "dana"}`, 200, ""},
		{"resume", "done", `{"by": "dana"}`, 409, "is not waiting"},
		{"approve", "e1", `{"by": "mallory"}`, 403, "mallory is not an approver"},
		{"resume", "gone", `{}`, 404, "not found"},
	} {
		code, body := call(t, h, "POST", "/api/v1/runbook-executions/"+tc.id+"/"+tc.verb, "application/json", tc.body)
		if _, msg := errorOf(body); code != tc.status || !strings.Contains(msg, tc.want) {
			t.Errorf("%s %s %s: %d %v, want %d %q", tc.verb, tc.id, tc.body, code, body, tc.status, tc.want)
		}
	}
	want := []tocsin.RunbookSignal{
		{ExecutionID: "e1", Type: "Resume", By: tocsin.Actor{Name: "dana", Via: "api"}, Comment: "looked"},
		{ExecutionID: "e1", Type: "Resume", By: tocsin.Actor{Via: "api"}},
		{ExecutionID: "e1", Type: "Approve", By: tocsin.Actor{Name: "ann", Via: "api"}, Comment: "go"},
		{ExecutionID: "e1", Type: "Reject", By: tocsin.Actor{Name: "ann", Via: "api"}},
		{ExecutionID: "e1", Type: "Cancel", By: tocsin.Actor{Name: "dana", Via: "api"}},
		{ExecutionID: "done", Type: "Resume", By: tocsin.Actor{Name: "dana", Via: "api"}},
		{ExecutionID: "e1", Type: "Approve", By: tocsin.Actor{Name: "mallory", Via: "api"}},
		{ExecutionID: "gone", Type: "Resume", By: tocsin.Actor{Via: "api"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("signals\n got %+v\nwant %+v", got, want)
	}
	got = nil
	for _, tc := range []struct{ verb, body, want string }{
		{"approve", `{"comment": "ok"}`, "by: who approves"},
		{"reject", `{"by": "  "}`, "by: who approves"},
		{"resume", `{"by": "dana", "coment": "x"}`, "coment"},
		{"resume", `{"comment": "` + strings.Repeat("x", maxSignalComment+1) + `"}`, "comment: longer than"},
	} {
		code, body := call(t, h, "POST", "/api/v1/runbook-executions/e1/"+tc.verb, "application/json", tc.body)
		if _, msg := errorOf(body); code != 400 || !strings.Contains(msg, tc.want) {
			t.Errorf("%s %s: %d %v, want 400 %q", tc.verb, tc.body, code, body, tc.want)
		}
	}
	if len(got) != 0 {
		t.Fatalf("refused signals reached the store: %+v", got)
	}
}

// TestResponsePlanRunbookMustExist: with a runbook store, a plan naming a
// runbook that is not stored is refused naming runbook.name; without one,
// the name is not checked.
func TestResponsePlanRunbookMustExist(t *testing.T) {
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{})
	rb := &fakeRunbooks{t: t}
	rb.versions()
	plan := func(name, runbook string) string {
		return `{"name": "` + name + `", "incident_template": {"title": "cpu"}, "runbook": {"name": "` + runbook + `"}}`
	}
	with := serve(New(db.Incidents(), Options{Tokens: Tokens{Clear: []string{runbookToken}}, ResponsePlans: db.ResponsePlans(), Runbooks: rb}))
	code, body := call(t, with, "PUT", "/api/v1/response-plans/EC2HighCPU", "application/json", plan("EC2HighCPU", "ec2-cpu-util-runbook"))
	if _, msg := errorOf(body); code != 400 || !strings.Contains(msg, `runbook.name: no runbook "ec2-cpu-util-runbook"`) {
		t.Fatalf("missing runbook: %d %v", code, body)
	}
	if _, err := db.ResponsePlans().FindResponsePlan(context.Background(), "EC2HighCPU"); tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
		t.Fatalf("the refused plan was stored: %v", err)
	}
	if code, body := call(t, with, "PUT", "/api/v1/runbooks/ec2-cpu-util-runbook", "", seedRunbook(t)); code != 201 {
		t.Fatalf("put runbook: %d %v", code, body)
	}
	if code, body := call(t, with, "PUT", "/api/v1/response-plans/EC2HighCPU", "application/json", plan("EC2HighCPU", "ec2-cpu-util-runbook")); code != 201 {
		t.Fatalf("plan with its runbook: %d %v", code, body)
	}
	without := serve(New(db.Incidents(), Options{Tokens: Tokens{Clear: []string{runbookToken}}, ResponsePlans: db.ResponsePlans()}))
	if code, body := call(t, without, "PUT", "/api/v1/response-plans/Other", "application/json", plan("Other", "not-stored")); code != 201 {
		t.Fatalf("without a runbook store: %d %v", code, body)
	}
}

// TestResponsePlanRunbookParametersChecked: a plan's runbook parameters
// are checked against the runbook when the plan is put — unknown names,
// values of the wrong type, required ones missing — and nothing is stored.
func TestResponsePlanRunbookParametersChecked(t *testing.T) {
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{})
	rb := &fakeRunbooks{t: t}
	rb.versions()
	srv := serve(New(db.Incidents(), Options{Tokens: Tokens{Clear: []string{runbookToken}}, ResponsePlans: db.ResponsePlans(), Runbooks: rb}))
	doc := `{"schemaVersion": "0.3", "parameters": {"Count": {"type": "Integer"}, "Who": {"type": "String", "default": "x"}},
		"mainSteps": [{"name": "Wait", "action": "aws:pause", "inputs": {}}]}`
	if code, body := call(t, srv, "PUT", "/api/v1/runbooks/counted", "application/json", doc); code != 201 {
		t.Fatalf("put runbook: %d %v", code, body)
	}
	plan := func(params string) string {
		return `{"name": "P", "incident_template": {"title": "t"}, "runbook": {"name": "counted"` + params + `}}`
	}
	for _, c := range []struct{ params, want string }{
		{`, "parameters": {"Count": ["many"]}`, "runbook.parameters.Count:"},
		{`, "parameters": {"Count": ["1"], "Nope": ["x"]}`, "runbook.parameters.Nope: is not a parameter of the runbook"},
		{``, "runbook.parameters.Count: is required by the runbook"},
		{`, "dynamic_parameters": {"Other": "INCIDENT_ID"}, "parameters": {"Count": ["1"]}`, "runbook.dynamic_parameters.Other: is not a parameter"},
	} {
		code, body := call(t, srv, "PUT", "/api/v1/response-plans/P", "application/json", plan(c.params))
		if _, msg := errorOf(body); code != 400 || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %v, want 400 with %q", c.params, code, body, c.want)
		}
	}
	if _, err := db.ResponsePlans().FindResponsePlan(context.Background(), "P"); tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
		t.Fatalf("a refused plan was stored: %v", err)
	}
	for _, ok := range []string{`, "parameters": {"Count": ["3"]}`, `, "dynamic_parameters": {"Count": "INCIDENT_IMPACT"}`} {
		if code, body := call(t, srv, "PUT", "/api/v1/response-plans/P", "application/json", plan(ok)); code != 201 && code != 200 {
			t.Fatalf("%s: %d %v", ok, code, body)
		}
	}
}
