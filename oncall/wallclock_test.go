package oncall

import (
	"testing"
	"time"
)

func TestResolveRFC5545(t *testing.T) {
	for _, c := range []struct {
		zone             string
		y, mo, d, hh, mm int
		want             string // RFC 3339 in the zone
	}{
		// Clocks go forward: read with the offset before the gap.
		{"America/New_York", 2024, 3, 10, 2, 30, "2024-03-10T03:30:00-04:00"},
		{"America/New_York", 2024, 3, 10, 2, 0, "2024-03-10T03:00:00-04:00"},
		{"Europe/Berlin", 2024, 3, 31, 2, 30, "2024-03-31T03:30:00+02:00"},
		{"Australia/Sydney", 2024, 10, 6, 2, 30, "2024-10-06T03:30:00+11:00"},
		{"America/St_Johns", 2024, 3, 10, 2, 30, "2024-03-10T03:30:00-02:30"},
		{"Australia/Lord_Howe", 2024, 10, 6, 2, 15, "2024-10-06T02:45:00+11:00"}, // a half-hour gap
		{"Pacific/Apia", 2011, 12, 30, 9, 0, "2011-12-31T09:00:00+14:00"},        // a skipped day
		// Clocks go back: the first occurrence.
		{"America/New_York", 2024, 11, 3, 1, 30, "2024-11-03T01:30:00-04:00"},
		{"America/New_York", 2024, 11, 3, 1, 0, "2024-11-03T01:00:00-04:00"},
		{"Europe/Berlin", 2024, 10, 27, 2, 30, "2024-10-27T02:30:00+02:00"},
		{"Australia/Sydney", 2024, 4, 7, 2, 30, "2024-04-07T02:30:00+11:00"},
		{"America/St_Johns", 2024, 11, 3, 1, 30, "2024-11-03T01:30:00-02:30"},
		{"Australia/Lord_Howe", 2024, 4, 7, 1, 45, "2024-04-07T01:45:00+11:00"},
		// Ordinary times, edges of the gap and overlap.
		{"America/New_York", 2024, 3, 10, 1, 59, "2024-03-10T01:59:00-05:00"},
		{"America/New_York", 2024, 3, 10, 3, 0, "2024-03-10T03:00:00-04:00"},
		{"America/New_York", 2024, 11, 3, 2, 0, "2024-11-03T02:00:00-05:00"},
		{"America/New_York", 2024, 11, 3, 0, 59, "2024-11-03T00:59:00-04:00"},
		{"Asia/Kolkata", 2024, 6, 1, 9, 0, "2024-06-01T09:00:00+05:30"},
		{"UTC", 2024, 2, 29, 23, 59, "2024-02-29T23:59:00Z"},
	} {
		loc := mustLoc(t, c.zone)
		z := newZone(loc)
		w := daysFromCivil(int64(c.y), c.mo, c.d)*secondsPerDay + int64(c.hh*3600+c.mm*60)
		got := time.Unix(z.resolve(w), 0).In(loc).Format(time.RFC3339)
		if got != c.want {
			t.Errorf("%s %04d-%02d-%02d %02d:%02d = %s, want %s", c.zone, c.y, c.mo, c.d, c.hh, c.mm, got, c.want)
		}
		// The same answer whatever period the zone last looked at.
		for _, warm := range []int64{w - 40*secondsPerDay, w + 40*secondsPerDay, w} {
			z.offset(warm)
			if got := time.Unix(z.resolve(w), 0).In(loc).Format(time.RFC3339); got != c.want {
				t.Errorf("%s %02d:%02d after looking at %d = %s, want %s", c.zone, c.hh, c.mm, warm, got, c.want)
			}
		}
	}
}

func TestCivilDays(t *testing.T) {
	for d := int64(-800_000); d <= 800_000; d += 37 {
		y, m, dd := civilFromDays(d)
		want := time.Unix(d*secondsPerDay, 0).UTC()
		if int(y) != want.Year() || time.Month(m) != want.Month() || dd != want.Day() {
			t.Fatalf("civilFromDays(%d) = %d-%d-%d, want %s", d, y, m, dd, want)
		}
		if got := daysFromCivil(y, m, dd); got != d {
			t.Fatalf("daysFromCivil(%d-%d-%d) = %d, want %d", y, m, dd, got, d)
		}
		if daysIn(y, m) != time.Date(int(y), time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
			t.Fatalf("daysIn(%d, %d) wrong", y, m)
		}
		if weekdayOf(d) != (int(want.Weekday())+6)%7 {
			t.Fatalf("weekdayOf(%d) wrong", d)
		}
	}
}
