package oncall

import (
	"fmt"
	"strings"
	"time"

	"tocsin"
)

// Recurrence types: the unit a rotation's hand-offs repeat in.
const (
	Hourly  = "hourly"
	Daily   = "daily"
	Weekly  = "weekly"
	Monthly = "monthly"
)

// Shift types.
const (
	// Regular is a shift whose members come from the rotation's order.
	Regular = "regular"
	// Overridden is a shift whose members come from an override.
	Overridden = "overridden"
)

// Rotation is an ordered list of members who take turns being on call,
// handing off at wall-clock times of a time zone.
type Rotation struct {
	// Name identifies the rotation; overrides refer to it by this name.
	Name string `json:"name" yaml:"name"`
	// Members are contact aliases in rotation order.
	Members []string `json:"members" yaml:"members"`
	// Start is when the first shift starts. Nobody from the rotation is on
	// call before it.
	Start time.Time `json:"start" yaml:"start"`
	// TimeZone is the IANA name of the zone whose wall clock hand-off times
	// and coverage windows are read in, such as "Europe/Berlin".
	TimeZone string `json:"time_zone" yaml:"time_zone"`
	// Recurrence says when hand-offs happen and how many members are on call.
	Recurrence Recurrence `json:"recurrence" yaml:"recurrence"`
	// Coverage limits the rotation to these weekly windows. Outside them
	// nobody from the rotation is on call. Empty means always covered.
	Coverage []CoverageWindow `json:"coverage,omitempty" yaml:"coverage,omitempty"`
}

// Recurrence says when a rotation hands off. Exactly one of HandOffTimes
// (daily), WeeklySettings (weekly) or MonthlySettings (monthly) is used;
// hourly uses HandOffMinute.
type Recurrence struct {
	// Type is Hourly, Daily, Weekly or Monthly.
	Type string `json:"type" yaml:"type"`
	// Multiplier is how many hand-off occurrences one shift spans, 1 to 100
	// (0 means 1): daily with one hand-off time and multiplier 2 hands off
	// every second day.
	Multiplier int `json:"multiplier,omitempty" yaml:"multiplier,omitempty"`
	// OnCalls is how many members are on call in each shift (0 means 1). A
	// value above the number of members puts every member on every shift.
	OnCalls int `json:"on_calls,omitempty" yaml:"on_calls,omitempty"`
	// HandOffTimes are the daily hand-off times, "HH:MM" on the 24-hour
	// clock. Several times make several shifts per day.
	HandOffTimes []string `json:"hand_off_times,omitempty" yaml:"hand_off_times,omitempty"`
	// HandOffMinute is the minute of the hour (0–59) at which an hourly
	// rotation hands off.
	HandOffMinute int `json:"hand_off_minute,omitempty" yaml:"hand_off_minute,omitempty"`
	// WeeklySettings are the weekly hand-offs.
	WeeklySettings []WeeklySetting `json:"weekly_settings,omitempty" yaml:"weekly_settings,omitempty"`
	// MonthlySettings are the monthly hand-offs.
	MonthlySettings []MonthlySetting `json:"monthly_settings,omitempty" yaml:"monthly_settings,omitempty"`
}

// WeeklySetting is one weekly hand-off.
type WeeklySetting struct {
	// DayOfWeek is MON, TUE, WED, THU, FRI, SAT or SUN.
	DayOfWeek string `json:"day_of_week" yaml:"day_of_week"`
	// HandOffTime is "HH:MM".
	HandOffTime string `json:"hand_off_time" yaml:"hand_off_time"`
}

// MonthlySetting is one monthly hand-off.
type MonthlySetting struct {
	// DayOfMonth is 1–31; in a shorter month a day past its end means the
	// month's last day.
	DayOfMonth int `json:"day_of_month" yaml:"day_of_month"`
	// HandOffTime is "HH:MM".
	HandOffTime string `json:"hand_off_time" yaml:"hand_off_time"`
}

// CoverageWindow is a weekly window during which a rotation is on call.
type CoverageWindow struct {
	// DayOfWeek is the day the window starts on: MON … SUN.
	DayOfWeek string `json:"day_of_week" yaml:"day_of_week"`
	// Start is "HH:MM".
	Start string `json:"start" yaml:"start"`
	// End is "HH:MM" or "24:00". An end at or before the start runs past
	// midnight into the next day, so "00:00" ends at midnight and a window
	// from "22:00" to "06:00" covers the night.
	End string `json:"end" yaml:"end"`
}

// Override puts other members on call in place of a rotation's regular ones
// from Start until End.
type Override struct {
	// Rotation is the name of the rotation overridden.
	Rotation string `json:"rotation" yaml:"rotation"`
	// Start is when the override begins.
	Start time.Time `json:"start" yaml:"start"`
	// End is when it ends (exclusive).
	End time.Time `json:"end" yaml:"end"`
	// Members are the contact aliases on call during the override; regular
	// members who should stay on call must be listed again. An empty list
	// means nobody from the rotation is on call.
	Members []string `json:"members" yaml:"members"`
}

// StoredOverride is an override with the id it was stored under, as the
// store lists it and the API shows it.
type StoredOverride struct {
	ID string `json:"id"`
	Override
}

// Validate reports every problem with the rotation in one error with code
// tocsin.EINVALID. Each problem names its field the way the JSON does, for
// example `recurrence.hand_off_times[1]: "25:00" is not HH:MM`.
func (r *Rotation) Validate() error {
	_, err := compileRotation(r)
	return err
}

// Validate reports every problem with the override in one error with code
// tocsin.EINVALID, naming the fields.
func (o *Override) Validate() error {
	var p problems
	o.check(&p)
	return p.err()
}

func (o *Override) check(p *problems) {
	if o.Rotation == "" {
		p.addf("rotation: must name a rotation")
	}
	okStart := checkInstant(p, "start", o.Start)
	okEnd := checkInstant(p, "end", o.End)
	if okStart && okEnd && !o.End.After(o.Start) {
		p.addf("end: must be after start")
	}
	checkMembers(p, "members", o.Members)
}

// checkInstant reports a missing or out-of-range time.
func checkInstant(p *problems, field string, t time.Time) bool {
	if t.IsZero() {
		p.addf("%s: is required", field)
		return false
	}
	if _, err := nanos(field, t); err != nil {
		p.addf("%s", tocsin.ErrorMessage(err))
		return false
	}
	return true
}

// checkMembers reports empty and repeated aliases.
func checkMembers(p *problems, field string, members []string) {
	for i, m := range members {
		if strings.TrimSpace(m) == "" {
			p.addf("%s[%d]: must not be empty", field, i)
			continue
		}
		for j := range i {
			if members[j] == m {
				p.addf("%s[%d]: %q is listed twice", field, i, m)
				break
			}
		}
	}
}

// validateOverrides checks all overrides, so that a bad one is reported even
// when it belongs to a rotation the caller is not asking about.
func validateOverrides(overrides []Override) error {
	var p, sub problems
	for i := range overrides {
		sub = sub[:0]
		if overrides[i].check(&sub); len(sub) > 0 {
			p.nest(fmt.Sprintf("overrides[%d].", i), sub)
		}
	}
	return p.err()
}

// problems collects validation messages so that one error can report all
// of them: fixing a config one complaint at a time is tedious.
type problems []string

func (p *problems) addf(format string, args ...any) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

// nest adds the problems of a part, their field names prefixed.
func (p *problems) nest(prefix string, sub problems) {
	for _, m := range sub {
		*p = append(*p, prefix+m)
	}
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return tocsin.Errorf(tocsin.EINVALID, "%s", strings.Join(p, "; "))
}

func invalidf(format string, args ...any) error {
	return tocsin.Errorf(tocsin.EINVALID, format, args...)
}

var weekdays = [7]string{"MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"}

// parseDay returns the Monday-based index of an AWS-style day name.
func parseDay(s string) (int, bool) {
	for i, d := range weekdays {
		if s == d {
			return i, true
		}
	}
	return 0, false
}

// parseClock parses "HH:MM" (00:00–23:59, and 24:00 when allow24) into
// seconds after midnight. Only the exact two-digit form is accepted, so a
// config means one thing.
func parseClock(s string, allow24 bool) (int64, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int64(s[0]-'0')*10 + int64(s[1]-'0')
	m := int64(s[3]-'0')*10 + int64(s[4]-'0')
	if m > 59 || h > 24 || h == 24 && (!allow24 || m != 0) {
		return 0, false
	}
	return h*3600 + m*60, true
}
