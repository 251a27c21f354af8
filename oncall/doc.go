// Package oncall turns rotations and overrides into shifts, answers who is
// on call at an instant, and lists the hand-offs of a schedule. It is pure:
// no clock, no storage, no network; every function takes the instants it
// works on. (Time zone data is read once per zone name through
// time.LoadLocation and kept.)
//
// The model follows AWS Incident Manager On-Call (rotations with members,
// start, IANA time zone, recurrence, coverage and overrides), with the
// semantics below. Every rule here is covered by tests, including brute-force
// checks across every DST transition from 2020 to 2030 in several zones.
//
// # Hand-offs
//
// A recurrence names wall-clock times in the rotation's time zone:
//
//   - daily: the times in HandOffTimes, every day (several times make several
//     shifts a day);
//   - weekly: the day-and-time pairs in WeeklySettings, every week;
//   - monthly: the day-and-time pairs in MonthlySettings, every month; a day
//     past the end of a month means its last day (31 is 30 April, 28
//     February, and 29 February in a leap year);
//   - hourly: minute HandOffMinute of every hour, counted in elapsed time:
//     the hand-offs are exactly one hour apart, starting from the instant
//     the clock shows that minute at Rotation.Start. Across a DST change
//     hourly hand-offs keep their one-hour spacing (the hour that is skipped
//     has no hand-off; the hour that repeats has two). In zones whose offset
//     changes by a whole hour the clock always shows minute HandOffMinute;
//     where it changes by half an hour (Australia/Lord_Howe) the minute read
//     on the clock shifts by thirty.
//
// Each of these is an occurrence. A wall time is turned into an instant the
// way RFC 5545 (iCalendar) does it:
//
//   - a time that happens twice, when clocks go back, means the first of
//     the two (01:30 on the night New York leaves daylight time is 01:30
//     EDT, not EST);
//   - a time that does not happen, when clocks go forward, is read with the
//     offset in force before the jump, so it lands as far after the jump as
//     it was into the gap (02:30 on the day New York enters daylight time is
//     03:30 EDT).
//
// Occurrences never go back in time: when an occurrence would resolve to an
// instant before an earlier one (02:45, pushed to 03:45, and 03:15 on the
// same spring-forward day; or days 30 and 31 both landing on 28 February at
// different times) it takes the earlier one's instant. The shift between two
// occurrences at the same instant is empty and is not returned; it still
// counts in the member order, so that order never depends on DST.
//
// # Shifts and members
//
// The first shift starts at Rotation.Start. Let o0 be the first occurrence at
// or after Start. Hand-offs happen at o0 and then at every Multiplier-th
// occurrence after it: with Multiplier N each shift spans N occurrences
// (daily at 09:00 with N=2 hands off every second day at 09:00; weekly with
// N=2 every other week; daily at 09:00 and 21:00 with N=2 once a day). When
// Start is itself an occurrence, shift 0 is [o0, oN); otherwise shift 0 is the
// partial [Start, o0) and shift 1 is [o0, oN). Shifts are numbered from 0.
//
// Shift k has OnCalls members: Members[(k·OnCalls) mod len(Members)] and the
// ones after it, wrapping. OnCalls larger than len(Members) puts every member
// on every shift (nobody twice). Nobody from a rotation is on call before its
// Start.
//
// Finding the shift at an instant costs a few zone lookups whatever the
// distance from Start: occurrences are numbered on the calendar, and the
// shift number follows by division.
//
// # Coverage
//
// Coverage windows are given per weekday in the rotation's time zone, start
// and end resolved as above; an end at or before the start runs into the
// next day ("00:00" and "24:00" both end at midnight). Outside every window
// nobody from the rotation is on call. Coverage does not move hand-offs:
// members follow the hand-off rhythm whether or not a shift is covered, and
// a shift crossing a coverage edge is cut there, the uncovered part being a
// gap. No coverage means always covered. Overlapping or touching windows
// act as one.
//
// # Overrides
//
// An override puts its Members on call for its rotation from Start until End,
// in place of the regular members. Where overrides overlap, the later one in
// the list wins. Overrides apply to the instant regardless of coverage and of
// Rotation.Start: an override is someone explicitly covering, so it also
// applies outside coverage windows (a vacation override for a business-hours
// rotation should therefore cover business hours only). An override with no
// members leaves nobody from the rotation on call. An overridden piece has
// Type Overridden and Replaced set to the regular members it displaced (none
// outside coverage or before Start).
//
// # What a shift is
//
// A rotation's shifts are cut at the edges of its regular shifts (hand-offs
// and coverage edges) and at override edges, and never merged: two
// consecutive shifts with the same members are two turns (a one-member
// rotation still hands off to itself daily). Outside coverage and before
// Start there are no regular shifts, so an override there is cut only at
// its own edges. Within [from, to) the shifts are contiguous, each End equal
// to the next Start, except for coverage gaps and time before Start; an
// override with no members is returned as an overridden shift without
// members, not as a gap. Rotation shifts are returned in the rotation's
// time zone; compare times with time.Time.Equal.
//
// A ResolvedSchedule layers rotations: at each instant its members are the union of
// its rotations' (layer by layer, each in rotation order, without repeats).
// ResolvedSchedule.Shifts returns that timeline in UTC as maximal stretches with the
// same members, type and replaced members; a stretch where nobody is on call
// is a gap. HandOffs lists the instants where the set of people on call
// changes, with who leaves and who joins; a change of type alone is not a
// hand-off.
//
// # Coverage checks and page previews
//
// A Setup holds contacts (with their channels' activation), contact groups,
// schedules, overrides and escalation plans. Check and CheckPlan report,
// within a window, the stretches where a schedule has nobody on call, where
// an escalation plan would reach nobody (no stage has a target that pages a
// person: an empty schedule, contacts without an activated channel in their
// engagement plan, team channels only; nested plans are followed), plans
// that reach nobody in the whole window, and the contacts plans engage that
// paging cannot reach. PreviewPlan resolves a plan engaged at an instant as
// the paging engine would if nobody acknowledged: each stage starts when
// the one before ends, or at once when it engaged nobody; its targets
// resolve at that instant (a contact group to its members, a schedule to
// whoever its rotations have on call, a nested plan to its own stages); and
// each person's engagement plan becomes pages at its delays.
//
// # Errors
//
// Invalid input gives an error with code tocsin.EINVALID whose message names
// each offending field as JSON does, for example
// `recurrence.hand_off_times[1]: "25:00" is not HH:MM`. Times must lie in the
// years 1900 to 2199.
package oncall
