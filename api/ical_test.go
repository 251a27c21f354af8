package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// vevent is an event read back from a feed.
type vevent map[string]string

// parseCalendar checks the framing of an RFC 5545 feed (CRLF, lines of at
// most 75 octets, BEGIN/END pairs) and returns its events' properties,
// unfolded and keyed by name.
func parseCalendar(t *testing.T, body string) (cal map[string]string, events []vevent) {
	t.Helper()
	if !strings.HasSuffix(body, "\r\n") {
		t.Fatal("feed does not end with CRLF")
	}
	raw := strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n")
	var lines []string
	for i, l := range raw {
		if strings.Contains(l, "\n") || strings.Contains(l, "\r") {
			t.Fatalf("line %d has a bare line break: %q", i, l)
		}
		if len(l) > 75 {
			t.Fatalf("line %d is %d octets long: %q", i, len(l), l)
		}
		if !utf8.ValidString(l) {
			t.Fatalf("line %d splits a UTF-8 sequence: %q", i, l)
		}
		if strings.HasPrefix(l, " ") {
			lines[len(lines)-1] += l[1:]
			continue
		}
		lines = append(lines, l)
	}
	if lines[0] != "BEGIN:VCALENDAR" || lines[len(lines)-1] != "END:VCALENDAR" {
		t.Fatalf("not a calendar: %q … %q", lines[0], lines[len(lines)-1])
	}
	cal = map[string]string{}
	var ev vevent
	for _, l := range lines[1 : len(lines)-1] {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("line without a colon: %q", l)
		}
		switch {
		case l == "BEGIN:VEVENT":
			if ev != nil {
				t.Fatal("nested VEVENT")
			}
			ev = vevent{}
		case l == "END:VEVENT":
			for _, p := range []string{"UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"} {
				if ev[p] == "" {
					t.Fatalf("event without %s: %v", p, ev)
				}
			}
			events = append(events, ev)
			ev = nil
		case ev != nil:
			ev[name] = value
		default:
			cal[name] = value
		}
	}
	if ev != nil {
		t.Fatal("unterminated VEVENT")
	}
	return cal, events
}

func TestOnCallCalendarFeeds(t *testing.T) {
	e := newOnCallEnv(t)
	e.seed()
	// A second layer, so that the contact feed spans two schedules.
	e.must(201, "PUT", "/api/v1/rotations/secondary", `{"members":["carol","alice"],"start":"2026-03-02T09:00:00+01:00","time_zone":"Europe/Berlin",
		"recurrence":{"type":"weekly","weekly_settings":[{"day_of_week":"MON","hand_off_time":"09:00"}]}}`)
	e.must(201, "PUT", "/api/v1/schedules/secondary", `{"rotations":["secondary"]}`)
	e.must(201, "POST", "/api/v1/overrides", `{"rotation":"platform","start":"2026-03-12T00:00:00Z","end":"2026-03-13T00:00:00Z","members":["carol"]}`)

	link, _ := e.must(200, "GET", "/api/v1/schedules/platform/ical-url", "")["url"].(string)
	u, err := url.Parse(link)
	if err != nil || u.Scheme+"://"+u.Host != "https://tocsin.example.com" || u.Path != "/api/v1/schedules/platform/ical" || len(u.Query().Get("token")) != 64 {
		t.Fatalf("ical-url: %q", link)
	}
	token := u.Query().Get("token")
	e.fails(404, "GET", "/api/v1/schedules/nope/ical-url", "", "not found")

	// The feed needs its own token, not the API token, and a token for one
	// schedule opens no other.
	for _, bad := range []string{"", "?token=", "?token=" + strings.Repeat("0", 64), "?token=" + oncallToken} {
		if code, _ := e.callToken("GET", "/api/v1/schedules/platform/ical"+bad, "", oncallToken); code != 401 {
			t.Fatalf("token %q: %d", bad, code)
		}
	}
	if code, _ := e.callToken("GET", "/api/v1/schedules/secondary/ical?token="+token, "", ""); code != 401 {
		t.Fatalf("platform's token opened secondary: %d", code)
	}
	// A valid token for a schedule that is gone is a 404.
	ghost, _ := e.srv.calendarToken(context.Background(), "schedule:ghost")
	if code, _ := e.callToken("GET", "/api/v1/schedules/ghost/ical?token="+ghost, "", ""); code != 404 {
		t.Fatalf("deleted schedule: %d", code)
	}

	code, body := e.callToken("GET", "/api/v1/schedules/platform/ical?token="+token, "", "")
	if code != 200 {
		t.Fatalf("feed: %d %s", code, body)
	}
	cal, events := parseCalendar(t, body)
	if cal["VERSION"] != "2.0" || cal["X-WR-CALNAME"] != "On call: platform" {
		t.Fatalf("calendar properties: %v", cal)
	}
	// The events are the schedule's shifts over the same window.
	from, to := calendarWindow(e.clock.Now())
	q := url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
	var want struct {
		Shifts []struct {
			Start, End time.Time
			Members    []string
			Type       string
		}
	}
	_, raw := e.call("GET", "/api/v1/schedules/platform/shifts?"+q.Encode(), "")
	if err := json.Unmarshal([]byte(raw), &want); err != nil || len(want.Shifts) < 10 {
		t.Fatalf("shifts: %v %s", err, raw)
	}
	if len(events) != len(want.Shifts) {
		t.Fatalf("%d events for %d shifts", len(events), len(want.Shifts))
	}
	overridden := 0
	for i, sh := range want.Shifts {
		ev := events[i]
		summary := `On call: ` + strings.Join(sh.Members, `\, `) + ` (platform)`
		if ev["DTSTART"] != sh.Start.UTC().Format(icalTime) || ev["DTEND"] != sh.End.UTC().Format(icalTime) || ev["SUMMARY"] != summary {
			t.Fatalf("event %d = %v, want shift %+v", i, ev, sh)
		}
		if sh.Type == "overridden" {
			overridden++
			if ev["DTSTART"] != "20260312T000000Z" || ev["SUMMARY"] != `On call: carol (platform)` || !strings.Contains(ev["DESCRIPTION"], "replacing bob") {
				t.Fatalf("override event: %v", ev)
			}
		}
	}
	if overridden != 1 {
		t.Fatalf("%d overridden events", overridden)
	}
	// UIDs are unique and stable across fetches.
	_, again := parseCalendar(t, mustBody(t, e, "/api/v1/schedules/platform/ical?token="+token))
	seen := map[string]bool{}
	for i, ev := range events {
		if seen[ev["UID"]] || again[i]["UID"] != ev["UID"] {
			t.Fatalf("UID %q repeated or unstable", ev["UID"])
		}
		seen[ev["UID"]] = true
	}

	// Alice's feed: her platform weeks and her secondary weeks, nothing else.
	link, _ = e.must(200, "GET", "/api/v1/contacts/alice/ical-url", "")["url"].(string)
	u, _ = url.Parse(link)
	if u.Path != "/api/v1/contacts/alice/ical" {
		t.Fatalf("contact ical-url: %q", link)
	}
	if code, _ := e.callToken("GET", "/api/v1/contacts/bob/ical?"+u.RawQuery, "", ""); code != 401 {
		t.Fatalf("alice's token opened bob's feed: %d", code)
	}
	_, mine := parseCalendar(t, mustBody(t, e, u.RequestURI()))
	schedules := map[string]int{}
	for _, ev := range mine {
		if !strings.Contains(ev["SUMMARY"], "alice") {
			t.Fatalf("alice's feed has %v", ev)
		}
		schedules[ev["SUMMARY"][strings.LastIndex(ev["SUMMARY"], "("):]]++
	}
	if schedules["(platform)"] == 0 || schedules["(secondary)"] == 0 || len(schedules) != 2 {
		t.Fatalf("alice's feed by schedule: %v", schedules)
	}
}

func mustBody(t *testing.T, e *oncallEnv, path string) string {
	t.Helper()
	code, body := e.callToken("GET", path, "", "")
	if code != 200 {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	return body
}

func TestCalendarFoldingAndEscaping(t *testing.T) {
	var b bytes.Buffer
	long := "SUMMARY:" + icalText("On call: Zoë, Jürgen; Łukasz \\ ops\nline two "+strings.Repeat("ä", 60))
	foldLine(&b, long)
	out := b.String()
	var joined strings.Builder
	for i, l := range strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n") {
		if len(l) > 75 || !utf8.ValidString(l) {
			t.Fatalf("line %d: %d octets, valid %v", i, len(l), utf8.ValidString(l))
		}
		if i > 0 {
			if l[0] != ' ' {
				t.Fatalf("continuation line %d does not start with a space", i)
			}
			l = l[1:]
		}
		joined.WriteString(l)
	}
	if joined.String() != long {
		t.Fatalf("unfolded %q, want %q", joined.String(), long)
	}
	if !strings.HasPrefix(long, `SUMMARY:On call: Zoë\, Jürgen\; Łukasz \\ ops\nline two`) {
		t.Fatalf("escaped: %q", long)
	}
	b.Reset()
	foldLine(&b, "UID:x")
	if b.String() != "UID:x\r\n" {
		t.Fatalf("short line: %q", b.String())
	}
}
