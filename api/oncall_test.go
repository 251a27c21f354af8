package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"tocsin/store"
	"tocsin/store/storetest"
)

const oncallToken = "oncall-api-token"

// serve returns the routes of s on a mux of their own.
func serve(s *Server) http.Handler {
	m := http.NewServeMux()
	s.Register(m)
	return NoSniff(m)
}

// oncallEnv is an API server over a real SQLite store.
type oncallEnv struct {
	t     *testing.T
	srv   *Server
	db    *store.DB
	clock *storetest.Clock
	pages []string // kind:name of test pages
	sent  []string // alias/channel=code of activation codes sent
}

var oncallEpoch = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC) // a Monday

func newOnCallEnv(t *testing.T, mods ...func(*Options)) *oncallEnv {
	t.Helper()
	e := &oncallEnv{t: t, clock: storetest.NewClock(oncallEpoch)}
	e.db = storetest.Open(t, storetest.SQLiteURL(t), store.Options{Now: e.clock.Now})
	opts := Options{
		Tokens:      Tokens{Clear: []string{oncallToken}},
		Health:      e.db,
		Engagements: e.db.Engagements(),
		OnCall:      e.db.OnCall(),
		Keys:        e.db.Secrets(),
		Channels:    map[string]bool{"slack": true, "email": true},
		PublicHost:  "https://tocsin.example.com/",
		Now:         e.clock.Now,
		SendActivation: func(ctx context.Context, alias, channel string) error {
			code, err := e.db.OnCall().StartActivation(ctx, alias, channel)
			e.sent = append(e.sent, alias+"/"+channel+"="+code)
			return err
		},
		TestPage: func(ctx context.Context, kind, name string) (string, error) {
			e.pages = append(e.pages, kind+":"+name)
			return "inc-test-1", nil
		},
	}
	for _, mod := range mods {
		mod(&opts)
	}
	e.srv = New(e.db.Incidents(), opts)
	return e
}

// call sends a request with the API token and returns the status and body.
func (e *oncallEnv) call(method, path, body string) (int, string) {
	e.t.Helper()
	return e.callToken(method, path, body, oncallToken)
}

func (e *oncallEnv) callToken(method, path, body, token string) (int, string) {
	e.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	serve(e.srv).ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// must sends a request and fails the test unless the status is want.
func (e *oncallEnv) must(want int, method, path, body string) map[string]any {
	e.t.Helper()
	code, out := e.call(method, path, body)
	if code != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, out)
	}
	var m map[string]any
	if out != "" {
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			e.t.Fatalf("%s %s: body is not JSON: %v: %s", method, path, err, out)
		}
	}
	return m
}

// fails sends a request and checks the status and that the error message
// contains every fragment.
func (e *oncallEnv) fails(want int, method, path, body string, fragments ...string) {
	e.t.Helper()
	code, out := e.call(method, path, body)
	if code != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, out)
	}
	for _, f := range fragments {
		if !strings.Contains(out, f) {
			e.t.Fatalf("%s %s: error %s does not mention %q", method, path, out, f)
		}
	}
}

func contactJSON(alias string) string {
	return `{"alias":"` + alias + `","name":"` + strings.ToUpper(alias) + `","time_zone":"Europe/Berlin",
		"channels":[{"name":"work","type":"email","address":"` + alias + `@example.com"},{"name":"mobile","type":"sms","address":"+15555550101"}],
		"engagement_plan":[{"channel":"work","after":"0s"},{"channel":"mobile","after":"5m"}]}`
}

// seed creates contacts and a weekly Berlin rotation "platform" of alice
// and bob handing off on Mondays at 09:00, in schedule "platform".
func (e *oncallEnv) seed() {
	e.t.Helper()
	for _, a := range []string{"alice", "bob", "carol"} {
		e.must(201, "PUT", "/api/v1/contacts/"+a, contactJSON(a))
	}
	e.must(201, "PUT", "/api/v1/rotations/platform", `{"members":["alice","bob"],"start":"2026-03-02T09:00:00+01:00","time_zone":"Europe/Berlin",
		"recurrence":{"type":"weekly","weekly_settings":[{"day_of_week":"MON","hand_off_time":"09:00"}]}}`)
	e.must(201, "PUT", "/api/v1/schedules/platform", `{"rotations":["platform"]}`)
}

func TestOnCallContactCRUD(t *testing.T) {
	e := newOnCallEnv(t)
	if code, _ := e.callToken("GET", "/api/v1/contacts", "", ""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	got := e.must(201, "PUT", "/api/v1/contacts/alice", contactJSON("alice"))
	c := got["contact"].(map[string]any)
	if c["alias"] != "alice" || c["created_at"] == nil || len(c["channels"].([]any)) != 2 {
		t.Fatalf("created contact: %v", c)
	}
	// Replacing keeps the alias from the path when the body has none.
	body := strings.Replace(contactJSON("alice"), `"alias":"alice",`, "", 1)
	body = strings.Replace(body, `"name":"ALICE"`, `"name":"Alice Liddell"`, 1)
	got = e.must(200, "PUT", "/api/v1/contacts/alice", body)
	if c := got["contact"].(map[string]any); c["name"] != "Alice Liddell" {
		t.Fatalf("replaced contact: %v", c)
	}
	got = e.must(200, "GET", "/api/v1/contacts/alice", "")
	if c := got["contact"].(map[string]any); c["name"] != "Alice Liddell" || c["time_zone"] != "Europe/Berlin" {
		t.Fatalf("get: %v", c)
	}
	got = e.must(200, "GET", "/api/v1/contacts", "")
	if list := got["contacts"].([]any); len(list) != 1 {
		t.Fatalf("list: %v", list)
	}

	e.fails(400, "PUT", "/api/v1/contacts/alice", contactJSON("bob"), `alias: \"bob\" does not match \"alice\"`)
	e.fails(400, "PUT", "/api/v1/contacts/alice", strings.Replace(contactJSON("alice"), `"address"`, `"adress"`, 1),
		"channels[0].adress: unknown field")
	e.fails(400, "PUT", "/api/v1/contacts/alice", strings.Replace(contactJSON("alice"), `"5m"`, `"5 minutes"`, 1),
		`engagement_plan[1].after: \"5 minutes\" is not a duration`)
	e.fails(400, "PUT", "/api/v1/contacts/alice", strings.Replace(contactJSON("alice"), `"type":"sms"`, `"type":"pager"`, 1),
		"channels[1].type")
	e.fails(400, "PUT", "/api/v1/contacts/alice", `{"alias":"alice"} {}`, "trailing data")
	e.fails(400, "PUT", "/api/v1/contacts/alice", ``, "empty")

	e.must(204, "DELETE", "/api/v1/contacts/alice", "")
	e.fails(404, "GET", "/api/v1/contacts/alice", "", "not found")
	e.fails(404, "DELETE", "/api/v1/contacts/alice", "", "not found")
}

func TestOnCallReferentialErrors(t *testing.T) {
	e := newOnCallEnv(t)
	e.must(201, "PUT", "/api/v1/contacts/alice", contactJSON("alice"))
	rot := `{"members":["alice","ghost"],"start":"2026-03-02T09:00:00+01:00","time_zone":"Europe/Berlin",
		"recurrence":{"type":"daily","hand_off_times":["09:00"]}}`
	e.fails(400, "PUT", "/api/v1/rotations/app", rot, `members[1]: no contact \"ghost\"`)
	e.fails(400, "PUT", "/api/v1/rotations/app", strings.Replace(rot, `"daily"`, `"daily","every":2`, 1), "recurrence.every: unknown field")
	e.fails(400, "PUT", "/api/v1/rotations/app", strings.Replace(rot, `"09:00"]`, `"25:00"]`, 1), "recurrence.hand_off_times[0]")
	e.fails(400, "PUT", "/api/v1/rotations/app", strings.Replace(rot, `"2026-03-02T09:00:00+01:00"`, `"2026-03-02 09:00"`, 1),
		"start: \\\"2026-03-02 09:00\\\" is not an RFC 3339 time")
	e.must(201, "PUT", "/api/v1/rotations/app", strings.Replace(rot, `,"ghost"`, "", 1))
	e.fails(409, "DELETE", "/api/v1/contacts/alice", "", `contact \"alice\" is a member of rotation \"app\"`)

	e.fails(400, "PUT", "/api/v1/schedules/app", `{"rotations":["app","nope"]}`, `rotations[1]: no rotation \"nope\"`)
	e.must(201, "PUT", "/api/v1/schedules/app", `{"rotations":["app"]}`)
	e.fails(409, "DELETE", "/api/v1/rotations/app", "", "schedule")

	plan := `{"stages":[{"duration":"5m","targets":[{"schedule":"app","essential":true},{"channel":"slack"}]},
		{"duration":"10m","targets":[{"contact":"alice"}]}]}`
	e.fails(400, "PUT", "/api/v1/escalation-plans/app", strings.Replace(plan, `"slack"`, `"pagerduty"`, 1),
		`stages[0].targets[1].channel: \"pagerduty\" is not an enabled channel (enabled: email, slack)`)
	e.fails(400, "PUT", "/api/v1/escalation-plans/app", strings.Replace(plan, `"10m"`, `"5 minutes"`, 1),
		`stages[1].duration: \"5 minutes\" is not a duration like 30s, 5m, 1h`)
	e.fails(400, "PUT", "/api/v1/escalation-plans/app", strings.Replace(plan, `"alice"`, `"zed"`, 1), `no contact \"zed\"`)
	e.must(201, "PUT", "/api/v1/escalation-plans/app", plan)
	got := e.must(200, "GET", "/api/v1/escalation-plans/app", "")
	if p := got["escalation_plan"].(map[string]any); len(p["stages"].([]any)) != 2 || p["name"] != "app" {
		t.Fatalf("plan: %v", p)
	}
	e.fails(409, "DELETE", "/api/v1/schedules/app", "", "escalation plan")
	e.must(204, "DELETE", "/api/v1/escalation-plans/app", "")
	e.must(204, "DELETE", "/api/v1/schedules/app", "")
	e.must(204, "DELETE", "/api/v1/rotations/app", "")
	e.must(204, "DELETE", "/api/v1/contacts/alice", "")
}

func TestOnCallPreviewAcrossDST(t *testing.T) {
	e := newOnCallEnv(t)
	// Europe/Berlin moves to summer time on Sunday 29 March 2026. Nobody
	// in the preview is a contact.
	body := `{"rotation":{"members":["x","y"],"start":"2026-03-02T09:00:00+01:00","time_zone":"Europe/Berlin",
		"recurrence":{"type":"daily","hand_off_times":["09:00"]}},
		"overrides":[{"start":"2026-03-30T12:00:00+02:00","end":"2026-03-30T14:00:00+02:00","members":["z"]}],
		"from":"2026-03-28T00:00:00+01:00","to":"2026-03-31T00:00:00+02:00"}`
	var out struct {
		Shifts []struct {
			Start, End string
			Members    []string
			Type       string
			Replaced   []string
		}
	}
	_, raw := e.call("POST", "/api/v1/rotations/preview", body)
	if err := json.Unmarshal([]byte(raw), &out); err != nil || len(out.Shifts) == 0 {
		t.Fatalf("preview: %v %s", err, raw)
	}
	var got []string
	for _, s := range out.Shifts {
		got = append(got, s.Start+" "+s.End+" "+strings.Join(s.Members, ",")+" "+s.Type+" "+strings.Join(s.Replaced, ","))
	}
	want := []string{
		"2026-03-28T00:00:00+01:00 2026-03-28T09:00:00+01:00 y regular ",
		"2026-03-28T09:00:00+01:00 2026-03-29T09:00:00+02:00 x regular ", // 23 hours
		"2026-03-29T09:00:00+02:00 2026-03-30T09:00:00+02:00 y regular ",
		"2026-03-30T09:00:00+02:00 2026-03-30T12:00:00+02:00 x regular ",
		"2026-03-30T12:00:00+02:00 2026-03-30T14:00:00+02:00 z overridden x",
		"2026-03-30T14:00:00+02:00 2026-03-31T00:00:00+02:00 x regular ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("preview shifts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	e.fails(400, "POST", "/api/v1/rotations/preview", strings.Replace(body, `"Europe/Berlin"`, `"CET-ish"`, 1), "rotation: time_zone")
	e.fails(400, "POST", "/api/v1/rotations/preview", strings.Replace(body, `"start":"2026-03-30T12`, `"rotation":"other","start":"2026-03-30T12`, 1),
		`overrides[0].rotation: \"other\" is not the previewed rotation`)
	e.fails(400, "POST", "/api/v1/rotations/preview", strings.Replace(body, `"to":"2026-03-31T00:00:00+02:00"`, `"to":"2028-03-31T00:00:00+02:00"`, 1),
		"at most 400 days after from")
	e.fails(400, "POST", "/api/v1/rotations/preview", strings.Replace(body, `"overrides"`, `"override"`, 1), "override: unknown field")
}

func TestOnCallOverridesAndShifts(t *testing.T) {
	e := newOnCallEnv(t)
	e.seed()
	ov := `{"rotation":"platform","start":"2026-03-03T12:00:00+01:00","end":"2026-03-04T12:00:00+01:00","members":["carol"]}`
	id, _ := e.must(201, "POST", "/api/v1/overrides", ov)["id"].(string)
	if id == "" {
		t.Fatal("no override id")
	}
	e.fails(400, "POST", "/api/v1/overrides", strings.Replace(ov, `"carol"`, `"dave"`, 1), `no contact \"dave\"`)
	e.fails(400, "POST", "/api/v1/overrides", strings.Replace(ov, `"platform"`, `"nope"`, 1), `no rotation \"nope\"`)
	list := e.must(200, "GET", "/api/v1/overrides?rotation=platform", "")["overrides"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != id {
		t.Fatalf("overrides: %v", list)
	}
	e.fails(404, "GET", "/api/v1/overrides?rotation=nope", "", "not found")
	// A week after it ended, the override is still listed by default (a
	// month back), as `tocsin override list` does; ?from= narrows it.
	e.clock.Add(8 * 24 * time.Hour)
	if n := len(e.must(200, "GET", "/api/v1/overrides", "")["overrides"].([]any)); n != 1 {
		t.Fatalf("a past override is not listed by default: %d", n)
	}
	if n := len(e.must(200, "GET", "/api/v1/overrides?from="+e.clock.Now().UTC().Format(time.RFC3339), "")["overrides"].([]any)); n != 0 {
		t.Fatalf("?from=now lists a past override: %d", n)
	}
	e.clock.Add(-8 * 24 * time.Hour)

	shifts := e.must(200, "GET", "/api/v1/rotations/platform/shifts?from=2026-03-03T00:00:00Z&to=2026-03-10T00:00:00Z", "")["shifts"].([]any)
	var types []string
	for _, s := range shifts {
		m := s.(map[string]any)
		types = append(types, m["type"].(string)+":"+m["members"].([]any)[0].(string))
	}
	if got := strings.Join(types, " "); got != "regular:alice overridden:carol regular:alice regular:bob" {
		t.Fatalf("rotation shifts: %s", got)
	}
	// The schedule's timeline is in UTC and merges nothing across the override.
	sched := e.must(200, "GET", "/api/v1/schedules/platform/shifts?from=2026-03-03T00:00:00Z&to=2026-03-10T00:00:00Z", "")["shifts"].([]any)
	if len(sched) != 4 || sched[1].(map[string]any)["start"] != "2026-03-03T11:00:00Z" {
		t.Fatalf("schedule shifts: %v", sched)
	}
	e.fails(400, "GET", "/api/v1/rotations/platform/shifts?from=2026-01-01T00:00:00Z&to=2027-03-01T00:00:00Z", "", "at most 400 days after from")
	e.fails(400, "GET", "/api/v1/rotations/platform/shifts?from=yesterday", "", `from: \"yesterday\" is not an RFC 3339 time`)
	e.fails(400, "GET", "/api/v1/schedules/platform/shifts?from=2026-03-03T00:00:00Z&to=2026-03-02T00:00:00Z", "", "before from")
	e.fails(404, "GET", "/api/v1/rotations/nope/shifts", "", "not found")
	// The default window is the coming week.
	if n := len(e.must(200, "GET", "/api/v1/rotations/platform/shifts", "")["shifts"].([]any)); n != 4 {
		t.Fatalf("default window: %d shifts", n)
	}

	e.must(204, "DELETE", "/api/v1/overrides/"+id, "")
	e.fails(404, "DELETE", "/api/v1/overrides/"+id, "", "not found")
}

func TestOnCallWhoIsOnCall(t *testing.T) {
	e := newOnCallEnv(t)
	e.seed()
	e.must(201, "PUT", "/api/v1/rotations/app", `{"members":["carol"],"start":"2026-03-02T08:00:00+01:00","time_zone":"Europe/Berlin",
		"recurrence":{"type":"daily","hand_off_times":["08:00"]},
		"coverage":[{"day_of_week":"MON","start":"08:00","end":"18:00"},{"day_of_week":"TUE","start":"08:00","end":"18:00"}]}`)
	e.must(201, "PUT", "/api/v1/schedules/app", `{"rotations":["app"]}`)
	e.must(201, "POST", "/api/v1/overrides", `{"rotation":"platform","start":"2026-03-10T00:00:00Z","end":"2026-03-11T00:00:00Z","members":["carol","alice"]}`)

	who := func(query string) string {
		t.Helper()
		var out struct {
			At        time.Time
			Schedules []struct {
				Name   string
				OnCall []string `json:"on_call"`
			}
		}
		_, raw := e.call("GET", "/api/v1/oncall?"+query, "")
		if err := json.Unmarshal([]byte(raw), &out); err != nil || out.Schedules == nil {
			t.Fatalf("oncall?%s: %v %s", query, err, raw)
		}
		var parts []string
		for _, s := range out.Schedules {
			parts = append(parts, s.Name+"="+strings.Join(s.OnCall, ","))
		}
		return strings.Join(parts, " ")
	}
	for _, c := range []struct{ query, want string }{
		{"at=2026-03-03T10:00:00%2B01:00", "app=carol platform=alice"},
		{"at=2026-03-03T19:00:00%2B01:00", "app= platform=alice"},       // after business hours
		{"at=2026-03-09T08:59:00%2B01:00", "app=carol platform=alice"},  // a minute before the hand-off
		{"at=2026-03-09T09:00:00%2B01:00", "app=carol platform=bob"},    // the hand-off
		{"at=2026-03-10T12:00:00Z", "app=carol platform=carol,alice"},   // the override
		{"schedule=platform&at=2026-03-04T00:00:00Z", "platform=alice"}, // one schedule
		{"schedule=platform&at=2026-02-01T00:00:00Z", "platform="},      // before the start
		{"", "app=carol platform=alice"},                                // now: Monday 13:00 in Berlin
	} {
		if got := who(c.query); got != c.want {
			t.Errorf("oncall?%s = %q, want %q", c.query, got, c.want)
		}
	}
	e.fails(404, "GET", "/api/v1/oncall?schedule=nope", "", "not found")
	e.fails(400, "GET", "/api/v1/oncall?at=tomorrow", "", "at:")
}

func TestOnCallActivationAndTestPages(t *testing.T) {
	e := newOnCallEnv(t)
	e.seed()
	e.must(202, "POST", "/api/v1/contacts/alice/channels/mobile/activation", "")
	if len(e.sent) != 1 || !strings.HasPrefix(e.sent[0], "alice/mobile=") {
		t.Fatalf("sent: %v", e.sent)
	}
	code := strings.TrimPrefix(e.sent[0], "alice/mobile=")
	e.fails(400, "POST", "/api/v1/contacts/alice/channels/mobile/activate", `{"code":"000000x"}`, "wrong activation code")
	e.fails(400, "POST", "/api/v1/contacts/alice/channels/mobile/activate", `{"pin":"1"}`, "pin: unknown field")
	got := e.must(200, "POST", "/api/v1/contacts/alice/channels/mobile/activate", `{"code":"`+code+`"}`)
	if ch := got["channel"].(map[string]any); ch["activated"] != true {
		t.Fatalf("activate: %v", ch)
	}
	e.fails(409, "POST", "/api/v1/contacts/alice/channels/mobile/activation", "", "already activated")
	e.fails(404, "POST", "/api/v1/contacts/alice/channels/pager/activation", "", `no channel \"pager\"`)
	e.fails(404, "POST", "/api/v1/contacts/zed/channels/mobile/activation", "", "not found")

	if id := e.must(202, "POST", "/api/v1/contacts/bob/test-page", "")["incident_id"]; id != "inc-test-1" {
		t.Fatalf("test page: %v", id)
	}
	e.must(201, "PUT", "/api/v1/escalation-plans/platform", `{"stages":[{"duration":"5m","targets":[{"schedule":"platform","essential":true}]}]}`)
	e.must(202, "POST", "/api/v1/escalation-plans/platform/test-page", "")
	e.fails(404, "POST", "/api/v1/escalation-plans/nope/test-page", "", "not found")
	if strings.Join(e.pages, " ") != "contact:bob escalation_plan:platform" {
		t.Fatalf("test pages: %v", e.pages)
	}
}

func TestOnCallNotConfigured(t *testing.T) {
	e := newOnCallEnv(t)
	e.srv = New(e.db.Incidents(), Options{Tokens: Tokens{Clear: []string{oncallToken}}})
	for _, p := range []string{"/api/v1/contacts", "/api/v1/rotations/x", "/api/v1/oncall", "/api/v1/schedules/x/ical"} {
		e.fails(404, "GET", p, "", "on-call is not configured")
	}
	code, _ := e.call("GET", "/api/v1/incidents", "")
	if code != http.StatusOK {
		t.Fatalf("incidents still served: %d", code)
	}
}
