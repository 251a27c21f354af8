package tocsin

import (
	"strings"
	"testing"
)

func validRouting() *Routing {
	s := "platform"
	return &Routing{
		Rules: []RoutingRule{
			{Name: "business-hours", TimeWindow: &TimeWindow{TimeZone: "Europe/Berlin", Days: []string{"MON"}, Start: "08:00", End: "18:00"}, NotifyOnly: true, Continue: true},
			{Name: "platform-critical", Match: RuleMatch{Severity: "critical", Labels: map[string]MatchCondition{"team": {Equals: &s}}}, ResponsePlan: "Critical-Platform-Outage"},
		},
		Default:      &RouteAction{NotifyOnly: true},
		PagingPolicy: &PagingPolicy{Plans: []string{"*Critical*"}, MaxImpact: 2},
	}
}

func TestRoutingValidate(t *testing.T) {
	if err := validRouting().Validate(); err != nil {
		t.Fatalf("valid routing: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(r *Routing)
		want   string
	}{
		{"rule name", func(r *Routing) { r.Rules[0].Name = "Business Hours" }, `rules[0].name: "Business Hours" must be`},
		{"duplicate name", func(r *Routing) { r.Rules[1].Name = "business-hours" }, `rules[1].name: "business-hours" is also the name of rules[0]`},
		{"no action", func(r *Routing) { r.Rules[1].ResponsePlan = "" }, "rules[1].response_plan: required (or notify_only: true)"},
		{"both actions", func(r *Routing) { r.Rules[1].NotifyOnly = true }, "rules[1]: response_plan and notify_only exclude each other"},
		{"plan name", func(r *Routing) { r.Rules[1].ResponsePlan = "a b" }, `rules[1].response_plan: "a b" is not a response plan name`},
		{"regex", func(r *Routing) { r.Rules[1].Match.Labels["team"] = MatchCondition{Regex: "plat(form"} }, `rules[1].match.labels.team: invalid regex "plat(form": missing closing ): `},
		{"empty condition", func(r *Routing) { r.Rules[1].Match.Annotations = map[string]MatchCondition{"summary": {}} }, "rules[1].match.annotations.summary: one of equals, not_equals, regex, exists is required"},
		{"integration", func(r *Routing) { r.Rules[1].Match.Integration = "sns" }, `rules[1].match.integration: "sns" is not one of alertmanager, grafana, cloudwatch, sentry, pagerduty, generic, versus`},
		{"zone", func(r *Routing) { r.Rules[0].TimeWindow.TimeZone = "CET-ish" }, `rules[0].time_window.time_zone: "CET-ish" is not an IANA time zone`},
		{"no zone", func(r *Routing) { r.Rules[0].TimeWindow.TimeZone = "" }, "rules[0].time_window.time_zone: required"},
		{"day", func(r *Routing) { r.Rules[0].TimeWindow.Days = []string{"MON", "Tuesday"} }, `rules[0].time_window.days[1]: "Tuesday" is not MON, TUE, WED, THU, FRI, SAT or SUN`},
		{"day twice", func(r *Routing) { r.Rules[0].TimeWindow.Days = []string{"MON", "MON"} }, `rules[0].time_window.days[1]: "MON" is listed twice`},
		{"start", func(r *Routing) { r.Rules[0].TimeWindow.Start = "8:00" }, `rules[0].time_window.start: "8:00" is not HH:MM between 00:00 and 23:59`},
		{"start 24:00", func(r *Routing) { r.Rules[0].TimeWindow.Start = "24:00" }, `rules[0].time_window.start: "24:00"`},
		{"end", func(r *Routing) { r.Rules[0].TimeWindow.End = "18:60" }, `rules[0].time_window.end: "18:60" is not HH:MM between 00:00 and 24:00`},
		{"empty window", func(r *Routing) { r.Rules[0].TimeWindow.End = "08:00" }, "rules[0].time_window.end: equals start, so the window is empty"},
		{"default", func(r *Routing) { r.Default = &RouteAction{} }, "default.response_plan: required (or notify_only: true)"},
		{"glob", func(r *Routing) { r.PagingPolicy.Plans = []string{"[Critical"} }, `paging_policy.plans[0]: "[Critical" is not a plan name or glob`},
		{"max impact", func(r *Routing) { r.PagingPolicy.MaxImpact = 6 }, "paging_policy.max_impact: 6 is not between 1 and 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := validRouting()
			tc.change(r)
			err := r.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
	r := validRouting()
	if err := r.CheckPlans(map[string]bool{"Critical-Platform-Outage": true}); err != nil {
		t.Errorf("CheckPlans: %v", err)
	}
	r.Default = &RouteAction{ResponsePlan: "Gone"}
	if err := r.CheckPlans(map[string]bool{}); err == nil || ErrorMessage(err) != `routing: rules[1].response_plan: "Critical-Platform-Outage" is not a response plan; default.response_plan: "Gone" is not a response plan` {
		t.Errorf("CheckPlans = %v", err)
	}
}

func TestParseClock(t *testing.T) {
	for s, want := range map[string]int{"00:00": 0, "08:30": 510, "23:59": 1439, "24:00": 1440, "24:01": -1, "8:00": -1, "08:0x": -1, "-1:00": -1, "12-00": -1} {
		got, ok := ParseClock(s)
		if !ok {
			got = -1
		}
		if got != want {
			t.Errorf("ParseClock(%q) = %d, want %d", s, got, want)
		}
	}
}
