package oncall

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"tocsin"
)

// Kinds of problem a coverage check finds.
const (
	// FindingGap: a schedule has nobody on call, or an escalation plan
	// reaches nobody, from From until To.
	FindingGap = "gap"
	// FindingUnreachable: an escalation plan reaches nobody in the whole
	// window checked.
	FindingUnreachable = "unreachable"
	// FindingNoChannel: a contact a plan engages has no activated channel
	// in its engagement plan, so paging it sends nothing.
	FindingNoChannel = "no_activated_channel"
	// FindingMissing: a target names something that does not exist.
	FindingMissing = "missing"
)

// Finding is one coverage problem: what it is about and, for a gap, when.
type Finding struct {
	// Kind is what the finding is about: schedule, escalation_plan or contact.
	Kind string `json:"kind"`
	// Name names the schedule, plan or contact.
	Name string `json:"name"`
	// Problem is FindingGap, FindingUnreachable, FindingNoChannel or FindingMissing.
	Problem string `json:"problem"`
	// From and To bound a gap (UTC).
	From *time.Time `json:"from,omitempty"`
	To   *time.Time `json:"to,omitempty"`
	// Message says it in a sentence.
	Message string `json:"message"`
}

// Check lists the coverage problems of every schedule and escalation plan
// of the setup within [from, to): the times each schedule has nobody on
// call, the times each plan would reach nobody at all (every target an
// empty schedule, a contact without an activated channel, a team channel),
// and the contacts a plan engages that paging cannot reach. This is the
// "quality report" of an on-call setup; nothing it finds is an error that
// stops a plan from being saved.
func Check(s *Setup, from, to time.Time) ([]Finding, error) {
	if _, _, err := bounds(from, to); err != nil {
		return nil, err
	}
	cache := newScheduleShifts(s, from, to)
	var out []Finding
	for _, name := range sortedKeys(s.Schedules) {
		shifts, _, err := cache.get(name)
		if err != nil {
			return nil, fmt.Errorf("check schedule %s: %w", name, err)
		}
		for _, g := range gaps(shifts, from, to) {
			out = append(out, gapFinding("schedule", name, "has nobody on call", g))
		}
	}
	seen := map[string]bool{}
	for _, name := range sortedKeys(s.Plans) {
		fs, err := planFindings(s, cache, name, from, to)
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			if f.Kind == "contact" {
				if seen[f.Name] {
					continue
				}
				seen[f.Name] = true
			}
			out = append(out, f)
		}
	}
	return out, nil
}

// CheckPlan lists the coverage problems of one escalation plan within
// [from, to): when it would reach nobody, and the contacts it engages that
// paging cannot reach. The API and `tocsin apply` warn with them when a
// plan is saved.
func CheckPlan(s *Setup, plan string, from, to time.Time) ([]Finding, error) {
	if _, _, err := bounds(from, to); err != nil {
		return nil, err
	}
	return planFindings(s, newScheduleShifts(s, from, to), plan, from, to)
}

// span of time in findings.
type interval struct{ from, to time.Time }

// gaps returns the parts of [from, to) that no shift covers.
func gaps(shifts []Shift, from, to time.Time) []interval {
	var out []interval
	at := from
	for _, sh := range shifts {
		if sh.Start.After(at) {
			out = append(out, interval{at, sh.Start})
		}
		if sh.End.After(at) {
			at = sh.End
		}
	}
	if to.After(at) {
		out = append(out, interval{at, to})
	}
	return out
}

func gapFinding(kind, name, what string, g interval) Finding {
	from, to := g.from.UTC(), g.to.UTC()
	return Finding{Kind: kind, Name: name, Problem: FindingGap, From: &from, To: &to,
		Message: fmt.Sprintf("%s %s %s from %s to %s (%s)", strings.ReplaceAll(kind, "_", " "), name, what,
			from.Format(time.RFC3339), to.Format(time.RFC3339), to.Sub(from))}
}

// planFindings checks one plan.
func planFindings(s *Setup, cache *scheduleShifts, name string, from, to time.Time) ([]Finding, error) {
	if _, ok := s.Plans[name]; !ok {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "escalation plan %q not found", name)
	}
	w := &planWalk{setup: s, cache: cache, contacts: map[string]bool{}}
	// The instants at which what the plan reaches can change: the edges of
	// every shift of every schedule it engages.
	points := []time.Time{from}
	if err := w.collect(name, nil, func(sched string) error {
		shifts, _, err := cache.get(sched)
		for _, sh := range shifts {
			points = append(points, sh.Start, sh.End)
		}
		return err
	}); err != nil {
		return nil, err
	}
	slices.SortFunc(points, time.Time.Compare)
	points = slices.CompactFunc(points, time.Time.Equal)
	var dark []interval
	for i, p := range points {
		if p.Before(from) || !p.Before(to) {
			continue
		}
		end := to
		if i+1 < len(points) && points[i+1].Before(to) {
			end = points[i+1]
		}
		if w.reaches(name, p, nil) {
			continue
		}
		if n := len(dark); n > 0 && dark[n-1].to.Equal(p) {
			dark[n-1].to = end
		} else {
			dark = append(dark, interval{p, end})
		}
	}
	var out []Finding
	switch {
	case len(dark) == 1 && dark[0].from.Equal(from) && dark[0].to.Equal(to):
		why := w.why(name, from, to)
		out = append(out, Finding{Kind: "escalation_plan", Name: name, Problem: FindingUnreachable,
			Message: fmt.Sprintf("escalation plan %s reaches nobody between %s and %s: %s", name,
				from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), strings.Join(why, "; "))})
	default:
		for _, g := range dark {
			out = append(out, gapFinding("escalation_plan", name, "reaches nobody", g))
		}
	}
	for _, alias := range sortedKeys(w.contacts) {
		c := s.Contacts[alias]
		if c == nil {
			out = append(out, Finding{Kind: "contact", Name: alias, Problem: FindingMissing,
				Message: fmt.Sprintf("contact %s, engaged by escalation plan %s, does not exist", alias, name)})
		} else if !reachable(c) {
			out = append(out, Finding{Kind: "contact", Name: alias, Problem: FindingNoChannel,
				Message: fmt.Sprintf("contact %s, engaged by escalation plan %s, has no activated channel in its engagement plan, so paging it sends nothing", alias, name)})
		}
	}
	return out, nil
}

// planWalk follows a plan's targets.
type planWalk struct {
	setup *Setup
	cache *scheduleShifts
	// contacts are every alias the plan can engage in the window.
	contacts map[string]bool
}

// collect visits every schedule the plan engages, through nested plans,
// and records the contacts it can engage.
func (w *planWalk) collect(name string, chain []string, schedule func(string) error) error {
	p := w.setup.Plans[name]
	if p == nil || slices.Contains(chain, name) || len(chain) > maxNesting {
		return nil
	}
	chain = append(chain, name)
	for _, st := range p.Stages {
		for _, t := range st.Targets {
			switch {
			case t.Contact != "":
				w.contacts[t.Contact] = true
			case t.ContactGroup != "":
				if g := w.setup.Groups[t.ContactGroup]; g != nil {
					for _, m := range g.Members {
						w.contacts[m] = true
					}
				}
			case t.Schedule != "":
				if err := schedule(t.Schedule); err != nil {
					return err
				}
				shifts, _, _ := w.cache.get(t.Schedule)
				for _, sh := range shifts {
					for _, m := range sh.Members {
						w.contacts[m] = true
					}
				}
			case t.EscalationPlan != "":
				if err := w.collect(t.EscalationPlan, chain, schedule); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// reaches reports whether engaging the plan at instant t would page at
// least one person through some stage.
func (w *planWalk) reaches(name string, t time.Time, chain []string) bool {
	p := w.setup.Plans[name]
	if p == nil || slices.Contains(chain, name) || len(chain) > maxNesting {
		return false
	}
	chain = append(chain, name)
	for _, st := range p.Stages {
		for _, tg := range st.Targets {
			if w.targetReaches(tg, t, chain) {
				return true
			}
		}
	}
	return false
}

func (w *planWalk) targetReaches(tg tocsin.Target, t time.Time, chain []string) bool {
	ok := func(alias string) bool {
		c := w.setup.Contacts[alias]
		return c != nil && reachable(c)
	}
	switch {
	case tg.Contact != "":
		return ok(tg.Contact)
	case tg.ContactGroup != "":
		if g := w.setup.Groups[tg.ContactGroup]; g != nil {
			return slices.ContainsFunc(g.Members, ok)
		}
	case tg.Schedule != "":
		shifts, _, _ := w.cache.get(tg.Schedule)
		return slices.ContainsFunc(membersAt(shifts, t), ok)
	case tg.EscalationPlan != "":
		return w.reaches(tg.EscalationPlan, t, chain)
	}
	// A team channel is told, but it is not a person who can acknowledge.
	return false
}

// why explains, target by target, why a plan reaches nobody in the window.
func (w *planWalk) why(name string, from, to time.Time) []string {
	var out []string
	add := func(s string) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	days := fmt.Sprintf("%g days", to.Sub(from).Hours()/24)
	for _, st := range w.setup.Plans[name].Stages {
		for _, tg := range st.Targets {
			switch {
			case tg.Contact != "":
				if w.setup.Contacts[tg.Contact] == nil {
					add("contact " + tg.Contact + " does not exist")
				} else {
					add("contact " + tg.Contact + " has no activated channel")
				}
			case tg.ContactGroup != "":
				if w.setup.Groups[tg.ContactGroup] == nil {
					add("contact group " + tg.ContactGroup + " does not exist")
				} else {
					add("no member of contact group " + tg.ContactGroup + " has an activated channel")
				}
			case tg.Schedule != "":
				shifts, found, _ := w.cache.get(tg.Schedule)
				switch {
				case !found:
					add("schedule " + tg.Schedule + " does not exist")
				case len(shifts) == 0:
					add("schedule " + tg.Schedule + " has nobody on call in the next " + days)
				default:
					add("nobody on call in schedule " + tg.Schedule + " has an activated channel")
				}
			case tg.EscalationPlan != "":
				add("escalation plan " + tg.EscalationPlan + " reaches nobody either")
			case tg.Channel != "":
				add("team channel " + tg.Channel + " is told, but it is not a person")
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
