package oncall

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	_ "time/tzdata" // the same zone data on every machine
)

// The brute-force DST suite. For every DST transition from 2020 to 2030 in
// zones with hour and half-hour offsets, for every recurrence type, with and
// without coverage, it checks Shifts and OnCall three ways:
//
//   - against a reference model that walks every occurrence from the
//     rotation's start, one by one, resolving wall times with an
//     independent RFC 5545 resolver (refResolve);
//   - against the properties themselves: shifts are contiguous except where
//     coverage leaves a gap, and every hand-off is at the configured wall
//     time, the shifted time for a time in a DST gap, or the first
//     occurrence for an ambiguous one;
//   - OnCall agrees with Shifts at the edges of every shift and gap.

var dstZones = []string{"America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata", "America/St_Johns"}

type dstCase struct {
	name     string
	rec      Recurrence
	coverage bool
	span     time.Duration // half-width of the window around each transition
}

var dstCoverage = []CoverageWindow{
	{DayOfWeek: "MON", Start: "08:00", End: "18:00"},
	{DayOfWeek: "TUE", Start: "08:00", End: "18:00"},
	{DayOfWeek: "WED", Start: "08:00", End: "18:00"},
	{DayOfWeek: "THU", Start: "08:00", End: "18:00"},
	{DayOfWeek: "FRI", Start: "08:00", End: "18:00"},
	// Overnight into Sunday, ending inside the spring-forward gap, and a
	// Sunday window across the transition overlapping it.
	{DayOfWeek: "SAT", Start: "22:00", End: "02:30"},
	{DayOfWeek: "SUN", Start: "01:00", End: "04:00"},
	{DayOfWeek: "SUN", Start: "12:00", End: "00:00"},
}

func dstCases() []dstCase {
	day, week, month := 9*24*time.Hour, 16*24*time.Hour, 40*24*time.Hour
	base := []dstCase{
		{"hourly", Recurrence{Type: Hourly}, false, day},
		{"hourly-x3-m30-2oncall", Recurrence{Type: Hourly, Multiplier: 3, HandOffMinute: 30, OnCalls: 2}, false, day},
		{"daily-0900", Recurrence{Type: Daily, HandOffTimes: []string{"09:00"}}, false, day},
		{"daily-0230-1400-2oncall", Recurrence{Type: Daily, HandOffTimes: []string{"14:00", "02:30"}, OnCalls: 2}, false, day},
		{"daily-0130-1330", Recurrence{Type: Daily, HandOffTimes: []string{"01:30", "13:30"}}, false, day},
		{"daily-0245-0315-inverted", Recurrence{Type: Daily, HandOffTimes: []string{"02:45", "03:15"}}, false, day},
		{"daily-0230-x2", Recurrence{Type: Daily, HandOffTimes: []string{"02:30"}, Multiplier: 2}, false, day},
		{"weekly-sun0230-wed0900", Recurrence{Type: Weekly, WeeklySettings: []WeeklySetting{{"WED", "09:00"}, {"SUN", "02:30"}}}, false, week},
		{"weekly-sun0130", Recurrence{Type: Weekly, WeeklySettings: []WeeklySetting{{"SUN", "01:30"}}}, false, week},
		{"weekly-mon0900-x2", Recurrence{Type: Weekly, WeeklySettings: []WeeklySetting{{"MON", "09:00"}}, Multiplier: 2}, false, 3 * week},
		{"monthly-31-0230", Recurrence{Type: Monthly, MonthlySettings: []MonthlySetting{{31, "02:30"}}}, false, month},
		{"monthly-30-1000-31-0900-clamped", Recurrence{Type: Monthly, MonthlySettings: []MonthlySetting{{30, "10:00"}, {31, "09:00"}}}, false, month},
		{"monthly-15-31-2oncall", Recurrence{Type: Monthly, MonthlySettings: []MonthlySetting{{31, "01:30"}, {15, "09:00"}}, OnCalls: 2}, false, month},
	}
	var out []dstCase
	for _, c := range base {
		out = append(out, c)
		c.name += "+coverage"
		c.coverage = true
		out = append(out, c)
	}
	return out
}

// transitions returns the instants in [2020, 2031) at which loc's offset
// changes, or, for a zone without DST, two instants a year to test around.
func transitions(loc *time.Location) []time.Time {
	var out []time.Time
	t := time.Date(2020, 1, 1, 0, 0, 0, 0, loc)
	end := time.Date(2031, 1, 1, 0, 0, 0, 0, loc)
	for {
		_, next := t.ZoneBounds()
		if next.IsZero() || !next.Before(end) {
			break
		}
		out = append(out, next)
		t = next
	}
	if len(out) == 0 {
		for y := 2020; y <= 2030; y++ {
			out = append(out, time.Date(y, 1, 1, 2, 0, 0, 0, loc), time.Date(y, 7, 1, 2, 0, 0, 0, loc))
		}
	}
	return out
}

func TestDSTBruteForce(t *testing.T) {
	members := []string{"m0", "m1", "m2", "m3", "m4"}
	for _, zoneName := range dstZones {
		loc, err := time.LoadLocation(zoneName)
		if err != nil {
			t.Fatal(err)
		}
		trans := transitions(loc)
		if zoneName != "Asia/Kolkata" && len(trans) != 22 {
			t.Fatalf("%s: %d transitions in 2020–2030, want 22", zoneName, len(trans))
		}
		var stats handOffStats
		t.Run(zoneName, func(t *testing.T) {
			for _, c := range dstCases() {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					r := &Rotation{
						Name:       "r",
						Members:    members,
						TimeZone:   zoneName,
						Start:      time.Date(2019, 6, 3, 5, 17, 0, 0, loc), // mid-cycle: a partial first shift
						Recurrence: c.rec,
					}
					if c.coverage {
						r.Coverage = dstCoverage
					}
					ref := newReference(t, r, loc, time.Date(2031, 3, 1, 0, 0, 0, 0, time.UTC))
					// One long call: the whole decade against the reference (two
					// years for hourly, whose shifts are plain elapsed hours).
					from, to := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
					if c.rec.Type == Hourly {
						to = time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
					}
					got, err := Shifts(r, nil, from, to)
					if err != nil {
						t.Fatal(err)
					}
					compareShifts(t, "2020–2030", got, ref.shifts(from, to))
					// One call per transition: jumping into the middle of the
					// rotation must agree too, and the properties must hold.
					for _, tr := range trans {
						from, to := tr.Add(-c.span), tr.Add(c.span)
						got, err := Shifts(r, nil, from, to)
						if err != nil {
							t.Fatal(err)
						}
						label := tr.In(loc).Format(time.RFC3339)
						compareShifts(t, label, got, ref.shifts(from, to))
						checkProperties(t, label, r, loc, ref, got, from, to, &stats)
						// Seeking to instants right around the transition, where
						// the zone's cached period and the wall clock disagree.
						for off := -2 * time.Hour; off <= 2*time.Hour; off += 15 * time.Minute {
							at := tr.Add(off)
							want := ref.shifts(at, at.Add(2*24*time.Hour))
							got, err := Shifts(r, nil, at, at.Add(2*24*time.Hour))
							if err != nil {
								t.Fatal(err)
							}
							compareShifts(t, label+" seek "+at.In(loc).Format(time.RFC3339), got, want)
							var wantNow []string
							if len(want) > 0 && !want[0].Start.After(at) {
								wantNow = want[0].Members
							}
							if m, _ := OnCall(r, nil, at); !slices.Equal(m, wantNow) {
								t.Fatalf("%s: OnCall(%s) = %v, want %v", label, at.In(loc), m, wantNow)
							}
						}
					}
				})
			}
		})
		// The suite must actually meet the cases it is about.
		dst := zoneName != "Asia/Kolkata"
		if got := stats.shifted.Load() > 0; got != dst {
			t.Errorf("%s: hand-offs pushed out of a DST gap seen: %v, want %v", zoneName, got, dst)
		}
		if got := stats.ambiguous.Load() > 0; got != dst {
			t.Errorf("%s: hand-offs at an ambiguous time seen: %v, want %v", zoneName, got, dst)
		}
	}
}

// handOffStats counts the kinds of hand-off checked.
type handOffStats struct{ shifted, ambiguous atomic.Int64 }

func compareShifts(t *testing.T, label string, got, want []Shift) {
	t.Helper()
	n := min(len(got), len(want))
	for i := range n {
		g, w := got[i], want[i]
		if !g.Start.Equal(w.Start) || !g.End.Equal(w.End) || !slices.Equal(g.Members, w.Members) || g.Type != w.Type {
			t.Fatalf("%s: shift %d = %s, want %s", label, i, fmtShift(g), fmtShift(w))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d shifts, want %d", label, len(got), len(want))
	}
}

func fmtShift(s Shift) string {
	return fmt.Sprintf("[%s, %s) %v %s %v", s.Start.Format(time.RFC3339), s.End.Format(time.RFC3339), s.Members, s.Type, s.Replaced)
}

// checkProperties checks the documented rules directly on the shifts.
func checkProperties(t *testing.T, label string, r *Rotation, loc *time.Location, ref *reference, got []Shift, from, to time.Time, stats *handOffStats) {
	t.Helper()
	if len(got) == 0 {
		t.Fatalf("%s: no shifts", label)
	}
	if len(r.Coverage) == 0 && (!got[0].Start.Equal(from) || !got[len(got)-1].End.Equal(to)) {
		t.Fatalf("%s: shifts span [%s, %s), want the whole window", label, got[0].Start, got[len(got)-1].End)
	}
	for i, s := range got {
		if !s.Start.Before(s.End) {
			t.Fatalf("%s: empty shift %s", label, fmtShift(s))
		}
		// OnCall agrees at both ends of every shift.
		for _, at := range []time.Time{s.Start, s.End.Add(-time.Nanosecond)} {
			if m, _ := OnCall(r, nil, at); !slices.Equal(m, s.Members) {
				t.Fatalf("%s: OnCall(%s) = %v, shift %s", label, at, m, fmtShift(s))
			}
		}
		if i == 0 {
			continue
		}
		prev := got[i-1]
		if !prev.End.Equal(s.Start) {
			// A gap: only coverage may cause one, and nobody is on call in it.
			if len(r.Coverage) == 0 {
				t.Fatalf("%s: gap between %s and %s without coverage", label, fmtShift(prev), fmtShift(s))
			}
			for _, at := range []time.Time{prev.End, s.Start.Add(-time.Nanosecond)} {
				if ref.covered(at) {
					t.Fatalf("%s: gap at %s is covered", label, at)
				}
				if m, _ := OnCall(r, nil, at); m != nil {
					t.Fatalf("%s: OnCall(%s) = %v in a gap", label, at, m)
				}
			}
			continue
		}
		// Contiguous shifts meet at a hand-off (coverage edges are gaps,
		// since touching windows merge).
		checkHandOff(t, label, r, loc, s.Start, stats)
	}
}

// checkHandOff checks that h is at a wall-clock time the recurrence names.
func checkHandOff(t *testing.T, label string, r *Rotation, loc *time.Location, h time.Time, stats *handOffStats) {
	t.Helper()
	lt := h.In(loc)
	if r.Recurrence.Type == Hourly {
		if lt.Minute() != r.Recurrence.HandOffMinute || lt.Second() != 0 {
			t.Fatalf("%s: hourly hand-off at %s, want minute %d", label, lt, r.Recurrence.HandOffMinute)
		}
		return
	}
	// An ambiguous wall time means its first occurrence: no instant shortly
	// before h shows the same wall clock, and the one an hour later that
	// does has the smaller (standard time) offset.
	for _, d := range []time.Duration{30 * time.Minute, time.Hour} {
		if e := h.Add(-d).In(loc); e.Hour() == lt.Hour() && e.Minute() == lt.Minute() {
			t.Fatalf("%s: hand-off %s is the second occurrence of its wall time (first at %s)", label, lt, e)
		}
	}
	if again := h.Add(time.Hour).In(loc); again.Hour() == lt.Hour() && again.Minute() == lt.Minute() {
		_, offFirst := lt.Zone()
		_, offSecond := again.Zone()
		if offFirst <= offSecond {
			t.Fatalf("%s: ambiguous hand-off %s has offset %d, want the pre-transition one", label, lt, offFirst)
		}
		stats.ambiguous.Add(1)
	}
	for _, hhmm := range configuredTimes(r.Recurrence, lt) {
		hh, mm := hm(hhmm)
		want := refResolve(loc, lt.Year(), lt.Month(), lt.Day(), hh, mm)
		if !want.Equal(h) {
			continue
		}
		exact := lt.Hour() == hh && lt.Minute() == mm
		// In a gap the time is pushed forward by the gap's length (one
		// hour in every zone tested).
		shifted := lt.Hour() == hh+1 && lt.Minute() == mm && !exists(loc, lt, hh, mm)
		if shifted {
			stats.shifted.Add(1)
		}
		if exact || shifted {
			return
		}
	}
	t.Fatalf("%s: hand-off at %s is not at a configured time (%v)", label, lt, configuredTimes(r.Recurrence, lt))
}

// configuredTimes lists the hand-off times configured for lt's local date.
func configuredTimes(rec Recurrence, lt time.Time) []string {
	switch rec.Type {
	case Daily:
		return rec.HandOffTimes
	case Weekly:
		var out []string
		for _, w := range rec.WeeklySettings {
			if d, _ := parseDay(w.DayOfWeek); d == (int(lt.Weekday())+6)%7 {
				out = append(out, w.HandOffTime)
			}
		}
		return out
	default:
		var out []string
		last := time.Date(lt.Year(), lt.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
		for _, m := range rec.MonthlySettings {
			if min(m.DayOfMonth, last) == lt.Day() {
				out = append(out, m.HandOffTime)
			}
		}
		return out
	}
}

// exists reports whether the wall time hh:mm occurs on lt's date.
func exists(loc *time.Location, lt time.Time, hh, mm int) bool {
	u := refResolve(loc, lt.Year(), lt.Month(), lt.Day(), hh, mm).In(loc)
	return u.Hour() == hh && u.Minute() == mm
}

// refResolve is an RFC 5545 resolver written independently of zone.resolve:
// it tries the offsets in force two days either side of the wall time (the
// zones tested never change offset twice within four days) and keeps the
// earliest instant that shows that wall time; if none does, the time is in
// a gap and the earlier offset applies.
func refResolve(loc *time.Location, y int, mo time.Month, d, hh, mm int) time.Time {
	naive := time.Date(y, mo, d, hh, mm, 0, 0, time.UTC)
	_, before := naive.Add(-48 * time.Hour).In(loc).Zone()
	_, after := naive.Add(48 * time.Hour).In(loc).Zone()
	var best time.Time
	for _, off := range []int{before, after} {
		u := naive.Add(-time.Duration(off) * time.Second)
		if _, o := u.In(loc).Zone(); o == off && (best.IsZero() || u.Before(best)) {
			best = u
		}
	}
	if best.IsZero() {
		best = naive.Add(-time.Duration(before) * time.Second)
	}
	return best
}

// reference is the slow model: every shift from the rotation's start, and
// the covered intervals, computed by walking the calendar.
type reference struct {
	r      *Rotation
	loc    *time.Location
	all    []Shift // regular shifts from Start, uncovered
	cover  [][2]time.Time
	hasCov bool
}

func newReference(t *testing.T, r *Rotation, loc *time.Location, until time.Time) *reference {
	t.Helper()
	ref := &reference{r: r, loc: loc, hasCov: len(r.Coverage) > 0}
	rec := r.Recurrence
	mult := max(rec.Multiplier, 1)
	onCalls := min(max(rec.OnCalls, 1), len(r.Members))
	// Occurrences in order, never going back in time.
	occ := make([]time.Time, 0, 1<<17)
	add := func(u time.Time) {
		if n := len(occ); n > 0 && u.Before(occ[n-1]) {
			u = occ[n-1]
		}
		occ = append(occ, u)
	}
	startDate := time.Date(r.Start.In(loc).Year(), r.Start.In(loc).Month(), r.Start.In(loc).Day()-2, 0, 0, 0, 0, time.UTC)
	if rec.Type == Hourly {
		// The first instant at or after Start whose clock shows the minute,
		// then every hour of elapsed time.
		u := r.Start.Truncate(time.Minute)
		for u.Before(r.Start) || u.In(loc).Minute() != rec.HandOffMinute {
			u = u.Add(time.Minute)
		}
		for ; u.Before(until); u = u.Add(time.Hour) {
			add(u)
		}
	}
	for d := startDate; rec.Type != Hourly && d.Before(until); d = d.AddDate(0, 0, 1) {
		var times []string
		switch rec.Type {
		case Daily:
			times = slices.Clone(rec.HandOffTimes)
			slices.Sort(times)
		case Weekly:
			for _, w := range rec.WeeklySettings {
				if wd, _ := parseDay(w.DayOfWeek); wd == (int(d.Weekday())+6)%7 {
					times = append(times, w.HandOffTime)
				}
			}
			slices.Sort(times)
		case Monthly:
			if d.Day() != 1 {
				continue
			}
			// A month's occurrences in (day, time) order, clamped.
			ms := slices.Clone(rec.MonthlySettings)
			slices.SortFunc(ms, func(a, b MonthlySetting) int {
				if a.DayOfMonth != b.DayOfMonth {
					return a.DayOfMonth - b.DayOfMonth
				}
				return strings.Compare(a.HandOffTime, b.HandOffTime)
			})
			last := d.AddDate(0, 1, -1).Day()
			for _, m := range ms {
				hh, mm := hm(m.HandOffTime)
				add(refResolve(loc, d.Year(), d.Month(), min(m.DayOfMonth, last), hh, mm))
			}
			continue
		}
		for _, s := range times {
			hh, mm := hm(s)
			add(refResolve(loc, d.Year(), d.Month(), d.Day(), hh, mm))
		}
	}
	// Hand-offs: the first occurrence at or after Start, then every
	// mult-th one.
	i0 := slices.IndexFunc(occ, func(u time.Time) bool { return !u.Before(r.Start) })
	var hand []time.Time
	for i := i0; i < len(occ); i += mult {
		hand = append(hand, occ[i])
	}
	// Shift k's members depend on k mod len(Members) only.
	lists := make([][]string, len(r.Members))
	for k := range lists {
		for j := range onCalls {
			lists[k] = append(lists[k], r.Members[(k*onCalls+j)%len(r.Members)])
		}
	}
	ref.all = make([]Shift, 0, len(hand)+1)
	k := 0
	emit := func(a, b time.Time) {
		if a.Before(b) {
			ref.all = append(ref.all, Shift{Start: a, End: b, Members: lists[k%len(lists)], Type: Regular})
		}
		k++
	}
	if hand[0].After(r.Start) {
		emit(r.Start, hand[0])
	}
	for i := 0; i+1 < len(hand); i++ {
		emit(hand[i], hand[i+1])
	}
	if ref.hasCov {
		ref.buildCoverage(startDate, until)
	}
	return ref
}

func (ref *reference) buildCoverage(from, until time.Time) {
	for d := from; d.Before(until); d = d.AddDate(0, 0, 1) {
		for _, w := range ref.r.Coverage {
			if wd, _ := parseDay(w.DayOfWeek); wd != (int(d.Weekday())+6)%7 {
				continue
			}
			sh, sm := hm(w.Start)
			eh, em := hm(w.End)
			ed := d
			if eh*60+em <= sh*60+sm {
				ed = d.AddDate(0, 0, 1)
			}
			if eh == 24 {
				ed, eh = d.AddDate(0, 0, 1), 0
			}
			a := refResolve(ref.loc, d.Year(), d.Month(), d.Day(), sh, sm)
			b := refResolve(ref.loc, ed.Year(), ed.Month(), ed.Day(), eh, em)
			if a.Before(b) {
				ref.cover = append(ref.cover, [2]time.Time{a, b})
			}
		}
	}
	slices.SortFunc(ref.cover, func(x, y [2]time.Time) int { return x[0].Compare(y[0]) })
	var merged [][2]time.Time
	for _, c := range ref.cover {
		if n := len(merged); n > 0 && !c[0].After(merged[n-1][1]) {
			if c[1].After(merged[n-1][1]) {
				merged[n-1][1] = c[1]
			}
			continue
		}
		merged = append(merged, c)
	}
	ref.cover = merged
}

func (ref *reference) covered(at time.Time) bool {
	if !ref.hasCov {
		return true
	}
	i, _ := slices.BinarySearchFunc(ref.cover, at, func(c [2]time.Time, t time.Time) int { return c[1].Compare(t) })
	if i < len(ref.cover) && ref.cover[i][1].Equal(at) {
		i++
	}
	return i < len(ref.cover) && !at.Before(ref.cover[i][0])
}

// hm splits "HH:MM".
func hm(s string) (int, int) {
	h, _ := strconv.Atoi(s[:2])
	m, _ := strconv.Atoi(s[3:])
	return h, m
}

// shifts returns the reference shifts within [from, to), clipped and cut
// to coverage.
func (ref *reference) shifts(from, to time.Time) []Shift {
	var out []Shift
	i, _ := slices.BinarySearchFunc(ref.all, from, func(s Shift, t time.Time) int { return s.End.Compare(t) })
	ci, _ := slices.BinarySearchFunc(ref.cover, from, func(c [2]time.Time, t time.Time) int { return c[1].Compare(t) })
	for ; i < len(ref.all) && ref.all[i].Start.Before(to); i++ {
		s := ref.all[i]
		a, b := later(s.Start, from), earlier(s.End, to)
		if !a.Before(b) {
			continue
		}
		if !ref.hasCov {
			out = append(out, Shift{Start: a, End: b, Members: s.Members, Type: Regular})
			continue
		}
		for ci < len(ref.cover) && !ref.cover[ci][1].After(a) {
			ci++
		}
		for j := ci; j < len(ref.cover) && ref.cover[j][0].Before(b); j++ {
			ca, cb := later(a, ref.cover[j][0]), earlier(b, ref.cover[j][1])
			if ca.Before(cb) {
				out = append(out, Shift{Start: ca, End: cb, Members: s.Members, Type: Regular})
			}
		}
	}
	return out
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
