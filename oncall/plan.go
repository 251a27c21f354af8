package oncall

import (
	"cmp"
	"slices"
	"time"
)

// plan is a validated rotation in the form the computations use: parsed
// times, a loaded zone, the hand-off grid and where the rotation starts on
// it. It is built per call and not shared, because its zone caches lookups.
type plan struct {
	r       *Rotation
	loc     *time.Location
	z       zone
	g       grid
	mult    int64
	onCalls int
	// start is Rotation.Start in Unix nanoseconds.
	start int64
	// k0 is the first occurrence at or after start. Hand-offs are the
	// occurrences k0, k0+mult, k0+2·mult, …; when start is not itself an
	// occurrence (partial), shift 0 runs from start to occurrence k0.
	k0      int64
	partial bool
	// cover holds the coverage windows by the weekday they start on
	// (Monday = 0); hasCover is false when the rotation is always covered.
	cover    [7][]window
	hasCover bool
}

// maxMultiplier is the largest Recurrence.Multiplier accepted.
const maxMultiplier = 100

// window is a coverage window in seconds after midnight of its start day;
// end may exceed one day for windows that run past midnight.
type window struct{ start, end int64 }

// span is an interval [start, end) of Unix nanoseconds.
type span struct{ start, end int64 }

// compile validates r and builds its plan, adding every problem to p. It
// returns nil when r is invalid. Field names are built only when a problem
// is reported, because a who-is-on-call query compiles every rotation.
func compile(r *Rotation, p *problems) *plan {
	if r == nil {
		p.addf("rotation: is required")
		return nil
	}
	before := len(*p)
	pl := &plan{r: r}
	if r.Name == "" {
		p.addf("name: is required")
	}
	if len(r.Members) == 0 {
		p.addf("members: must list at least one member")
	}
	checkMembers(p, "members", r.Members)
	if checkInstant(p, "start", r.Start) {
		pl.start = r.Start.UnixNano()
	}
	loc, err := loadZone(r.TimeZone)
	if err != nil {
		p.addf("time_zone: %v", err)
	}
	pl.loc = loc
	rec := &r.Recurrence
	pl.mult = int64(positiveOr1(p, "recurrence.multiplier", rec.Multiplier))
	if pl.mult > maxMultiplier {
		// Shifts walk a shift's occurrences one by one; the bound keeps a
		// single shift cheap (AWS has the same limit).
		p.addf("recurrence.multiplier: must be at most %d, got %d", maxMultiplier, pl.mult)
	}
	pl.onCalls = min(positiveOr1(p, "recurrence.on_calls", rec.OnCalls), max(len(r.Members), 1))
	pl.g = parseRecurrence(p, rec)
	pl.cover, pl.hasCover = parseCoverage(p, r.Coverage)
	if len(*p) > before {
		return nil
	}

	pl.z = newZone(loc)
	pl.g.z = &pl.z
	if pl.g.hourly() {
		// Minute M of the hour as the clock reads at Start; from there the
		// grid is elapsed hours.
		off := pl.z.offset(floorDiv(pl.start, 1e9))
		pl.g.base = floorMod(int64(rec.HandOffMinute)*60-off, 3600)
	}
	// The first occurrence at or after start, in whole seconds because
	// occurrences are whole seconds and start may carry nanoseconds.
	ceil := -floorDiv(-pl.start, 1e9)
	pl.k0 = pl.g.locate(ceil-1) + 1
	pl.partial = pl.g.boundary(pl.k0)*1e9 != pl.start
	return pl
}

// compileRotation compiles a single rotation, returning its problems as an error.
func compileRotation(r *Rotation) (*plan, error) {
	var p problems
	pl := compile(r, &p)
	return pl, p.err()
}

func positiveOr1(p *problems, field string, v int) int {
	if v == 0 {
		return 1
	}
	if v < 0 {
		p.addf("%s: must be at least 1, got %d", field, v)
		return 1
	}
	return v
}

// parseRecurrence checks the recurrence and builds its grid (without zone).
func parseRecurrence(p *problems, rec *Recurrence) grid {
	const prefix = "recurrence."
	g := grid{kind: rec.Type}
	unused := func(field string, set bool) {
		if set {
			p.addf("%s%s: is not used by %s recurrences", prefix, field, rec.Type)
		}
	}
	switch rec.Type {
	case Hourly:
		if rec.HandOffMinute < 0 || rec.HandOffMinute > 59 {
			p.addf("%shand_off_minute: must be 0 to 59, got %d", prefix, rec.HandOffMinute)
		}
		g.n, g.period = 1, 3600
	case Daily:
		if len(rec.HandOffTimes) == 0 {
			p.addf("%shand_off_times: must list at least one HH:MM time", prefix)
		}
		for i, s := range rec.HandOffTimes {
			sec, ok := parseClock(s, false)
			switch {
			case !ok:
				p.addf("%shand_off_times[%d]: %q is not HH:MM", prefix, i, s)
			case slices.Contains(g.offs, sec):
				p.addf("%shand_off_times[%d]: %q is listed twice", prefix, i, s)
			default:
				g.offs = append(g.offs, sec)
			}
		}
		g.period, g.base = secondsPerDay, 0
	case Weekly:
		if len(rec.WeeklySettings) == 0 {
			p.addf("%sweekly_settings: must list at least one setting", prefix)
		}
		for i, ws := range rec.WeeklySettings {
			day, okDay := parseDay(ws.DayOfWeek)
			if !okDay {
				p.addf("%sweekly_settings[%d].day_of_week: %q is not one of MON, TUE, WED, THU, FRI, SAT, SUN", prefix, i, ws.DayOfWeek)
			}
			sec, ok := parseClock(ws.HandOffTime, false)
			if !ok {
				p.addf("%sweekly_settings[%d].hand_off_time: %q is not HH:MM", prefix, i, ws.HandOffTime)
			}
			if !ok || !okDay {
				continue
			}
			off := int64(day)*secondsPerDay + sec
			if slices.Contains(g.offs, off) {
				p.addf("%sweekly_settings[%d]: %s %s is listed twice", prefix, i, ws.DayOfWeek, ws.HandOffTime)
				continue
			}
			g.offs = append(g.offs, off)
		}
		// Weeks start on Monday; 1970-01-05 was the first one.
		g.period, g.base = secondsPerWeek, 4*secondsPerDay
	case Monthly:
		if len(rec.MonthlySettings) == 0 {
			p.addf("%smonthly_settings: must list at least one setting", prefix)
		}
		type slot struct {
			day int
			sec int64
		}
		var slots []slot
		for i, ms := range rec.MonthlySettings {
			okDay := ms.DayOfMonth >= 1 && ms.DayOfMonth <= 31
			if !okDay {
				p.addf("%smonthly_settings[%d].day_of_month: must be 1 to 31, got %d", prefix, i, ms.DayOfMonth)
			}
			sec, ok := parseClock(ms.HandOffTime, false)
			if !ok {
				p.addf("%smonthly_settings[%d].hand_off_time: %q is not HH:MM", prefix, i, ms.HandOffTime)
			}
			if !ok || !okDay {
				continue
			}
			s := slot{ms.DayOfMonth, sec}
			if slices.Contains(slots, s) {
				p.addf("%smonthly_settings[%d]: day %d at %s is listed twice", prefix, i, ms.DayOfMonth, ms.HandOffTime)
				continue
			}
			slots = append(slots, s)
		}
		slices.SortFunc(slots, func(a, b slot) int {
			if a.day != b.day {
				return a.day - b.day
			}
			return int(a.sec - b.sec)
		})
		for _, s := range slots {
			g.days, g.secs = append(g.days, s.day), append(g.secs, s.sec)
		}
		g.n = int64(len(slots))
	default:
		p.addf("%stype: %q is not one of hourly, daily, weekly, monthly", prefix, rec.Type)
		return g
	}
	unused("hand_off_minute", rec.Type != Hourly && rec.HandOffMinute != 0)
	unused("hand_off_times", rec.Type != Daily && len(rec.HandOffTimes) > 0)
	unused("weekly_settings", rec.Type != Weekly && len(rec.WeeklySettings) > 0)
	unused("monthly_settings", rec.Type != Monthly && len(rec.MonthlySettings) > 0)
	if rec.Type == Daily || rec.Type == Weekly {
		slices.Sort(g.offs)
		g.n = int64(len(g.offs))
	}
	return g
}

func parseCoverage(p *problems, cov []CoverageWindow) (byDay [7][]window, any bool) {
	const field = "coverage"
	for i, c := range cov {
		day, okDay := parseDay(c.DayOfWeek)
		if !okDay {
			p.addf("%s[%d].day_of_week: %q is not one of MON, TUE, WED, THU, FRI, SAT, SUN", field, i, c.DayOfWeek)
		}
		start, okStart := parseClock(c.Start, false)
		if !okStart {
			p.addf("%s[%d].start: %q is not HH:MM", field, i, c.Start)
		}
		end, okEnd := parseClock(c.End, true)
		if !okEnd {
			p.addf("%s[%d].end: %q is not HH:MM or 24:00", field, i, c.End)
		}
		if !okDay || !okStart || !okEnd {
			continue
		}
		if end <= start {
			end += secondsPerDay
		}
		byDay[day] = append(byDay[day], window{start, end})
	}
	for d := range byDay {
		slices.SortFunc(byDay[d], func(a, b window) int { return int(a.start - b.start) })
	}
	return byDay, len(cov) > 0
}

// shiftIter walks a rotation's shifts forward.
type shiftIter struct {
	p *plan
	c cursor // at the occurrence that ends the current shift
	// s is the shift index: shift 0 starts at Rotation.Start.
	s          int64
	start, end int64 // Unix nanoseconds
}

// seek returns the shift containing instant t (Unix nanoseconds), which must
// not be before the rotation's start. It costs a handful of zone lookups
// however far t is from the start.
func (p *plan) seek(t int64) shiftIter {
	k := p.g.locate(floorDiv(t, 1e9))
	if k < p.k0 {
		c := p.g.cursorAt(p.k0)
		return shiftIter{p: p, c: c, s: 0, start: p.start, end: c.b * 1e9}
	}
	j := floorDiv(k-p.k0, p.mult)
	c := p.g.cursorAt(p.k0 + j*p.mult)
	start := c.b * 1e9
	c.advance(p.mult)
	if p.partial {
		j++
	}
	return shiftIter{p: p, c: c, s: j, start: start, end: c.b * 1e9}
}

// next moves to the following shift. Shifts may be empty (start == end)
// where two hand-offs resolve to the same instant.
func (it *shiftIter) next() {
	it.start = it.end
	it.c.advance(it.p.mult)
	it.end = it.c.b * 1e9
	it.s++
}

// membersOf returns the members of shift s: OnCalls consecutive members,
// wrapping, starting at member s·OnCalls.
func (p *plan) membersOf(s int64) []string {
	n := int64(len(p.r.Members))
	out := make([]string, p.onCalls)
	first := floorMod(s*int64(p.onCalls), n)
	for i := range out {
		out[i] = p.r.Members[(first+int64(i))%n]
	}
	return out
}

// windowSpan returns the instants of a coverage window on a given day.
func (p *plan) windowSpan(day int64, w window) span {
	base := day * secondsPerDay
	return span{p.z.resolve(base+w.start) * 1e9, p.z.resolve(base+w.end) * 1e9}
}

// coveredAt reports whether instant t (Unix nanoseconds) is inside coverage.
func (p *plan) coveredAt(t int64) bool {
	if !p.hasCover {
		return true
	}
	day := floorDiv(p.z.wall(floorDiv(t, 1e9)), secondsPerDay)
	// A window can reach into the next day and be pushed later by a DST
	// gap, so windows of the two previous days may still be open.
	for d := day - 2; d <= day; d++ {
		for _, w := range p.cover[weekdayOf(d)] {
			if s := p.windowSpan(d, w); s.start <= t && t < s.end {
				return true
			}
		}
	}
	return false
}

// coverage returns the covered parts of [lo, hi), sorted, with overlapping
// and touching windows merged so that their edges are real gaps.
func (p *plan) coverage(lo, hi int64) []span {
	first := floorDiv(p.z.wall(floorDiv(lo, 1e9)), secondsPerDay) - 2
	last := floorDiv(p.z.wall(floorDiv(hi, 1e9)), secondsPerDay)
	var out []span
	for d := first; d <= last; d++ {
		for _, w := range p.cover[weekdayOf(d)] {
			s := p.windowSpan(d, w)
			s.start, s.end = max(s.start, lo), min(s.end, hi)
			if s.start < s.end {
				out = append(out, s)
			}
		}
	}
	slices.SortFunc(out, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	merged := out[:0]
	for _, s := range out {
		if n := len(merged); n > 0 && s.start <= merged[n-1].end {
			merged[n-1].end = max(merged[n-1].end, s.end)
			continue
		}
		merged = append(merged, s)
	}
	return merged
}
