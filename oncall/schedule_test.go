package oncall

import (
	"slices"
	"strings"
	"testing"
	"time"

	"tocsin"
)

// followTheSun is two business-hours rotations, one in Berlin and one in
// New York, each covering 08:00–16:00 local on weekdays.
func followTheSun(t *testing.T) *ResolvedSchedule {
	berlin, ny := mustLoc(t, "Europe/Berlin"), mustLoc(t, "America/New_York")
	mk := func(name, zoneName string, loc *time.Location, members ...string) *Rotation {
		r := daily(zoneName, time.Date(2024, 1, 8, 8, 0, 0, 0, loc), members, "08:00")
		r.Name = name
		for _, d := range []string{"MON", "TUE", "WED", "THU", "FRI"} {
			r.Coverage = append(r.Coverage, CoverageWindow{DayOfWeek: d, Start: "08:00", End: "16:00"})
		}
		return r
	}
	return &ResolvedSchedule{Name: "sun", Rotations: []*Rotation{
		mk("emea", "Europe/Berlin", berlin, "eu1", "eu2"),
		mk("amer", "America/New_York", ny, "us1", "us2"),
	}}
}

func TestScheduleFollowTheSun(t *testing.T) {
	s := followTheSun(t)
	utc := func(d, h int) time.Time { return time.Date(2024, 1, d, h, 0, 0, 0, time.UTC) }
	// Wednesday 10 January: Berlin is UTC+1 (07–15Z), New York UTC−5 (13–21Z).
	for _, c := range []struct {
		at   time.Time
		want []string
	}{
		{utc(10, 6), nil},
		{utc(10, 8), []string{"eu1"}},
		{utc(10, 14), []string{"eu1", "us1"}}, // the overlap: union, layer order
		{utc(10, 16), []string{"us1"}},
		{utc(10, 22), nil},
		{utc(13, 14), nil}, // Saturday
	} {
		got, err := s.OnCall(nil, c.at)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("OnCall(%s) = %v, want %v", c.at, got, c.want)
		}
	}
	got, err := s.Shifts(nil, utc(10, 0), utc(11, 0))
	if err != nil {
		t.Fatal(err)
	}
	checkShifts(t, got, []want{
		{"2024-01-10T07:00:00Z", "2024-01-10T13:00:00Z", []string{"eu1"}, "", nil},
		{"2024-01-10T13:00:00Z", "2024-01-10T15:00:00Z", []string{"eu1", "us1"}, "", nil},
		{"2024-01-10T15:00:00Z", "2024-01-10T21:00:00Z", []string{"us1"}, "", nil},
	})
	hand, err := HandOffs(s, nil, utc(10, 0), utc(11, 0))
	if err != nil {
		t.Fatal(err)
	}
	checkHandOffs(t, hand, []wantHandOff{
		{"2024-01-10T07:00:00Z", nil, []string{"eu1"}},
		{"2024-01-10T13:00:00Z", nil, []string{"us1"}},
		{"2024-01-10T15:00:00Z", []string{"eu1"}, nil},
		{"2024-01-10T21:00:00Z", []string{"us1"}, nil},
	})
}

type wantHandOff struct {
	at                 string
	outgoing, incoming []string
}

func checkHandOffs(t *testing.T, got []HandOff, wants []wantHandOff) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("%d hand-offs %+v, want %d", len(got), got, len(wants))
	}
	for i, w := range wants {
		g := got[i]
		if g.Outgoing == nil || g.Incoming == nil {
			t.Fatalf("hand-off %d has nil lists: %+v", i, g)
		}
		if g.At.Format(time.RFC3339) != w.at || !slices.Equal(g.Outgoing, append([]string{}, w.outgoing...)) ||
			!slices.Equal(g.Incoming, append([]string{}, w.incoming...)) {
			t.Fatalf("hand-off %d = %s out %v in %v, want %s out %v in %v",
				i, g.At.Format(time.RFC3339), g.Outgoing, g.Incoming, w.at, w.outgoing, w.incoming)
		}
	}
}

// The seed documents' Platform rotation: weekly, hand-off Monday 09:00.
func platform(t *testing.T) *Rotation {
	ny := mustLoc(t, "America/New_York")
	return &Rotation{Name: "platform", Members: []string{"alice", "bob", "carol"}, TimeZone: "America/New_York",
		Start: time.Date(2024, 1, 1, 9, 0, 0, 0, ny),
		Recurrence: Recurrence{Type: Weekly,
			WeeklySettings: []WeeklySetting{{DayOfWeek: "MON", HandOffTime: "09:00"}}}}
}

func TestHandOffsWeeklyWithOverride(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	s := &ResolvedSchedule{Name: "platform", Rotations: []*Rotation{platform(t)}}
	ov := []Override{{Rotation: "platform", Start: time.Date(2024, 1, 10, 12, 0, 0, 0, ny),
		End: time.Date(2024, 1, 11, 12, 0, 0, 0, ny), Members: []string{"dave", "bob"}}}
	// from is exactly a hand-off: it is included.
	hand, err := HandOffs(s, ov, time.Date(2024, 1, 8, 9, 0, 0, 0, ny), time.Date(2024, 1, 22, 9, 0, 0, 0, ny))
	if err != nil {
		t.Fatal(err)
	}
	checkHandOffs(t, hand, []wantHandOff{
		{"2024-01-08T14:00:00Z", []string{"alice"}, []string{"bob"}},
		{"2024-01-10T17:00:00Z", nil, []string{"dave"}}, // bob stays on: the override lists him
		{"2024-01-11T17:00:00Z", []string{"dave"}, nil},
		{"2024-01-15T14:00:00Z", []string{"bob"}, []string{"carol"}},
	})
	// A window that opens mid-shift reports no hand-off at its start.
	hand, err = HandOffs(s, nil, time.Date(2024, 1, 9, 0, 0, 0, 0, ny), time.Date(2024, 1, 14, 0, 0, 0, 0, ny))
	if err != nil || len(hand) != 0 {
		t.Fatalf("HandOffs = %+v, %v; want none", hand, err)
	}
}

func TestScheduleMergesEqualNeighbours(t *testing.T) {
	// One member handing off to herself every day is one stretch on the
	// schedule's timeline (and no hand-off), though the rotation has a
	// shift per day.
	r := daily("UTC", time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC), []string{"solo"}, "09:00")
	s := &ResolvedSchedule{Name: "s", Rotations: []*Rotation{r}}
	from, to := time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC), time.Date(2024, 1, 4, 9, 0, 0, 0, time.UTC)
	if got := mustShifts(t, r, nil, from, to); len(got) != 3 {
		t.Fatalf("rotation shifts = %d, want 3", len(got))
	}
	got, err := s.Shifts(nil, from, to)
	if err != nil {
		t.Fatal(err)
	}
	checkShifts(t, got, []want{{"2024-01-01T09:00:00Z", "2024-01-04T09:00:00Z", []string{"solo"}, "", nil}})
	hand, err := HandOffs(s, nil, from.Add(time.Hour), to)
	if err != nil || len(hand) != 0 {
		t.Fatalf("HandOffs = %+v, %v; want none", hand, err)
	}
}

func TestScheduleOverriddenReplaced(t *testing.T) {
	// Primary and secondary layers; the override swaps the primary for the
	// secondary's member, who is on call anyway, and for x.
	primary := daily("UTC", time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC), []string{"a", "b"}, "09:00")
	primary.Name = "primary"
	secondary := daily("UTC", time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC), []string{"c", "d"}, "09:00")
	secondary.Name = "secondary"
	s := &ResolvedSchedule{Name: "s", Rotations: []*Rotation{primary, secondary}}
	at := func(h int) time.Time { return time.Date(2024, 1, 1, h, 0, 0, 0, time.UTC) }
	ov := []Override{{Rotation: "primary", Start: at(10), End: at(12), Members: []string{"x"}}}
	got, err := s.Shifts(ov, at(9), at(13))
	if err != nil {
		t.Fatal(err)
	}
	checkShifts(t, got, []want{
		{"2024-01-01T09:00:00Z", "2024-01-01T10:00:00Z", []string{"a", "c"}, Regular, nil},
		{"2024-01-01T10:00:00Z", "2024-01-01T12:00:00Z", []string{"x", "c"}, Overridden, []string{"a"}},
		{"2024-01-01T12:00:00Z", "2024-01-01T13:00:00Z", []string{"a", "c"}, Regular, nil},
	})
	if m, _ := s.OnCall(ov, at(11)); !slices.Equal(m, []string{"x", "c"}) {
		t.Fatalf("OnCall = %v", m)
	}
}

func TestScheduleValidate(t *testing.T) {
	a, b := validRotation(), validRotation()
	b.TimeZone = "Nowhere/Atlantis"
	s := &ResolvedSchedule{Name: "s", Rotations: []*Rotation{a, b}}
	err := s.Validate()
	msg := tocsin.ErrorMessage(err)
	for _, w := range []string{
		`rotations[1].time_zone: "Nowhere/Atlantis" is not a known IANA time zone`,
		`rotations[1].name: "platform" is also the name of rotations[0]`,
	} {
		if tocsin.ErrorCode(err) != tocsin.EINVALID || !strings.Contains(msg, w) {
			t.Errorf("Validate = %v, want %q", err, w)
		}
	}
	if err := (&ResolvedSchedule{}).Validate(); !strings.Contains(tocsin.ErrorMessage(err), "rotations: must list at least one rotation") {
		t.Errorf("empty schedule: %v", err)
	}
	if _, err := HandOffs(s, nil, a.Start, a.Start.Add(time.Hour)); tocsin.ErrorMessage(err) != msg {
		t.Errorf("HandOffs error %v, want %q", err, msg)
	}
}
