package telegram

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"tocsin/notify"
	"tocsin/notify/notifytest"
)

// validTelegramHTML checks s against the subset the default template may
// use: the tags b, i, u, s, a (with only href), code and pre, properly
// nested, and no bare <, > or &.
func validTelegramHTML(s string) error {
	tagRE := regexp.MustCompile(`^<(/?)(b|i|u|s|code|pre|a)( href="[^"<>]*")?>`)
	entRE := regexp.MustCompile(`^&(lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});`)
	var open []string
	for i := 0; i < len(s); {
		switch s[i] {
		case '<':
			m := tagRE.FindStringSubmatch(s[i:])
			if m == nil {
				return fmt.Errorf("bad tag at %d: %.30q", i, s[i:])
			}
			closing, name, href := m[1] == "/", m[2], m[3]
			switch {
			case closing && (len(open) == 0 || open[len(open)-1] != name):
				return fmt.Errorf("unbalanced </%s> at %d", name, i)
			case closing:
				open = open[:len(open)-1]
			case (name == "a") != (href != ""):
				return fmt.Errorf("href on <%s> at %d", name, i)
			default:
				open = append(open, name)
			}
			i += len(m[0])
		case '&':
			m := entRE.FindString(s[i:])
			if m == "" {
				return fmt.Errorf("bare & at %d: %.20q", i, s[i:])
			}
			i += len(m)
		case '>':
			return fmt.Errorf("bare > at %d", i)
		default:
			i++
		}
	}
	if len(open) > 0 {
		return fmt.Errorf("unclosed %v", open)
	}
	return nil
}

// The default template is valid Telegram HTML for every event, even with
// markup-like data, and shows the ack link while there is one.
func TestDefaultTemplateIsValidTelegramHTML(t *testing.T) {
	tmpl, err := notify.NewTemplate("telegram.tmpl", "", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, event := range []string{notify.EventOpened, notify.EventAcknowledged, notify.EventResolved, notify.EventRenotify} {
		msg := notifytest.SampleMessage(event)
		msg.Incident.Title = `<script>alert("x")</script> & "quotes"`
		msg.Alert.Labels["job"] = "a<b>&c"
		msg.Alert.Description = "latency > 5s & rising <fast>"
		msg.Incident.AckedBy = "<mallory>"
		out, err := tmpl.Execute(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := validTelegramHTML(out); err != nil {
			t.Errorf("%s: %v\n%s", event, err, out)
		}
		if hasAck := strings.Contains(out, "Acknowledge this incident"); hasAck != (msg.AckURL != "") {
			t.Errorf("%s: ack link shown = %v, AckURL = %q", event, hasAck, msg.AckURL)
		}
	}
}

func TestTruncateHTML(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"<b>short</b>", 5, "<b>short</b>"},
		{"<b>abcdef</b>", 5, "<b>abcd…</b>"},
		{`<a href="https://x/?a=1&amp;b=2">link text</a> tail`, 4, `<a href="https://x/?a=1&amp;b=2">lin…</a>`},
		{"a &amp; b &lt; c", 4, "a &amp;…"},
		{"<b>bold <i>both</i></b> plain", 8, "<b>bold <i>bo…</i></b>"},
		{"<pre><code>x = 1\ny = 2</code></pre>", 4, "<pre><code>x =…</code></pre>"},
		{"🔥🔥🔥", 5, "🔥🔥…"},
		{strings.Repeat("<", 1<<20), 10, strings.Repeat("<", 9) + "…"},
		{"a <latency> b", 6, "a <la…"},
	} {
		if got := truncateHTML(tc.in, tc.limit); got != tc.want {
			t.Errorf("truncateHTML(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
		}
	}
}

func TestPlainText(t *testing.T) {
	in := `🔴 <b>Opened:</b> a &lt; b &amp;&amp; c &#62; d <a href="https://x?a=1&amp;b=2">link</a> <a title='t' href='https://y'>ack</a> <odd>`
	want := `🔴 Opened: a < b && c > d link (https://x?a=1&b=2) ack (https://y) <odd>`
	if got := plainText(in); got != want {
		t.Errorf("plainText = %q, want %q", got, want)
	}
	if got := truncatePlain("🔥abc", 4); got != "🔥a…" {
		t.Errorf("truncatePlain = %q", got)
	}
}

// Whatever the input, a cut message fits, is valid UTF-8, and keeps
// well-formed markup well formed.
func FuzzTruncateHTML(f *testing.F) {
	f.Add("<b>bold <i>both</i></b> &amp; <a href=\"u\">x</a>", 7)
	f.Add("🔥&lt;<code>x</code>", 2)
	f.Add("<pre>a</pre><s>b</s><u>c</u>", 1)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < 1 || limit > 5000 || !utf8.ValidString(s) {
			t.Skip()
		}
		out := truncateHTML(s, limit)
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8: %q", out)
		}
		if n := visibleLen(out); n > limit && out != s {
			t.Fatalf("visible length %d > %d: %q", n, limit, out)
		}
		if validTelegramHTML(s) == nil {
			if err := validTelegramHTML(out); err != nil {
				t.Fatalf("%v: truncateHTML(%q, %d) = %q", err, s, limit, out)
			}
		}
	})
}
