package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tocsin"
	"tocsin/api"
	"tocsin/runbook"
	"tocsin/store"
	"tocsin/store/storetest"
)

// runbooksDir holds the runbooks of the documentation.
var runbooksDir = filepath.Join("..", "..", "examples", "runbooks")

// runbookServer is the JSON API over a real SQLite store, runbooks
// included (the app's wiring is not needed: the API alone is under test).
type runbookServer struct {
	*httptest.Server
	runbooks *store.Runbooks
	env      map[string]string
}

const runbookCLIToken = "runbook-cli-token"

func startRunbookServer(t *testing.T) *runbookServer {
	t.Helper()
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{})
	rb := db.Runbooks()
	channels := map[string]bool{}
	for _, c := range tocsin.TeamChannels {
		channels[c] = true
	}
	mux := http.NewServeMux()
	api.New(db.Incidents(), api.Options{
		Tokens: api.Tokens{Clear: []string{runbookCLIToken}}, OnCall: db.OnCall(), Keys: db.Secrets(), ResponsePlans: db.ResponsePlans(),
		Runbooks: rb, RunbookPolicy: runbook.Policy{Scripts: true, Interpreters: []string{"bash"}}, Channels: channels,
	}).Register(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return &runbookServer{Server: ts, runbooks: rb, env: map[string]string{"TOCSIN_API_TOKEN": runbookCLIToken, "TOCSIN_SERVER": ts.URL, "USER": "dana"}}
}

func mustCLI(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, err := runCLI(t, env, args...)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func containsAll(t *testing.T, what, out string, fragments ...string) {
	t.Helper()
	for _, f := range fragments {
		if !strings.Contains(out, f) {
			t.Fatalf("%s: %q is not in:\n%s", what, f, out)
		}
	}
}

// TestRunbookValidateOffline checks documents with no server: the seed
// passes, a broken document lists every problem with its file and path,
// and --config holds scripts and HTTP calls to the configuration.
func TestRunbookValidateOffline(t *testing.T) {
	seed := filepath.Join(runbooksDir, "ec2-cpu-util-runbook.yaml")
	out := mustCLI(t, nil, "runbook", "validate", seed)
	containsAll(t, "seed", out, seed+": ok (5 steps)", "policy was not checked")

	dir := writeFiles(t, map[string]string{
		"broken.yaml": "schemaVersion: '0.2'\nmainSteps:\n- {name: Boot, action: 'aws:runInstances', nextStep: Gone}\n- {name: Boot, action: 'aws:pause', onFailure: Retry}\n",
		"typo.json":   `{"schemaVersion": "0.3", "mainSteps": [{"name": "a", "action": "aws:pause"}], "paramters": {}}`,
		"auto.yaml": "schemaVersion: '0.3'\nmainSteps:\n- name: Check\n  action: 'tocsin:script'\n  inputs: {Runtime: bash, Script: 'echo {}'}\n" +
			"- name: Call\n  action: 'tocsin:http'\n  inputs: {Method: GET, URL: 'https://status.example.com/api/health'}\n",
		"closed.yaml": "runbooks: {}\n",
		"open.yaml":   "runbooks:\n  scripts: {enabled: true, interpreters: [bash]}\n  http: {allow: ['https://status.example.com/api/']}\n",
	})
	broken, typo, auto := filepath.Join(dir, "broken.yaml"), filepath.Join(dir, "typo.json"), filepath.Join(dir, "auto.yaml")
	out, err := runCLI(t, nil, "runbook", "validate", seed, broken, typo)
	if err == nil || !strings.Contains(err.Error(), "2 of 3 runbook files have problems") {
		t.Fatalf("broken documents: %v\n%s", err, out)
	}
	containsAll(t, "broken", out,
		broken+`: schemaVersion: must be "0.3", is "0.2"`,
		broken+`: mainSteps[1].name: "Boot" is also the name of mainSteps[0]`,
		broken+`: mainSteps[0].nextStep: no step "Gone"`,
		broken+`: mainSteps[0].action: step "Boot": action "aws:runInstances" is not supported`,
		broken+`: mainSteps[1].onFailure: "Retry" is not Abort, Continue or step:<name>`,
		typo+`: paramters: unknown field; did you mean "parameters"?`,
		seed+": ok")

	// Offline without --config, the policy is not checked; with a
	// configuration that allows nothing, both steps name their key.
	mustCLI(t, nil, "runbook", "validate", auto)
	out, err = runCLI(t, nil, "runbook", "validate", "--config", filepath.Join(dir, "closed.yaml"), auto)
	if err == nil {
		t.Fatalf("closed policy accepted:\n%s", out)
	}
	containsAll(t, "closed", out, auto+": mainSteps[0]", "runbooks.scripts.enabled", auto+": mainSteps[1]", "runbooks.http.allow")
	out = mustCLI(t, nil, "runbook", "validate", "--config", filepath.Join(dir, "open.yaml"), auto)
	containsAll(t, "open", out, auto+": ok (2 steps)")
	if strings.Contains(out, "not checked") {
		t.Fatalf("with --config the policy is checked:\n%s", out)
	}
	if _, err := runCLI(t, nil, "runbook", "validate", filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("a missing file passed")
	}
}

// TestRunbookApplyBareSeed applies the documentation's examples: the
// blog's runbook file, unchanged, is the runbook ec2-cpu-util-runbook,
// stored as written and applied before the plan that names it.
func TestRunbookApplyBareSeed(t *testing.T) {
	ts := startRunbookServer(t)
	out := mustCLI(t, ts.env, "apply", "-f", examplesDir, "-f", runbooksDir, "-f", responseDir)
	containsAll(t, "apply", out, "applied: 31 created, 0 updated, 0 unchanged")
	if i, j := strings.Index(out, "+ runbook ec2-cpu-util-runbook (create)"), strings.Index(out, "+ response plan EC2HighCPU (create)"); i < 0 || j < i {
		t.Fatalf("the runbook must come before the plan that names it:\n%s", out)
	}
	seed, err := os.ReadFile(filepath.Join(runbooksDir, "ec2-cpu-util-runbook.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := ts.runbooks.Runbook(context.Background(), "ec2-cpu-util-runbook", 0)
	if err != nil || rb.Body != string(seed) || rb.Format != "yaml" || rb.Version != 1 {
		t.Fatalf("stored runbook: %v %+v", err, rb)
	}
	out = mustCLI(t, ts.env, "apply", "-f", examplesDir, "-f", runbooksDir, "-f", responseDir)
	containsAll(t, "second apply", out, "= runbook ec2-cpu-util-runbook (unchanged)", "applied: 0 created, 0 updated, 31 unchanged")

	// The plan's runbook must be in the files or on the server; --prune
	// may not delete a runbook a plan still names.
	fresh := startRunbookServer(t)
	_, err = runCLI(t, fresh.env, "apply", "-f", examplesDir, "-f", responseDir, "--dry-run")
	if err == nil || !strings.Contains(err.Error(), `response plan EC2HighCPU: runbook.name: no runbook "ec2-cpu-util-runbook" in the files or on the server`) {
		t.Fatalf("missing runbook: %v", err)
	}
	dir := writeFiles(t, map[string]string{"other.yaml": "kind: Runbook\nname: other-runbook\ndocument: {schemaVersion: '0.3', mainSteps: [{name: a, action: 'aws:pause'}]}\n"})
	_, err = runCLI(t, ts.env, "apply", "-f", examplesDir, "-f", responseDir, "-f", dir, "--prune")
	if err == nil || !strings.Contains(err.Error(), "runbook.name: runbook ec2-cpu-util-runbook is not in the files, so --prune would delete it") {
		t.Fatalf("prune of a named runbook: %v", err)
	}
	if _, err := ts.runbooks.Runbook(context.Background(), "other-runbook", 0); err == nil {
		t.Fatal("a refused apply stored a runbook")
	}
}

// TestRunbookApplyKind applies `kind: Runbook` documents: sent as JSON,
// updated when the document changes (naming what changed), pruned like
// any kind; bad ones are refused naming file, document and path.
func TestRunbookApplyKind(t *testing.T) {
	ts := startRunbookServer(t)
	const restart = "kind: Runbook\nname: restart-web\ndocument:\n  schemaVersion: '0.3'\n  description: Restart the web tier\n  mainSteps:\n" +
		"    - {name: Drain, action: 'aws:pause', description: Drain the node}\n    - {name: Wait, action: 'aws:sleep', inputs: {Duration: PT5M}}\n"
	dir := writeFiles(t, map[string]string{"runbooks.yaml": restart + "---\nkind: Runbook\nname: nested\ndocument:\n  schemaVersion: '0.3'\n  mainSteps:\n" +
		"    - {name: Run, action: 'aws:executeAutomation', inputs: {DocumentName: restart-web}}\n"})
	out := mustCLI(t, ts.env, "apply", "-f", dir)
	containsAll(t, "apply", out, "+ runbook restart-web (create)", "+ runbook nested (create)", "applied: 2 created")
	rb, err := ts.runbooks.Runbook(context.Background(), "restart-web", 0)
	if err != nil || rb.Format != "json" || !strings.HasPrefix(rb.Body, "{") || rb.Description != "Restart the web tier" {
		t.Fatalf("stored: %v %+v", err, rb)
	}
	containsAll(t, "unchanged", mustCLI(t, ts.env, "apply", "-f", dir), "= runbook restart-web (unchanged)", "0 created, 0 updated, 2 unchanged")

	changed := writeFiles(t, map[string]string{"runbooks.yaml": strings.Replace(restart, "PT5M", "PT10M", 1) + "---\nkind: Runbook\nname: nested\ndocument:\n  schemaVersion: '0.3'\n  mainSteps:\n" +
		"    - {name: Run, action: 'aws:executeAutomation', inputs: {DocumentName: restart-web}}\n"})
	out = mustCLI(t, ts.env, "apply", "-f", changed)
	containsAll(t, "update", out, "~ runbook restart-web (update: document.mainSteps[1])", `"PT5M"`, `"PT10M"`, "1 updated")
	if rb, _ := ts.runbooks.Runbook(context.Background(), "restart-web", 0); rb.Version != 2 {
		t.Fatalf("version after update: %d", rb.Version)
	}

	// nested starts restart-web: pruning restart-web alone is refused.
	only := writeFiles(t, map[string]string{"n.yaml": "kind: Runbook\nname: nested\ndocument:\n  schemaVersion: '0.3'\n  mainSteps:\n" +
		"    - {name: Run, action: 'aws:executeAutomation', inputs: {DocumentName: restart-web}}\n"})
	if _, err := runCLI(t, ts.env, "apply", "-f", only, "--prune"); err == nil || !strings.Contains(err.Error(), "document.mainSteps[0].inputs.DocumentName: runbook restart-web is not in the files") {
		t.Fatalf("prune of a nested runbook: %v", err)
	}
	other := writeFiles(t, map[string]string{"o.yaml": "kind: Runbook\nname: other-runbook\ndocument: {schemaVersion: '0.3', mainSteps: [{name: a, action: 'aws:pause'}]}\n"})
	out = mustCLI(t, ts.env, "apply", "-f", other, "--prune")
	containsAll(t, "prune", out, "- runbook nested (delete", "- runbook restart-web (delete", "1 created, 0 updated, 0 unchanged, 2 deleted")
	if _, err := ts.runbooks.Runbook(context.Background(), "restart-web", 0); tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
		t.Fatalf("pruned runbook: %v", err)
	}

	for _, tc := range []struct{ name, files, want string }{
		{"invalid", "kind: Runbook\nname: bad-one\ndocument: {schemaVersion: '0.3', mainSteps: [{name: a, action: 'aws:runInstances'}]}\n",
			`: document 1: document.mainSteps[0].action: step "a": action "aws:runInstances" is not supported`},
		{"unknown key", "kind: Runbook\nname: bad-one\nbody: x\ndocument: {schemaVersion: '0.3', mainSteps: [{name: a, action: 'aws:pause'}]}\n", `unknown key "body"`},
		{"no document", "kind: Runbook\nname: bad-one\n", "document: is required"},
		{"bad name", "kind: Runbook\nname: x\ndocument: {schemaVersion: '0.3', mainSteps: [{name: a, action: 'aws:pause'}]}\n", `name: "x" must be 3-128`},
		{"bare not alone", "schemaVersion: '0.3'\nmainSteps: [{name: a, action: 'aws:pause'}]\n---\nkind: Runbook\nname: other\ndocument: {}\n", "must be alone in the file"},
		{"bare invalid", "schemaVersion: '0.3'\nmainSteps: [{name: a, action: 'aws:pause', nextStep: b}]\n", `bad.yaml: document 1: mainSteps[0].nextStep: no step "b"`},
		{"no kind", "name: nothing\n", "kind: is required"},
	} {
		dir := writeFiles(t, map[string]string{"bad.yaml": tc.files})
		if _, err := runCLI(t, ts.env, "apply", "-f", dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestRunbookApplyServerWithoutRunbooks: a server that keeps no runbooks
// takes the plans that name them, as before, and refuses runbooks with a
// clear error before anything changes.
func TestRunbookApplyServerWithoutRunbooks(t *testing.T) {
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{})
	mux := http.NewServeMux()
	api.New(db.Incidents(), api.Options{Tokens: api.Tokens{Clear: []string{runbookCLIToken}}, OnCall: db.OnCall(), Keys: db.Secrets(),
		ResponsePlans: db.ResponsePlans(), Channels: map[string]bool{"slack": true}}).Register(mux)
	ts := httptest.NewServer(mux)
	defer ts.Close()
	env := map[string]string{"TOCSIN_API_TOKEN": runbookCLIToken, "TOCSIN_SERVER": ts.URL}
	_, err := runCLI(t, env, "apply", "-f", examplesDir, "-f", runbooksDir, "-f", responseDir)
	if err == nil || !strings.Contains(err.Error(), "runbook ec2-cpu-util-runbook: this server keeps no runbooks") {
		t.Fatalf("runbooks to a server without them: %v", err)
	}
	if plans, _ := db.ResponsePlans().ListResponsePlans(context.Background()); len(plans) != 0 {
		t.Fatalf("a refused apply stored plans: %v", plans)
	}
	out := mustCLI(t, env, "apply", "-f", examplesDir, "-f", responseDir)
	containsAll(t, "without runbooks", out, "applied: 30 created")
}

// TestRunbookCLIRunShowResume runs the blog's runbook by hand: put, list,
// run, show (steps, current instructions, steps to come), five resumes to
// Success, and the 4xx of a resume that is not awaited and of an approval
// by someone who is not an approver.
func TestRunbookCLIRunShowResume(t *testing.T) {
	ts := startRunbookServer(t)
	seed := filepath.Join(runbooksDir, "ec2-cpu-util-runbook.yaml")
	containsAll(t, "put", mustCLI(t, ts.env, "runbook", "put", "-f", seed), "runbook ec2-cpu-util-runbook: version 1 stored")
	containsAll(t, "put again", mustCLI(t, ts.env, "runbook", "put", "-f", seed), "runbook ec2-cpu-util-runbook: version 1 unchanged")
	containsAll(t, "list", mustCLI(t, ts.env, "runbook", "list"), "NAME", "ec2-cpu-util-runbook  1", "This runbook walks you through")

	out := mustCLI(t, ts.env, "runbook", "run", "ec2-cpu-util-runbook")
	id1 := strings.TrimSuffix(strings.Fields(out)[0], ":")
	containsAll(t, "run", out, id1+": Waiting at Inspect (runbook ec2-cpu-util-runbook version 1)")
	out = mustCLI(t, ts.env, "runbook", "show", id1)
	containsAll(t, "show", out, id1+"  runbook ec2-cpu-util-runbook version 1", "status:   Waiting", "by dana",
		"Inspect", "aws:pause", "current step: Inspect", "instructions:\n  Navigate to the **Amazon CloudWatch** console",
		"to come: AddMetrics, AttachToAutoScalingGroup, Validate, CloseIncident")
	containsAll(t, "executions", mustCLI(t, ts.env, "runbook", "executions"), id1+"  ec2-cpu-util-runbook  1        Waiting")

	steps := []string{"AddMetrics", "AttachToAutoScalingGroup", "Validate", "CloseIncident"}
	for i := range 5 {
		out = mustCLI(t, ts.env, "runbook", "resume", id1, "--comment", "done")
		if i < 4 {
			containsAll(t, "resume", out, "Waiting at "+steps[i])
		} else {
			containsAll(t, "last resume", out, id1+": Success")
		}
	}
	out = mustCLI(t, ts.env, "runbook", "show", id1)
	containsAll(t, "ended", out, "status:   Success", "CloseIncident")
	if strings.Contains(out, "to come:") || strings.Contains(out, "current step:") {
		t.Fatalf("an ended execution has nothing current:\n%s", out)
	}
	_, err := runCLI(t, ts.env, "runbook", "resume", id1)
	if err == nil || !strings.Contains(err.Error(), "(HTTP 409)") {
		t.Fatalf("resume of an ended execution: %v", err)
	}
	if _, err := runCLI(t, ts.env, "runbook", "show", "no-such-execution"); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Fatalf("unknown execution: %v", err)
	}

	dir := writeFiles(t, map[string]string{"approve-restart.yaml": "schemaVersion: '0.3'\nparameters:\n  Host: {type: String, allowedPattern: '^web-[0-9]+$'}\n" +
		"mainSteps:\n- {name: Approve, action: 'aws:approve', inputs: {Approvers: [ann], Message: 'Restart {{ Host }}?'}}\n"})
	mustCLI(t, ts.env, "runbook", "put", "-f", filepath.Join(dir, "approve-restart.yaml"))
	if _, err := runCLI(t, ts.env, "runbook", "run", "approve-restart", "-p", "Host=db-1"); err == nil || !strings.Contains(err.Error(), `parameters.Host: "db-1" does not match allowedPattern`) {
		t.Fatalf("bad parameter: %v", err)
	}
	if _, err := runCLI(t, ts.env, "runbook", "run", "approve-restart", "-p", "Host"); err == nil || !strings.Contains(err.Error(), "want Key=Value") {
		t.Fatalf("bad -p: %v", err)
	}
	out = mustCLI(t, ts.env, "runbook", "run", "approve-restart", "-p", "Host=web-1", "--as", "ann")
	id2 := strings.TrimSuffix(strings.Fields(out)[0], ":")
	containsAll(t, "run approve", out, id2+": Waiting at Approve")
	if _, err := runCLI(t, ts.env, "runbook", "approve", id2); err == nil || !strings.Contains(err.Error(), `"as" not set`) {
		t.Fatalf("approve without --as: %v", err)
	}
	if _, err := runCLI(t, ts.env, "runbook", "approve", id2, "--as", "mallory"); err == nil || !strings.Contains(err.Error(), "(HTTP 403)") {
		t.Fatalf("approve by a stranger: %v", err)
	}
	containsAll(t, "approve", mustCLI(t, ts.env, "runbook", "approve", id2, "--as", "ann", "--comment", "go"), id2+": Success")
	out = mustCLI(t, ts.env, "runbook", "show", id2)
	containsAll(t, "approved", out, "approved by ann", ": go")
	containsAll(t, "filter", mustCLI(t, ts.env, "runbook", "executions", "--runbook", "approve-restart"), id2)
	if out := mustCLI(t, ts.env, "runbook", "executions", "--runbook", "approve-restart"); strings.Contains(out, id1) {
		t.Fatalf("filter by runbook:\n%s", out)
	}
}
