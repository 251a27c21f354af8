package api

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// activate activates a contact channel directly in the store.
func (e *oncallEnv) activate(alias, channel string) {
	e.t.Helper()
	ctx := context.Background()
	code, err := e.db.OnCall().StartActivation(ctx, alias, channel)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.OnCall().Activate(ctx, alias, channel, code); err != nil {
		e.t.Fatal(err)
	}
}

// canonical re-encodes JSON with sorted keys, as a decoded map marshals.
func canonical(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

type findingJSON struct {
	Kind, Name, Problem, Message string
	From, To                     string
}

func findingsOf(t *testing.T, v any) []findingJSON {
	t.Helper()
	b, _ := json.Marshal(v)
	var out []findingJSON
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("findings %s: %v", b, err)
	}
	return out
}

func TestOnCallPlanWarningsAndCheck(t *testing.T) {
	e := newOnCallEnv(t)
	e.seed() // now is Monday 2 March 2026 12:00 UTC; alice is on call until Monday 9 March 09:00 Berlin
	plan := `{"stages":[{"duration":"5m","targets":[{"schedule":"platform","essential":true}]}]}`

	// Nobody's channel is activated: the plan is saved, with warnings.
	got := e.must(201, "PUT", "/api/v1/escalation-plans/platform", plan)
	w := findingsOf(t, got["warnings"])
	if len(w) != 3 || w[0].Problem != "unreachable" || !strings.Contains(w[0].Message, "nobody on call in schedule platform has an activated channel") ||
		w[1].Name != "alice" || w[1].Problem != "no_activated_channel" || w[2].Name != "bob" {
		t.Fatalf("warnings: %+v", w)
	}
	if got["escalation_plan"].(map[string]any)["name"] != "platform" {
		t.Fatalf("plan: %v", got)
	}

	// alice can be reached now; bob, on call from next Monday, cannot.
	e.activate("alice", "work")
	w = findingsOf(t, e.must(200, "PUT", "/api/v1/escalation-plans/platform", plan)["warnings"])
	if len(w) != 2 || w[0].Problem != "gap" || w[0].From != "2026-03-09T08:00:00Z" || w[0].To != "2026-03-09T12:00:00Z" ||
		w[1].Name != "bob" || w[1].Problem != "no_activated_channel" {
		t.Fatalf("warnings after activating alice: %+v", w)
	}
	e.activate("bob", "mobile")
	if w := findingsOf(t, e.must(200, "PUT", "/api/v1/escalation-plans/platform", plan)["warnings"]); len(w) != 0 {
		t.Fatalf("warnings with everyone reachable: %+v", w)
	}

	// A plan whose only schedule has nobody on call in the coming week.
	e.must(201, "PUT", "/api/v1/rotations/later", `{"members":["alice"],"start":"2026-04-01T09:00:00+02:00","time_zone":"Europe/Berlin",
		"recurrence":{"type":"daily","hand_off_times":["09:00"]}}`)
	e.must(201, "PUT", "/api/v1/schedules/later", `{"rotations":["later"]}`)
	w = findingsOf(t, e.must(201, "PUT", "/api/v1/escalation-plans/later", `{"stages":[{"duration":"5m","targets":[{"schedule":"later"}]}]}`)["warnings"])
	if len(w) != 1 || w[0].Problem != "unreachable" || !strings.Contains(w[0].Message, "schedule later has nobody on call in the next 7 days") {
		t.Fatalf("empty schedule: %+v", w)
	}

	// The report: schedules' gaps and plans that reach nobody.
	got = e.must(200, "GET", "/api/v1/oncall/check?days=3", "")
	all := findingsOf(t, got["findings"])
	if got["to"] != "2026-03-05T12:00:00Z" || len(all) != 2 || all[0].Kind != "schedule" || all[0].Name != "later" ||
		all[1].Kind != "escalation_plan" || all[1].Name != "later" || all[1].Problem != "unreachable" {
		t.Fatalf("check: %v", got)
	}
	if all := findingsOf(t, e.must(200, "GET", "/api/v1/oncall/check?from=2026-04-02T00:00:00Z", "")["findings"]); len(all) != 0 {
		t.Fatalf("check in April: %+v", all)
	}
	e.fails(400, "GET", "/api/v1/oncall/check?days=0", "", "days:")
	e.fails(400, "GET", "/api/v1/oncall/check?days=1000", "", "days: at most 400")
	e.fails(400, "GET", "/api/v1/oncall/check?from=monday", "", "from:")
}

func TestOnCallFollowTheSunWhoAndCheck(t *testing.T) {
	e := newOnCallEnv(t)
	for _, a := range []string{"natsu", "zeref", "lucy", "wendy"} {
		e.must(201, "PUT", "/api/v1/contacts/"+a, contactJSON(a))
	}
	every := func(start, end string) string {
		var parts []string
		for _, d := range []string{"MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"} {
			parts = append(parts, `{"day_of_week":"`+d+`","start":"`+start+`","end":"`+end+`"}`)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	e.must(201, "PUT", "/api/v1/rotations/sun-hcmc", `{"members":["natsu","zeref"],"start":"2026-01-05T08:00:00+07:00","time_zone":"Asia/Ho_Chi_Minh",
		"recurrence":{"type":"daily","hand_off_times":["08:00"]},"coverage":`+every("08:00", "20:00")+`}`)
	e.must(201, "PUT", "/api/v1/rotations/sun-berlin", `{"members":["lucy","wendy"],"start":"2026-01-05T14:00:00+01:00","time_zone":"Europe/Berlin",
		"recurrence":{"type":"daily","hand_off_times":["14:00"]},"coverage":`+every("14:00", "02:00")+`}`)
	e.must(201, "PUT", "/api/v1/schedules/follow-the-sun", `{"rotations":["sun-hcmc","sun-berlin"]}`)

	got := e.must(200, "GET", "/api/v1/oncall?schedule=follow-the-sun&at=2026-07-07T18:00:00Z", "")
	raw, _ := json.Marshal(got["schedules"])
	// 7 July is day 183 of both rotations: wendy's evening in Berlin.
	if want := canonical(t, `[{"name":"follow-the-sun","on_call":["wendy"],"rotations":[{"rotation":"sun-hcmc","on_call":[]},{"rotation":"sun-berlin","on_call":["wendy"]}]}]`); string(raw) != want {
		t.Fatalf("who: %s\nwant %s", raw, want)
	}

	// Summer time in Berlin opens 00:00–01:00 UTC.
	all := findingsOf(t, e.must(200, "GET", "/api/v1/oncall/check?from=2026-07-06T00:00:00Z&days=2", "")["findings"])
	if len(all) != 2 || all[0].Name != "follow-the-sun" || all[0].From != "2026-07-06T00:00:00Z" || all[0].To != "2026-07-06T01:00:00Z" {
		t.Fatalf("July: %+v", all)
	}
	if all := findingsOf(t, e.must(200, "GET", "/api/v1/oncall/check?from=2026-01-12T00:00:00Z", "")["findings"]); len(all) != 0 {
		t.Fatalf("January: %+v", all)
	}
}

func TestOnCallPlanPreview(t *testing.T) {
	e := newOnCallEnv(t)
	e.seed()
	e.activate("alice", "work")
	e.activate("alice", "mobile")
	e.activate("carol", "work")
	e.must(201, "PUT", "/api/v1/contact-groups/leads", `{"members":["carol","bob"]}`)
	e.must(201, "PUT", "/api/v1/escalation-plans/platform", `{"stages":[
		{"duration":"5m","targets":[{"schedule":"platform","essential":true}]},
		{"duration":"10m","targets":[{"contact_group":"leads"},{"channel":"slack"}]}]}`)

	got := e.must(200, "GET", "/api/v1/escalation-plans/platform/preview?at=2026-03-03T10:00:00Z", "")
	raw, _ := json.Marshal(got["pages"])
	want := `[{"at":"2026-03-03T10:00:00Z","stage":1,"via":["escalation plan platform stage 1","schedule platform","rotation platform"],"contact":"alice","channel":"work","type":"email","essential":true},` +
		`{"at":"2026-03-03T10:05:00Z","stage":1,"via":["escalation plan platform stage 1","schedule platform","rotation platform"],"contact":"alice","channel":"mobile","type":"sms","essential":true},` +
		`{"at":"2026-03-03T10:05:00Z","stage":2,"via":["escalation plan platform stage 2","contact group leads"],"contact":"carol","channel":"work","type":"email","essential":false}]`
	if want = canonical(t, want); string(raw) != want {
		t.Fatalf("pages:\n%s\nwant\n%s", raw, want)
	}
	notes, _ := json.Marshal(got["notes"])
	if got["escalation_plan"] != "platform" || got["ends"] != "2026-03-03T10:15:00Z" ||
		string(notes) != `["escalation plan platform stage 2: carol's mobile is not activated","escalation plan platform stage 2: bob has no activated channel"]` {
		t.Fatalf("preview: %v", got)
	}
	if ch, _ := json.Marshal(got["channels"]); !strings.Contains(string(ch), `"channel":"slack"`) {
		t.Fatalf("channels: %s", ch)
	}
	// Default: now.
	if got := e.must(200, "GET", "/api/v1/escalation-plans/platform/preview", ""); got["at"] != "2026-03-02T12:00:00Z" {
		t.Fatalf("default at: %v", got["at"])
	}
	e.fails(404, "GET", "/api/v1/escalation-plans/nope/preview", "", "not found")
	e.fails(400, "GET", "/api/v1/escalation-plans/platform/preview?at=soon", "", "at:")

	got = e.must(200, "GET", "/api/v1/contacts/alice/preview?at=2026-03-03T10:00:00Z", "")
	if pages := got["pages"].([]any); got["contact"] != "alice" || len(pages) != 2 || pages[1].(map[string]any)["at"] != "2026-03-03T10:05:00Z" {
		t.Fatalf("contact preview: %v", got)
	}
	e.fails(404, "GET", "/api/v1/contacts/zed/preview", "", "not found")
}

func TestContactGroupsAPI(t *testing.T) {
	e := newOnCallEnv(t)
	e.seed()
	got := e.must(201, "PUT", "/api/v1/contact-groups/platform-team", `{"members":["alice","bob"]}`)
	if g := got["contact_group"].(map[string]any); g["name"] != "platform-team" || len(g["members"].([]any)) != 2 || g["created_at"] == nil {
		t.Fatalf("put: %v", got)
	}
	e.must(200, "PUT", "/api/v1/contact-groups/platform-team", `{"members":["alice","bob","carol"]}`)
	if list := e.must(200, "GET", "/api/v1/contact-groups", "")["contact_groups"].([]any); len(list) != 1 {
		t.Fatalf("list: %v", list)
	}
	e.fails(400, "PUT", "/api/v1/contact-groups/x", `{"members":["ghost"]}`, `members[0]: no contact \"ghost\"`)
	e.fails(400, "PUT", "/api/v1/contact-groups/x", `{"members":["alice"],"owner":"bob"}`, "owner: unknown field")
	e.fails(400, "PUT", "/api/v1/escalation-plans/p", `{"stages":[{"duration":"5m","targets":[{"contact_group":"nope"}]}]}`, `no contact group \"nope\"`)
	e.must(201, "PUT", "/api/v1/escalation-plans/p", `{"stages":[{"duration":"5m","targets":[{"contact_group":"platform-team"}]}]}`)
	e.fails(409, "DELETE", "/api/v1/contact-groups/platform-team", "", `escalation plan \"p\"`)
	e.fails(409, "DELETE", "/api/v1/contacts/carol", "", `member of contact group \"platform-team\"`)
	e.must(204, "DELETE", "/api/v1/escalation-plans/p", "")
	e.must(204, "DELETE", "/api/v1/contact-groups/platform-team", "")
	e.fails(404, "GET", "/api/v1/contact-groups/platform-team", "", "not found")
}

func TestICalKeyRotationRevokesLinks(t *testing.T) {
	e := newOnCallEnv(t)
	e.seed()
	link := e.must(200, "GET", "/api/v1/schedules/platform/ical-url", "")["url"].(string)
	contactLink := e.must(200, "GET", "/api/v1/contacts/alice/ical-url", "")["url"].(string)
	path := func(link string) string {
		u, _ := url.Parse(link)
		return u.RequestURI()
	}
	mustBody(t, e, path(link))
	mustBody(t, e, path(contactLink))

	if code, _ := e.callToken("POST", "/api/v1/ical-key/rotate", "", ""); code != 401 {
		t.Fatalf("rotate without a token: %d", code)
	}
	mustBody(t, e, path(link)) // still valid: nothing was rotated
	if got := e.must(200, "POST", "/api/v1/ical-key/rotate", ""); got["status"] != "rotated" {
		t.Fatalf("rotate: %v", got)
	}
	for _, old := range []string{link, contactLink} {
		if code, _ := e.callToken("GET", path(old), "", ""); code != 401 {
			t.Fatalf("old link %s after rotation: %d", old, code)
		}
	}
	fresh := e.must(200, "GET", "/api/v1/schedules/platform/ical-url", "")["url"].(string)
	if fresh == link {
		t.Fatal("the link did not change")
	}
	mustBody(t, e, path(fresh))
}
