package twiliotest

import (
	"net/url"
	"testing"
)

// TestSignKnownVector checks the fake's signer against the example on
// Twilio's "Validating requests" page.
func TestSignKnownVector(t *testing.T) {
	form := url.Values{
		"CallSid": {"CA1234567890ABCDE"},
		"Caller":  {"+12349013030"},
		"Digits":  {"1234"},
		"From":    {"+12349013030"},
		"To":      {"+18005551212"},
	}
	if got := signWith("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", form); got != "0/KCTR6DLpKmkAf8muzZqo1nDgQ=" {
		t.Errorf("signature = %q", got)
	}
}

func TestParseTwiml(t *testing.T) {
	for _, tc := range []struct {
		doc, gather, say string
		bad              bool
	}{
		{`<Response><Gather action="https://g.example/?a=1&amp;b=2"><Say>x &lt; y</Say></Gather><Say>bye</Say></Response>`, "https://g.example/?a=1&b=2", "x < y", false},
		{`<?xml version="1.0" encoding="UTF-8"?><Response><Say>hi</Say></Response>`, "", "hi", false},
		{`<Response><Say>a & b</Say></Response>`, "", "", true},
		{`<Response><Say>a</Response>`, "", "", true},
		{`<Say>a</Say>`, "", "", true},
		{`<Response/><Response/>`, "", "", true},
		{``, "", "", true},
	} {
		gather, say, err := parseTwiml(tc.doc)
		if (err != nil) != tc.bad || gather != tc.gather || say != tc.say {
			t.Errorf("parseTwiml(%s) = %q, %q, %v", tc.doc, gather, say, err)
		}
	}
}
