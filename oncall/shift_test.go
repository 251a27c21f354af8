package oncall

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"tocsin"
)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// want describes an expected shift; times are RFC 3339 so that the offset
// (EDT or EST) is part of what is checked.
type want struct {
	start, end string
	members    []string
	typ        string
	replaced   []string
}

func checkShifts(t *testing.T, got []Shift, wants []want) {
	t.Helper()
	for i := range max(len(got), len(wants)) {
		if i >= len(got) {
			t.Fatalf("shift %d missing, want [%s, %s) %v", i, wants[i].start, wants[i].end, wants[i].members)
		}
		if i >= len(wants) {
			t.Fatalf("extra shift %d: %s", i, fmtShift(got[i]))
		}
		g, w := got[i], wants[i]
		typ := w.typ
		if typ == "" {
			typ = Regular
		}
		if g.Start.Format(time.RFC3339) != w.start || g.End.Format(time.RFC3339) != w.end ||
			!slices.Equal(g.Members, w.members) || g.Type != typ || !slices.Equal(g.Replaced, w.replaced) {
			t.Fatalf("shift %d = %s\nwant [%s, %s) %v %s %v", i, fmtShift(g), w.start, w.end, w.members, typ, w.replaced)
		}
	}
}

func mustShifts(t *testing.T, r *Rotation, overrides []Override, from, to time.Time) []Shift {
	t.Helper()
	got, err := Shifts(r, overrides, from, to)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func mustOnCall(t *testing.T, r *Rotation, overrides []Override, at time.Time) []string {
	t.Helper()
	got, err := OnCall(r, overrides, at)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func daily(zoneName string, start time.Time, members []string, times ...string) *Rotation {
	return &Rotation{Name: "r", Members: members, TimeZone: zoneName, Start: start,
		Recurrence: Recurrence{Type: Daily, HandOffTimes: times}}
}

func TestSpringForwardHandOffIsShifted(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	r := daily("America/New_York", time.Date(2024, 3, 8, 2, 30, 0, 0, ny), []string{"a", "b"}, "02:30")
	got := mustShifts(t, r, nil, time.Date(2024, 3, 9, 0, 0, 0, 0, ny), time.Date(2024, 3, 11, 6, 0, 0, 0, ny))
	checkShifts(t, got, []want{
		{"2024-03-09T00:00:00-05:00", "2024-03-09T02:30:00-05:00", []string{"a"}, "", nil},
		// 02:30 does not exist on 10 March: read with EST it is 03:30 EDT.
		{"2024-03-09T02:30:00-05:00", "2024-03-10T03:30:00-04:00", []string{"b"}, "", nil},
		{"2024-03-10T03:30:00-04:00", "2024-03-11T02:30:00-04:00", []string{"a"}, "", nil},
		{"2024-03-11T02:30:00-04:00", "2024-03-11T06:00:00-04:00", []string{"b"}, "", nil},
	})
	if !got[1].End.Equal(time.Date(2024, 3, 10, 7, 30, 0, 0, time.UTC)) {
		t.Fatalf("hand-off at %s, want 07:30Z", got[1].End.UTC())
	}
}

func TestFallBackHandOffIsFirstOccurrence(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	r := daily("America/New_York", time.Date(2024, 11, 1, 1, 30, 0, 0, ny), []string{"a", "b"}, "01:30")
	got := mustShifts(t, r, nil, time.Date(2024, 11, 2, 12, 0, 0, 0, ny), time.Date(2024, 11, 4, 12, 0, 0, 0, ny))
	checkShifts(t, got, []want{
		{"2024-11-02T12:00:00-04:00", "2024-11-03T01:30:00-04:00", []string{"b"}, "", nil},
		// 01:30 happens twice on 3 November; the hand-off is the first, EDT.
		{"2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00", []string{"a"}, "", nil},
		{"2024-11-04T01:30:00-05:00", "2024-11-04T12:00:00-05:00", []string{"b"}, "", nil},
	})
	if d := got[1].End.Sub(got[1].Start); d != 25*time.Hour {
		t.Fatalf("shift across fall-back lasts %s, want 25h", d)
	}
}

func TestMonthlyDay31UsesLastDayOfMonth(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	r := &Rotation{Name: "r", Members: []string{"a", "b", "c"}, TimeZone: "Europe/Berlin",
		Start:      time.Date(2023, 1, 31, 9, 0, 0, 0, berlin),
		Recurrence: Recurrence{Type: Monthly, MonthlySettings: []MonthlySetting{{DayOfMonth: 31, HandOffTime: "09:00"}}}}
	got := mustShifts(t, r, nil, time.Date(2023, 1, 31, 9, 0, 0, 0, berlin), time.Date(2023, 5, 1, 0, 0, 0, 0, berlin))
	checkShifts(t, got, []want{
		{"2023-01-31T09:00:00+01:00", "2023-02-28T09:00:00+01:00", []string{"a"}, "", nil},
		{"2023-02-28T09:00:00+01:00", "2023-03-31T09:00:00+02:00", []string{"b"}, "", nil},
		{"2023-03-31T09:00:00+02:00", "2023-04-30T09:00:00+02:00", []string{"c"}, "", nil},
		{"2023-04-30T09:00:00+02:00", "2023-05-01T00:00:00+02:00", []string{"a"}, "", nil},
	})
	// 2024 is a leap year: 29 February. Thirteen shifts after the start.
	got = mustShifts(t, r, nil, time.Date(2024, 2, 20, 0, 0, 0, 0, berlin), time.Date(2024, 3, 5, 0, 0, 0, 0, berlin))
	checkShifts(t, got, []want{
		{"2024-02-20T00:00:00+01:00", "2024-02-29T09:00:00+01:00", []string{"a"}, "", nil},
		{"2024-02-29T09:00:00+01:00", "2024-03-05T00:00:00+01:00", []string{"b"}, "", nil},
	})
}

func TestWeeklyMultiplier2(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	r := &Rotation{Name: "platform", Members: []string{"a", "b", "c"}, TimeZone: "Europe/Berlin",
		Start: time.Date(2024, 1, 1, 9, 0, 0, 0, berlin),
		Recurrence: Recurrence{Type: Weekly, Multiplier: 2,
			WeeklySettings: []WeeklySetting{{DayOfWeek: "MON", HandOffTime: "09:00"}}}}
	got := mustShifts(t, r, nil, r.Start, time.Date(2024, 2, 12, 9, 0, 0, 0, berlin))
	checkShifts(t, got, []want{
		{"2024-01-01T09:00:00+01:00", "2024-01-15T09:00:00+01:00", []string{"a"}, "", nil},
		{"2024-01-15T09:00:00+01:00", "2024-01-29T09:00:00+01:00", []string{"b"}, "", nil},
		{"2024-01-29T09:00:00+01:00", "2024-02-12T09:00:00+01:00", []string{"c"}, "", nil},
	})
}

func TestDailyMultiplier2(t *testing.T) {
	r := daily("UTC", time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC), []string{"a", "b"}, "09:00")
	r.Recurrence.Multiplier = 2
	got := mustShifts(t, r, nil, r.Start, time.Date(2024, 1, 5, 9, 0, 0, 0, time.UTC))
	checkShifts(t, got, []want{
		{"2024-01-01T09:00:00Z", "2024-01-03T09:00:00Z", []string{"a"}, "", nil},
		{"2024-01-03T09:00:00Z", "2024-01-05T09:00:00Z", []string{"b"}, "", nil},
	})
}

func TestOnCallsWrap(t *testing.T) {
	r := daily("UTC", time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC), []string{"a", "b", "c"}, "09:00")
	r.Recurrence.OnCalls = 2
	got := mustShifts(t, r, nil, r.Start, time.Date(2024, 1, 5, 9, 0, 0, 0, time.UTC))
	checkShifts(t, got, []want{
		{"2024-01-01T09:00:00Z", "2024-01-02T09:00:00Z", []string{"a", "b"}, "", nil},
		{"2024-01-02T09:00:00Z", "2024-01-03T09:00:00Z", []string{"c", "a"}, "", nil},
		{"2024-01-03T09:00:00Z", "2024-01-04T09:00:00Z", []string{"b", "c"}, "", nil},
		{"2024-01-04T09:00:00Z", "2024-01-05T09:00:00Z", []string{"a", "b"}, "", nil},
	})
	// More on-calls than members: everyone, once.
	r.Recurrence.OnCalls = 5
	if m := mustOnCall(t, r, nil, time.Date(2024, 1, 2, 10, 0, 0, 0, time.UTC)); !slices.Equal(m, []string{"a", "b", "c"}) {
		t.Fatalf("OnCall = %v, want everyone once", m)
	}
}

// businessHours is the App rotation of the seed documents: daily hand-off,
// covered 08:00–18:00 on weekdays.
func businessHours(zoneName string, start time.Time) *Rotation {
	r := daily(zoneName, start, []string{"a", "b", "c"}, "09:00")
	r.Name = "app"
	for _, d := range []string{"MON", "TUE", "WED", "THU", "FRI"} {
		r.Coverage = append(r.Coverage, CoverageWindow{DayOfWeek: d, Start: "08:00", End: "18:00"})
	}
	return r
}

func TestCoverageBusinessHours(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	r := businessHours("America/New_York", time.Date(2024, 1, 1, 9, 0, 0, 0, ny))
	for _, c := range []struct {
		at   time.Time
		want []string
	}{
		{time.Date(2024, 1, 6, 12, 0, 0, 0, ny), nil},           // Saturday
		{time.Date(2024, 1, 7, 12, 0, 0, 0, ny), nil},           // Sunday
		{time.Date(2024, 1, 8, 19, 0, 0, 0, ny), nil},           // Monday evening
		{time.Date(2024, 1, 8, 7, 59, 0, 0, ny), nil},           // before opening
		{time.Date(2024, 1, 8, 8, 30, 0, 0, ny), []string{"a"}}, // Sunday's shift, now covered
		{time.Date(2024, 1, 8, 10, 0, 0, 0, ny), []string{"b"}}, // Monday's shift
		{time.Date(2024, 1, 8, 17, 59, 0, 0, ny), []string{"b"}},
		{time.Date(2024, 1, 8, 18, 0, 0, 0, ny), nil},
	} {
		if got := mustOnCall(t, r, nil, c.at); !slices.Equal(got, c.want) {
			t.Errorf("OnCall(%s) = %v, want %v", c.at.Format("Mon 15:04"), got, c.want)
		}
	}
	got := mustShifts(t, r, nil, time.Date(2024, 1, 6, 0, 0, 0, 0, ny), time.Date(2024, 1, 14, 0, 0, 0, 0, ny))
	checkShifts(t, got, []want{
		// Nothing on the weekend; hand-offs keep their daily rhythm, so
		// Monday starts with Sunday's member.
		{"2024-01-08T08:00:00-05:00", "2024-01-08T09:00:00-05:00", []string{"a"}, "", nil},
		{"2024-01-08T09:00:00-05:00", "2024-01-08T18:00:00-05:00", []string{"b"}, "", nil},
		{"2024-01-09T08:00:00-05:00", "2024-01-09T09:00:00-05:00", []string{"b"}, "", nil},
		{"2024-01-09T09:00:00-05:00", "2024-01-09T18:00:00-05:00", []string{"c"}, "", nil},
		{"2024-01-10T08:00:00-05:00", "2024-01-10T09:00:00-05:00", []string{"c"}, "", nil},
		{"2024-01-10T09:00:00-05:00", "2024-01-10T18:00:00-05:00", []string{"a"}, "", nil},
		{"2024-01-11T08:00:00-05:00", "2024-01-11T09:00:00-05:00", []string{"a"}, "", nil},
		{"2024-01-11T09:00:00-05:00", "2024-01-11T18:00:00-05:00", []string{"b"}, "", nil},
		{"2024-01-12T08:00:00-05:00", "2024-01-12T09:00:00-05:00", []string{"b"}, "", nil},
		{"2024-01-12T09:00:00-05:00", "2024-01-12T18:00:00-05:00", []string{"c"}, "", nil},
	})
}

func TestCoverageOvernightAndMidnight(t *testing.T) {
	r := daily("UTC", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), []string{"a"}, "00:00")
	r.Coverage = []CoverageWindow{
		{DayOfWeek: "MON", Start: "22:00", End: "06:00"}, // into Tuesday
		{DayOfWeek: "WED", Start: "20:00", End: "24:00"},
		{DayOfWeek: "THU", Start: "00:00", End: "02:00"}, // touches Wednesday's: one gap-free stretch
	}
	got := mustShifts(t, r, nil, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 5, 0, 0, 0, 0, time.UTC))
	checkShifts(t, got, []want{
		// The windows are cut at the midnight hand-offs, not merged over them.
		{"2024-01-01T22:00:00Z", "2024-01-02T00:00:00Z", []string{"a"}, "", nil},
		{"2024-01-02T00:00:00Z", "2024-01-02T06:00:00Z", []string{"a"}, "", nil},
		{"2024-01-03T20:00:00Z", "2024-01-04T00:00:00Z", []string{"a"}, "", nil},
		{"2024-01-04T00:00:00Z", "2024-01-04T02:00:00Z", []string{"a"}, "", nil},
	})
}

func TestOverrideSplitsShift(t *testing.T) {
	r := daily("UTC", time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC), []string{"a", "b"}, "09:00")
	ov := []Override{
		{Rotation: "r", Start: time.Date(2024, 1, 2, 12, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 2, 15, 0, 0, 0, time.UTC), Members: []string{"x"}},
		{Rotation: "other", Start: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 3, 0, 0, 0, 0, time.UTC), Members: []string{"ignored"}},
	}
	got := mustShifts(t, r, ov, time.Date(2024, 1, 2, 9, 0, 0, 0, time.UTC), time.Date(2024, 1, 3, 9, 0, 0, 0, time.UTC))
	checkShifts(t, got, []want{
		{"2024-01-02T09:00:00Z", "2024-01-02T12:00:00Z", []string{"b"}, Regular, nil},
		{"2024-01-02T12:00:00Z", "2024-01-02T15:00:00Z", []string{"x"}, Overridden, []string{"b"}},
		{"2024-01-02T15:00:00Z", "2024-01-03T09:00:00Z", []string{"b"}, Regular, nil},
	})
	if m := mustOnCall(t, r, ov, time.Date(2024, 1, 2, 13, 0, 0, 0, time.UTC)); !slices.Equal(m, []string{"x"}) {
		t.Fatalf("OnCall during override = %v", m)
	}
}

func TestOverlappingOverridesLaterWins(t *testing.T) {
	r := daily("UTC", time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC), []string{"a", "b"}, "09:00")
	at := func(h int) time.Time { return time.Date(2024, 1, 2, h, 0, 0, 0, time.UTC) }
	o1 := Override{Rotation: "r", Start: at(10), End: at(14), Members: []string{"x"}}
	o2 := Override{Rotation: "r", Start: at(12), End: at(16), Members: []string{"y"}}
	got := mustShifts(t, r, []Override{o1, o2}, at(9), at(18))
	checkShifts(t, got, []want{
		{"2024-01-02T09:00:00Z", "2024-01-02T10:00:00Z", []string{"b"}, Regular, nil},
		{"2024-01-02T10:00:00Z", "2024-01-02T12:00:00Z", []string{"x"}, Overridden, []string{"b"}},
		{"2024-01-02T12:00:00Z", "2024-01-02T16:00:00Z", []string{"y"}, Overridden, []string{"b"}},
		{"2024-01-02T16:00:00Z", "2024-01-02T18:00:00Z", []string{"b"}, Regular, nil},
	})
	got = mustShifts(t, r, []Override{o2, o1}, at(9), at(18))
	checkShifts(t, got, []want{
		{"2024-01-02T09:00:00Z", "2024-01-02T10:00:00Z", []string{"b"}, Regular, nil},
		{"2024-01-02T10:00:00Z", "2024-01-02T14:00:00Z", []string{"x"}, Overridden, []string{"b"}},
		{"2024-01-02T14:00:00Z", "2024-01-02T16:00:00Z", []string{"y"}, Overridden, []string{"b"}},
		{"2024-01-02T16:00:00Z", "2024-01-02T18:00:00Z", []string{"b"}, Regular, nil},
	})
	if m := mustOnCall(t, r, []Override{o1, o2}, at(13)); !slices.Equal(m, []string{"y"}) {
		t.Fatalf("OnCall in the overlap = %v, want the later override", m)
	}
}

func TestOverrideAcrossHandOffAndCoverage(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	r := businessHours("America/New_York", time.Date(2024, 1, 1, 9, 0, 0, 0, ny))
	// Friday 17:00 to Saturday 11:00: crosses the end of coverage and
	// Saturday's 09:00 hand-off. It applies outside coverage too, where
	// there is no regular shift to cut it at the hand-off.
	ov := []Override{{Rotation: "app", Start: time.Date(2024, 1, 5, 17, 0, 0, 0, ny), End: time.Date(2024, 1, 6, 11, 0, 0, 0, ny), Members: []string{"x"}}}
	got := mustShifts(t, r, ov, time.Date(2024, 1, 5, 12, 0, 0, 0, ny), time.Date(2024, 1, 6, 12, 0, 0, 0, ny))
	checkShifts(t, got, []want{
		{"2024-01-05T12:00:00-05:00", "2024-01-05T17:00:00-05:00", []string{"b"}, Regular, nil},
		{"2024-01-05T17:00:00-05:00", "2024-01-05T18:00:00-05:00", []string{"x"}, Overridden, []string{"b"}},
		{"2024-01-05T18:00:00-05:00", "2024-01-06T11:00:00-05:00", []string{"x"}, Overridden, nil},
	})
	if m := mustOnCall(t, r, ov, time.Date(2024, 1, 6, 10, 0, 0, 0, ny)); !slices.Equal(m, []string{"x"}) {
		t.Fatalf("OnCall on Saturday during override = %v, want [x]", m)
	}
}

func TestOverrideWithoutMembers(t *testing.T) {
	r := daily("UTC", time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC), []string{"a", "b"}, "09:00")
	ov := []Override{{Rotation: "r", Start: time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC), End: time.Date(2024, 1, 1, 11, 0, 0, 0, time.UTC)}}
	got := mustShifts(t, r, ov, time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC), time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC))
	checkShifts(t, got, []want{
		{"2024-01-01T09:00:00Z", "2024-01-01T10:00:00Z", []string{"a"}, Regular, nil},
		{"2024-01-01T10:00:00Z", "2024-01-01T11:00:00Z", []string{}, Overridden, []string{"a"}},
		{"2024-01-01T11:00:00Z", "2024-01-01T12:00:00Z", []string{"a"}, Regular, nil},
	})
	if got[1].Members == nil {
		t.Fatal("Members is nil; JSON would say null")
	}
	if m := mustOnCall(t, r, ov, time.Date(2024, 1, 1, 10, 30, 0, 0, time.UTC)); m != nil {
		t.Fatalf("OnCall = %v, want nobody", m)
	}
}

func TestStartMidCycle(t *testing.T) {
	r := daily("UTC", time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC), []string{"a", "b"}, "09:00")
	got := mustShifts(t, r, nil, time.Date(2023, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 3, 9, 0, 0, 0, time.UTC))
	checkShifts(t, got, []want{
		{"2024-01-01T12:00:00Z", "2024-01-02T09:00:00Z", []string{"a"}, "", nil},
		{"2024-01-02T09:00:00Z", "2024-01-03T09:00:00Z", []string{"b"}, "", nil},
	})
	if m := mustOnCall(t, r, nil, time.Date(2024, 1, 1, 11, 59, 0, 0, time.UTC)); m != nil {
		t.Fatalf("OnCall before start = %v", m)
	}
}

// A rotation started decades ago is positioned by arithmetic; the answer
// must match counting days.
func TestStartFarInThePast(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	members := []string{"m0", "m1", "m2", "m3", "m4", "m5", "m6"}
	r := daily("America/New_York", time.Date(1990, 1, 1, 9, 0, 0, 0, ny), members, "09:00")
	days := int(time.Date(2030, 6, 15, 0, 0, 0, 0, time.UTC).Sub(time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)) / (24 * time.Hour))
	at := time.Date(2030, 6, 15, 12, 0, 0, 0, ny)
	if m := mustOnCall(t, r, nil, at); !slices.Equal(m, []string{members[days%7]}) {
		t.Fatalf("OnCall = %v, want %s", m, members[days%7])
	}
	got := mustShifts(t, r, nil, at, at.Add(time.Hour))
	if len(got) != 1 || got[0].Members[0] != members[days%7] || got[0].Start.Format(time.RFC3339) != "2030-06-15T12:00:00-04:00" {
		t.Fatalf("Shifts = %v", got)
	}
}

func TestHourlyFollowsElapsedTime(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	r := &Rotation{Name: "r", Members: []string{"a", "b", "c", "d"}, TimeZone: "America/New_York",
		Start: time.Date(2024, 3, 10, 0, 0, 0, 0, ny), Recurrence: Recurrence{Type: Hourly}}
	got := mustShifts(t, r, nil, r.Start, r.Start.Add(4*time.Hour))
	checkShifts(t, got, []want{
		{"2024-03-10T00:00:00-05:00", "2024-03-10T01:00:00-05:00", []string{"a"}, "", nil},
		{"2024-03-10T01:00:00-05:00", "2024-03-10T03:00:00-04:00", []string{"b"}, "", nil},
		{"2024-03-10T03:00:00-04:00", "2024-03-10T04:00:00-04:00", []string{"c"}, "", nil},
		{"2024-03-10T04:00:00-04:00", "2024-03-10T05:00:00-04:00", []string{"d"}, "", nil},
	})
	r.Start = time.Date(2024, 11, 3, 0, 0, 0, 0, ny)
	r.Recurrence.HandOffMinute = 15
	got = mustShifts(t, r, nil, r.Start, r.Start.Add(4*time.Hour))
	checkShifts(t, got, []want{
		{"2024-11-03T00:00:00-04:00", "2024-11-03T00:15:00-04:00", []string{"a"}, "", nil},
		{"2024-11-03T00:15:00-04:00", "2024-11-03T01:15:00-04:00", []string{"b"}, "", nil},
		{"2024-11-03T01:15:00-04:00", "2024-11-03T01:15:00-05:00", []string{"c"}, "", nil},
		{"2024-11-03T01:15:00-05:00", "2024-11-03T02:15:00-05:00", []string{"d"}, "", nil},
		{"2024-11-03T02:15:00-05:00", "2024-11-03T03:00:00-05:00", []string{"a"}, "", nil},
	})
}

// 02:45 is pushed to 03:45 on spring-forward day, past 03:15: the 02:45
// shift is empty, the 03:15 one starts at 03:45, and the order goes on.
func TestInvertedHandOffsNeverGoBack(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	r := daily("America/New_York", time.Date(2024, 3, 8, 2, 45, 0, 0, ny), []string{"a", "b", "c"}, "03:15", "02:45")
	got := mustShifts(t, r, nil, time.Date(2024, 3, 9, 12, 0, 0, 0, ny), time.Date(2024, 3, 11, 12, 0, 0, 0, ny))
	checkShifts(t, got, []want{
		{"2024-03-09T12:00:00-05:00", "2024-03-10T03:45:00-04:00", []string{"a"}, "", nil},
		{"2024-03-10T03:45:00-04:00", "2024-03-11T02:45:00-04:00", []string{"c"}, "", nil},
		{"2024-03-11T02:45:00-04:00", "2024-03-11T03:15:00-04:00", []string{"a"}, "", nil},
		{"2024-03-11T03:15:00-04:00", "2024-03-11T12:00:00-04:00", []string{"b"}, "", nil},
	})
}

func TestWindowErrors(t *testing.T) {
	r := daily("UTC", time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC), []string{"a"}, "09:00")
	at := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
	if got := mustShifts(t, r, nil, at, at); len(got) != 0 {
		t.Fatalf("empty window gave %v", got)
	}
	for _, c := range []struct {
		from, to time.Time
		msg      string
	}{
		{at, at.Add(-time.Second), "to: must not be before from"},
		{time.Time{}, at, "from: 0001-01-01T00:00:00Z is outside the supported range"},
		{at, time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), "to: 2300-01-01T00:00:00Z is outside"},
	} {
		_, err := Shifts(r, nil, c.from, c.to)
		if tocsin.ErrorCode(err) != tocsin.EINVALID || !strings.Contains(tocsin.ErrorMessage(err), c.msg) {
			t.Errorf("Shifts(%s, %s) error = %v, want %q", c.from, c.to, err, c.msg)
		}
	}
}

func TestJSONFieldNames(t *testing.T) {
	const doc = `{
		"name": "app", "members": ["alice", "bob"], "start": "2024-01-01T09:00:00+01:00",
		"time_zone": "Europe/Berlin",
		"recurrence": {"type": "daily", "multiplier": 1, "on_calls": 1, "hand_off_times": ["09:00"]},
		"coverage": [{"day_of_week": "MON", "start": "08:00", "end": "18:00"}]
	}`
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	var r Rotation
	if err := dec.Decode(&r); err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	got := mustShifts(t, &r, nil, time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC), time.Date(2024, 1, 1, 11, 0, 0, 0, time.UTC))
	b, err := json.Marshal(got[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"start":"2024-01-01T11:00:00+01:00","end":"2024-01-01T12:00:00+01:00","members":["alice"],"type":"regular"}`; string(b) != want {
		t.Fatalf("JSON = %s\nwant %s", b, want)
	}
}
