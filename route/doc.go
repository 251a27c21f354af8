// Package route picks what an alert does from the routing document
// (tocsin.Routing): which rules match it, which response plan each names or
// whether it only tells the channels, and whether the paging policy lets a
// plan page people. It is pure, like alertmanager's dispatch/route.go: no
// clock, no storage, no network; Match takes the instant it decides at.
// (Time zones are loaded once per name and kept, and so are compiled
// regexes.)
//
// # Rules
//
// Rules are tried in their order. A rule matches when every condition it
// states holds; a rule without conditions matches every alert. The first
// rule that matches is the first of the result; when it says continue the
// rules after it are tried too, and every further match is added, until a
// matched rule does not say continue. A rule that does not match is skipped
// whatever its continue says. When no rule matched, the routing's default
// (a response plan or notify_only) is the one match, marked Default; with
// no default the result is empty, and the caller does what it does without
// routing. What several matches mean together is the caller's decision;
// the result keeps them in rule order.
//
// Each matched rule names a response plan or says notify_only: the
// incident's channels are told and nobody is paged.
//
// # Conditions
//
//   - source, integration, severity, service, team: the alert's source,
//     the intake it came in on (tocsin.Intakes: the /api/v1/alerts/{source}
//     path's source, or "versus" for POST /api/incidents), its severity,
//     and its "service" and "team" labels must equal the value given,
//     exactly (decoders lower-case severities).
//   - labels and annotations: per key, equals, not_equals, regex and
//     exists; each operator given must hold. A missing key reads as the
//     empty string, as in Alertmanager: equals "" holds for it, not_equals
//     "x" holds for it, and a regex holds when it matches "". Regexes are
//     anchored like Alertmanager's: `web-.*` must match the whole value
//     (`^(?:web-.*)$`), so `we` does not match "web". exists: true
//     holds for a key with a non-empty value, exists: false for a missing
//     or empty one.
//   - time_window: the rule matches only while the wall clock in the
//     window's time zone is at or after start and before end ("08:00" to
//     "18:00": 17:59 is inside, 18:00 is not), on one of its days (every
//     day when none are given). An end at or before the start runs into
//     the next day, and the day named is the day the window starts: FRI
//     22:00–06:00 holds on Saturday at 03:00, and not on Friday at 03:00.
//     Because the wall clock is read, a window keeps its clock times
//     across daylight-saving changes: 08:00–18:00 in Europe/Berlin is
//     10 hours every day; a window over the night clocks go forward is an
//     hour shorter (01:00–04:00 lasts 2 hours), and over the night they go
//     back an hour longer (the repeated hour is inside twice).
//
// Match records for each matched rule the conditions that held, and for
// each rule tried that did not match the first condition that failed, so
// `tocsin route test` can say why.
//
// # Paging policy
//
// MayPage applies tocsin.PagingPolicy (the seed's critical-only rule, kept
// by tocsin instead of an IAM policy): an incident may page people only if
// its plan's name matches one of the policy's plans (exact names or
// path.Match globs, "*Critical*"; no list: any plan) and its impact is
// between 1 and max_impact (0: any impact). Both must hold. A refusal comes
// with a reason for the timeline.
package route
