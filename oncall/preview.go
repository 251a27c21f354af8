package oncall

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"tocsin"
)

// PlannedPage is one page that engaging a plan or a contact would send if
// nobody acknowledged: AWS's ListPageResolutions, with the time and the
// channel.
type PlannedPage struct {
	// At is when the page would go out (UTC).
	At time.Time `json:"at"`
	// Stage is the 1-based stage of the previewed plan that engages the
	// person (0 in a contact's preview); Repeat the 0-based run of the
	// plan.
	Stage  int `json:"stage,omitempty"`
	Repeat int `json:"repeat,omitempty"`
	// Retry counts the re-pages of an engagement-plan step with a retry
	// interval (0: the first page).
	Retry int `json:"retry,omitempty"`
	// Step is the 0-based step of the contact's engagement plan that
	// sends the page: with Retry it tells apart two pages of one channel
	// (the paging engine keys its pages by both). Previews do not show it.
	Step int `json:"-"`
	// Via is how the stage's target resolved to the person, outermost
	// first: "escalation plan app-escalation stage 2", "contact group
	// app-team", "schedule platform", "rotation platform-weekly".
	Via []string `json:"via"`
	// Contact, Channel and Type name the contact channel paged.
	Contact string `json:"contact"`
	Channel string `json:"channel"`
	Type    string `json:"type"`
	// Essential is set when the person's acknowledgement stops the plan.
	Essential bool `json:"essential"`
}

// PagePreview is what engaging something now would do.
type PagePreview struct {
	// At is the instant previewed (the engagement's start), UTC.
	At time.Time `json:"at"`
	// Pages are in the order they would be sent.
	Pages []PlannedPage `json:"pages"`
	// Channels are the team channels stages would tell, with when.
	Channels []PlannedChannel `json:"channels,omitempty"`
	// Notes say what resolves to nobody and why (an empty schedule, a
	// channel not activated). Never nil.
	Notes []string `json:"notes"`
	// Ends is when the plan's last stage ends (the plan is exhausted),
	// unless someone acknowledges first.
	Ends time.Time `json:"ends,omitzero"`
}

// PlannedChannel is a team channel a stage tells.
type PlannedChannel struct {
	At      time.Time `json:"at"`
	Stage   int       `json:"stage"`
	Channel string    `json:"channel"`
	Via     []string  `json:"via"`
}

// PreviewPlan resolves escalation plan name as the paging engine would if
// it were engaged at now and nobody acknowledged: each stage starts when
// the one before it ends (at once when it engaged nobody), its targets
// resolve to people at that instant (contact groups to their members,
// schedules to whoever is on call then, nested plans to their own stages),
// and each person's engagement plan turns into pages at its delays.
func PreviewPlan(s *Setup, name string, now time.Time) (*PagePreview, error) {
	if _, ok := s.Plans[name]; !ok {
		return nil, tocsin.Errorf(tocsin.ENOTFOUND, "escalation plan %q not found", name)
	}
	pv := &PagePreview{At: now.UTC(), Pages: []PlannedPage{}, Notes: []string{}}
	end, err := previewPlan(s, pv, name, now, nil, 0)
	if err != nil {
		return nil, err
	}
	pv.Ends = end.UTC()
	slices.SortStableFunc(pv.Pages, func(a, b PlannedPage) int { return a.At.Compare(b.At) })
	slices.SortStableFunc(pv.Channels, func(a, b PlannedChannel) int { return a.At.Compare(b.At) })
	return pv, nil
}

// PreviewContact lists the pages engaging contact c at now would send.
func PreviewContact(c *tocsin.Contact, now time.Time) *PagePreview {
	pages, skipped := EngagementPages(c, now)
	pv := &PagePreview{At: now.UTC(), Pages: pages, Notes: append([]string{}, skipped...)}
	for i := range pv.Pages {
		pv.Pages[i].Via = []string{"contact " + c.Alias}
		pv.Pages[i].Essential = true
	}
	slices.SortStableFunc(pv.Pages, func(a, b PlannedPage) int { return a.At.Compare(b.At) })
	if len(pv.Pages) > 0 {
		pv.Ends = pv.Pages[len(pv.Pages)-1].At
	}
	return pv
}

// previewPlan adds the pages of plan name engaged at start, reached through
// via (the stages of the plans that engaged it), and returns when its last
// stage ends. Only the top-level plan's stages are numbered in pages.
func previewPlan(s *Setup, pv *PagePreview, name string, start time.Time, via []string, topStage int) (time.Time, error) {
	p := s.Plans[name]
	if p == nil {
		pv.Notes = append(pv.Notes, "escalation plan "+name+" does not exist")
		return start, nil
	}
	for _, v := range via {
		if strings.HasPrefix(v, "escalation plan "+name+" stage ") || len(via) >= maxNesting {
			pv.Notes = append(pv.Notes, "escalation plan "+name+" engages itself through other plans; not followed")
			return start, nil
		}
	}
	at := start
	for rep := 0; rep <= p.Repeat; rep++ {
		for i, st := range p.Stages {
			stage := topStage
			if len(via) == 0 {
				stage = i + 1
			}
			label := fmt.Sprintf("escalation plan %s stage %d", name, i+1)
			if rep > 0 {
				label += fmt.Sprintf(" (repeat %d)", rep)
			}
			path := append(slices.Clip(via), "escalation plan "+name)
			engaged, err := previewStage(s, pv, st, at, path, label, stage, rep)
			if err != nil {
				return at, err
			}
			if engaged {
				at = at.Add(st.Duration.Std())
			}
		}
	}
	return at, nil
}

// previewStage resolves one stage started at at; engaged is false when it
// reached nobody, nothing and no channel, so the plan moves on at once.
func previewStage(s *Setup, pv *PagePreview, st tocsin.Stage, at time.Time, path []string, label string, stage, rep int) (engaged bool, err error) {
	type person struct {
		alias     string
		essential bool
		via       []string
	}
	var people []person
	add := func(alias string, essential bool, via ...string) {
		if i := slices.IndexFunc(people, func(p person) bool { return p.alias == alias }); i >= 0 {
			people[i].essential = people[i].essential || essential
			return
		}
		people = append(people, person{alias, essential, via})
	}
	note := func(format string, args ...any) {
		pv.Notes = append(pv.Notes, label+": "+fmt.Sprintf(format, args...))
	}
	base := append(slices.Clip(path[:len(path)-1]), label)
	for _, t := range st.Targets {
		switch {
		case t.Contact != "":
			add(t.Contact, t.Essential)
		case t.ContactGroup != "":
			g := s.Groups[t.ContactGroup]
			if g == nil {
				note("contact group %s does not exist", t.ContactGroup)
				continue
			}
			for _, m := range g.Members {
				add(m, t.Essential, "contact group "+g.Name)
			}
		case t.Schedule != "":
			sc := s.Schedules[t.Schedule]
			if sc == nil {
				note("schedule %s does not exist", t.Schedule)
				continue
			}
			layers, err := sc.OnCallByRotation(s.Overrides, at)
			if err != nil {
				return false, fmt.Errorf("preview schedule %s: %w", t.Schedule, err)
			}
			n := 0
			for _, l := range layers {
				for _, m := range l.OnCall {
					add(m, t.Essential, "schedule "+sc.Name, "rotation "+l.Rotation)
					n++
				}
			}
			if n == 0 {
				note("schedule %s has nobody on call at %s", t.Schedule, at.UTC().Format(time.RFC3339))
			}
		case t.EscalationPlan != "":
			engaged = true
			if _, err := previewPlan(s, pv, t.EscalationPlan, at, base, stage); err != nil {
				return false, err
			}
		case t.Channel != "":
			engaged = true
			pv.Channels = append(pv.Channels, PlannedChannel{At: at.UTC(), Stage: stage, Channel: t.Channel, Via: slices.Clone(base)})
		}
	}
	for _, p := range people {
		c := s.Contacts[p.alias]
		if c == nil {
			note("contact %s does not exist", p.alias)
			continue
		}
		pages, skipped := EngagementPages(c, at)
		for _, sk := range skipped {
			note("%s", sk)
		}
		for _, pg := range pages {
			pg.Stage, pg.Repeat, pg.Essential = stage, rep, p.essential
			pg.Via = append(slices.Clone(base), p.via...)
			pv.Pages = append(pv.Pages, pg)
			engaged = true
		}
	}
	if !engaged {
		note("nobody to engage; the plan moves on at once")
	}
	return engaged, nil
}
