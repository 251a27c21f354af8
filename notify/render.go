package notify

import (
	"html"
	"strings"
	"unicode/utf8"

	"tocsin"
)

// Limit is a channel's bound on the length of one rendered text (Telegram's
// 4096 characters, Viber's 7000, a Slack section's 3000, …). Every channel
// with such a bound renders through Template.Render with it, so the
// acknowledgement link is never what gets cut off.
type Limit struct {
	// Max is the most a text may measure; 0 or less means no limit.
	Max int
	// Len measures a text in the channel's unit; nil counts characters
	// (runes).
	Len func(s string) int
	// Cut shortens s to at most n units and marks the cut; it must keep
	// the channel's markup well formed. Nil cuts characters and ends with
	// "…".
	Cut func(s string, n int) string
	// Link formats the acknowledgement line appended to a cut text that
	// had lost it, in the channel's markup. Nil writes a plain-text line.
	Link func(ackURL string) string
}

func (l Limit) len(s string) int {
	if l.Len != nil {
		return l.Len(s)
	}
	return utf8.RuneCountInString(s)
}

func (l Limit) cut(s string, n int) string {
	if l.Cut != nil {
		return l.Cut(s, n)
	}
	return tocsin.Truncate(s, n)
}

func (l Limit) link(ackURL string) string {
	if l.Link != nil {
		return l.Link(ackURL)
	}
	return "\n\n👉 Acknowledge: " + ackURL
}

// maxShortenRounds bounds the re-renders with a shorter description; the
// first estimate usually fits, and each round shortens it further.
const maxShortenRounds = 6

// Render renders msg like Execute and makes it fit lim. A built-in
// template is rendered again with the alert's description (or the
// incident's summary) shortened, so the headline, the status and the
// acknowledgement link stay whole. Any other text that still overflows
// (a user's template, or huge labels) is cut with lim.Cut, and when the
// cut removed the acknowledgement link it is appended again with lim.Link.
// msg itself is not changed, apart from Warnings (see Execute).
func (t *Template) Render(msg *Message, lim Limit) (string, error) {
	out, used, err := t.render(msg)
	if err != nil || lim.Max <= 0 || lim.len(out) <= lim.Max {
		return out, err
	}
	if used.builtin && msg != nil {
		if short, ok := used.shorten(msg, out, lim); ok {
			return short, nil
		}
	}
	return cutKeepingLink(out, msg, lim), nil
}

// shorten renders msg again with its long text (the alert's description,
// else the incident's summary) cut to fit. The description's share of the
// text is measured (its markup may escape one character into several
// units), the cut estimated from it and corrected until the result fits.
// It reports false when even an empty description does not fit.
func (t *Template) shorten(msg *Message, out string, lim Limit) (string, bool) {
	m := *msg
	m.Warnings = nil
	var (
		long []rune
		set  func(string)
	)
	switch {
	case msg.Alert != nil:
		a := *msg.Alert
		m.Alert = &a
		long, set = []rune(a.Description), func(s string) { a.Description = s }
	case msg.Incident != nil:
		inc := *msg.Incident
		m.Incident = &inc
		long, set = []rune(inc.Summary), func(s string) { inc.Summary = s }
	default:
		return "", false
	}
	if len(long) == 0 {
		return "", false
	}
	render := func(keep int) (string, bool) {
		text := ""
		if keep > 0 {
			text = strings.TrimRight(string(long[:keep]), " \t\r\n") + "…"
		}
		set(text)
		s, err := t.executeMessage(&m)
		return s, err == nil
	}
	bare, ok := render(0)
	if !ok || lim.len(bare) > lim.Max {
		return "", false
	}
	base := lim.len(bare)
	keep, size := len(long), lim.len(out)
	for range maxShortenRounds {
		// Units per character of the description as rendered; at least one.
		perChar := max(1, float64(size-base)/float64(keep))
		keep = min(keep-1, int(float64(lim.Max-base-1)/perChar))
		if keep <= 0 {
			return bare, true
		}
		if out, ok = render(keep); !ok {
			return "", false
		}
		if size = lim.len(out); size <= lim.Max {
			return out, true
		}
	}
	return bare, true
}

// cutKeepingLink cuts out to lim, appending the acknowledgement link again
// when out showed it and the cut removed it.
func cutKeepingLink(out string, msg *Message, lim Limit) string {
	ack := ""
	if msg != nil && msg.AckURL != "" && hasLink(out, msg.AckURL) {
		ack = msg.AckURL
	}
	cut := lim.cut(out, lim.Max)
	if ack == "" || hasLink(cut, ack) {
		return cut
	}
	line := lim.link(ack)
	room := lim.Max - lim.len(line)
	if room <= 0 {
		return cut
	}
	return lim.cut(out, room) + line
}

// hasLink reports whether text shows url as written or HTML-escaped (an
// href's "&" is "&amp;").
func hasLink(text, url string) bool {
	return strings.Contains(text, url) || strings.Contains(text, html.EscapeString(url))
}
