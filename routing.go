package tocsin

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Routing is the one ordered list of rules that picks a response plan for
// an alert (package route decides with it), the plan used when no rule
// matches, and the paging policy that says which plans may page at all.
type Routing struct {
	Rules []RoutingRule `json:"rules" yaml:"rules"`
	// Default applies when no rule matches; without one, an alert no rule
	// matches opens an incident as if there were no routing.
	Default *RouteAction `json:"default,omitempty" yaml:"default,omitempty"`
	// PagingPolicy, when set, bounds which plans and impacts page people.
	PagingPolicy *PagingPolicy `json:"paging_policy,omitempty" yaml:"paging_policy,omitempty"`
}

// RoutingRule matches alerts and says what they do. Every condition of
// Match and the time window must hold. A matched rule stops the search
// unless it says Continue.
type RoutingRule struct {
	Name       string      `json:"name" yaml:"name"`
	Match      RuleMatch   `json:"match,omitzero" yaml:"match,omitempty"`
	TimeWindow *TimeWindow `json:"time_window,omitempty" yaml:"time_window,omitempty"`
	// ResponsePlan and NotifyOnly are the action: exactly one is set.
	ResponsePlan string `json:"response_plan,omitempty" yaml:"response_plan,omitempty"`
	NotifyOnly   bool   `json:"notify_only,omitempty" yaml:"notify_only,omitempty"`
	Continue     bool   `json:"continue,omitempty" yaml:"continue,omitempty"`
}

// RouteAction is what the default does: open an incident from
// ResponsePlan, or with NotifyOnly tell the channels and page nobody.
type RouteAction struct {
	ResponsePlan string `json:"response_plan,omitempty" yaml:"response_plan,omitempty"`
	NotifyOnly   bool   `json:"notify_only,omitempty" yaml:"notify_only,omitempty"`
}

// RuleMatch lists a rule's conditions on the alert. The plain fields must
// equal the alert's (Service and Team are its "service" and "team"
// labels); an empty field is no condition.
type RuleMatch struct {
	Source string `json:"source,omitempty" yaml:"source,omitempty"`
	// Integration is the intake the alert came in on: one of Intakes.
	Integration string                    `json:"integration,omitempty" yaml:"integration,omitempty"`
	Severity    string                    `json:"severity,omitempty" yaml:"severity,omitempty"`
	Service     string                    `json:"service,omitempty" yaml:"service,omitempty"`
	Team        string                    `json:"team,omitempty" yaml:"team,omitempty"`
	Labels      map[string]MatchCondition `json:"labels,omitempty" yaml:"labels,omitempty"`
	Annotations map[string]MatchCondition `json:"annotations,omitempty" yaml:"annotations,omitempty"`
}

// MatchCondition tests one label or annotation; every operator set must
// hold. A missing key reads as "", as in Alertmanager. Regex is anchored
// at both ends (it must match the whole value). Exists true holds for a
// key with a non-empty value, false for a missing or empty one.
type MatchCondition struct {
	Equals    *string `json:"equals,omitempty" yaml:"equals,omitempty"`
	NotEquals *string `json:"not_equals,omitempty" yaml:"not_equals,omitempty"`
	Regex     string  `json:"regex,omitempty" yaml:"regex,omitempty"`
	Exists    *bool   `json:"exists,omitempty" yaml:"exists,omitempty"`
}

// TimeWindow limits a rule to a weekly window of wall-clock time in
// TimeZone: on Days (every day when empty) from Start to End, "HH:MM".
// An End at or before Start runs into the next day (22:00–06:00), and the
// day named is the day the window starts.
type TimeWindow struct {
	TimeZone string   `json:"time_zone" yaml:"time_zone"`
	Days     []string `json:"days,omitempty" yaml:"days,omitempty"`
	Start    string   `json:"start" yaml:"start"`
	End      string   `json:"end" yaml:"end"`
}

// PagingPolicy says which incidents may page people at all (the seed's
// "critical-only" rule, which Versus users keep with an IAM policy): the
// plan's name must match one of Plans (names or path.Match globs such as
// "*Critical*"; empty: any plan) and the incident's impact must be 1 to
// MaxImpact (0: any).
type PagingPolicy struct {
	Plans     []string `json:"plans,omitempty" yaml:"plans,omitempty"`
	MaxImpact int      `json:"max_impact,omitempty" yaml:"max_impact,omitempty"`
}

// IntakeVersus is the intake of Versus Incident's POST /api/incidents;
// the others are named after their /api/v1/alerts/{source} path.
const IntakeVersus = "versus"

// Intakes are the intakes an alert can come in on, as routing rules'
// match.integration names them.
var Intakes = []string{SourceAlertmanager, SourceGrafana, SourceCloudWatch, SourceSentry, SourcePagerDuty, SourceGeneric, IntakeVersus}

// Weekdays are the day names of time windows, Sunday first as in time.Weekday.
var Weekdays = []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}

// ParseClock reads "HH:MM" (00:00 to 24:00) as minutes after midnight.
func ParseClock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h, m := int(s[0]-'0')*10+int(s[1]-'0'), int(s[3]-'0')*10+int(s[4]-'0')
	if m > 59 || h*60+m > 24*60 {
		return 0, false
	}
	return h*60 + m, true
}

// AnchoredRegexp compiles a routing regex the way rules use it: anchored
// at both ends, as Alertmanager's matchers are.
func AnchoredRegexp(re string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + re + ")$")
}

// Validate checks the routing document: names, actions, conditions (each
// regex compiles), time windows and the paging policy. Every problem names
// its field: `rules[2].match.labels.team: invalid regex …`. That each plan
// exists is CheckPlans'.
func (r *Routing) Validate() error {
	var p problems
	names := map[string]int{}
	for i, rule := range r.Rules {
		f := fmt.Sprintf("rules[%d]", i)
		if !ValidName(rule.Name) {
			p.add("%s.name: %q must be 1-63 lower-case letters, digits, '.', '-' or '_'", f, rule.Name)
		} else if j, dup := names[rule.Name]; dup {
			p.add("%s.name: %q is also the name of rules[%d]", f, rule.Name, j)
		} else {
			names[rule.Name] = i
		}
		checkAction(&p, f, rule.ResponsePlan, rule.NotifyOnly)
		rule.Match.validate(&p, f+".match")
		if w := rule.TimeWindow; w != nil {
			w.validate(&p, f+".time_window")
		}
	}
	if d := r.Default; d != nil {
		checkAction(&p, "default", d.ResponsePlan, d.NotifyOnly)
	}
	if pp := r.PagingPolicy; pp != nil {
		for i, g := range pp.Plans {
			if _, err := path.Match(g, ""); err != nil || g == "" {
				p.add("paging_policy.plans[%d]: %q is not a plan name or glob", i, g)
			}
		}
		if pp.MaxImpact < 0 || pp.MaxImpact > ImpactNone {
			p.add("paging_policy.max_impact: %d is not between 1 and 5 (0: any impact)", pp.MaxImpact)
		}
	}
	return p.err("routing")
}

// checkAction checks that an action is a plan or notify-only.
func checkAction(p *problems, f, plan string, notifyOnly bool) {
	switch {
	case plan != "" && notifyOnly:
		p.add("%s: response_plan and notify_only exclude each other", f)
	case plan == "" && !notifyOnly:
		p.add("%s.response_plan: required (or notify_only: true)", f)
	case plan != "" && !ValidPlanName(plan):
		p.add("%s.response_plan: %q is not a response plan name", f, plan)
	}
}

func (m *RuleMatch) validate(p *problems, f string) {
	if m.Integration != "" && !slices.Contains(Intakes, m.Integration) {
		p.add("%s.integration: %q is not one of %s", f, m.Integration, strings.Join(Intakes, ", "))
	}
	for _, set := range []struct {
		name string
		m    map[string]MatchCondition
	}{{"labels", m.Labels}, {"annotations", m.Annotations}} {
		for _, k := range sortedKeys(set.m) {
			c, kf := set.m[k], f+"."+set.name+"."+k
			if k == "" {
				p.add("%s.%s: a key is empty", f, set.name)
			}
			if c.Equals == nil && c.NotEquals == nil && c.Regex == "" && c.Exists == nil {
				p.add("%s: one of equals, not_equals, regex, exists is required", kf)
			}
			if c.Regex != "" {
				if _, err := AnchoredRegexp(c.Regex); err != nil {
					p.add("%s: invalid regex %q: %v", kf, c.Regex, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
				}
			}
		}
	}
}

func (w *TimeWindow) validate(p *problems, f string) {
	if w.TimeZone == "" {
		p.add("%s.time_zone: required (an IANA time zone such as Europe/Berlin)", f)
	} else if _, err := time.LoadLocation(w.TimeZone); err != nil || w.TimeZone == "Local" {
		p.add("%s.time_zone: %q is not an IANA time zone", f, w.TimeZone)
	}
	seen := map[string]bool{}
	for i, d := range w.Days {
		switch {
		case !slices.Contains(Weekdays, d):
			p.add("%s.days[%d]: %q is not MON, TUE, WED, THU, FRI, SAT or SUN", f, i, d)
		case seen[d]:
			p.add("%s.days[%d]: %q is listed twice", f, i, d)
		}
		seen[d] = true
	}
	start, okS := ParseClock(w.Start)
	end, okE := ParseClock(w.End)
	if !okS || start == 24*60 {
		p.add("%s.start: %q is not HH:MM between 00:00 and 23:59", f, w.Start)
	}
	if !okE {
		p.add("%s.end: %q is not HH:MM between 00:00 and 24:00", f, w.End)
	}
	if okS && okE && start == end {
		p.add("%s.end: equals start, so the window is empty (00:00 to 24:00 is the whole day)", f)
	}
}

// CheckPlans reports rules (and the default) naming a response plan that
// is not in plans.
func (r *Routing) CheckPlans(plans map[string]bool) error {
	var p problems
	for i, rule := range r.Rules {
		if rule.ResponsePlan != "" && !plans[rule.ResponsePlan] {
			p.add("rules[%d].response_plan: %q is not a response plan", i, rule.ResponsePlan)
		}
	}
	if d := r.Default; d != nil && d.ResponsePlan != "" && !plans[d.ResponsePlan] {
		p.add("default.response_plan: %q is not a response plan", d.ResponsePlan)
	}
	return p.err("routing")
}
