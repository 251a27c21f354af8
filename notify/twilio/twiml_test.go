package twilio_test

import (
	"encoding/xml"
	"strings"
	"testing"
	"unicode/utf8"

	"tocsin/notify/twilio"
)

func TestGatherTwiML(t *testing.T) {
	got := twilio.GatherTwiML("Incident 42: database down. Press 1 to acknowledge.", "https://tocsin.example/twilio/gather?page=p1&sig=abc")
	want := `<Response><Gather numDigits="1" action="https://tocsin.example/twilio/gather?page=p1&amp;sig=abc" method="POST" timeout="10">` +
		`<Say>Incident 42: database down. Press 1 to acknowledge.</Say><Pause length="1"/>` +
		`<Say>Incident 42: database down. Press 1 to acknowledge.</Say></Gather>` +
		`<Say>No key pressed. Goodbye.</Say></Response>`
	if got != want {
		t.Errorf("GatherTwiML =\n%s\nwant\n%s", got, want)
	}
	if got := twilio.GatherTwiML("hello", ""); got != `<Response><Say>hello</Say><Pause length="1"/><Say>hello</Say></Response>` {
		t.Errorf("without gather URL: %s", got)
	}
}

func TestTwiMLEscaping(t *testing.T) {
	say := `Disk <sda> & "root" it's full`
	doc := twilio.GatherTwiML(say, `https://x.example/g?a=1&b="2"`)
	if !strings.Contains(doc, `<Say>Disk &lt;sda&gt; &amp; &quot;root&quot; it&apos;s full</Say>`) {
		t.Errorf("Say not escaped: %s", doc)
	}
	if got := twilio.SayTwiML(`<&>"`); got != `<Response><Say>&lt;&amp;&gt;&quot;</Say></Response>` {
		t.Errorf("SayTwiML = %s", got)
	}
	action, said := parse(t, doc)
	if action != `https://x.example/g?a=1&b="2"` || said[0] != say {
		t.Errorf("parsed back action %q, say %q", action, said)
	}
	// Control characters cannot be in XML at all: they are dropped.
	if _, said := parse(t, twilio.GatherTwiML("a\x00b\x1bc\tok", "")); said[0] != "abc\tok" {
		t.Errorf("control characters: %q", said[0])
	}
}

func TestSayTwiML(t *testing.T) {
	if got := twilio.SayTwiML("Acknowledged. Thank you."); got != "<Response><Say>Acknowledged. Thank you.</Say></Response>" {
		t.Errorf("SayTwiML = %s", got)
	}
}

// parse checks doc is well-formed and returns its Gather action and the
// text of every Say.
func parse(t testing.TB, doc string) (action string, says []string) {
	t.Helper()
	var r struct {
		Gather struct {
			Action string   `xml:"action,attr"`
			Says   []string `xml:"Say"`
		}
		Says []string `xml:"Say"`
	}
	if err := xml.Unmarshal([]byte(doc), &r); err != nil {
		t.Fatalf("not well-formed: %v\n%s", err, doc)
	}
	return r.Gather.Action, append(r.Gather.Says, r.Says...)
}

func FuzzGatherTwiML(f *testing.F) {
	f.Add(`<&>"'`, "https://x.example/g?a=1&b=2")
	f.Add("\x00\xff\ufffe]]>", "")
	f.Add("Incident 1", `"><Hangup/>`)
	f.Fuzz(func(t *testing.T, say, gather string) {
		doc := twilio.GatherTwiML(say, gather)
		action, said := parse(t, doc)
		if gather != "" && utf8.ValidString(gather) && !strings.ContainsFunc(gather, invalidXML) && !strings.ContainsAny(gather, "\t\r\n") && action != gather {
			t.Errorf("action %q, want %q", action, gather)
		}
		if utf8.ValidString(say) && !strings.ContainsFunc(say, invalidXML) && !strings.ContainsRune(say, '\r') && said[0] != say {
			t.Errorf("say %q, want %q", said[0], say)
		}
	})
}

func invalidXML(r rune) bool {
	return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0xFFFE || r == 0xFFFF || r == utf8.RuneError
}
