package route_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/route"
)

func str(s string) *string { return &s }
func yes() *bool           { b := true; return &b }
func no() *bool            { b := false; return &b }

var monday = time.Date(2026, 3, 9, 10, 0, 0, 0, time.UTC) // a Monday

func alert(labels map[string]string) *tocsin.Alert {
	return &tocsin.Alert{Source: tocsin.SourceAlertmanager, Severity: "critical", Title: "HighCPU", Labels: labels,
		Annotations: map[string]string{"summary": "CPU above 90%"}}
}

// matched routes a with a single rule on labels and reports whether it matched.
func matched(t *testing.T, rule tocsin.RoutingRule, a *tocsin.Alert, integration string, now time.Time) (bool, route.Result) {
	t.Helper()
	rule.Name, rule.NotifyOnly = "r", true
	r := &tocsin.Routing{Rules: []tocsin.RoutingRule{rule}}
	if err := r.Validate(); err != nil {
		t.Fatalf("the rule does not validate: %v", err)
	}
	res := route.Match(r, a, integration, now)
	return len(res.Matches) == 1, res
}

func TestMatchOperators(t *testing.T) {
	labels := map[string]string{"team": "platform", "instance": "web-1", "empty": ""}
	for _, tc := range []struct {
		name string
		cond tocsin.MatchCondition
		key  string
		want bool
	}{
		{"equals holds", tocsin.MatchCondition{Equals: str("platform")}, "team", true},
		{"equals fails", tocsin.MatchCondition{Equals: str("app")}, "team", false},
		{"equals is case-sensitive", tocsin.MatchCondition{Equals: str("Platform")}, "team", false},
		{"equals empty holds for a missing key", tocsin.MatchCondition{Equals: str("")}, "missing", true},
		{"not_equals holds", tocsin.MatchCondition{NotEquals: str("app")}, "team", true},
		{"not_equals fails", tocsin.MatchCondition{NotEquals: str("platform")}, "team", false},
		{"not_equals holds for a missing key", tocsin.MatchCondition{NotEquals: str("x")}, "missing", true},
		{"regex holds on the whole value", tocsin.MatchCondition{Regex: "web-[0-9]+"}, "instance", true},
		{"regex is anchored at the start", tocsin.MatchCondition{Regex: "eb-1"}, "instance", false},
		{"regex is anchored at the end", tocsin.MatchCondition{Regex: "web"}, "instance", false},
		{"regex alternation is anchored as a whole", tocsin.MatchCondition{Regex: "x|web-1"}, "instance", true},
		{"regex alternation does not match a prefix", tocsin.MatchCondition{Regex: "web|x"}, "instance", false},
		{"regex matching empty holds for a missing key", tocsin.MatchCondition{Regex: ".*"}, "missing", true},
		{"regex not matching empty fails for a missing key", tocsin.MatchCondition{Regex: ".+"}, "missing", false},
		{"exists holds", tocsin.MatchCondition{Exists: yes()}, "team", true},
		{"exists fails for a missing key", tocsin.MatchCondition{Exists: yes()}, "missing", false},
		{"exists fails for an empty value", tocsin.MatchCondition{Exists: yes()}, "empty", false},
		{"exists false holds for a missing key", tocsin.MatchCondition{Exists: no()}, "missing", true},
		{"exists false holds for an empty value", tocsin.MatchCondition{Exists: no()}, "empty", true},
		{"exists false fails for a present key", tocsin.MatchCondition{Exists: no()}, "team", false},
		{"operators are ANDed: both hold", tocsin.MatchCondition{Regex: "web-.*", NotEquals: str("web-2")}, "instance", true},
		{"operators are ANDed: one fails", tocsin.MatchCondition{Regex: "web-.*", NotEquals: str("web-1")}, "instance", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rule := tocsin.RoutingRule{Match: tocsin.RuleMatch{Labels: map[string]tocsin.MatchCondition{tc.key: tc.cond}}}
			got, res := matched(t, rule, alert(labels), tocsin.SourceAlertmanager, monday)
			if got != tc.want {
				t.Fatalf("matched = %v, want %v (%+v)", got, tc.want, res)
			}
			if got && !strings.HasPrefix(res.Matches[0].Reasons[0], "labels."+tc.key) {
				t.Errorf("reasons = %q, want them to name labels.%s", res.Matches[0].Reasons, tc.key)
			}
			if !got && (len(res.Missed) != 1 || !strings.HasPrefix(res.Missed[0].Reason, "labels."+tc.key)) {
				t.Errorf("missed = %+v, want the failed condition on labels.%s", res.Missed, tc.key)
			}
		})
	}
}

func TestMatchAnnotationsAndFields(t *testing.T) {
	a := alert(map[string]string{"team": "platform", "service": "checkout"})
	a.Source = tocsin.SourceCloudWatch
	for _, tc := range []struct {
		name        string
		match       tocsin.RuleMatch
		integration string
		want        bool
		reason      string
	}{
		{"no conditions", tocsin.RuleMatch{}, tocsin.IntakeVersus, true, "no conditions: matches every alert"},
		{"source", tocsin.RuleMatch{Source: "cloudwatch"}, tocsin.IntakeVersus, true, `source = "cloudwatch"`},
		{"source differs", tocsin.RuleMatch{Source: "grafana"}, tocsin.IntakeVersus, false, `source is "cloudwatch", not "grafana"`},
		{"integration", tocsin.RuleMatch{Integration: "versus"}, tocsin.IntakeVersus, true, `integration = "versus"`},
		{"integration differs", tocsin.RuleMatch{Integration: "cloudwatch"}, tocsin.IntakeVersus, false, `integration is "versus", not "cloudwatch"`},
		{"severity", tocsin.RuleMatch{Severity: "critical"}, "", true, `severity = "critical"`},
		{"severity differs", tocsin.RuleMatch{Severity: "high"}, "", false, `severity is "critical", not "high"`},
		{"service is the service label", tocsin.RuleMatch{Service: "checkout"}, "", true, `service = "checkout"`},
		{"team is the team label", tocsin.RuleMatch{Team: "app"}, "", false, `team is "platform", not "app"`},
		{"annotation", tocsin.RuleMatch{Annotations: map[string]tocsin.MatchCondition{"summary": {Regex: "CPU.*"}}}, "", true, `annotations.summary "CPU above 90%" =~ /CPU.*/`},
		{"annotation missing", tocsin.RuleMatch{Annotations: map[string]tocsin.MatchCondition{"runbook": {Exists: yes()}}}, "", false, "annotations.runbook does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, res := matched(t, tocsin.RoutingRule{Match: tc.match}, a, tc.integration, monday)
			if got != tc.want {
				t.Fatalf("matched = %v, want %v (%+v)", got, tc.want, res)
			}
			why := ""
			if got {
				why = res.Matches[0].Reasons[0]
			} else {
				why = res.Missed[0].Reason
			}
			if why != tc.reason {
				t.Errorf("why = %q, want %q", why, tc.reason)
			}
		})
	}
}

func TestMatchOrderContinueAndDefault(t *testing.T) {
	platform := map[string]tocsin.MatchCondition{"team": {Equals: str("platform")}}
	app := map[string]tocsin.MatchCondition{"team": {Equals: str("app")}}
	r := &tocsin.Routing{
		Rules: []tocsin.RoutingRule{
			{Name: "audit", Match: tocsin.RuleMatch{Labels: platform}, NotifyOnly: true, Continue: true},
			{Name: "app", Match: tocsin.RuleMatch{Labels: app}, ResponsePlan: "App-Critical"},
			{Name: "platform", Match: tocsin.RuleMatch{Labels: platform}, ResponsePlan: "Critical-Platform-Outage"},
			{Name: "platform-again", Match: tocsin.RuleMatch{Labels: platform}, ResponsePlan: "Never"},
		},
		Default: &tocsin.RouteAction{NotifyOnly: true},
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	names := func(res route.Result) []string {
		var out []string
		for _, m := range res.Matches {
			out = append(out, fmt.Sprintf("%s:%s:%v", m.Rule, m.ResponsePlan, m.NotifyOnly))
		}
		return out
	}
	// continue: the notify-only rule, then the next match, which stops.
	res := route.Match(r, alert(map[string]string{"team": "platform"}), "", monday)
	if got, want := names(res), []string{"audit::true", "platform:Critical-Platform-Outage:false"}; !slices.Equal(got, want) || res.Default {
		t.Errorf("platform: matches = %v (default %v), want %v", got, res.Default, want)
	}
	if len(res.Missed) != 1 || res.Missed[0].Rule != "app" {
		t.Errorf("platform: missed = %+v, want app only (platform-again is never tried)", res.Missed)
	}
	// The first match without continue stops at once.
	res = route.Match(r, alert(map[string]string{"team": "app"}), "", monday)
	if got, want := names(res), []string{"app:App-Critical:false"}; !slices.Equal(got, want) {
		t.Errorf("app: matches = %v, want %v", got, want)
	}
	// Nothing matched: the default.
	res = route.Match(r, alert(map[string]string{"team": "db"}), "", monday)
	if got, want := names(res), []string{"default::true"}; !slices.Equal(got, want) || !res.Default || res.Matches[0].Index != -1 {
		t.Errorf("db: matches = %v (default %v), want %v from the default", got, res.Default, want)
	}
	// Without a default, nothing.
	r.Default = nil
	if res := route.Match(r, alert(map[string]string{"team": "db"}), "", monday); len(res.Matches) != 0 || res.Default {
		t.Errorf("db without default: %+v, want no match", res)
	}
	// A match with continue and no further match does not fall to the default.
	r.Default = &tocsin.RouteAction{ResponsePlan: "Fallback"}
	r.Rules = r.Rules[:2]
	res = route.Match(r, alert(map[string]string{"team": "platform"}), "", monday)
	if got, want := names(res), []string{"audit::true"}; !slices.Equal(got, want) || res.Default {
		t.Errorf("continue then nothing: %v (default %v), want %v", got, res.Default, want)
	}
	if res := route.Match(nil, alert(nil), "", monday); len(res.Matches) != 0 {
		t.Errorf("nil routing: %+v", res)
	}
}

func at(t *testing.T, zone, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTimeWindow(t *testing.T) {
	business := &tocsin.TimeWindow{TimeZone: "Europe/Berlin", Days: []string{"MON", "TUE", "WED", "THU", "FRI"}, Start: "08:00", End: "18:00"}
	night := &tocsin.TimeWindow{TimeZone: "Europe/Berlin", Days: []string{"FRI"}, Start: "22:00", End: "06:00"}
	allNight := &tocsin.TimeWindow{TimeZone: "Asia/Ho_Chi_Minh", Start: "20:00", End: "08:00"}
	whole := &tocsin.TimeWindow{TimeZone: "UTC", Days: []string{"SUN"}, Start: "00:00", End: "24:00"}
	for _, tc := range []struct {
		w    *tocsin.TimeWindow
		at   time.Time
		want bool
	}{
		{business, at(t, "Europe/Berlin", "2026-03-10 08:00"), true}, // Tuesday
		{business, at(t, "Europe/Berlin", "2026-03-10 07:59"), false},
		{business, at(t, "Europe/Berlin", "2026-03-10 17:59"), true},
		{business, at(t, "Europe/Berlin", "2026-03-10 18:00"), false},
		{business, at(t, "Europe/Berlin", "2026-03-14 10:00"), false},   // Saturday
		{business, time.Date(2026, 3, 10, 7, 30, 0, 0, time.UTC), true}, // 08:30 in Berlin
		{business, time.Date(2026, 7, 7, 6, 30, 0, 0, time.UTC), true},  // 08:30 CEST
		{business, time.Date(2026, 7, 7, 5, 30, 0, 0, time.UTC), false}, // 07:30 CEST
		{night, at(t, "Europe/Berlin", "2026-03-13 22:00"), true},       // Friday night
		{night, at(t, "Europe/Berlin", "2026-03-14 03:00"), true},       // Saturday early: Friday's window
		{night, at(t, "Europe/Berlin", "2026-03-14 06:00"), false},      // its end
		{night, at(t, "Europe/Berlin", "2026-03-13 03:00"), false},      // Friday early: Thursday's window
		{night, at(t, "Europe/Berlin", "2026-03-14 22:30"), false},      // Saturday night
		{allNight, time.Date(2026, 3, 10, 0, 30, 0, 0, time.UTC), true}, // 07:30 in Ho Chi Minh City
		{allNight, time.Date(2026, 3, 10, 1, 0, 0, 0, time.UTC), false}, // 08:00
		{whole, time.Date(2026, 3, 8, 23, 59, 0, 0, time.UTC), true},    // Sunday
		{whole, time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), false},     // Monday
	} {
		if got, why := route.InWindow(tc.w, tc.at); got != tc.want {
			t.Errorf("%s-%s %v at %s: %v (%s), want %v", tc.w.Start, tc.w.End, tc.w.Days, tc.at, got, why, tc.want)
		}
	}
	got, res := matched(t, tocsin.RoutingRule{TimeWindow: business}, alert(nil), "", at(t, "Europe/Berlin", "2026-03-10 09:15"))
	if !got || res.Matches[0].Reasons[0] != "time_window MON,TUE,WED,THU,FRI 08:00-18:00 Europe/Berlin holds at Tue 09:15 CET" {
		t.Errorf("reasons = %+v", res)
	}
}

// TestTimeWindowDSTBruteForce walks a week around each of Berlin's 2026
// changes minute by minute and checks what a wall-clock window means: every
// minute inside reads a clock time inside the window, and each window's
// length in elapsed time is its clock length, less the hour skipped or
// plus the hour repeated when the change falls in it.
func TestTimeWindowDSTBruteForce(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	spring := time.Date(2026, 3, 29, 0, 0, 0, 0, berlin)  // 02:00 → 03:00
	autumn := time.Date(2026, 10, 25, 0, 0, 0, 0, berlin) // 03:00 → 02:00
	for _, tc := range []struct {
		start, end string
		// minutes inside per window, by the day it starts: normal,
		// the night of spring, the night of autumn.
		normal, spring, autumn int
		// startsDayBefore: the window over the change starts the day
		// before it (it crosses midnight).
		startsDayBefore bool
	}{
		{"08:00", "18:00", 600, 600, 600, false},
		{"01:00", "04:00", 180, 120, 240, false},
		{"02:00", "03:00", 60, 0, 120, false},
		{"22:00", "06:00", 480, 420, 540, true},
		{"00:00", "24:00", 1440, 1380, 1500, false},
	} {
		w := &tocsin.TimeWindow{TimeZone: "Europe/Berlin", Start: tc.start, End: tc.end}
		startMin, _ := tocsin.ParseClock(tc.start)
		endMin, _ := tocsin.ParseClock(tc.end)
		for _, change := range []struct {
			day  time.Time
			want int
		}{{spring, tc.spring}, {autumn, tc.autumn}} {
			// Minutes inside, counted per window by the wall-clock date it
			// started on.
			perDay := map[string]int{}
			from := change.day.AddDate(0, 0, -3)
			for m := from; m.Before(change.day.AddDate(0, 0, 4)); m = m.Add(time.Minute) {
				in, _ := route.InWindow(w, m)
				local := m.In(berlin)
				clock := local.Hour()*60 + local.Minute()
				inside := clock >= startMin && clock < endMin
				if endMin <= startMin {
					inside = clock >= startMin || clock < endMin
				}
				if in != inside {
					t.Fatalf("%s-%s at %s: InWindow %v, clock %02d:%02d says %v", tc.start, tc.end, local, in, clock/60, clock%60, inside)
				}
				if in {
					d := local
					if endMin <= startMin && clock < endMin {
						d = d.AddDate(0, 0, -1)
					}
					perDay[d.Format("2006-01-02")]++
				}
			}
			changeDay := change.day
			if tc.startsDayBefore {
				changeDay = changeDay.AddDate(0, 0, -1)
			}
			for d := from.AddDate(0, 0, 1); d.Before(change.day.AddDate(0, 0, 3)); d = d.AddDate(0, 0, 1) {
				want := tc.normal
				if d.Format("2006-01-02") == changeDay.Format("2006-01-02") {
					want = change.want
				}
				if got := perDay[d.Format("2006-01-02")]; got != want {
					t.Errorf("%s-%s starting %s: %d minutes inside, want %d", tc.start, tc.end, d.Format("Mon 2006-01-02"), got, want)
				}
			}
		}
	}
}

func TestMayPage(t *testing.T) {
	critical := &tocsin.PagingPolicy{Plans: []string{"*Critical*", "EC2HighCPU"}, MaxImpact: 3}
	for _, tc := range []struct {
		policy *tocsin.PagingPolicy
		plan   string
		impact int
		want   bool
		why    string
	}{
		{nil, "anything", 5, true, "no paging policy"},
		{critical, "Critical-Platform-Outage", 1, true, `the paging policy allows it: plan Critical-Platform-Outage matches "*Critical*", impact 1 is within 1 to 3`},
		{critical, "App-Critical", 2, true, `plan App-Critical matches "*Critical*"`},
		{critical, "EC2HighCPU", 3, true, "plan EC2HighCPU is listed"},
		{critical, "EC2HighCPU", 4, false, "the paging policy refuses impact 4: only impacts 1 to 3 may page"},
		{critical, "app", 1, false, "the paging policy refuses plan app: it matches none of *Critical*, EC2HighCPU"},
		{critical, "critical-db", 1, false, "refuses plan critical-db"}, // globs are case-sensitive
		{&tocsin.PagingPolicy{MaxImpact: 2}, "any", 2, true, "impact 2 is within 1 to 2"},
		{&tocsin.PagingPolicy{MaxImpact: 2}, "any", 3, false, "refuses impact 3"},
		{&tocsin.PagingPolicy{Plans: []string{"P?"}}, "P1", 5, true, `plan P1 matches "P?"`},
		{&tocsin.PagingPolicy{}, "any", 5, true, "allows every plan and impact"},
	} {
		got, why := route.MayPage(tc.policy, tc.plan, tc.impact)
		if got != tc.want || !strings.Contains(why, tc.why) {
			t.Errorf("MayPage(%+v, %s, %d) = %v, %q; want %v, %q", tc.policy, tc.plan, tc.impact, got, why, tc.want, tc.why)
		}
	}
}
