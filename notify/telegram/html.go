package telegram

import (
	"html"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ellipsis ends a truncated message.
const ellipsis = "…"

// truncateHTML shortens s, a message in Telegram's HTML dialect, so that its
// visible text (what remains after Telegram parses the tags and entities)
// is at most limit UTF-16 code units, Telegram's unit for lengths. Tags do
// not count and an entity counts as one character. A cut never splits a
// tag, an entity or a character; it ends with "…" and closes the tags left
// open, so well-formed input stays well formed. s is returned unchanged
// when it fits.
func truncateHTML(s string, limit int) string {
	if visibleLen(s) <= limit {
		return s
	}
	budget := limit - utf16Len(ellipsis)
	sc := newScanner(s)
	var (
		b    strings.Builder
		open []string
		used int
	)
	for i := 0; i < len(s); {
		if tag, name, closing, ok := sc.tagAt(i); ok {
			switch {
			case closing:
				if k := lastIndex(open, name); k >= 0 {
					open = append(open[:k], open[k+1:]...)
				}
			default:
				open = append(open, name)
			}
			b.WriteString(tag)
			i += len(tag)
			continue
		}
		n, cost := 0, 0
		if ent, ok := entityAt(s, i); ok {
			n, cost = len(ent), 1
		} else {
			r, size := utf8.DecodeRuneInString(s[i:])
			n, cost = size, utf16.RuneLen(r)
			if cost < 1 {
				cost = 1
			}
		}
		if used+cost > budget {
			break
		}
		b.WriteString(s[i : i+n])
		used += cost
		i += n
	}
	b.WriteString(ellipsis)
	for k := len(open) - 1; k >= 0; k-- {
		b.WriteString("</" + open[k] + ">")
	}
	return b.String()
}

// plainText turns a message in Telegram's HTML dialect into plain text:
// tags are dropped and entities decoded, and a link keeps its address
// after its text ("Acknowledge (https://…)"), so the ack and incident
// links still work. It is what tocsin sends, without parse_mode, when
// Telegram cannot parse a (user) template's HTML.
func plainText(s string) string {
	sc := newScanner(s)
	var b strings.Builder
	var hrefs []string // the open links' addresses, innermost last
	for i := 0; i < len(s); {
		if tag, name, closing, ok := sc.tagAt(i); ok {
			if name == "a" && !closing {
				hrefs = append(hrefs, html.UnescapeString(attr(tag, "href")))
			} else if name == "a" && len(hrefs) > 0 {
				if h := hrefs[len(hrefs)-1]; h != "" {
					b.WriteString(" (" + h + ")")
				}
				hrefs = hrefs[:len(hrefs)-1]
			}
			i += len(tag)
			continue
		}
		if ent, ok := entityAt(s, i); ok {
			b.WriteString(html.UnescapeString(ent))
			i += len(ent)
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		b.WriteString(s[i : i+size])
		i += size
	}
	return b.String()
}

// truncatePlain shortens plain text to limit UTF-16 code units, ending
// with "…" when cut.
func truncatePlain(s string, limit int) string {
	if utf16Len(s) <= limit {
		return s
	}
	budget := limit - utf16Len(ellipsis)
	used := 0
	for i, r := range s {
		cost := utf16.RuneLen(r)
		if cost < 1 {
			cost = 1
		}
		if used+cost > budget {
			return s[:i] + ellipsis
		}
		used += cost
	}
	return s
}

// visibleLen is the length of s's visible text in UTF-16 code units.
func visibleLen(s string) int {
	sc := newScanner(s)
	n := 0
	for i := 0; i < len(s); {
		if tag, _, _, ok := sc.tagAt(i); ok {
			i += len(tag)
			continue
		}
		if ent, ok := entityAt(s, i); ok {
			n++
			i += len(ent)
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if c := utf16.RuneLen(r); c > 0 {
			n += c
		} else {
			n++
		}
		i += size
	}
	return n
}

// scanner finds tags in s; gt caches the position of the next '>'.
type scanner struct {
	s  string
	gt int
}

func newScanner(s string) *scanner { return &scanner{s: s, gt: -2} }

// tagAt reports whether a tag of Telegram's dialect starts at s[i]:
// "<name ...>" or "</name>".
func (sc *scanner) tagAt(i int) (tag, name string, closing, ok bool) {
	s := sc.s
	if s[i] != '<' {
		return "", "", false, false
	}
	if sc.gt == -2 || (sc.gt >= 0 && sc.gt < i) {
		// Find the next '>' once per stretch, so that text full of '<'
		// is scanned in linear time.
		if k := strings.IndexByte(s[i:], '>'); k >= 0 {
			sc.gt = i + k
		} else {
			sc.gt = -1
		}
	}
	if sc.gt < 0 {
		return "", "", false, false
	}
	end := sc.gt - i
	tag = s[i : i+end+1]
	inner := tag[1 : len(tag)-1]
	if strings.HasPrefix(inner, "/") {
		closing = true
		inner = inner[1:]
	}
	n := 0
	for n < len(inner) && isNameByte(inner[n]) {
		n++
	}
	if n == 0 || (n < len(inner) && !closing && inner[n] != ' ' && inner[n] != '\t' && inner[n] != '\n') ||
		(closing && strings.TrimSpace(inner[n:]) != "") {
		return "", "", false, false
	}
	name = strings.ToLower(inner[:n])
	if !knownTags[name] {
		// Not markup Telegram knows: text a template forgot to escape.
		return "", "", false, false
	}
	return tag, name, closing, true
}

// knownTags are the tags of Telegram's HTML dialect.
var knownTags = map[string]bool{
	"b": true, "strong": true, "i": true, "em": true, "u": true, "ins": true,
	"s": true, "strike": true, "del": true, "a": true, "code": true, "pre": true,
	"span": true, "tg-spoiler": true, "tg-emoji": true, "blockquote": true,
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

// entityAt reports whether an HTML entity (&name; &#123; &#x1F;) starts
// at s[i].
func entityAt(s string, i int) (string, bool) {
	if s[i] != '&' {
		return "", false
	}
	end := strings.IndexByte(s[i:min(len(s), i+13)], ';')
	if end < 2 {
		return "", false
	}
	body := s[i+1 : i+end]
	if body[0] == '#' {
		body = body[1:]
		if body != "" && (body[0] == 'x' || body[0] == 'X') {
			body = body[1:]
		}
	}
	if body == "" {
		return "", false
	}
	for k := 0; k < len(body); k++ {
		c := body[k]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "", false
		}
	}
	return s[i : i+end+1], true
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if c := utf16.RuneLen(r); c > 0 {
			n += c
		} else {
			n++
		}
	}
	return n
}

func lastIndex(list []string, s string) int {
	for k := len(list) - 1; k >= 0; k-- {
		if list[k] == s {
			return k
		}
	}
	return -1
}

// attr returns the value of a tag's attribute name (quoted with " or '),
// as written; "" when absent.
func attr(tag, name string) string {
	low := strings.ToLower(tag)
	for off := 0; ; {
		k := strings.Index(low[off:], name+"=")
		if k < 0 {
			return ""
		}
		k += off
		off = k + len(name) + 1
		if k > 0 && !isNameByte(low[k-1]) && off < len(tag) && (tag[off] == '"' || tag[off] == '\'') {
			q := tag[off]
			if end := strings.IndexByte(tag[off+1:], q); end >= 0 {
				return tag[off+1 : off+1+end]
			}
			return ""
		}
	}
}
