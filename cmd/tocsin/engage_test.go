package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tocsin/apptest"
)

func errorMessage(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// Issue 9 defect 3: escalation plans that engage each other in a loop are
// refused by the API and by apply, with one check that names the loop.
func TestEngagePlanLoopRefusedByAPIAndApply(t *testing.T) {
	ts := startOnCallServer(t)
	if code, body := ts.Put(t, "/api/v1/contacts/ann", `{"alias":"ann","name":"Ann","channels":[{"name":"mail","type":"email","address":"ann@example.com"}]}`); code != 201 {
		t.Fatalf("contact: %d %v", code, body)
	}
	if code, body := ts.Put(t, "/api/v1/escalation-plans/lb", `{"name":"lb","stages":[{"duration":"5m","targets":[{"contact":"ann"}]}]}`); code != 201 {
		t.Fatalf("lb: %d %v", code, body)
	}
	if code, body := ts.Put(t, "/api/v1/escalation-plans/la", `{"name":"la","stages":[{"duration":"5m","targets":[{"escalation_plan":"lb"}]}]}`); code != 201 {
		t.Fatalf("la: %d %v", code, body)
	}
	code, body := ts.Put(t, "/api/v1/escalation-plans/lb", `{"name":"lb","stages":[{"duration":"5m","targets":[{"contact":"ann"},{"escalation_plan":"la"}]}]}`)
	if code != 400 || !strings.Contains(errorMessage(body), "engage each other in a loop: la → lb → la") {
		t.Fatalf("a loop through the API: %d %v", code, body)
	}
	if _, got := ts.Get(t, "/api/v1/escalation-plans/lb"); strings.Contains(toJSON(got), `"escalation_plan":"la"`) {
		t.Fatalf("the refused plan was stored: %v", got)
	}

	// apply sees the loop between a file's plan and the server's.
	env := map[string]string{"TOCSIN_API_TOKEN": apptest.APIToken, "TOCSIN_SERVER": ts.URL}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "lb.yaml"), []byte("kind: EscalationPlan\nname: lb\nstages: [{duration: 5m, targets: [{escalation_plan: la}]}]\n"), 0o600)
	_, err := runCLI(t, env, "apply", "-f", dir, "--dry-run")
	if err == nil || !strings.Contains(err.Error(), "lb.yaml: document 1") || !strings.Contains(err.Error(), "engage each other in a loop: la → lb → la") {
		t.Fatalf("apply of a loop through the server's plan: %v", err)
	}
}

// Issue 9 defect 7: an unknown contact is named by its field, without a
// stray index; override list shows recent and past-dated overrides.
func TestEngageContactErrorsAndOverrideListWindow(t *testing.T) {
	ts := startOnCallServer(t)
	code, body := ts.Put(t, "/api/v1/escalation-plans/x", `{"name":"x","stages":[{"duration":"5m","targets":[{"contact":"zed"}]}]}`)
	if msg := errorMessage(body); code != 400 || msg != `escalation plan x: stages[0].targets[0].contact: no contact "zed"` {
		t.Fatalf("unknown contact in a plan: %d %q", code, msg)
	}
	env := map[string]string{"TOCSIN_API_TOKEN": apptest.APIToken, "TOCSIN_SERVER": ts.URL}
	dir := writeFiles(t, map[string]string{"ops.yaml": smallSetup})
	if out, err := runCLI(t, env, "apply", "-f", dir); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if _, err := runCLI(t, env, "override", "add", "--rotation", "ops", "--start", "now", "--end", "now+1h", "--members", "zed"); err == nil ||
		!strings.Contains(err.Error(), `override: members[0]: no contact "zed"`) {
		t.Fatalf("unknown member: %v", err)
	}
	// An override that ended yesterday, and one far in the past.
	past, err := runCLI(t, env, "override", "add", "--rotation", "ops", "--start", "now-3d", "--end", "now-1d", "--members", "ben")
	if err != nil {
		t.Fatal(err)
	}
	old, err := runCLI(t, env, "override", "add", "--rotation", "ops", "--start", "now-90d", "--end", "now-80d", "--members", "ben")
	if err != nil {
		t.Fatal(err)
	}
	id := func(out string) string { return strings.TrimSuffix(strings.Fields(out)[1], ":") }
	out, err := runCLI(t, env, "override", "list")
	if err != nil || !strings.Contains(out, id(past)) || strings.Contains(out, id(old)) {
		t.Fatalf("override list (default: not ended, and ended in the last 30 days): %v\n%s", err, out)
	}
	if out, err = runCLI(t, env, "override", "list", "--from", "now-100d", "--to", "now"); err != nil || !strings.Contains(out, id(old)) {
		t.Fatalf("override list --from: %v\n%s", err, out)
	}
}

// Issue 9 defect 7: apply's plan shows changed fields old → new and warns
// that a changed phone number deactivates the channel.
func TestEngageApplyPlanShowsOldAndNewAndDeactivation(t *testing.T) {
	ts := startOnCallServer(t)
	env := map[string]string{"TOCSIN_API_TOKEN": apptest.APIToken, "TOCSIN_SERVER": ts.URL}
	contact := "kind: Contact\nalias: cy\nname: Cy\nchannels: [{name: mobile, type: sms, address: \"+15550001030\"}]\n"
	dir := writeFiles(t, map[string]string{"cy.yaml": contact})
	if out, err := runCLI(t, env, "apply", "-f", dir); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "cy.yaml"), []byte(strings.Replace(contact, "+15550001030", "+15550001031", 1)), 0o600)
	out, err := runCLI(t, env, "apply", "-f", dir, "--dry-run")
	for _, want := range []string{
		"~ contact cy (update: channels)",
		`    channels: [{"name":"mobile","type":"sms","address":"+15550001030","activated":false}] → [{"name":"mobile","type":"sms","address":"+15550001031","activated":false}]`,
		"    ! channel mobile: sms +15550001030 → sms +15550001031: the channel is deactivated",
	} {
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("plan lacks %q: %v\n%s", want, err, out)
		}
	}
}
