package oncall

import (
	"fmt"
	"testing"
	"time"
)

// previewRotation is the complex rotation of the performance target: daily
// with two hand-offs, business-hours coverage, Europe/Berlin, started long
// before the previewed year.
func previewRotation(b *testing.B) (*Rotation, []Override) {
	berlin := mustLoc(b, "Europe/Berlin")
	r := &Rotation{Name: "app", Members: []string{"alice", "bob", "carol", "dave", "erin"},
		TimeZone: "Europe/Berlin", Start: time.Date(2019, 1, 7, 9, 0, 0, 0, berlin),
		Recurrence: Recurrence{Type: Daily, HandOffTimes: []string{"09:00", "21:00"}, OnCalls: 2}}
	for _, d := range []string{"MON", "TUE", "WED", "THU", "FRI"} {
		r.Coverage = append(r.Coverage, CoverageWindow{DayOfWeek: d, Start: "08:00", End: "18:00"})
	}
	ov := []Override{
		{Rotation: "app", Start: time.Date(2025, 3, 3, 8, 0, 0, 0, berlin), End: time.Date(2025, 3, 8, 0, 0, 0, 0, berlin), Members: []string{"frank"}},
		{Rotation: "app", Start: time.Date(2025, 7, 14, 12, 0, 0, 0, berlin), End: time.Date(2025, 7, 28, 12, 0, 0, 0, berlin), Members: []string{"grace", "bob"}},
		{Rotation: "app", Start: time.Date(2025, 12, 24, 0, 0, 0, 0, berlin), End: time.Date(2025, 12, 27, 0, 0, 0, 0, berlin), Members: []string{"heidi"}},
	}
	return r, ov
}

func BenchmarkPreviewOneYear(b *testing.B) {
	r, ov := previewRotation(b)
	from, to := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var n int
	for b.Loop() {
		shifts, err := Shifts(r, ov, from, to)
		if err != nil {
			b.Fatal(err)
		}
		n = len(shifts)
	}
	b.ReportMetric(float64(n), "shifts")
}

// schedules1000 builds 1000 two-layer schedules mixing every recurrence
// type and several zones, each with an override.
func schedules1000(b *testing.B) ([]*ResolvedSchedule, [][]Override) {
	zonesUsed := []string{"Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "America/St_Johns"}
	recs := []Recurrence{
		{Type: Daily, HandOffTimes: []string{"09:00"}},
		{Type: Weekly, WeeklySettings: []WeeklySetting{{DayOfWeek: "MON", HandOffTime: "09:00"}}},
		{Type: Daily, HandOffTimes: []string{"08:00", "20:00"}, OnCalls: 2},
		{Type: Monthly, MonthlySettings: []MonthlySetting{{DayOfMonth: 31, HandOffTime: "10:00"}}},
		{Type: Hourly, Multiplier: 8},
	}
	schedules := make([]*ResolvedSchedule, 1000)
	overrides := make([][]Override, 1000)
	for i := range schedules {
		s := &ResolvedSchedule{Name: fmt.Sprintf("s%d", i)}
		for l := range 2 {
			zoneName := zonesUsed[(i+l)%len(zonesUsed)]
			r := &Rotation{Name: fmt.Sprintf("s%d-l%d", i, l), TimeZone: zoneName,
				Members:    []string{"a", "b", "c", "d", "e", "f"},
				Start:      time.Date(2020+i%5, 1, 6, 9, 0, 0, 0, mustLoc(b, zoneName)),
				Recurrence: recs[(i+2*l)%len(recs)]}
			if i%3 == 0 {
				r.Coverage = []CoverageWindow{{DayOfWeek: "MON", Start: "08:00", End: "18:00"}, {DayOfWeek: "WED", Start: "08:00", End: "18:00"}}
			}
			s.Rotations = append(s.Rotations, r)
		}
		overrides[i] = []Override{{Rotation: s.Rotations[0].Name, Start: time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC),
			End: time.Date(2026, 5, 2, 0, 0, 0, 0, time.UTC), Members: []string{"z"}}}
		schedules[i] = s
	}
	return schedules, overrides
}

func BenchmarkWhoIsOnCall1000Schedules(b *testing.B) {
	schedules, overrides := schedules1000(b)
	at := time.Date(2026, 5, 6, 14, 30, 0, 0, time.UTC)
	for b.Loop() {
		for i, s := range schedules {
			if _, err := s.OnCall(overrides[i], at); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkOnCallOneRotation(b *testing.B) {
	r, ov := previewRotation(b)
	at := time.Date(2025, 6, 4, 10, 0, 0, 0, time.UTC)
	for b.Loop() {
		if _, err := OnCall(r, ov, at); err != nil {
			b.Fatal(err)
		}
	}
}
