package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tocsin/apptest"
)

// groupSetup adds a contact group and a plan engaging it to smallSetup.
const groupSetup = smallSetup + `---
kind: ContactGroup
name: ops-team
members: [ann, ben]
---
kind: EscalationPlan
name: ops
stages:
  - {duration: 5m, targets: [{schedule: ops, essential: true}]}
  - {duration: 5m, targets: [{contact_group: ops-team}]}
`

func TestContactListShowDeleteCommands(t *testing.T) {
	ts := startOnCallServer(t)
	env := map[string]string{"TOCSIN_API_TOKEN": apptest.APIToken, "TOCSIN_SERVER": ts.URL}
	dir := writeFiles(t, map[string]string{"ops.yaml": groupSetup})
	if out, err := runCLI(t, env, "apply", "-f", dir); err != nil || !strings.Contains(out, "+ contact group ops-team (create)") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"contact", "list"}, []string{"CONTACT  NAME  CHANNELS", "ann      Ann   mail (email, not activated)"}},
		{[]string{"group", "list"}, []string{"CONTACT_GROUP  MEMBERS", "ops-team       ann, ben"}},
		{[]string{"rotation", "list"}, []string{"ops       Europe/Berlin  daily       ann, ben"}},
		{[]string{"schedule", "list"}, []string{"ops       ops"}},
		{[]string{"plan", "list"}, []string{"ESCALATION_PLAN  STAGES\nops              schedule ops* (5m) → group ops-team (5m)"}},
		// show prints a document apply reads back.
		{[]string{"contact", "show", "ann"}, []string{"# channel mail: not activated\nkind: Contact\nalias: ann\nname: Ann\nchannels:\n    - name: mail\n      type: email\n      address: ann@example.com\n"}},
		{[]string{"plan", "show", "ops"}, []string{"kind: EscalationPlan\nname: ops\n", "duration: 5m0s", "contact_group: ops-team"}},
		{[]string{"contact", "show", "ann", "--json"}, []string{`"activated": false`}},
		{[]string{"group", "list", "--json"}, []string{`"contact_groups": [`}},
	} {
		out, err := runCLI(t, env, c.args...)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v lacks %q:\n%s", c.args, w, out)
			}
		}
	}
	// What show prints, apply reads unchanged.
	out, _ := runCLI(t, env, "plan", "show", "ops")
	shown := writeFiles(t, map[string]string{"plan.yaml": out})
	if out, err := runCLI(t, env, "apply", "-f", shown, "--dry-run"); err != nil || !strings.Contains(out, "= escalation plan ops (unchanged)") {
		t.Fatalf("apply of show's output: %v\n%s", err, out)
	}

	// Delete keeps the server's conflicts.
	if _, err := runCLI(t, env, "contact", "delete", "ann"); err == nil || !strings.Contains(err.Error(), `is a member of rotation "ops" (HTTP 409)`) {
		t.Fatalf("delete a rotation member: %v", err)
	}
	if _, err := runCLI(t, env, "group", "delete", "ops-team"); err == nil || !strings.Contains(err.Error(), `escalation plan "ops" (HTTP 409)`) {
		t.Fatalf("delete a targeted group: %v", err)
	}
	for _, args := range [][]string{{"plan", "delete", "ops"}, {"group", "delete", "ops-team"}, {"schedule", "delete", "ops"}, {"rotation", "delete", "ops"}, {"contact", "delete", "ann"}} {
		if out, err := runCLI(t, env, args...); err != nil || !strings.Contains(out, "deleted") {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	if _, err := runCLI(t, env, "contact", "show", "ann"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("show deleted: %v", err)
	}
	if out, _ := runCLI(t, env, "contact", "list"); strings.Contains(out, "ann") || !strings.Contains(out, "ben") {
		t.Fatalf("list after delete:\n%s", out)
	}
}

func TestApplyPruneDeletesWhatTheFilesDropped(t *testing.T) {
	ts := startOnCallServer(t)
	env := map[string]string{"TOCSIN_API_TOKEN": apptest.APIToken, "TOCSIN_SERVER": ts.URL}
	dir := writeFiles(t, map[string]string{"ops.yaml": groupSetup})
	if _, err := runCLI(t, env, "apply", "-f", dir); err != nil {
		t.Fatal(err)
	}
	// Drop the plan and the group: without --prune they stay.
	os.WriteFile(filepath.Join(dir, "ops.yaml"), []byte(smallSetup), 0o600)
	out, err := runCLI(t, env, "apply", "-f", dir)
	if err != nil || strings.Contains(out, "delete") {
		t.Fatalf("apply without --prune: %v\n%s", err, out)
	}
	if code, _ := ts.Get(t, "/api/v1/escalation-plans/ops"); code != 200 {
		t.Fatalf("the plan was deleted without --prune: %d", code)
	}
	// The plan lists the deletions, plans before what they use; a dry run
	// deletes nothing.
	out, err = runCLI(t, env, "apply", "-f", dir, "--prune", "--dry-run")
	want := "= contact ann (unchanged)\n= contact ben (unchanged)\n= rotation ops (unchanged)\n= schedule ops (unchanged)\n" +
		"- escalation plan ops (delete: not in the files)\n- contact group ops-team (delete: not in the files)\n" +
		"dry run: 0 to create, 0 to update, 4 unchanged, 2 to delete; nothing was changed\n"
	if err != nil || out != want {
		t.Fatalf("prune dry run:\n%s\nwant:\n%s(err %v)", out, want, err)
	}
	if code, _ := ts.Get(t, "/api/v1/contact-groups/ops-team"); code != 200 {
		t.Fatalf("the dry run deleted the group: %d", code)
	}
	out, err = runCLI(t, env, "apply", "-f", dir, "--prune")
	if err != nil || !strings.Contains(out, "applied: 0 created, 0 updated, 4 unchanged, 2 deleted") {
		t.Fatalf("prune: %v\n%s", err, out)
	}
	for _, p := range []string{"/api/v1/escalation-plans/ops", "/api/v1/contact-groups/ops-team"} {
		if code, _ := ts.Get(t, p); code != 404 {
			t.Fatalf("%s after prune: %d", p, code)
		}
	}

	// A contact the files leave out but still name keeps its 409: apply
	// refuses before changing anything.
	withoutBen := strings.Replace(smallSetup, "kind: Contact\nalias: ben\nname: Ben\nchannels: [{name: mail, type: email, address: ben@example.com}]\n---\n", "", 1)
	os.WriteFile(filepath.Join(dir, "ops.yaml"), []byte(withoutBen), 0o600)
	_, err = runCLI(t, env, "apply", "-f", dir, "--prune")
	if err == nil || !strings.Contains(err.Error(), `rotation ops: members[1]: contact ben is not in the files, so --prune would delete it, but the server refuses to delete a contact that is still in use (409)`) {
		t.Fatalf("prune of a used contact: %v", err)
	}
	if code, _ := ts.Get(t, "/api/v1/contacts/ben"); code != 200 {
		t.Fatalf("ben: %d", code)
	}
	// Dropping the member too lets the contact go.
	os.WriteFile(filepath.Join(dir, "ops.yaml"), []byte(strings.Replace(withoutBen, "members: [ann, ben]", "members: [ann]", 1)), 0o600)
	out, err = runCLI(t, env, "apply", "-f", dir, "--prune")
	if err != nil || !strings.Contains(out, "~ rotation ops (update: members)") || !strings.Contains(out, "- contact ben (delete: not in the files)") ||
		!strings.Contains(out, "1 updated, 2 unchanged, 1 deleted") {
		t.Fatalf("prune after dropping the member: %v\n%s", err, out)
	}
}

func TestApplyWarnsWhenAPlanReachesNobody(t *testing.T) {
	ts := startOnCallServer(t)
	env := map[string]string{"TOCSIN_API_TOKEN": apptest.APIToken, "TOCSIN_SERVER": ts.URL}
	// A rotation that starts next year: the schedule is empty all week.
	later := strings.Replace(smallSetup, "start: 2026-03-02T09:00:00+01:00", "start: 2099-03-02T09:00:00+01:00", 1) +
		"---\nkind: EscalationPlan\nname: ops\nstages: [{duration: 5m, targets: [{schedule: ops, essential: true}]}]\n"
	dir := writeFiles(t, map[string]string{"ops.yaml": later})
	out, err := runCLI(t, env, "apply", "-f", dir)
	if err != nil || !strings.Contains(out, "! warning: escalation plan ops reaches nobody between") ||
		!strings.Contains(out, "schedule ops has nobody on call in the next 7 days") || !strings.Contains(out, "applied: 5 created") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	// With a rotation covering now, the warning is that nobody's channel
	// is activated; once ann and ben activate theirs it goes.
	os.WriteFile(filepath.Join(dir, "ops.yaml"), []byte(smallSetup+"---\nkind: EscalationPlan\nname: ops\nstages: [{duration: 5m, targets: [{schedule: ops, essential: true}]}]\n"), 0o600)
	out, err = runCLI(t, env, "apply", "-f", dir)
	if err != nil || !strings.Contains(out, "nobody on call in schedule ops has an activated channel") ||
		!strings.Contains(out, "! warning: these contacts have no activated channel, so paging them sends nothing: ann, ben") {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	for _, a := range []string{"ann", "ben"} {
		code, err := ts.App.Store().OnCall().StartActivation(t.Context(), a, "mail")
		if err == nil {
			err = ts.App.Store().OnCall().Activate(t.Context(), a, "mail", code)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if out, err = runCLI(t, env, "apply", "-f", dir, "--dry-run"); err != nil || strings.Contains(out, "warning") {
		t.Fatalf("apply with everyone reachable: %v\n%s", err, out)
	}
	// Changing ann's address would need a new activation: apply says so
	// before applying it.
	os.WriteFile(filepath.Join(dir, "ops.yaml"), []byte(strings.Replace(smallSetup, "ann@example.com", "ann@example.org", 1)+
		"---\nkind: EscalationPlan\nname: ops\nstages: [{duration: 5m, targets: [{contact: ann, essential: true}]}]\n"), 0o600)
	if out, err = runCLI(t, env, "apply", "-f", dir, "--dry-run"); err != nil || !strings.Contains(out, "no activated channel, so paging them sends nothing: ann") {
		t.Fatalf("apply of a changed address: %v\n%s", err, out)
	}
}

func TestOnCallShiftsAndCheckCommands(t *testing.T) {
	ts := startOnCallServer(t)
	env := map[string]string{"TOCSIN_API_TOKEN": apptest.APIToken, "TOCSIN_SERVER": ts.URL}
	office := strings.Replace(smallSetup, `recurrence: {type: daily, hand_off_times: ["09:00"]}`,
		`recurrence: {type: daily, hand_off_times: ["09:00"]}
coverage: [{day_of_week: MON, start: "09:00", end: "17:00"}, {day_of_week: TUE, start: "09:00", end: "17:00"}]`, 1)
	dir := writeFiles(t, map[string]string{"ops.yaml": office})
	if _, err := runCLI(t, env, "apply", "-f", dir); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, env, "oncall", "shifts", "--schedule", "ops", "--from", "2026-03-09T00:00:00+01:00", "--to", "2026-03-11T00:00:00+01:00", "--time-zone", "Europe/Berlin")
	want := "schedule ops, Mon 2026-03-09 00:00 +01:00 to Wed 2026-03-11 00:00 +01:00\n" +
		"START                        END                          ON CALL   TYPE\n" +
		"Mon 2026-03-09 00:00 +01:00  Mon 2026-03-09 09:00 +01:00  (nobody)  gap\n" +
		"Mon 2026-03-09 09:00 +01:00  Mon 2026-03-09 17:00 +01:00  ben       regular\n" +
		"Mon 2026-03-09 17:00 +01:00  Tue 2026-03-10 09:00 +01:00  (nobody)  gap\n" +
		"Tue 2026-03-10 09:00 +01:00  Tue 2026-03-10 17:00 +01:00  ann       regular\n" +
		"Tue 2026-03-10 17:00 +01:00  Wed 2026-03-11 00:00 +01:00  (nobody)  gap\n"
	if err != nil || out != want {
		t.Fatalf("shifts:\n%s\nwant:\n%s(err %v)", out, want, err)
	}
	if _, err := runCLI(t, env, "oncall", "shifts", "--schedule", "nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown schedule: %v", err)
	}
	if _, err := runCLI(t, env, "oncall", "shifts", "--schedule", "ops", "--time-zone", "CET5"); err == nil || !strings.Contains(err.Error(), "--time-zone") {
		t.Fatalf("bad zone: %v", err)
	}

	out, err = runCLI(t, env, "oncall", "check", "--from", "2026-03-09T09:00:00+01:00", "--days", "1", "--time-zone", "Europe/Berlin")
	if err != nil || !strings.HasPrefix(out, "1 coverage problems from Mon 2026-03-09 09:00 +01:00 to Tue 2026-03-10 09:00 +01:00:\n") ||
		!hasLine(out, "schedule ops", "gap", "nobody on call Mon 2026-03-09 17:00 +01:00 → Tue 2026-03-10 09:00 +01:00 (16h)") {
		t.Fatalf("check: %v\n%s", err, out)
	}
	if out, err = runCLI(t, env, "oncall", "check", "--from", "2026-03-09T10:00:00+01:00", "--days", "1", "--json"); err != nil || !strings.Contains(out, `"problem": "gap"`) {
		t.Fatalf("check --json: %v\n%s", err, out)
	}
	if _, err := runCLI(t, env, "oncall", "check", "--days", "0"); err == nil || !strings.Contains(err.Error(), "--days") {
		t.Fatalf("--days 0: %v", err)
	}
	// All week covered: nothing to report.
	os.WriteFile(filepath.Join(dir, "ops.yaml"), []byte(smallSetup), 0o600)
	if _, err := runCLI(t, env, "apply", "-f", dir); err != nil {
		t.Fatal(err)
	}
	if out, err = runCLI(t, env, "oncall", "check", "--from", "2026-03-09T10:00:00+01:00"); err != nil || !strings.HasPrefix(out, "no coverage gaps from ") {
		t.Fatalf("check of a covered week: %v\n%s", err, out)
	}
}

func TestICalLinkCommandRotates(t *testing.T) {
	ts := startOnCallServer(t)
	env := map[string]string{"TOCSIN_API_TOKEN": apptest.APIToken, "TOCSIN_SERVER": ts.URL}
	dir := writeFiles(t, map[string]string{"ops.yaml": smallSetup})
	if _, err := runCLI(t, env, "apply", "-f", dir); err != nil {
		t.Fatal(err)
	}
	feed := func(link string) int {
		t.Helper()
		first, _, _ := strings.Cut(link, "\n") // the CLI's stderr follows
		u, err := url.Parse(first)
		if err != nil {
			t.Fatal(err)
		}
		code, _ := ts.Get(t, u.RequestURI())
		return code
	}
	link, err := runCLI(t, env, "ical-link", "--schedule", "ops")
	if err != nil || !strings.Contains(link, "/api/v1/schedules/ops/ical?token=") {
		t.Fatalf("ical-link: %v %q", err, link)
	}
	contactLink, err := runCLI(t, env, "ical-link", "--contact", "ann")
	if err != nil || !strings.Contains(contactLink, "/api/v1/contacts/ann/ical?token=") {
		t.Fatalf("ical-link --contact: %v %q", err, contactLink)
	}
	if feed(link) != 200 || feed(contactLink) != 200 {
		t.Fatal("the links do not open their feeds")
	}
	fresh, err := runCLI(t, env, "ical-link", "--schedule", "ops", "--rotate")
	if err != nil || fresh == link || !strings.Contains(fresh, "calendar key rotated: every calendar link given out before no longer works") {
		t.Fatalf("--rotate: %v %q", err, fresh)
	}
	if feed(link) != 401 || feed(contactLink) != 401 || feed(fresh) != 200 {
		t.Fatalf("after rotating: old %d, old contact %d, new %d", feed(link), feed(contactLink), feed(fresh))
	}
	if out, err := runCLI(t, env, "ical-link", "--rotate"); err != nil || !strings.HasPrefix(out, "calendar key rotated") || feed(fresh) != 401 {
		t.Fatalf("--rotate alone: %v %q", err, out)
	}
	for _, args := range [][]string{{"ical-link"}, {"ical-link", "--schedule", "ops", "--contact", "ann"}} {
		if _, err := runCLI(t, env, args...); err == nil || !strings.Contains(err.Error(), "one of --schedule or --contact") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if _, err := runCLI(t, env, "ical-link", "--schedule", "nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown schedule: %v", err)
	}
}

func TestPlanListShortDurations(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Second: "30s", 5 * time.Minute: "5m", time.Hour: "1h", 90 * time.Minute: "1h30m",
		90 * time.Second: "1m30s", 0: "0s", 54 * time.Hour: "54h",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
