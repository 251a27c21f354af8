package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// examplesDir holds the on-call examples of the documentation.
var examplesDir = filepath.Join("..", "..", "examples", "oncall")

// TestExamplesOnCall applies examples/oncall to a real server, as the
// README says, and asks who is on call at instants the README describes.
func TestExamplesOnCall(t *testing.T) {
	ts := startOnCallServer(t)
	env := map[string]string{"TOCSIN_API_TOKEN": testAPIToken, "TOCSIN_SERVER": ts.url}

	out, err := runCLI(t, env, "apply", "-f", examplesDir, "--dry-run")
	if err != nil || !strings.Contains(out, "+ contact natsu (create)") || !strings.Contains(out, "dry run: 16 to create, 0 to update, 0 unchanged") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if _, body := ts.get(t, "/api/v1/contacts"); len(body["contacts"].([]any)) != 0 {
		t.Fatalf("the dry run created contacts: %v", body)
	}

	out, err = runCLI(t, env, "apply", "-f", examplesDir)
	if err != nil || !strings.Contains(out, "applied: 16 created, 0 updated, 0 unchanged") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	// Dependency order: people, rotations, schedules, then plans, the
	// engaged plan before the one that engages it.
	order := []string{"+ contact mavis", "+ rotation platform-weekly", "+ schedule app", "+ escalation plan platform-tiered-escalation", "+ escalation plan app-escalation"}
	last := -1
	for _, line := range order {
		i := strings.Index(out, line)
		if i <= last {
			t.Fatalf("%q is out of order in:\n%s", line, out)
		}
		last = i
	}

	for path, want := range map[string]int{"/api/v1/contacts": 8, "/api/v1/rotations": 3, "/api/v1/schedules": 3, "/api/v1/escalation-plans": 2} {
		code, body := ts.get(t, path)
		var n int
		for _, v := range body {
			if list, ok := v.([]any); ok {
				n = len(list)
			}
		}
		if code != 200 || n != want {
			t.Fatalf("GET %s: %d, %d objects, want %d: %v", path, code, n, want, body)
		}
	}
	_, body := ts.get(t, "/api/v1/escalation-plans/platform-tiered-escalation")
	raw, _ := json.Marshal(body["escalation_plan"])
	for _, want := range []string{`"duration":"5m0s"`, `"schedule":"platform"`, `"schedule":"platform-secondary"`, `"contact":"makarov"`, `"contact":"mavis"`, `"essential":true`} {
		if !strings.Contains(string(raw), want) {
			t.Fatalf("platform-tiered-escalation lacks %s: %s", want, raw)
		}
	}

	// Applying again changes nothing.
	out, err = runCLI(t, env, "apply", "-f", examplesDir)
	if err != nil || !strings.Contains(out, "applied: 0 created, 0 updated, 16 unchanged") || strings.Contains(out, "\n~") || strings.Contains(out, "\n+") {
		t.Fatalf("second apply: %v\n%s", err, out)
	}

	// Who is on call. The App rotation hands off daily at 08:00 Berlin
	// time from Monday 5 January 2026 (erza, gray, juvia); Tuesday 10 March
	// is day 64, so gray. Platform hands off on Mondays at 09:00 in Ho Chi
	// Minh City (natsu, zeref, igneel); the week from 9 March is week 9,
	// natsu's, with zeref as secondary.
	for _, c := range []struct{ at, schedule, want string }{
		{"2026-03-10T10:00:00+01:00", "app", "gray"},
		{"2026-03-11T10:00:00+01:00", "app", "juvia"},
		{"2026-03-10T07:59:00+01:00", "app", "(nobody)"}, // before business hours
		{"2026-03-10T18:00:00+01:00", "app", "(nobody)"}, // after them
		{"2026-03-14T10:00:00+01:00", "app", "(nobody)"}, // a Saturday
		{"2026-03-10T10:00:00+01:00", "platform", "natsu"},
		{"2026-03-10T10:00:00+01:00", "platform-secondary", "zeref"},
		{"2026-03-16T08:59:00+07:00", "platform", "natsu"},
		{"2026-03-16T09:00:00+07:00", "platform", "zeref"}, // the Monday hand-off
		{"2026-03-14T10:00:00+01:00", "platform", "natsu"}, // Platform is 24/7
	} {
		out, err := runCLI(t, env, "oncall", "who", "--schedule", c.schedule, "--at", c.at)
		if err != nil {
			t.Fatalf("who %s at %s: %v", c.schedule, c.at, err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if f := strings.Fields(lines[len(lines)-1]); len(f) != 2 || f[0] != c.schedule || f[1] != c.want {
			t.Errorf("who %s at %s = %q, want %s", c.schedule, c.at, lines[len(lines)-1], c.want)
		}
	}
	out, err = runCLI(t, env, "oncall", "who", "--at", "2026-03-14T10:00:00+01:00", "--json")
	var who struct {
		Schedules []struct {
			Name   string   `json:"name"`
			OnCall []string `json:"on_call"`
		} `json:"schedules"`
	}
	if err != nil || json.Unmarshal([]byte(out), &who) != nil || len(who.Schedules) != 3 {
		t.Fatalf("who --json: %v\n%s", err, out)
	}
	for _, s := range who.Schedules {
		if want := map[string]int{"app": 0, "platform": 1, "platform-secondary": 1}[s.Name]; len(s.OnCall) != want {
			t.Fatalf("Saturday: %s has %v", s.Name, s.OnCall)
		}
	}
}
