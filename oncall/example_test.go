package oncall_test

import (
	"fmt"
	"time"

	"tocsin/oncall"
)

// The seed documents' App rotation: a daily hand-off at 09:00 and business
// hours coverage, with one override.
func ExampleShifts() {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	app := &oncall.Rotation{
		Name:     "app",
		Members:  []string{"alice", "bob", "carol"},
		Start:    time.Date(2025, 3, 3, 9, 0, 0, 0, berlin),
		TimeZone: "Europe/Berlin",
		Recurrence: oncall.Recurrence{
			Type:         oncall.Daily,
			HandOffTimes: []string{"09:00"},
		},
		Coverage: []oncall.CoverageWindow{
			{DayOfWeek: "MON", Start: "08:00", End: "18:00"},
			{DayOfWeek: "TUE", Start: "08:00", End: "18:00"},
		},
	}
	overrides := []oncall.Override{{
		Rotation: "app",
		Start:    time.Date(2025, 3, 4, 12, 0, 0, 0, berlin),
		End:      time.Date(2025, 3, 4, 14, 0, 0, 0, berlin),
		Members:  []string{"dave"},
	}}
	shifts, err := oncall.Shifts(app, overrides, time.Date(2025, 3, 3, 0, 0, 0, 0, berlin), time.Date(2025, 3, 5, 0, 0, 0, 0, berlin))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range shifts {
		fmt.Println(s.Start.Format("Mon 15:04"), "–", s.End.Format("15:04"), s.Members, s.Type, s.Replaced)
	}
	// Output:
	// Mon 09:00 – 18:00 [alice] regular []
	// Tue 08:00 – 09:00 [alice] regular []
	// Tue 09:00 – 12:00 [bob] regular []
	// Tue 12:00 – 14:00 [dave] overridden [bob]
	// Tue 14:00 – 18:00 [bob] regular []
}

// Hand-offs of a weekly rotation, for hand-off notifications.
func ExampleHandOffs() {
	ny, _ := time.LoadLocation("America/New_York")
	platform := &oncall.ResolvedSchedule{Name: "platform", Rotations: []*oncall.Rotation{{
		Name:     "platform",
		Members:  []string{"alice", "bob"},
		Start:    time.Date(2025, 3, 3, 9, 0, 0, 0, ny),
		TimeZone: "America/New_York",
		Recurrence: oncall.Recurrence{
			Type:           oncall.Weekly,
			WeeklySettings: []oncall.WeeklySetting{{DayOfWeek: "MON", HandOffTime: "09:00"}},
		},
	}}}
	hand, err := oncall.HandOffs(platform, nil, time.Date(2025, 3, 4, 0, 0, 0, 0, ny), time.Date(2025, 3, 18, 0, 0, 0, 0, ny))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, h := range hand {
		fmt.Println(h.At.In(ny).Format("Mon Jan 2 15:04 MST"), h.Outgoing, "→", h.Incoming)
	}
	// Output:
	// Mon Mar 10 09:00 EDT [alice] → [bob]
	// Mon Mar 17 09:00 EDT [bob] → [alice]
}
