package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/url"
	"slices"
	"strings"
)

// SignatureHeader is the header carrying Twilio's webhook signature.
const SignatureHeader = "X-Twilio-Signature"

// ValidateSignature reports whether signature (the X-Twilio-Signature
// header) is Twilio's signature of a POST to fullURL with form, made with
// authToken: base64(HMAC-SHA1(authToken, fullURL + key1 + value1 + key2 +
// value2 …)) over the form's keys sorted, each key's values sorted. fullURL
// is the URL Twilio was configured with, query string included, as Twilio
// saw it (behind a proxy, the public URL, not the one the server received).
//
// As Twilio's own libraries do, the URL is also tried with the scheme's
// default port added and with its port removed, because Twilio signs the
// URL as configured, port or not. The comparison is constant-time. An empty
// token or signature never validates.
func ValidateSignature(authToken, fullURL string, form url.Values, signature string) bool {
	if authToken == "" || signature == "" {
		return false
	}
	params := signedParams(form)
	ok := false
	for _, u := range urlVariants(fullURL) {
		// No early return: every variant costs the same.
		if subtle.ConstantTimeCompare([]byte(sign(authToken, u, params)), []byte(signature)) == 1 {
			ok = true
		}
	}
	return ok
}

// signedParams concatenates form's keys and values in signing order.
func signedParams(form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		vs := slices.Clone(form[k])
		slices.Sort(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	return b.String()
}

func sign(authToken, u, params string) string {
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(u))
	mac.Write([]byte(params))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// urlVariants is raw, raw with the scheme's default port, and raw without
// its port.
func urlVariants(raw string) []string {
	out := []string{raw}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return out
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		with := *u
		with.Host = net.JoinHostPort(u.Hostname(), port)
		out = append(out, with.String())
	} else {
		without := *u
		without.Host = host
		out = append(out, without.String())
	}
	return out
}

// ParseInboundSMS reads an incoming-message webhook: the sender's number,
// the text (spaces trimmed) and the message SID.
func ParseInboundSMS(form url.Values) (from, body, messageSid string) {
	return strings.TrimSpace(form.Get("From")),
		strings.TrimSpace(form.Get("Body")),
		first(form, "MessageSid", "SmsMessageSid", "SmsSid")
}

// ParseGather reads the post of a Gather action: the key(s) pressed, the
// call SID, and the number of the person on the phone. For the outbound
// calls tocsin places (Direction "outbound-api"), Twilio's From is tocsin's
// own number and the person is To, so from is To; for inbound calls it is
// From. Match the call by callSid where possible.
func ParseGather(form url.Values) (digits, callSid, from string) {
	from = form.Get("From")
	if strings.HasPrefix(form.Get("Direction"), "outbound") {
		from = form.Get("To")
	}
	return strings.TrimSpace(form.Get("Digits")), strings.TrimSpace(form.Get("CallSid")), strings.TrimSpace(from)
}

// ParseStatus reads a status callback of a message or a call: the SID
// (MessageSid, else CallSid), the status in lower case (messages: queued,
// sending, sent, delivered, undelivered, failed, read; calls: queued,
// initiated, ringing, in-progress, completed, busy, no-answer, failed,
// canceled) and Twilio's ErrorCode, if any ("30003"; messages only).
func ParseStatus(form url.Values) (sid, status, errorCode string) {
	sid = first(form, "MessageSid", "SmsSid", "CallSid")
	status = first(form, "MessageStatus", "SmsStatus", "CallStatus")
	return sid, strings.ToLower(status), strings.TrimSpace(form.Get("ErrorCode"))
}

// first returns the first non-empty value among keys.
func first(form url.Values, keys ...string) string {
	for _, k := range keys {
		if v := strings.TrimSpace(form.Get(k)); v != "" {
			return v
		}
	}
	return ""
}
