package twilio

import (
	"strings"
	"unicode/utf8"

	"tocsin"
)

// NoKeyPressed is said when the callee pressed no key in time.
const NoKeyPressed = "No key pressed. Goodbye."

// GatherTwiML is the TwiML of a page call: it says say twice, with a pause
// between, while gathering one key press that Twilio posts to gatherURL
// (the Gather action), waits 10 seconds after that, and says NoKeyPressed
// when no key was pressed:
//
//	<Response><Gather numDigits="1" action="{gatherURL}" method="POST" timeout="10">
//	<Say>{say}</Say><Pause length="1"/><Say>{say}</Say></Gather>
//	<Say>No key pressed. Goodbye.</Say></Response>
//
// (on one line). With an empty gatherURL there is nothing to gather: say is
// said twice and the call ends. Text and URL are XML-escaped, and characters
// XML cannot carry (control characters) are dropped, so any input yields a
// well-formed document. The webhook that serves the gather action can
// answer with it to repeat the message.
func GatherTwiML(say string, gatherURL string) string {
	return gatherTwiML(say, gatherURL, true)
}

// SayTwiML is a TwiML document that says text and hangs up, e.g. the answer
// to a gather action: SayTwiML("Acknowledged. Thank you.").
func SayTwiML(text string) string {
	return "<Response><Say>" + escapeXML(text) + "</Say></Response>"
}

func gatherTwiML(say, gatherURL string, twice bool) string {
	s := "<Say>" + escapeXML(say) + "</Say>"
	if twice {
		s += `<Pause length="1"/>` + s
	}
	if gatherURL == "" {
		return "<Response>" + s + "</Response>"
	}
	return `<Response><Gather numDigits="1" action="` + escapeXML(gatherURL) + `" method="POST" timeout="10">` +
		s + "</Gather><Say>" + NoKeyPressed + "</Say></Response>"
}

// callTwiML is GatherTwiML fitted into MaxTwimlLength for the Calls API:
// say once when twice is too long, then say cut as much as needed.
func callTwiML(say, gatherURL string) string {
	if doc := gatherTwiML(say, gatherURL, true); len(doc) <= MaxTwimlLength {
		return doc
	}
	if doc := gatherTwiML(say, gatherURL, false); len(doc) <= MaxTwimlLength {
		return doc
	}
	// Binary search for the longest prefix of say that fits; escaping
	// makes the size of a prefix hard to predict.
	lo, hi := 0, utf8.RuneCountInString(say)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if len(gatherTwiML(tocsin.Truncate(say, mid), gatherURL, false)) <= MaxTwimlLength {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	// Should even an empty say not fit (a gather URL of ~4000 bytes),
	// Twilio rejects the call and the error is permanent.
	return gatherTwiML(tocsin.Truncate(say, lo), gatherURL, false)
}

var xmlEscaper = strings.NewReplacer(
	"&", "&amp;",
	"<", "&lt;",
	">", "&gt;",
	`"`, "&quot;",
	"'", "&apos;",
)

// escapeXML escapes s for XML text and attribute values, dropping the
// characters XML 1.0 does not allow.
func escapeXML(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20, r == 0xFFFE, r == 0xFFFF, r == utf8.RuneError, r >= 0xD800 && r <= 0xDFFF:
			return -1
		}
		return r
	}, s)
	return xmlEscaper.Replace(s)
}
