package twilio_test

import (
	"net/url"
	"testing"

	"tocsin/notify/twilio"
)

// docParams are the POST parameters of the example on Twilio's "Validating
// requests" page (https://www.twilio.com/docs/usage/security).
var docParams = url.Values{
	"CallSid": {"CA1234567890ABCDE"},
	"Caller":  {"+12349013030"},
	"Digits":  {"1234"},
	"From":    {"+12349013030"},
	"To":      {"+18005551212"},
}

func TestValidateSignatureKnownVectors(t *testing.T) {
	for _, tc := range []struct {
		name, url, sig string
		want           bool
	}{
		// Twilio's documented vector (also in its SDKs' tests).
		{"twilio docs", "https://mycompany.com/myapp.php?foo=1&bar=2", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", true},
		// The same parameters over example.com, computed independently with
		// Python's hmac and base64 modules.
		{"example.com", "https://example.com/myapp.php?foo=1&bar=2", "vNe7KK2kJwCsxc9K3OLkkKB3qqI=", true},
		// The value given for example.com in the task brief is not the
		// HMAC-SHA1 of these inputs; it must not validate.
		{"brief's value", "https://example.com/myapp.php?foo=1&bar=2", "GvWf1cFY/Q7PnoempGyD5oXAezc=", false},
		// Twilio signs the URL as configured: the default port may or may not be in it.
		{"default port added", "https://mycompany.com:443/myapp.php?foo=1&bar=2", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", true},
		{"another URL", "https://mycompany.com/myapp.php?foo=1&bar=3", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", false},
		{"one byte short", "https://mycompany.com/myapp.php?foo=1&bar=2", "0/KCTR6DLpKmkAf8muzZqo1nDgQ", false},
		{"empty", "https://mycompany.com/myapp.php?foo=1&bar=2", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := twilio.ValidateSignature("12345", tc.url, docParams, tc.sig); got != tc.want {
				t.Errorf("ValidateSignature = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestValidateSignatureRejectsTampering(t *testing.T) {
	const u, sig = "https://mycompany.com/myapp.php?foo=1&bar=2", "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
	tampered := url.Values{}
	for k, v := range docParams {
		tampered[k] = v
	}
	tampered.Set("Digits", "9")
	if twilio.ValidateSignature("12345", u, tampered, sig) {
		t.Error("a changed parameter validated")
	}
	tampered = url.Values{"Extra": {"1"}}
	for k, v := range docParams {
		tampered[k] = v
	}
	if twilio.ValidateSignature("12345", u, tampered, sig) {
		t.Error("an added parameter validated")
	}
	if twilio.ValidateSignature("54321", u, docParams, sig) {
		t.Error("another token validated")
	}
	if twilio.ValidateSignature("", u, docParams, sig) {
		t.Error("an empty token validated")
	}
}

func TestParseInboundSMS(t *testing.T) {
	from, body, sid := twilio.ParseInboundSMS(url.Values{
		"From": {"+15551230001"}, "To": {"+15005550006"}, "Body": {"  ACK 42\n"}, "MessageSid": {"SM1"}, "SmsSid": {"SM1"},
	})
	if from != "+15551230001" || body != "ACK 42" || sid != "SM1" {
		t.Errorf("ParseInboundSMS = %q, %q, %q", from, body, sid)
	}
	// Older webhooks carry only SmsMessageSid.
	if _, _, sid := twilio.ParseInboundSMS(url.Values{"SmsMessageSid": {"SM2"}}); sid != "SM2" {
		t.Errorf("sid = %q", sid)
	}
}

func TestParseGather(t *testing.T) {
	// An outbound-api call: Twilio's From is our number, the person is To.
	digits, callSid, from := twilio.ParseGather(url.Values{
		"Digits": {"1"}, "CallSid": {"CA9"}, "From": {"+15005550006"}, "To": {"+15551230001"}, "Direction": {"outbound-api"},
	})
	if digits != "1" || callSid != "CA9" || from != "+15551230001" {
		t.Errorf("outbound: ParseGather = %q, %q, %q", digits, callSid, from)
	}
	_, _, from = twilio.ParseGather(url.Values{"Digits": {"2"}, "From": {"+15551230001"}, "To": {"+15005550006"}, "Direction": {"inbound"}})
	if from != "+15551230001" {
		t.Errorf("inbound: from = %q", from)
	}
}

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		form                 url.Values
		sid, status, errCode string
	}{
		{url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}, "SmsStatus": {"delivered"}}, "SM1", "delivered", ""},
		{url.Values{"SmsSid": {"SM2"}, "SmsStatus": {"undelivered"}, "ErrorCode": {"30003"}}, "SM2", "undelivered", "30003"},
		{url.Values{"CallSid": {"CA1"}, "CallStatus": {"no-answer"}}, "CA1", "no-answer", ""},
		{url.Values{"CallSid": {"CA2"}, "CallStatus": {"Completed"}}, "CA2", "completed", ""},
		{url.Values{}, "", "", ""},
	} {
		sid, status, code := twilio.ParseStatus(tc.form)
		if sid != tc.sid || status != tc.status || code != tc.errCode {
			t.Errorf("ParseStatus(%v) = %q, %q, %q", tc.form, sid, status, code)
		}
	}
}
