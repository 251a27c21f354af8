package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tocsin/apptest"
	"tocsin/store/storetest"
)

// startOnCallServer starts a real server and checks that it serves the
// on-call API (serve.go sets api.Options.OnCall).
func startOnCallServer(t *testing.T) *apptest.Server {
	t.Helper()
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil)
	if code, body := ts.Get(t, "/api/v1/contacts"); code != 200 {
		t.Fatalf("the server does not serve the on-call API (api.Options.OnCall): %d %v", code, body)
	}
	return ts
}

// writeFiles writes name → content files into a new directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const smallSetup = `kind: Contact
alias: ann
name: Ann
channels: [{name: mail, type: email, address: ann@example.com}]
---
kind: Contact
alias: ben
name: Ben
channels: [{name: mail, type: email, address: ben@example.com}]
---
kind: Rotation
name: ops
members: [ann, ben]
start: 2026-03-02T09:00:00+01:00
time_zone: Europe/Berlin
recurrence: {type: daily, hand_off_times: ["09:00"]}
---
kind: Schedule
name: ops
rotations: [ops]
`

func TestApplyRejectsBadFiles(t *testing.T) {
	env := map[string]string{"TOCSIN_API_TOKEN": "x", "TOCSIN_SERVER": "http://127.0.0.1:1"}
	for _, c := range []struct {
		name, body string
		want       []string
	}{
		{"unknown key", smallSetup + "---\nkind: Contact\nalias: cy\nname: Cy\nchannels: [{name: mail, type: email, adress: cy@example.com}]\n",
			[]string{"bad.yaml: document 5 (kind Contact)", `unknown key "channels[0].adress" (line 25)`}},
		{"read-only key", "kind: Contact\nalias: cy\nname: Cy\ncreated_at: 2026-01-01T00:00:00Z\nchannels: []\n",
			[]string{"document 1", `unknown key "created_at" (line 4)`}},
		{"bad duration", "kind: EscalationPlan\nname: p\nstages:\n  - duration: 5 minutes\n    targets: [{contact: ann}]\n",
			[]string{"document 1 (kind EscalationPlan)", `stages[0].duration (line 4): "5 minutes" is not a duration`}},
		{"time without offset", strings.Replace(smallSetup, "2026-03-02T09:00:00+01:00", "2026-03-02 09:00", 1),
			[]string{"document 3 (kind Rotation)", `start (line 14): "2026-03-02 09:00" is not an RFC 3339 time`}},
		{"not a list", "kind: Rotation\nname: r\nmembers: ann\n", []string{"document 1", "members (line 3): must be a list"}},
		{"wrong type", "kind: EscalationPlan\nname: p\nrepeat: often\nstages: []\n", []string{"document 1", `repeat (line 3): "often" is not a valid integer`}},
		{"repeated key", "kind: Schedule\nname: s\nname: t\nrotations: [ops]\n", []string{`name (line 3): key is repeated`}},
		{"no kind", "name: s\nrotations: [ops]\n", []string{"document 1 (line 1): kind: is required"}},
		{"unknown kind", "kind: Team\nname: s\n", []string{`kind: "Team" is not Contact`}},
		{"override", "kind: Override\nrotation: ops\n", []string{"kind Override is not part of apply"}},
		{"invalid object", "kind: Rotation\nname: r\nmembers: [ann]\nstart: 2026-03-02T09:00:00+01:00\ntime_zone: PST\nrecurrence: {type: daily, hand_off_times: [\"09:00\"]}\n",
			[]string{"document 1: time_zone"}},
		{"duplicate", smallSetup + "---\n" + strings.SplitN(smallSetup, "---", 2)[0],
			[]string{"document 5: contact ann is also defined at", "bad.yaml: document 1"}},
		{"plan loop", "kind: EscalationPlan\nname: a\nstages: [{duration: 5m, targets: [{escalation_plan: b}]}]\n---\n" +
			"kind: EscalationPlan\nname: b\nstages: [{duration: 5m, targets: [{escalation_plan: a}]}]\n",
			[]string{"engage each other in a loop: a → b → a"}},
	} {
		dir := writeFiles(t, map[string]string{"bad.yaml": c.body})
		_, err := runCLI(t, env, "apply", "-f", dir, "--dry-run")
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
	if _, err := runCLI(t, env, "apply", "-f", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no *.yaml") {
		t.Errorf("empty directory: %v", err)
	}
}

func TestApplyPlansUpdatesAndChecksReferences(t *testing.T) {
	ts := startOnCallServer(t)
	env := map[string]string{"TOCSIN_API_TOKEN": apptest.APIToken, "TOCSIN_SERVER": ts.URL}
	dir := writeFiles(t, map[string]string{"ops.yaml": smallSetup})
	if out, err := runCLI(t, env, "apply", "-f", dir); err != nil || !strings.Contains(out, "applied: 4 created") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	// Activation on the server is not part of the file: still unchanged.
	if _, err := ts.App.Store().OnCall().StartActivation(t.Context(), "ann", "mail"); err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(smallSetup, "members: [ann, ben]", "members: [ben, ann]", 1)
	changed = strings.Replace(changed, `hand_off_times: ["09:00"]`, `hand_off_times: ["10:00"]`, 1)
	changed = strings.Replace(changed, "name: Ben", "name: Ben Bell", 1)
	// The same instant written in another offset is no change.
	changed = strings.Replace(changed, "2026-03-02T09:00:00+01:00", "2026-03-02T08:00:00Z", 1)
	os.WriteFile(filepath.Join(dir, "ops.yaml"), []byte(changed), 0o600)
	out, err := runCLI(t, env, "apply", "-f", dir, "--dry-run")
	want := "= contact ann (unchanged)\n~ contact ben (update: name)\n    name: \"Ben\" → \"Ben Bell\"\n" +
		"~ rotation ops (update: members, recurrence)\n    members: [\"ann\",\"ben\"] → [\"ben\",\"ann\"]\n" +
		"    recurrence: {\"type\":\"daily\",\"multiplier\":1,\"on_calls\":1,\"hand_off_times\":[\"09:00\"]} → {\"type\":\"daily\",\"multiplier\":1,\"on_calls\":1,\"hand_off_times\":[\"10:00\"]}\n" +
		"= schedule ops (unchanged)\n" +
		"dry run: 0 to create, 2 to update, 2 unchanged; nothing was changed\n"
	if err != nil || out != want {
		t.Fatalf("dry run:\n%s\nwant:\n%s(err %v)", out, want, err)
	}
	if out, err = runCLI(t, env, "apply", "-f", dir); err != nil || !strings.Contains(out, "applied: 0 created, 2 updated, 2 unchanged") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	if _, body := ts.Get(t, "/api/v1/rotations/ops"); !strings.Contains(toJSON(body), `"members":["ben","ann"]`) {
		t.Fatalf("rotation not updated: %v", body)
	}

	// A name that is neither in the files nor on the server stops apply
	// before anything changes.
	os.WriteFile(filepath.Join(dir, "more.yaml"), []byte("kind: Contact\nalias: cy\nname: Cy\nchannels: []\n---\n"+
		"kind: EscalationPlan\nname: ops\nstages: [{duration: 5m, targets: [{schedule: ops, essential: true}, {contact: dan}]}]\n"), 0o600)
	_, err = runCLI(t, env, "apply", "-f", dir)
	if err == nil || !strings.Contains(err.Error(), `more.yaml: document 2: escalation plan ops: stages[0].targets[1].contact: no contact "dan" in the files or on the server`) {
		t.Fatalf("missing reference: %v", err)
	}
	if code, _ := ts.Get(t, "/api/v1/contacts/cy"); code != 404 {
		t.Fatalf("cy was created although apply failed: %d", code)
	}
	// A team channel the server does not have is the server's to refuse.
	os.WriteFile(filepath.Join(dir, "more.yaml"), []byte("kind: EscalationPlan\nname: ops\nstages: [{duration: 5m, targets: [{channel: pager}]}]\n"), 0o600)
	if _, err = runCLI(t, env, "apply", "-f", dir); err == nil || !strings.Contains(err.Error(), `"pager" is not an enabled channel`) {
		t.Fatalf("unknown channel: %v", err)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestOverrideAndWhoCommands(t *testing.T) {
	ts := startOnCallServer(t)
	env := map[string]string{"TOCSIN_API_TOKEN": apptest.APIToken, "TOCSIN_SERVER": ts.URL}
	dir := writeFiles(t, map[string]string{"ops.yaml": smallSetup})
	if out, err := runCLI(t, env, "apply", "-f", dir); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	out, err := runCLI(t, env, "override", "add", "--rotation", "ops", "--start", "now-1h", "--end", "now+2h", "--members", "ann,ben")
	if err != nil || !strings.Contains(out, "ann, ben on call for rotation ops") {
		t.Fatalf("override add: %v\n%s", err, out)
	}
	id := strings.TrimSuffix(strings.Fields(out)[1], ":")
	if out, err = runCLI(t, env, "oncall", "who"); err != nil || !strings.Contains(out, "ops       ann, ben") {
		t.Fatalf("who: %v\n%s", err, out)
	}
	if out, err = runCLI(t, env, "override", "list", "--rotation", "ops"); err != nil || !strings.Contains(out, id) {
		t.Fatalf("override list: %v\n%s", err, out)
	}
	if out, err = runCLI(t, env, "override", "delete", id); err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("override delete: %v\n%s", err, out)
	}
	if _, err = runCLI(t, env, "override", "delete", id); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("second delete: %v", err)
	}
	if _, err = runCLI(t, env, "override", "add", "--rotation", "ops", "--start", "now", "--end", "now+1h", "--members", "zed"); err == nil ||
		!strings.Contains(err.Error(), `no contact "zed"`) {
		t.Fatalf("unknown member: %v", err)
	}
	if _, err = runCLI(t, env, "oncall", "who", "--at", "tomorrow"); err == nil || !strings.Contains(err.Error(), "--at") {
		t.Fatalf("bad --at: %v", err)
	}
	if _, err = runCLI(t, env, "oncall", "who", "--schedule", "nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown schedule: %v", err)
	}
}

func TestRotationPreviewOffline(t *testing.T) {
	// No server: TOCSIN_SERVER points nowhere.
	env := map[string]string{"TOCSIN_SERVER": "http://127.0.0.1:1"}
	file := filepath.Join(examplesDir, "preview", "platform-vacation.yaml")
	out, err := runCLI(t, env, "rotation", "preview", "-f", file, "--from", "2026-03-09T00:00:00+07:00", "--to", "2026-03-23T00:00:00+07:00")
	if err != nil {
		t.Fatalf("preview: %v\n%s", err, out)
	}
	for _, want := range []string{
		"rotation platform-weekly (Asia/Ho_Chi_Minh)",
		"Mon 2026-03-09 00:00 +07:00  Mon 2026-03-09 09:00 +07:00  lucy     regular",
		"Mon 2026-03-09 09:00 +07:00  Mon 2026-03-16 09:00 +07:00  wendy    regular",
		"Mon 2026-03-16 09:00 +07:00  Wed 2026-03-18 09:00 +07:00  natsu    regular",
		"Wed 2026-03-18 09:00 +07:00  Sat 2026-03-21 09:00 +07:00  igneel   overridden (replaces natsu)",
		"Sat 2026-03-21 09:00 +07:00  Mon 2026-03-23 00:00 +07:00  natsu    regular",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("preview lacks %q:\n%s", want, out)
		}
	}

	// Across a DST change the offsets change and the hand-off stays at 09:00.
	dir := writeFiles(t, map[string]string{"r.yaml": "kind: Rotation\nname: berlin\nmembers: [x, y]\nstart: 2026-03-02T09:00:00+01:00\n" +
		"time_zone: Europe/Berlin\nrecurrence: {type: daily, hand_off_times: [\"09:00\"]}\n"})
	out, err = runCLI(t, env, "rotation", "preview", "-f", filepath.Join(dir, "r.yaml"), "--from", "2026-03-28T09:00:00+01:00", "--to", "2026-03-30T09:00:00+02:00", "-o", "json")
	var got struct {
		Shifts []struct {
			Start, End time.Time
			Members    []string
		}
	}
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || len(got.Shifts) != 2 {
		t.Fatalf("json preview: %v\n%s", err, out)
	}
	if !strings.Contains(out, `"end": "2026-03-29T09:00:00+02:00"`) || got.Shifts[0].End.Sub(got.Shifts[0].Start) != 23*time.Hour {
		t.Fatalf("DST shift:\n%s", out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-f", file, "--from", "yesterday"}, `--from: "yesterday" is not an RFC 3339 time`},
		{[]string{"-f", file, "-o", "xml"}, `-o: "xml" is not table or json`},
		{[]string{"-f", file, "--from", "now", "--to", "now+500d"}, "at most 400 days"},
		{[]string{"-f", filepath.Join(examplesDir, "schedules.yaml")}, `kind: "Schedule" is not Rotation or Override`},
	} {
		if _, err := runCLI(t, env, append([]string{"rotation", "preview"}, c.args...)...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("preview %v: %v, want %q", c.args, err, c.want)
		}
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"now":                       now,
		"now+24h":                   now.Add(24 * time.Hour),
		"now-30m":                   now.Add(-30 * time.Minute),
		"now+7d":                    now.AddDate(0, 0, 7),
		"2026-03-02T09:00:00+01:00": time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC),
	} {
		if got, err := parseWhen("at", in, now); err != nil || !got.Equal(want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "tomorrow", "now*2", "now+x", "now+1.5d", "2026-03-02"} {
		if _, err := parseWhen("at", bad, now); err == nil {
			t.Errorf("parseWhen(%q) accepted", bad)
		}
	}
}
