package oncall

import (
	"strings"
	"testing"
	"time"

	"tocsin"
)

func validRotation() *Rotation {
	return &Rotation{
		Name:     "platform",
		Members:  []string{"alice", "bob", "carol"},
		Start:    time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC),
		TimeZone: "Europe/Berlin",
		Recurrence: Recurrence{Type: Weekly,
			WeeklySettings: []WeeklySetting{{DayOfWeek: "MON", HandOffTime: "09:00"}}},
	}
}

func TestRotationValidate(t *testing.T) {
	if err := validRotation().Validate(); err != nil {
		t.Fatalf("valid rotation: %v", err)
	}
	for _, c := range []struct {
		name   string
		modify func(r *Rotation)
		want   []string
	}{
		{"bad daily time", func(r *Rotation) {
			r.Recurrence = Recurrence{Type: Daily, HandOffTimes: []string{"09:00", "25:00", "9:00", "12:60"}}
		}, []string{
			`recurrence.hand_off_times[1]: "25:00" is not HH:MM`,
			`recurrence.hand_off_times[2]: "9:00" is not HH:MM`,
			`recurrence.hand_off_times[3]: "12:60" is not HH:MM`,
		}},
		{"no daily times", func(r *Rotation) { r.Recurrence = Recurrence{Type: Daily} },
			[]string{"recurrence.hand_off_times: must list at least one HH:MM time"}},
		{"repeated daily time", func(r *Rotation) {
			r.Recurrence = Recurrence{Type: Daily, HandOffTimes: []string{"09:00", "bad", "00:00", "09:00"}}
		},
			[]string{`recurrence.hand_off_times[1]: "bad" is not HH:MM; recurrence.hand_off_times[3]: "09:00" is listed twice`}},
		{"unknown zone", func(r *Rotation) { r.TimeZone = "Mars/Olympus_Mons" },
			[]string{`time_zone: "Mars/Olympus_Mons" is not a known IANA time zone`}},
		{"local zone", func(r *Rotation) { r.TimeZone = "Local" },
			[]string{`time_zone: "Local" is not an IANA time zone name`}},
		{"no zone", func(r *Rotation) { r.TimeZone = "" },
			[]string{`time_zone: "" is not an IANA time zone name`}},
		{"no members", func(r *Rotation) { r.Members = nil },
			[]string{"members: must list at least one member"}},
		{"repeated and empty members", func(r *Rotation) { r.Members = []string{"a", " ", "a"} },
			[]string{"members[1]: must not be empty", `members[2]: "a" is listed twice`}},
		{"no name", func(r *Rotation) { r.Name = "" }, []string{"name: is required"}},
		{"no start", func(r *Rotation) { r.Start = time.Time{} }, []string{"start: is required"}},
		{"start out of range", func(r *Rotation) { r.Start = time.Date(1850, 1, 1, 0, 0, 0, 0, time.UTC) },
			[]string{"start: 1850-01-01T00:00:00Z is outside the supported range"}},
		{"multiplier", func(r *Rotation) { r.Recurrence.Multiplier = -1 },
			[]string{"recurrence.multiplier: must be at least 1, got -1"}},
		{"multiplier too large", func(r *Rotation) { r.Recurrence.Multiplier = 101 },
			[]string{"recurrence.multiplier: must be at most 100, got 101"}},
		{"on_calls", func(r *Rotation) { r.Recurrence.OnCalls = -2 },
			[]string{"recurrence.on_calls: must be at least 1, got -2"}},
		{"type", func(r *Rotation) { r.Recurrence.Type = "yearly" },
			[]string{`recurrence.type: "yearly" is not one of hourly, daily, weekly, monthly`}},
		{"weekly day", func(r *Rotation) { r.Recurrence.WeeklySettings[0].DayOfWeek = "Monday" },
			[]string{`recurrence.weekly_settings[0].day_of_week: "Monday" is not one of MON, TUE, WED, THU, FRI, SAT, SUN`}},
		{"weekly time", func(r *Rotation) { r.Recurrence.WeeklySettings[0].HandOffTime = "24:00" },
			[]string{`recurrence.weekly_settings[0].hand_off_time: "24:00" is not HH:MM`}},
		{"weekly repeated", func(r *Rotation) {
			r.Recurrence.WeeklySettings = append(r.Recurrence.WeeklySettings, r.Recurrence.WeeklySettings[0])
		},
			[]string{"recurrence.weekly_settings[1]: MON 09:00 is listed twice"}},
		{"weekly none", func(r *Rotation) { r.Recurrence.WeeklySettings = nil },
			[]string{"recurrence.weekly_settings: must list at least one setting"}},
		{"field of another type", func(r *Rotation) { r.Recurrence.HandOffTimes = []string{"09:00"}; r.Recurrence.HandOffMinute = 5 },
			[]string{"recurrence.hand_off_times: is not used by weekly recurrences", "recurrence.hand_off_minute: is not used by weekly recurrences"}},
		{"monthly day", func(r *Rotation) {
			r.Recurrence = Recurrence{Type: Monthly, MonthlySettings: []MonthlySetting{{DayOfMonth: 32, HandOffTime: "09:00"}, {DayOfMonth: 0, HandOffTime: "x"}}}
		}, []string{
			"recurrence.monthly_settings[0].day_of_month: must be 1 to 31, got 32",
			"recurrence.monthly_settings[1].day_of_month: must be 1 to 31, got 0",
			`recurrence.monthly_settings[1].hand_off_time: "x" is not HH:MM`,
		}},
		{"hourly minute", func(r *Rotation) { r.Recurrence = Recurrence{Type: Hourly, HandOffMinute: 60} },
			[]string{"recurrence.hand_off_minute: must be 0 to 59, got 60"}},
		{"coverage", func(r *Rotation) {
			r.Coverage = []CoverageWindow{{DayOfWeek: "mon", Start: "24:00", End: "25:00"}}
		}, []string{
			`coverage[0].day_of_week: "mon" is not one of MON`,
			`coverage[0].start: "24:00" is not HH:MM`,
			`coverage[0].end: "25:00" is not HH:MM or 24:00`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := validRotation()
			c.modify(r)
			err := r.Validate()
			if tocsin.ErrorCode(err) != tocsin.EINVALID {
				t.Fatalf("error %v, want code %s", err, tocsin.EINVALID)
			}
			msg := tocsin.ErrorMessage(err)
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q\ndoes not contain %q", msg, w)
				}
			}
			// Shifts and OnCall refuse an invalid rotation the same way.
			if _, err := Shifts(r, nil, r.Start, r.Start.Add(time.Hour)); tocsin.ErrorMessage(err) != msg {
				t.Errorf("Shifts error %q, want %q", tocsin.ErrorMessage(err), msg)
			}
			if _, err := OnCall(r, nil, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)); tocsin.ErrorMessage(err) != msg {
				t.Errorf("OnCall error %q, want %q", tocsin.ErrorMessage(err), msg)
			}
		})
	}
}

func TestCoverageEndsAcceptMidnight(t *testing.T) {
	r := validRotation()
	r.Coverage = []CoverageWindow{
		{DayOfWeek: "MON", Start: "08:00", End: "24:00"},
		{DayOfWeek: "TUE", Start: "08:00", End: "00:00"},
		{DayOfWeek: "WED", Start: "22:00", End: "06:00"},
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestOverrideValidate(t *testing.T) {
	start := time.Date(2024, 1, 1, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		o    Override
		want []string
	}{
		{Override{Rotation: "r", Start: start, End: start, Members: []string{"a"}}, []string{"end: must be after start"}},
		{Override{Start: start, End: start.Add(time.Hour), Members: []string{"a", "a"}},
			[]string{"rotation: must name a rotation", `members[1]: "a" is listed twice`}},
		{Override{Rotation: "r"}, []string{"start: is required", "end: is required"}},
	} {
		err := c.o.Validate()
		for _, w := range c.want {
			if tocsin.ErrorCode(err) != tocsin.EINVALID || !strings.Contains(tocsin.ErrorMessage(err), w) {
				t.Errorf("Validate(%+v) = %v, want %q", c.o, err, w)
			}
		}
	}
	if err := (&Override{Rotation: "r", Start: start, End: start.Add(time.Hour)}).Validate(); err != nil {
		t.Errorf("an override without members is valid (nobody on call): %v", err)
	}
	// Shifts names the bad override by its index.
	_, err := Shifts(validRotation(), []Override{{Rotation: "x", Start: start, End: start.Add(time.Hour)}, {Rotation: "r", Start: start, End: start}},
		start, start.Add(time.Hour))
	if want := "overrides[1].end: must be after start"; !strings.Contains(tocsin.ErrorMessage(err), want) {
		t.Errorf("Shifts error %v, want %q", err, want)
	}
}
