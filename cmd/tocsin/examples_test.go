package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tocsin/apptest"
)

// examplesDir holds the on-call examples of the documentation.
var examplesDir = filepath.Join("..", "..", "examples", "oncall")

// TestExamplesOnCall applies examples/oncall to a real server, as the
// README says, and asks who is on call at instants the README describes.
func TestExamplesOnCall(t *testing.T) {
	ts := startOnCallServer(t)
	env := map[string]string{"TOCSIN_API_TOKEN": apptest.APIToken, "TOCSIN_SERVER": ts.URL}

	out, err := runCLI(t, env, "apply", "-f", examplesDir, "--dry-run")
	if err != nil || !strings.Contains(out, "+ contact natsu (create)") || !strings.Contains(out, "dry run: 26 to create, 0 to update, 0 unchanged") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	// No channel is activated yet: apply warns that the plans reach nobody.
	if !strings.Contains(out, "! warning: escalation plan platform-tiered-escalation reaches nobody between") ||
		!strings.Contains(out, "! warning: these contacts have no activated channel, so paging them sends nothing: erza, gildarts, gray, igneel, juvia, laxus, lucy, makarov, mavis, natsu, wendy, zeref") {
		t.Fatalf("dry run warnings:\n%s", out)
	}
	if _, body := ts.Get(t, "/api/v1/contacts"); len(body["contacts"].([]any)) != 0 {
		t.Fatalf("the dry run created contacts: %v", body)
	}

	out, err = runCLI(t, env, "apply", "-f", examplesDir)
	if err != nil || !strings.Contains(out, "applied: 26 created, 0 updated, 0 unchanged") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	// Dependency order: people, groups, rotations, schedules, then plans,
	// the engaged plan before the one that engages it.
	order := []string{"+ contact mavis", "+ contact group platform-team", "+ rotation platform-weekly", "+ schedule app",
		"+ escalation plan platform-tiered-escalation", "+ escalation plan app-escalation"}
	last := -1
	for _, line := range order {
		i := strings.Index(out, line)
		if i <= last {
			t.Fatalf("%q is out of order in:\n%s", line, out)
		}
		last = i
	}

	for path, want := range map[string]int{"/api/v1/contacts": 12, "/api/v1/contact-groups": 2, "/api/v1/rotations": 5,
		"/api/v1/schedules": 4, "/api/v1/escalation-plans": 3} {
		code, body := ts.Get(t, path)
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
	checkSeedSetup(t, ts)

	// Applying again changes nothing.
	out, err = runCLI(t, env, "apply", "-f", examplesDir)
	if err != nil || !strings.Contains(out, "applied: 0 created, 0 updated, 26 unchanged") || strings.Contains(out, "\n~") || strings.Contains(out, "\n+") {
		t.Fatalf("second apply: %v\n%s", err, out)
	}

	// Who is on call, and from which rotation. The App rotation hands off
	// daily at 08:00 Berlin time from Monday 5 January 2026 (erza, gray,
	// juvia); Tuesday 10 March is day 64, so gray. Platform hands off on
	// Mondays at 09:00 in Ho Chi Minh City through five engineers (natsu,
	// zeref, igneel, lucy, wendy); the week from 9 March is week 9, wendy's,
	// with natsu as secondary. Follow-the-sun: at 10:00 in Berlin it is
	// 16:00 in Ho Chi Minh City, day 64 of sun-hcmc (natsu, zeref, igneel):
	// zeref; at 20:00 in Berlin it is day 64 of sun-berlin (lucy, wendy): lucy.
	for _, c := range []struct{ at, schedule, want string }{
		{"2026-03-10T10:00:00+01:00", "app", "gray app-daily"},
		{"2026-03-11T10:00:00+01:00", "app", "juvia app-daily"},
		{"2026-03-10T07:59:00+01:00", "app", "(nobody)"}, // before business hours
		{"2026-03-10T18:00:00+01:00", "app", "(nobody)"}, // after them
		{"2026-03-14T10:00:00+01:00", "app", "(nobody)"}, // a Saturday
		{"2026-03-10T10:00:00+01:00", "platform", "wendy platform-weekly"},
		{"2026-03-10T10:00:00+01:00", "platform-secondary", "natsu platform-secondary"},
		{"2026-03-16T08:59:00+07:00", "platform", "wendy platform-weekly"},
		{"2026-03-16T09:00:00+07:00", "platform", "natsu platform-weekly"}, // the Monday hand-off
		{"2026-03-14T10:00:00+01:00", "platform", "wendy platform-weekly"}, // Platform is 24/7
		{"2026-03-10T10:00:00+01:00", "platform-follow-the-sun", "zeref sun-hcmc"},
		{"2026-03-10T20:00:00+01:00", "platform-follow-the-sun", "lucy sun-berlin"},
		{"2026-03-11T01:30:00+01:00", "platform-follow-the-sun", "lucy sun-berlin"}, // Berlin's window runs to 02:00
		{"2026-03-10T18:00:00+01:00", "platform-follow-the-sun", "lucy sun-berlin"},
		{"2026-03-11T10:00:00+01:00", "platform-follow-the-sun", "igneel sun-hcmc"},
		{"2026-03-14T10:00:00+01:00", "platform-follow-the-sun", "igneel sun-hcmc"},
		{"2026-03-16T09:00:00+07:00", "platform-follow-the-sun", "zeref sun-hcmc"},
		{"2026-03-16T09:00:00+07:00", "platform-secondary", "zeref platform-secondary"},
		{"2026-03-16T09:00:00+07:00", "app", "(nobody)"},
		{"2026-07-08T00:30:00Z", "platform-follow-the-sun", "(nobody)"}, // summer time: the gap
		{"2026-07-08T00:30:00Z", "platform", "zeref platform-weekly"},
		{"2026-07-08T00:30:00Z", "platform-secondary", "igneel platform-secondary"},
		{"2026-07-08T00:30:00Z", "app", "(nobody)"},
	} {
		out, err := runCLI(t, env, "oncall", "who", "--schedule", c.schedule, "--at", c.at)
		if err != nil {
			t.Fatalf("who %s at %s: %v", c.schedule, c.at, err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if f := strings.Fields(lines[len(lines)-1]); len(f) < 2 || f[0] != c.schedule || strings.Join(f[1:], " ") != c.want {
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
	if err != nil || json.Unmarshal([]byte(out), &who) != nil || len(who.Schedules) != 4 {
		t.Fatalf("who --json: %v\n%s", err, out)
	}
	for _, s := range who.Schedules {
		if want := map[string]int{"app": 0, "platform": 1, "platform-secondary": 1, "platform-follow-the-sun": 1}[s.Name]; len(s.OnCall) != want {
			t.Fatalf("Saturday: %s has %v", s.Name, s.OnCall)
		}
	}

	// The DST gap of the follow-the-sun pair, as the README shows it.
	out, err = runCLI(t, env, "oncall", "check", "--from", "2026-07-06T00:00:00Z", "--days", "1", "--time-zone", "UTC")
	if err != nil || !hasLine(out, "schedule platform-follow-the-sun", "gap", "nobody on call Mon 2026-07-06 00:00 +00:00 → Mon 2026-07-06 01:00 +00:00 (1h)") {
		t.Fatalf("check in July: %v\n%s", err, out)
	}
	out, err = runCLI(t, env, "oncall", "check", "--from", "2026-01-12T00:00:00Z", "--days", "7", "--time-zone", "UTC")
	// Business hours leave the App schedule empty at night; follow-the-sun
	// has no gap in winter.
	if err != nil || strings.Contains(out, "\nschedule platform-follow-the-sun") || !hasLine(out, "schedule app", "gap") {
		t.Fatalf("check in January: %v\n%s", err, out)
	}

	// With Natsu's channels activated, the preview of the guide's plan in
	// Natsu's week shows the email at once and the SMS at minute 10.
	for _, ch := range []string{"natsu/work-email", "natsu/mobile-sms", "laxus/work-email", "makarov/work-email", "gildarts/work-email", "mavis/mobile-voice"} {
		alias, name, _ := strings.Cut(ch, "/")
		code, err := ts.App.Store().OnCall().StartActivation(t.Context(), alias, name)
		if err == nil {
			err = ts.App.Store().OnCall().Activate(t.Context(), alias, name, code)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	out, err = runCLI(t, env, "plan", "preview", "platform-tiered-escalation", "--at", "2026-03-16T10:00:00+07:00", "--time-zone", "Asia/Ho_Chi_Minh")
	if err != nil {
		t.Fatalf("plan preview: %v\n%s", err, out)
	}
	// Each row: after, at, stage, contact, channel, via.
	for _, want := range [][]string{
		{"+0s", "10:00", "1 *", "natsu", "work-email (email)", "escalation plan platform-tiered-escalation stage 1 › schedule platform › rotation platform-weekly"},
		{"+5m", "10:05", "2 *", "laxus", "work-email (email)", "escalation plan platform-tiered-escalation stage 2"},
		{"+10m", "10:10", "1 *", "natsu", "mobile-sms (sms)", "stage 1"},
		{"+10m", "10:10", "3 *", "makarov", "work-email (email)"},
		{"+10m", "10:10", "3 *", "gildarts", "work-email (email)"},
		{"+15m", "10:15", "1 *", "natsu", "mobile-sms (sms) retry 1"}, // Natsu's retry_interval
		{"+20m", "10:20", "1 *", "natsu", "mobile-sms (sms) retry 2"},
		{"+20m", "10:20", "4 *", "mavis", "mobile-voice (voice)"},
		{"note: escalation plan platform-tiered-escalation stage 2: zeref has no activated channel"},
		{"note: escalation plan platform-tiered-escalation stage 3: makarov's mobile-sms is not activated"},
		{"the last stage ends at +30m"},
	} {
		if !hasLine(out, want...) {
			t.Fatalf("plan preview lacks %q:\n%s", want, out)
		}
	}
}

// checkSeedSetup checks that the applied examples are the reference guide's
// setup as written: 4-6 Platform engineers in the Platform-Team group and the
// Platform rotation; Platform-Tiered-Escalation with four stages (5, 5 and
// 10 minutes, then the CTO), the secondary on-call and the team lead in
// stage 2, the engineering manager and the director in stage 3; and
// Natsu's email at minute 0 and SMS at minute 10.
func checkSeedSetup(t *testing.T, ts *apptest.Server) {
	t.Helper()
	ctx := t.Context()
	db := ts.App.Store()
	team, err := db.OnCall().FindContactGroup(ctx, "platform-team")
	if err != nil || len(team.Members) < 4 || len(team.Members) > 6 {
		t.Fatalf("platform-team: %+v %v", team, err)
	}
	rot, err := db.OnCall().FindRotation(ctx, "platform-weekly")
	if err != nil || strings.Join(rot.Members, ",") != strings.Join(team.Members, ",") || rot.Recurrence.Type != "weekly" ||
		rot.Recurrence.WeeklySettings[0].HandOffTime != "09:00" {
		t.Fatalf("platform-weekly: %+v %v", rot, err)
	}
	plan, err := db.OnCall().FindEscalationPlan(ctx, "platform-tiered-escalation")
	if err != nil || len(plan.Stages) != 4 {
		t.Fatalf("platform-tiered-escalation: %+v %v", plan, err)
	}
	role := func(alias string) string {
		c, err := db.OnCall().FindContact(ctx, alias)
		if err != nil {
			t.Fatal(err)
		}
		return c.Name
	}
	for i, want := range []struct {
		minutes int
		targets []string // schedule names or the role in the contact's name
	}{
		{5, []string{"schedule platform"}},
		{5, []string{"schedule platform-secondary", "Team Lead"}},
		{10, []string{"Engineering Manager", "Director"}},
		{-1, []string{"CTO"}},
	} {
		st := plan.Stages[i]
		if want.minutes >= 0 && st.Duration.Std() != time.Duration(want.minutes)*time.Minute {
			t.Errorf("stage %d waits %s, want %d minutes", i+1, st.Duration.Std(), want.minutes)
		}
		if len(st.Targets) != len(want.targets) {
			t.Fatalf("stage %d targets %+v, want %v", i+1, st.Targets, want.targets)
		}
		for j, tg := range st.Targets {
			got := "schedule " + tg.Schedule
			if tg.Contact != "" {
				got = role(tg.Contact)
			}
			if !strings.Contains(got, want.targets[j]) || !tg.Essential {
				t.Errorf("stage %d target %d is %q (essential %v), want %s", i+1, j, got, tg.Essential, want.targets[j])
			}
		}
	}
	natsu, err := db.OnCall().FindContact(ctx, "natsu")
	if err != nil || len(natsu.EngagementPlan) != 2 {
		t.Fatalf("natsu: %+v %v", natsu, err)
	}
	types := map[string]string{}
	for _, ch := range natsu.Channels {
		types[ch.Name] = ch.Type
	}
	if e, s := natsu.EngagementPlan[0], natsu.EngagementPlan[1]; types[e.Channel] != "email" || e.After != 0 ||
		types[s.Channel] != "sms" || s.After.Std() != 10*time.Minute {
		t.Fatalf("natsu's engagement plan: %+v", natsu.EngagementPlan)
	}
	for _, name := range []string{"app-escalation", "platform-follow-the-sun"} {
		p, err := db.OnCall().FindEscalationPlan(ctx, name)
		if err != nil || !strings.Contains(toJSON(p), `"contact_group"`) {
			t.Fatalf("%s does not engage a contact group: %+v %v", name, p, err)
		}
	}
	sched, err := db.OnCall().FindSchedule(ctx, "platform-follow-the-sun")
	if err != nil || len(sched.Rotations) != 2 {
		t.Fatalf("follow-the-sun: %+v %v", sched, err)
	}
}

// hasLine reports whether one line of out contains every part, in order.
func hasLine(out string, parts ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		rest, ok := line, true
		for _, p := range parts {
			i := strings.Index(rest, p)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(p):]
		}
		if ok {
			return true
		}
	}
	return false
}
