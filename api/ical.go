package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"tocsin"
	"tocsin/oncall"
)

// Calendar feed window: what a subscribed calendar shows around now.
const (
	// CalendarPast is how far back a feed reaches.
	CalendarPast = 30 * 24 * time.Hour
	// CalendarFuture is how far ahead a feed reaches.
	CalendarFuture = 90 * 24 * time.Hour
)

// calendarKeyName names the store secret that signs calendar links.
const calendarKeyName = "ical-key"

// calendarToken is hex HMAC-SHA256(key, subject), subject being
// "schedule:NAME" or "contact:ALIAS". A link cannot be turned into one for
// another schedule or contact; rotating the key revokes every link.
func (s *Server) calendarToken(ctx context.Context, subject string) (string, error) {
	key, err := s.opts.Keys.Secret(ctx, calendarKeyName)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(subject))
	return hex.EncodeToString(m.Sum(nil)), nil
}

// checkCalendarToken verifies the token query parameter of a feed request.
// A wrong token says nothing about whether the subject exists.
func (s *Server) checkCalendarToken(r *http.Request, subject string) error {
	want, err := s.calendarToken(r.Context(), subject)
	if err != nil {
		return err
	}
	got := r.URL.Query().Get("token")
	if got == "" || !hmac.Equal([]byte(got), []byte(want)) {
		return tocsin.Errorf(tocsin.EUNAUTHORIZED, "this calendar link is invalid; get a new one from /ical-url")
	}
	return nil
}

// calendarEvent is one on-call shift in a feed.
type calendarEvent struct {
	schedule string
	shift    oncall.Shift
}

// handleScheduleCalendar serves GET /api/v1/schedules/{name}/ical?token=:
// the schedule's final shifts, overrides applied, as an iCalendar feed.
func (s *Server) handleScheduleCalendar(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := s.checkCalendarToken(r, "schedule:"+name); err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.opts.Now()
	from, to := calendarWindow(now)
	shifts, err := s.scheduleShifts(r.Context(), name, from, to)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	events := make([]calendarEvent, len(shifts))
	for i, sh := range shifts {
		events[i] = calendarEvent{schedule: name, shift: sh}
	}
	writeCalendar(w, "On call: "+name, name, now, events)
}

// handleContactCalendar serves GET /api/v1/contacts/{alias}/ical?token=:
// the contact's shifts across all schedules.
func (s *Server) handleContactCalendar(w http.ResponseWriter, r *http.Request) {
	ctx, alias := r.Context(), r.PathValue("alias")
	if err := s.checkCalendarToken(r, "contact:"+alias); err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.opts.OnCall.FindContact(ctx, alias); err != nil {
		s.fail(w, r, err)
		return
	}
	scheds, err := s.opts.OnCall.ListSchedules(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.opts.Now()
	from, to := calendarWindow(now)
	var events []calendarEvent
	for _, sc := range scheds {
		shifts, err := s.scheduleShifts(ctx, sc.Name, from, to)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, sh := range shifts {
			if slices.Contains(sh.Members, alias) {
				events = append(events, calendarEvent{schedule: sc.Name, shift: sh})
			}
		}
	}
	slices.SortStableFunc(events, func(a, b calendarEvent) int { return a.shift.Start.Compare(b.shift.Start) })
	writeCalendar(w, "On call: "+alias, alias, now, events)
}

// calendarWindow is the feed's window around now. It starts at a UTC
// midnight so the first event's start, and so its UID, changes once a day
// at most.
func calendarWindow(now time.Time) (from, to time.Time) {
	y, m, d := now.Add(-CalendarPast).UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), now.Add(CalendarFuture)
}

// writeCalendar writes an RFC 5545 calendar of the events.
func writeCalendar(w http.ResponseWriter, title, filename string, now time.Time, events []calendarEvent) {
	var b bytes.Buffer
	line := func(name, value string) { foldLine(&b, name+":"+value) }
	stamp := now.UTC().Format(icalTime)
	line("BEGIN", "VCALENDAR")
	line("VERSION", "2.0")
	line("PRODID", "-//tocsin//on-call//EN")
	line("CALSCALE", "GREGORIAN")
	line("METHOD", "PUBLISH")
	line("X-WR-CALNAME", icalText(title))
	line("NAME", icalText(title))
	line("REFRESH-INTERVAL;VALUE=DURATION", "PT1H")
	line("X-PUBLISHED-TTL", "PT1H")
	for _, ev := range events {
		sh := ev.shift
		summary := "On call: " + strings.Join(sh.Members, ", ") + " (" + ev.schedule + ")"
		if len(sh.Members) == 0 {
			summary = "On call: nobody (" + ev.schedule + ")"
		}
		line("BEGIN", "VEVENT")
		line("UID", eventUID(ev))
		line("DTSTAMP", stamp)
		line("DTSTART", sh.Start.UTC().Format(icalTime))
		line("DTEND", sh.End.UTC().Format(icalTime))
		line("SUMMARY", icalText(summary))
		desc := "Schedule: " + ev.schedule + "\nOn call: " + strings.Join(sh.Members, ", ")
		if sh.Type == oncall.Overridden {
			desc += "\nOverride"
			if len(sh.Replaced) > 0 {
				desc += ", replacing " + strings.Join(sh.Replaced, ", ")
			}
		}
		line("DESCRIPTION", icalText(desc))
		line("CATEGORIES", icalText(sh.Type))
		line("TRANSP", "TRANSPARENT")
		line("END", "VEVENT")
	}
	line("END", "VCALENDAR")
	w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
	w.Header().Set("Content-Disposition", `inline; filename="`+filename+`.ics"`)
	w.Header().Set("Cache-Control", "private, max-age=300")
	// The token is in the URL: keep it out of Referer headers.
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

const icalTime = "20060102T150405Z"

// eventUID is stable across fetches: a hash of the schedule, the start and
// the members, so a calendar updates an event instead of duplicating it.
func eventUID(ev calendarEvent) string {
	h := sha256.New()
	h.Write([]byte(ev.schedule + "\x00" + strconv.FormatInt(ev.shift.Start.Unix(), 10) + "\x00" + strings.Join(ev.shift.Members, ",")))
	return hex.EncodeToString(h.Sum(nil)[:16]) + "@tocsin"
}

// icalText escapes a TEXT value (RFC 5545 section 3.3.11).
func icalText(s string) string {
	r := strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", "")
	return r.Replace(s)
}

// foldLine writes a content line, folded at 75 octets (RFC 5545 section
// 3.1) without splitting a UTF-8 sequence, and ends it with CRLF.
func foldLine(b *bytes.Buffer, s string) {
	limit := 75
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		b.WriteString(s[:cut])
		b.WriteString("\r\n ")
		s = s[cut:]
		limit = 74 // the leading space counts
	}
	b.WriteString(s)
	b.WriteString("\r\n")
}

// handleCalendarURL serves GET …/ical-url: the signed calendar link of a
// schedule or a contact.
func (s *Server) handleCalendarURL(kind, key string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, name := r.Context(), r.PathValue(key)
		var err error
		path := "/api/v1/schedules/"
		if kind == "contact" {
			path = "/api/v1/contacts/"
			_, err = s.opts.OnCall.FindContact(ctx, name)
		} else {
			_, err = s.opts.OnCall.FindSchedule(ctx, name)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		token, err := s.calendarToken(ctx, kind+":"+name)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		u := s.publicHost(r) + path + url.PathEscape(name) + "/ical?token=" + token
		WriteJSON(w, http.StatusOK, map[string]string{"url": u})
	}
}

// publicHost is the external base URL of links: Options.PublicHost, else
// the request's own.
func (s *Server) publicHost(r *http.Request) string {
	h := s.opts.PublicHost
	if h == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		h = scheme + "://" + r.Host
	}
	return strings.TrimRight(h, "/")
}
