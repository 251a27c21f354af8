package oncall

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Wall-clock arithmetic. A wall time is a count of seconds since
// 1970-01-01 00:00 on the local calendar of a zone, with no offset applied:
// the number a clock on the wall shows, flattened. An instant is Unix
// seconds (or Unix nanoseconds where the name says so). Keeping both as
// integers makes calendar steps exact and cheap, and keeps the one lossy
// step — wall time to instant — in a single place, zone.resolve.

const (
	secondsPerDay  = 86400
	secondsPerWeek = 7 * secondsPerDay

	// maxOffsetJump bounds the difference between any two UTC offsets of a
	// zone (real ones stay within −12h…+14h), so every instant that shows a
	// given wall time lies within this distance of the wall time itself.
	maxOffsetJump = 2 * secondsPerDay
)

// Instants are handled as Unix nanoseconds, which int64 holds for about 292
// years either side of 1970; the supported range keeps well inside that.
var (
	minTime = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// nanos converts t to Unix nanoseconds, or fails naming field when t is
// outside the supported range.
func nanos(field string, t time.Time) (int64, error) {
	if t.Before(minTime) || !t.Before(maxTime) {
		return 0, invalidf("%s: %s is outside the supported range (years 1900 to 2199)", field, t.Format(time.RFC3339))
	}
	return t.UnixNano(), nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// daysFromCivil returns the number of days from 1970-01-01 to the given
// proleptic Gregorian date (Howard Hinnant's algorithm; no allocation and no
// zone lookup, unlike time.Date).
func daysFromCivil(y int64, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := int64((m + 9) % 12)
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y int64, m, d int) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func daysIn(y int64, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// weekdayOf returns the weekday of a day count, Monday = 0 … Sunday = 6
// (1970-01-01 was a Thursday).
func weekdayOf(day int64) int { return int(floorMod(day+3, 7)) }

// zone resolves wall times of one location. It remembers the last zone
// period it looked up, because consecutive hand-offs almost always fall in
// the same period (months long) and then need no lookup at all. A zone is
// therefore not safe for concurrent use; each computation makes its own.
type zone struct {
	loc *time.Location
	// off applies to the instants in [start, end).
	off, start, end int64
}

func newZone(loc *time.Location) zone {
	// An empty period forces a lookup on first use.
	return zone{loc: loc, start: math.MaxInt64, end: math.MinInt64}
}

// load caches the zone period containing instant u.
func (z *zone) load(u int64) {
	t := time.Unix(u, 0).In(z.loc)
	_, off := t.Zone()
	s, e := t.ZoneBounds()
	z.off, z.start, z.end = int64(off), math.MinInt64, math.MaxInt64
	if !s.IsZero() {
		z.start = s.Unix()
	}
	if !e.IsZero() {
		z.end = e.Unix()
	}
}

// offset returns the UTC offset in seconds in force at instant u.
func (z *zone) offset(u int64) int64 {
	if u < z.start || u >= z.end {
		z.load(u)
	}
	return z.off
}

// wall returns the wall time shown at instant u.
func (z *zone) wall(u int64) int64 { return u + z.offset(u) }

// resolve returns the instant at which the zone's clocks show wall time w,
// following RFC 5545 §3.3.5: a wall time that occurs twice (clocks set back)
// means its first occurrence; one that does not occur (clocks set forward)
// is read with the offset in force before the gap, so it lands as far after
// the gap's start as it was into the gap (02:30 becomes 03:30 when clocks
// jump from 02:00 to 03:00). time.Date leaves both cases unspecified, so it
// is not used here.
func (z *zone) resolve(w int64) int64 {
	// Fast path: w read with the cached offset lands inside the cached
	// period, far enough from its start that no earlier period can show w
	// too, so it is both valid and the first occurrence.
	u := w - z.off
	if u < z.end && u-maxOffsetJump >= z.start {
		return u
	}
	return z.resolveSlow(w)
}

// resolveSlow walks the zone periods in time order, from one certainly
// before any instant showing w, and returns the first instant that shows w.
// When w is read with period i's offset it lands past period i's end, and
// with period i+1's offset before period i+1's start, w is in the gap
// between them and period i's (pre-gap) offset is used.
func (z *zone) resolveSlow(w int64) int64 {
	z.load(w - maxOffsetJump)
	gap := int64(math.MinInt64)
	for {
		u := w - z.off
		switch {
		case u < z.start && gap != math.MinInt64:
			return gap
		case u < z.end:
			return u
		}
		gap = u
		z.load(z.end)
	}
}

// zones caches loaded locations by name: time.LoadLocation reads and parses
// the zone file on every call, which would dominate a who-is-on-call query.
// The set of names that load is bounded by the time zone database.
var zones sync.Map

// loadZone returns the location for an IANA zone name. "Local" is refused
// because its meaning depends on the machine that runs the computation.
func loadZone(name string) (*time.Location, error) {
	if v, ok := zones.Load(name); ok {
		return v.(*time.Location), nil
	}
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("%q is not an IANA time zone name", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not a known IANA time zone", name)
	}
	zones.Store(name, loc)
	return loc, nil
}
