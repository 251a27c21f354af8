package notify

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// timeLayouts are the string forms toTime reads, tried in order: RFC 3339
// with or without fractional seconds (what Alertmanager, Grafana and most
// JSON senders write), the same with a space instead of the "T", without a
// zone (read as UTC), Go's time.String form, and the HTTP/e-mail forms.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05.999999999 -0700 MST",
	"2006-01-02 15:04:05.999999999 -0700",
	time.RFC1123Z,
	time.RFC1123,
	time.RFC850,
	time.RFC822Z,
	time.RFC822,
	time.ANSIC,
	"2006-01-02",
}

// toTime reads v as a point in time: a time.Time, a number of seconds
// since the Unix epoch (any Go number, a JSON number, or a string of
// digits), or a string in one of timeLayouts. ok is false for anything
// else, including nil.
func toTime(v any) (t time.Time, ok bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case *time.Time:
		if x == nil {
			return time.Time{}, false
		}
		return *x, true
	case json.Number:
		return toTime(x.String())
	case string:
		s := strings.TrimSpace(x)
		for _, layout := range timeLayouts {
			if t, err := time.Parse(layout, s); err == nil {
				return t, true
			}
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return unixTime(f)
		}
		return time.Time{}, false
	}
	if f, ok := number(v); ok {
		return unixTime(f)
	}
	return time.Time{}, false
}

// unixTime turns seconds since the epoch, possibly fractional, into a time.
func unixTime(sec float64) (time.Time, bool) {
	if math.IsNaN(sec) || math.IsInf(sec, 0) || math.Abs(sec) > 1<<62/1e9 {
		return time.Time{}, false
	}
	whole, frac := math.Modf(sec)
	return time.Unix(int64(whole), int64(frac*1e9)), true
}

// The functions below replace sprig's date functions, which print the
// current time for any string (so a payload's "startsAt" showed "now").
// They accept everything toTime reads. A value that is not a time is shown
// as it is ("" for a missing field) rather than as a made-up time.

func dateInZone(layout string, v any, zone string) string {
	t, ok := toTime(v)
	if !ok {
		return notATime(v)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		loc = time.UTC
	}
	return t.In(loc).Format(layout)
}

func date(layout string, v any) string { return dateInZone(layout, v, "Local") }

func htmlDate(v any) string { return dateInZone("2006-01-02", v, "Local") }

func htmlDateInZone(v any, zone string) string { return dateInZone("2006-01-02", v, zone) }

// dateAgo is sprig's ago: the time since v, rounded to the second.
func dateAgo(v any) string {
	t, ok := toTime(v)
	if !ok {
		return notATime(v)
	}
	return time.Since(t).Round(time.Second).String()
}

// dateModify is sprig's dateModify, for any time toTime reads; a value
// that is not a time is returned as the zero time, so date prints it as
// the year 1 rather than a plausible wrong time.
func dateModify(d string, v any) time.Time {
	t, _ := toTime(v)
	if dur, err := time.ParseDuration(d); err == nil {
		t = t.Add(dur)
	}
	return t
}

func mustDateModify(d string, v any) (time.Time, error) {
	t, ok := toTime(v)
	if !ok {
		return time.Time{}, fmt.Errorf("dateModify: %v is not a time", v)
	}
	dur, err := time.ParseDuration(d)
	if err != nil {
		return time.Time{}, fmt.Errorf("dateModify: %w", err)
	}
	return t.Add(dur), nil
}

// unixEpoch is sprig's unixEpoch for any time toTime reads.
func unixEpoch(v any) string {
	t, ok := toTime(v)
	if !ok {
		return notATime(v)
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func notATime(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// dateFuncs are the date functions that replace sprig's, by every name
// sprig gives them.
func dateFuncs() map[string]any {
	return map[string]any{
		"date":             date,
		"dateInZone":       dateInZone,
		"date_in_zone":     dateInZone,
		"htmlDate":         htmlDate,
		"htmlDateInZone":   htmlDateInZone,
		"ago":              dateAgo,
		"dateModify":       dateModify,
		"date_modify":      dateModify,
		"mustDateModify":   mustDateModify,
		"must_date_modify": mustDateModify,
		"unixEpoch":        unixEpoch,
	}
}
