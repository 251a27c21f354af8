package route

import (
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"tocsin"
)

// Result is what routing decides for one alert.
type Result struct {
	// Matches are the rules that matched, in order: the first, and the
	// ones after it while each says continue. When no rule matched and
	// the routing has a default, the default is the one match.
	Matches []Matched `json:"matches"`
	// Default is set when Matches holds the default.
	Default bool `json:"default,omitempty"`
	// Missed are the rules tried that did not match, each with the first
	// condition that failed (for `tocsin route test`).
	Missed []Miss `json:"missed,omitempty"`
}

// Matched is one matched rule and what it does.
type Matched struct {
	// Rule is the rule's name ("default" for the default); Index its
	// position in rules (-1 for the default).
	Rule  string `json:"rule"`
	Index int    `json:"index"`
	// Reasons are the conditions that held, one line each
	// ("labels.team = \"platform\"").
	Reasons      []string `json:"reasons"`
	ResponsePlan string   `json:"response_plan,omitempty"`
	NotifyOnly   bool     `json:"notify_only,omitempty"`
	Continue     bool     `json:"continue,omitempty"`
}

// Miss is a rule that did not match and why.
type Miss struct {
	Rule   string `json:"rule"`
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// DefaultRule names the default in a Matched.
const DefaultRule = "default"

// Match routes alert a, which came in on intake integration (one of
// tocsin.Intakes), at instant now. r must have passed Validate; a nil r
// matches nothing.
func Match(r *tocsin.Routing, a *tocsin.Alert, integration string, now time.Time) Result {
	var res Result
	if r == nil {
		return res
	}
	for i, rule := range r.Rules {
		reasons, miss := check(&rule, a, integration, now)
		if miss != "" {
			res.Missed = append(res.Missed, Miss{Rule: rule.Name, Index: i, Reason: miss})
			continue
		}
		res.Matches = append(res.Matches, Matched{Rule: rule.Name, Index: i, Reasons: reasons,
			ResponsePlan: rule.ResponsePlan, NotifyOnly: rule.NotifyOnly, Continue: rule.Continue})
		if !rule.Continue {
			return res
		}
	}
	if len(res.Matches) == 0 && r.Default != nil {
		res.Default = true
		res.Matches = []Matched{{Rule: DefaultRule, Index: -1, Reasons: []string{"no rule matched"},
			ResponsePlan: r.Default.ResponsePlan, NotifyOnly: r.Default.NotifyOnly}}
	}
	return res
}

// check tests every condition of a rule, returning those that held, or
// the first that failed.
func check(rule *tocsin.RoutingRule, a *tocsin.Alert, integration string, now time.Time) (reasons []string, miss string) {
	m := &rule.Match
	for _, f := range []struct{ name, want, have string }{
		{"source", m.Source, a.Source}, {"integration", m.Integration, integration}, {"severity", m.Severity, a.Severity},
		{"service", m.Service, a.Labels["service"]}, {"team", m.Team, a.Labels["team"]},
	} {
		if f.want == "" {
			continue
		}
		if f.have != f.want {
			return nil, fmt.Sprintf("%s is %q, not %q", f.name, f.have, f.want)
		}
		reasons = append(reasons, fmt.Sprintf("%s = %q", f.name, f.want))
	}
	for _, set := range []struct {
		name   string
		conds  map[string]tocsin.MatchCondition
		values map[string]string
	}{{"labels", m.Labels, a.Labels}, {"annotations", m.Annotations, a.Annotations}} {
		// Sorted, so the first failing condition and the reasons are the
		// same every time.
		for _, k := range slices.Sorted(maps.Keys(set.conds)) {
			held, failed := condition(set.name+"."+k, set.conds[k], set.values[k])
			if failed != "" {
				return nil, failed
			}
			reasons = append(reasons, held...)
		}
	}
	if w := rule.TimeWindow; w != nil {
		ok, why := InWindow(w, now)
		if !ok {
			return nil, why
		}
		reasons = append(reasons, why)
	}
	if len(reasons) == 0 {
		reasons = []string{"no conditions: matches every alert"}
	}
	return reasons, ""
}

// condition tests one label or annotation condition on value v ("" when
// the key is missing).
func condition(field string, c tocsin.MatchCondition, v string) (held []string, failed string) {
	if c.Equals != nil {
		if v != *c.Equals {
			return nil, fmt.Sprintf("%s is %q, not %q", field, v, *c.Equals)
		}
		held = append(held, fmt.Sprintf("%s = %q", field, *c.Equals))
	}
	if c.NotEquals != nil {
		if v == *c.NotEquals {
			return nil, fmt.Sprintf("%s is %q", field, v)
		}
		held = append(held, fmt.Sprintf("%s != %q (it is %q)", field, *c.NotEquals, v))
	}
	if c.Regex != "" {
		re, err := compiled(c.Regex)
		if err != nil || !re.MatchString(v) {
			return nil, fmt.Sprintf("%s %q does not match /%s/ (the whole value)", field, v, c.Regex)
		}
		held = append(held, fmt.Sprintf("%s %q =~ /%s/", field, v, c.Regex))
	}
	if c.Exists != nil {
		switch {
		case *c.Exists && v == "":
			return nil, field + " does not exist"
		case !*c.Exists && v != "":
			return nil, fmt.Sprintf("%s exists (%q)", field, v)
		case *c.Exists:
			held = append(held, field+" exists")
		default:
			held = append(held, field+" does not exist")
		}
	}
	return held, ""
}

// InWindow reports whether now lies in the time window, with a line saying
// why: the wall-clock time in the window's zone is compared with the
// window (see the package documentation). w must have passed Validate.
func InWindow(w *tocsin.TimeWindow, now time.Time) (bool, string) {
	loc, err := location(w.TimeZone)
	if err != nil {
		return false, fmt.Sprintf("time_window: %v", err)
	}
	t := now.In(loc)
	start, _ := tocsin.ParseClock(w.Start)
	end, _ := tocsin.ParseClock(w.End)
	mins := t.Hour()*60 + t.Minute()
	day := t.Weekday()
	var in bool
	switch {
	case start < end:
		in = mins >= start && mins < end
	case mins >= start:
		in = true
	case mins < end:
		// The early part of a window that began the day before.
		in, day = true, (day+6)%7
	}
	desc := fmt.Sprintf("time_window %s %s-%s %s", days(w.Days), w.Start, w.End, w.TimeZone)
	at := t.Format("Mon 15:04 MST")
	if in && (len(w.Days) == 0 || slices.Contains(w.Days, tocsin.Weekdays[day])) {
		return true, fmt.Sprintf("%s holds at %s", desc, at)
	}
	return false, fmt.Sprintf("%s does not hold at %s", desc, at)
}

// MayPage reports whether the paging policy lets an incident of plan
// planName at impact page people, and why. A nil policy allows everything.
func MayPage(policy *tocsin.PagingPolicy, planName string, impact int) (bool, string) {
	if policy == nil {
		return true, "no paging policy"
	}
	var why []string
	if len(policy.Plans) > 0 {
		matched := ""
		for _, g := range policy.Plans {
			if ok, _ := path.Match(g, planName); ok {
				matched = g
				break
			}
		}
		if matched == "" {
			return false, fmt.Sprintf("the paging policy refuses plan %s: it matches none of %s", planName, strings.Join(policy.Plans, ", "))
		}
		if matched == planName {
			why = append(why, "plan "+planName+" is listed")
		} else {
			why = append(why, fmt.Sprintf("plan %s matches %q", planName, matched))
		}
	}
	if n := policy.MaxImpact; n > 0 {
		if impact < tocsin.ImpactCritical || impact > n {
			return false, fmt.Sprintf("the paging policy refuses impact %d: only impacts 1 to %d may page", impact, n)
		}
		why = append(why, fmt.Sprintf("impact %d is within 1 to %d", impact, n))
	}
	if len(why) == 0 {
		return true, "the paging policy allows every plan and impact"
	}
	return true, "the paging policy allows it: " + strings.Join(why, ", ")
}

func days(ds []string) string {
	if len(ds) == 0 {
		return "every day"
	}
	return strings.Join(ds, ",")
}

// Compiled regexes and loaded zones are kept: rules are few and change
// rarely, and each alert is routed through all of them.
var (
	regexps   sync.Map // string → *regexp.Regexp
	locations sync.Map // string → *time.Location
)

func compiled(re string) (*regexp.Regexp, error) {
	if v, ok := regexps.Load(re); ok {
		return v.(*regexp.Regexp), nil
	}
	c, err := tocsin.AnchoredRegexp(re)
	if err != nil {
		return nil, err
	}
	regexps.Store(re, c)
	return c, nil
}

func location(name string) (*time.Location, error) {
	if v, ok := locations.Load(name); ok {
		return v.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, loc)
	return loc, nil
}
