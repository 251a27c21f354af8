package oncall

import (
	"slices"
	"strings"
	"time"

	"tocsin"
)

// Setup is the on-call configuration that the coverage check and the page
// preview work on: who can be paged, how, and through which schedules and
// plans. Callers load it from the store (or, for `tocsin apply`, from the
// server merged with the files about to be applied).
type Setup struct {
	// Contacts by alias, with their channels' activation.
	Contacts map[string]*tocsin.Contact
	// Groups are the contact groups by name.
	Groups map[string]*tocsin.ContactGroup
	// Schedules by name, their rotations resolved.
	Schedules map[string]*ResolvedSchedule
	// Overrides of the schedules' rotations.
	Overrides []Override
	// Plans are the escalation plans by name.
	Plans map[string]*tocsin.EscalationPlan
}

// maxNesting bounds how deep escalation plans that engage plans are
// followed, so a loop that slipped past validation cannot recurse forever.
const maxNesting = 10

// EngagementPages lists the pages engaging contact c at start would send
// under its engagement plan: each step pages one activated channel after
// its delay, and again every retry interval; without a plan every
// activated channel is paged at once. The paging engine's pages are these
// (engage.Pages), so a preview shows what a page will do. skipped explains
// steps that page nobody.
func EngagementPages(c *tocsin.Contact, start time.Time) (pages []PlannedPage, skipped []string) {
	byName := map[string]tocsin.ContactChannel{}
	for _, ch := range c.Channels {
		byName[ch.Name] = ch
	}
	steps := c.EngagementPlan
	if len(steps) == 0 {
		for _, ch := range c.Channels {
			steps = append(steps, tocsin.EngagementStep{Channel: ch.Name})
		}
	}
	for i, st := range steps {
		ch, ok := byName[st.Channel]
		switch {
		case !ok:
			skipped = append(skipped, c.Alias+"'s channel "+st.Channel+" does not exist")
		case !ch.Activated:
			skipped = append(skipped, c.Alias+"'s "+st.Channel+" is not activated")
		default:
			// A retry interval pages the channel again, Repages times.
			for k := 0; k <= st.Repages(); k++ {
				pages = append(pages, PlannedPage{At: start.Add(st.After.Std() + time.Duration(k)*st.RetryInterval.Std()).UTC(),
					Retry: k, Step: i, Contact: c.Alias, Channel: ch.Name, Type: ch.Type, Via: []string{}})
			}
		}
	}
	switch {
	case len(pages) == 0 && len(skipped) == 0:
		skipped = append(skipped, c.Alias+" has no channel to page")
	case len(pages) == 0 && !slices.ContainsFunc(skipped, func(s string) bool { return !strings.HasSuffix(s, " is not activated") }):
		// One note says it when nothing at all is activated.
		skipped = []string{c.Alias + " has no activated channel"}
	}
	return pages, skipped
}

// reachable reports whether paging the contact would send anything: some
// step of its engagement plan names an activated channel.
func reachable(c *tocsin.Contact) bool {
	pages, _ := EngagementPages(c, time.Time{})
	return len(pages) > 0
}

// scheduleShifts caches each schedule's timeline over one window.
type scheduleShifts struct {
	setup    *Setup
	from, to time.Time
	shifts   map[string][]Shift
	errs     map[string]error
}

func newScheduleShifts(s *Setup, from, to time.Time) *scheduleShifts {
	return &scheduleShifts{setup: s, from: from, to: to, shifts: map[string][]Shift{}, errs: map[string]error{}}
}

// get returns the shifts of schedule name within the window; ok is false
// when there is no such schedule.
func (c *scheduleShifts) get(name string) (shifts []Shift, ok bool, err error) {
	sc, ok := c.setup.Schedules[name]
	if !ok {
		return nil, false, nil
	}
	if sh, done := c.shifts[name]; done || c.errs[name] != nil {
		return sh, true, c.errs[name]
	}
	sh, err := sc.Shifts(c.setup.Overrides, c.from, c.to)
	c.shifts[name], c.errs[name] = sh, err
	return sh, true, err
}

// membersAt returns the members on call at t from a schedule's shifts.
func membersAt(shifts []Shift, t time.Time) []string {
	i, found := slices.BinarySearchFunc(shifts, t, func(s Shift, t time.Time) int {
		switch {
		case !s.End.After(t):
			return -1
		case s.Start.After(t):
			return 1
		}
		return 0
	})
	if !found {
		return nil
	}
	return shifts[i].Members
}
