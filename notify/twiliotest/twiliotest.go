// Package twiliotest is a fake Twilio for tests: a local server speaking
// the parts of Twilio's REST API tocsin uses (Messages and Calls), which
// records what it accepted and fails on demand, and helpers that play the
// person with the phone, posting signed webhooks to the server under test
// as Twilio would: an SMS reply, a key pressed during a call, a delivery
// status.
//
// A scenario test wires tocsin to it and plays the on-call engineer:
//
//	tw := twiliotest.New(t)
//	// paging.twilio: account_sid twiliotest.AccountSID, auth_token
//	// twiliotest.AuthToken, from twiliotest.From, api_url tw.URL
//	…fire an alert…
//	call := tw.WaitCalls(t, 1, 5*time.Second)[0]
//	resp := tw.Press(t, call, "1")
//
// The webhook signatures are computed here independently of
// notify/twilio's ValidateSignature, so each checks the other.
package twiliotest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// The fake's account. The API accepts only these credentials, and the
// webhooks are signed with AuthToken.
const (
	// AccountSID is the test account's SID.
	AccountSID = "AC0123456789abcdef0123456789abcdef"
	// AuthToken is the test account's auth token.
	AuthToken = "tocsin0test0auth0token0abcdef123"
	// From is the account's one phone number: the only From the API
	// accepts, and the To of inbound messages.
	From = "+15005550006"
)

// APIVersion is the API version in the fake's paths and webhooks.
const APIVersion = "2010-04-01"

// Message is one message the fake accepted.
type Message struct {
	Sid  string
	To   string
	From string
	// MessagingServiceSid is set instead of From when the request used a
	// messaging service.
	MessagingServiceSid string
	Body                string
	StatusCallback      string
}

// Call is one call the fake accepted.
type Call struct {
	Sid   string
	To    string
	From  string
	Twiml string
	// GatherURL is the action of the Twiml's first <Gather>, unescaped;
	// "" when it has none.
	GatherURL string
	// Say is the text of the Twiml's first <Say>, unescaped.
	Say            string
	StatusCallback string
}

// Fault is how the fake answers a request it is told to fail.
type Fault struct {
	// Status is the HTTP status (429, 500, 400, …); 0 is 500.
	Status int
	// Code is the Twilio error code in the body (21211, 20003, …); 0
	// picks one that fits Status.
	Code int
	// Message is the error's message; "" picks one.
	Message string
	// RetryAfter is the Retry-After header to send, if any.
	RetryAfter string
	// Hang holds the request until the client gives up (or the test
	// ends); Status and the rest are then unused.
	Hang bool
}

// Twilio is the fake. It is safe for concurrent use.
type Twilio struct {
	// URL is the API base URL to configure (paging.twilio.api_url).
	URL string

	srv     *httptest.Server
	webhook *http.Client
	done    chan struct{}

	mu       sync.Mutex
	seq      int
	requests int
	faults   []Fault
	messages []Message
	calls    []Call
	// changed is closed and replaced whenever a message or call is
	// recorded, waking WaitMessages and WaitCalls.
	changed chan struct{}
}

// New starts a fake Twilio that lives until t ends.
func New(t testing.TB) *Twilio {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tw := &Twilio{
		done:    make(chan struct{}),
		changed: make(chan struct{}),
		webhook: &http.Client{
			Transport: tr,
			Timeout:   10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
	tw.srv = httptest.NewServer(http.HandlerFunc(tw.serve))
	tw.URL = tw.srv.URL
	t.Cleanup(func() {
		close(tw.done) // release hanging requests, or Close would wait for them
		tw.srv.Close()
		tr.CloseIdleConnections()
	})
	return tw
}

// Messages returns the accepted messages, in order.
func (tw *Twilio) Messages() []Message {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return append([]Message(nil), tw.messages...)
}

// Calls returns the accepted calls, in order.
func (tw *Twilio) Calls() []Call {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return append([]Call(nil), tw.calls...)
}

// WaitMessages waits until at least n messages were accepted and returns
// them; it fails t (Fatal) when timeout passes first.
func (tw *Twilio) WaitMessages(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	tw.wait(t, timeout, fmt.Sprintf("%d messages", n), func() bool { return len(tw.messages) >= n })
	return tw.Messages()
}

// WaitCalls waits until at least n calls were accepted and returns them;
// it fails t (Fatal) when timeout passes first.
func (tw *Twilio) WaitCalls(t testing.TB, n int, timeout time.Duration) []Call {
	t.Helper()
	tw.wait(t, timeout, fmt.Sprintf("%d calls", n), func() bool { return len(tw.calls) >= n })
	return tw.Calls()
}

func (tw *Twilio) wait(t testing.TB, timeout time.Duration, what string, done func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		tw.mu.Lock()
		ok, changed := done(), tw.changed
		got := fmt.Sprintf("%d messages, %d calls", len(tw.messages), len(tw.calls))
		tw.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("twiliotest: waited %v for %s; got %s", timeout, what, got)
		}
	}
}

// FailNext makes the next n API requests fail with HTTP status and Twilio
// error code (0 picks one that fits status). Retryable statuses (429,
// 5xx) are answered without Retry-After; see FailNextWith.
func (tw *Twilio) FailNext(n int, status int, code int) {
	tw.FailNextWith(n, Fault{Status: status, Code: code})
}

// FailNextWith makes the next n API requests fail with f.
func (tw *Twilio) FailNextWith(n int, f Fault) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	for range n {
		tw.faults = append(tw.faults, f)
	}
}

// ClearFaults drops the faults not yet used.
func (tw *Twilio) ClearFaults() {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.faults = nil
}

// Requests counts the API requests received, failed ones included.
func (tw *Twilio) Requests() int {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return tw.requests
}

// nextSid returns a new SID with prefix ("SM", "CA").
func (tw *Twilio) nextSid(prefix string) string {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.seq++
	return fmt.Sprintf("%s%032x", prefix, tw.seq)
}

func (tw *Twilio) serve(w http.ResponseWriter, r *http.Request) {
	tw.mu.Lock()
	tw.requests++
	var fault *Fault
	if len(tw.faults) > 0 {
		fault = &tw.faults[0]
		tw.faults = tw.faults[1:]
	}
	tw.mu.Unlock()
	if fault != nil {
		if fault.Hang {
			select {
			case <-r.Context().Done():
			case <-tw.done:
			}
			return
		}
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		writeError(w, fault.Status, fault.Code, fault.Message)
		return
	}

	rest, ok := strings.CutPrefix(r.URL.Path, "/"+APIVersion+"/Accounts/")
	account, resource, _ := strings.Cut(rest, "/")
	if !ok || (resource != "Messages.json" && resource != "Calls.json") {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != AccountSID || pass != AuthToken {
		writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if account != AccountSID {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		writeError(w, http.StatusBadRequest, 20001, "Content-Type must be application/x-www-form-urlencoded, not "+ct)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, 20001, "Unreadable form: "+err.Error())
		return
	}
	if resource == "Messages.json" {
		tw.createMessage(w, r.PostForm)
	} else {
		tw.createCall(w, r.PostForm)
	}
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

func (tw *Twilio) createMessage(w http.ResponseWriter, f url.Values) {
	m := Message{To: f.Get("To"), From: f.Get("From"), MessagingServiceSid: f.Get("MessagingServiceSid"), Body: f.Get("Body"), StatusCallback: f.Get("StatusCallback")}
	switch {
	case m.To == "":
		writeError(w, 400, 21604, "A 'To' phone number is required.")
	case !e164.MatchString(m.To):
		writeError(w, 400, 21211, fmt.Sprintf("Invalid 'To' Phone Number: %s", m.To))
	case m.From == "" && m.MessagingServiceSid == "":
		writeError(w, 400, 21603, "A 'From' phone number is required.")
	case m.From != "" && m.From != From:
		writeError(w, 400, 21606, fmt.Sprintf("The From phone number %s is not a valid, SMS-capable inbound phone number or short code for your account.", m.From))
	case m.From == "" && !strings.HasPrefix(m.MessagingServiceSid, "MG"):
		writeError(w, 400, 21701, "The Messaging Service Sid "+m.MessagingServiceSid+" is invalid.")
	case strings.TrimSpace(m.Body) == "":
		writeError(w, 400, 21602, "Message body is required.")
	case utf8.RuneCountInString(m.Body) > 1600:
		writeError(w, 400, 21617, "The concatenated message body exceeds the 1600 character limit.")
	case !absoluteURL(m.StatusCallback):
		writeError(w, 400, 21609, "The StatusCallback URL "+m.StatusCallback+" is not a valid URL.")
	default:
		m.Sid = tw.nextSid("SM")
		tw.record(func() { tw.messages = append(tw.messages, m) })
		status := "queued"
		if m.From == "" {
			status = "accepted"
		}
		writeJSON(w, http.StatusCreated, map[string]any{
			"sid": m.Sid, "account_sid": AccountSID, "api_version": APIVersion,
			"to": m.To, "from": nullable(m.From), "messaging_service_sid": nullable(m.MessagingServiceSid),
			"body": m.Body, "status": status, "direction": "outbound-api", "num_segments": "1",
			"date_created": time.Now().UTC().Format(time.RFC1123Z), "uri": "/" + APIVersion + "/Accounts/" + AccountSID + "/Messages/" + m.Sid + ".json",
		})
	}
}

func (tw *Twilio) createCall(w http.ResponseWriter, f url.Values) {
	c := Call{To: f.Get("To"), From: f.Get("From"), Twiml: f.Get("Twiml"), StatusCallback: f.Get("StatusCallback")}
	var perr error
	if c.Twiml != "" {
		c.GatherURL, c.Say, perr = parseTwiml(c.Twiml)
	}
	switch {
	case c.To == "":
		writeError(w, 400, 21201, "No 'To' number is specified")
	case !e164.MatchString(c.To):
		writeError(w, 400, 21211, fmt.Sprintf("Invalid 'To' Phone Number: %s", c.To))
	case c.From == "":
		writeError(w, 400, 21213, "No 'From' number is specified")
	case c.From != From:
		writeError(w, 400, 21212, fmt.Sprintf("Invalid 'From' Phone Number: %s", c.From))
	case c.Twiml == "" && f.Get("Url") == "" && f.Get("ApplicationSid") == "":
		writeError(w, 400, 21205, "Url parameter is required.")
	case utf8.RuneCountInString(c.Twiml) > 4000:
		writeError(w, 400, 32018, "Twiml size exceeded maximum allowed value of 4000 characters")
	case perr != nil:
		// Twilio would accept the call and fail it with 12100 when it
		// runs; failing here makes a broken document visible to tests.
		writeError(w, 400, 12100, "Document parse failure: "+perr.Error())
	case !absoluteURL(c.StatusCallback):
		writeError(w, 400, 21609, "The StatusCallback URL "+c.StatusCallback+" is not a valid URL.")
	default:
		c.Sid = tw.nextSid("CA")
		tw.record(func() { tw.calls = append(tw.calls, c) })
		writeJSON(w, http.StatusCreated, map[string]any{
			"sid": c.Sid, "account_sid": AccountSID, "api_version": APIVersion,
			"to": c.To, "from": c.From, "status": "queued", "direction": "outbound-api",
			"date_created": time.Now().UTC().Format(time.RFC1123Z), "uri": "/" + APIVersion + "/Accounts/" + AccountSID + "/Calls/" + c.Sid + ".json",
		})
	}
}

// record runs add under the lock and wakes the waiters.
func (tw *Twilio) record(add func()) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	add()
	close(tw.changed)
	tw.changed = make(chan struct{})
}

func absoluteURL(s string) bool {
	if s == "" {
		return true
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// writeError answers in Twilio's error dialect; status 0 is 500.
func writeError(w http.ResponseWriter, status, code int, message string) {
	if status < 100 || status > 999 {
		status = http.StatusInternalServerError
	}
	if code == 0 {
		switch {
		case status == http.StatusTooManyRequests:
			code = 20429
		case status == http.StatusUnauthorized:
			code = 20003
		case status == http.StatusNotFound:
			code = 20404
		case status >= 500:
			code = 20500
		default:
			code = 21211
		}
	}
	if message == "" {
		message = fmt.Sprintf("Injected error %d (HTTP %d)", code, status)
	}
	writeJSON(w, status, map[string]any{
		"code": code, "message": message, "status": status,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Sign computes the X-Twilio-Signature of a POST of form to webhookURL with
// AuthToken: base64(HMAC-SHA1(token, URL + every key and value, keys sorted)).
// Tests may post a tampered form with it to check a handler rejects it.
func Sign(webhookURL string, form url.Values) string {
	return signWith(AuthToken, webhookURL, form)
}

func signWith(token, webhookURL string, form url.Values) string {
	// Written apart from notify/twilio.ValidateSignature on purpose.
	names := make([]string, 0, len(form))
	for name := range form {
		names = append(names, name)
	}
	sort.Strings(names)
	data := []byte(webhookURL)
	for _, name := range names {
		values := append([]string(nil), form[name]...)
		sort.Strings(values)
		for _, v := range values {
			data = append(data, name...)
			data = append(data, v...)
		}
	}
	h := hmac.New(sha1.New, []byte(token))
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// Post posts form to webhookURL as Twilio does: form-encoded, signed with
// AuthToken in X-Twilio-Signature. The response's body is read and can be
// read again; closing it is optional. A failed request fails t (Fatal).
func (tw *Twilio) Post(t testing.TB, webhookURL string, form url.Values) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, webhookURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatalf("twiliotest: post webhook: %v", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", Sign(webhookURL, form))
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	req.Header.Set("I-Twilio-Idempotency-Token", tw.nextSid("ID"))
	resp, err := tw.webhook.Do(req)
	if err != nil {
		t.Fatalf("twiliotest: post webhook: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("twiliotest: read webhook response: %v", err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

// Reply plays a person texting body from number from to the account's
// number: it posts Twilio's signed incoming-message webhook to webhookURL
// (From, To = From constant, Body, MessageSid, SmsMessageSid, SmsSid,
// AccountSid, ApiVersion, SmsStatus, NumMedia, NumSegments) and returns the
// response (TwiML, typically), its body already read (see Post).
func (tw *Twilio) Reply(t testing.TB, webhookURL, from, body string) *http.Response {
	t.Helper()
	sid := tw.nextSid("SM")
	return tw.Post(t, webhookURL, url.Values{
		"AccountSid": {AccountSID}, "ApiVersion": {APIVersion},
		"From": {from}, "To": {From}, "Body": {body},
		"MessageSid": {sid}, "SmsMessageSid": {sid}, "SmsSid": {sid},
		"SmsStatus": {"received"}, "NumMedia": {"0"}, "NumSegments": {"1"},
	})
}

// Press plays the callee of call pressing digits: it posts Twilio's signed
// Gather action to call.GatherURL and returns the response (TwiML), its
// body already read (see Post). As for any outbound-api call, Twilio's
// From is the account's number (call.From) and To is the person
// (call.To); the form also has Digits, CallSid, CallStatus in-progress,
// Direction outbound-api, AccountSid and ApiVersion. A call without a
// gather URL fails t (Fatal).
func (tw *Twilio) Press(t testing.TB, call Call, digits string) *http.Response {
	t.Helper()
	if call.GatherURL == "" {
		t.Fatalf("twiliotest: call %s has no <Gather action> to press %q on", call.Sid, digits)
	}
	return tw.Post(t, call.GatherURL, url.Values{
		"AccountSid": {AccountSID}, "ApiVersion": {APIVersion},
		"CallSid": {call.Sid}, "CallStatus": {"in-progress"}, "Direction": {"outbound-api"},
		"From": {call.From}, "To": {call.To}, "Digits": {digits}, "FinishedOnKey": {""},
	})
}

// Status posts Twilio's signed status callback for the message or call sid
// (by its prefix: "SM…" a message, "CA…" a call) with status ("delivered",
// "undelivered", "failed"…; "completed", "busy", "no-answer"…) to
// callbackURL, and returns the response, its body already read. Twilio
// expects a 2xx answer, so any other fails t (Error). To and From are the
// recorded message's or call's.
func (tw *Twilio) Status(t testing.TB, callbackURL, sid, status string) *http.Response {
	t.Helper()
	return tw.StatusWithError(t, callbackURL, sid, status, "")
}

// StatusWithError is Status with Twilio's ErrorCode (e.g. "30003",
// unreachable handset, for an undelivered message).
func (tw *Twilio) StatusWithError(t testing.TB, callbackURL, sid, status, errorCode string) *http.Response {
	t.Helper()
	form := url.Values{"AccountSid": {AccountSID}, "ApiVersion": {APIVersion}}
	tw.mu.Lock()
	if strings.HasPrefix(sid, "CA") {
		form.Set("CallSid", sid)
		form.Set("CallStatus", status)
		form.Set("Direction", "outbound-api")
		for _, c := range tw.calls {
			if c.Sid == sid {
				form.Set("To", c.To)
				form.Set("From", c.From)
			}
		}
	} else {
		form.Set("MessageSid", sid)
		form.Set("SmsSid", sid)
		form.Set("MessageStatus", status)
		form.Set("SmsStatus", status)
		for _, m := range tw.messages {
			if m.Sid == sid {
				form.Set("To", m.To)
				form.Set("From", m.From)
				if m.MessagingServiceSid != "" {
					form.Set("MessagingServiceSid", m.MessagingServiceSid)
				}
			}
		}
	}
	tw.mu.Unlock()
	if errorCode != "" {
		form.Set("ErrorCode", errorCode)
	}
	resp := tw.Post(t, callbackURL, form)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(resp.Body)
		resp.Body = io.NopCloser(bytes.NewReader(body))
		t.Errorf("twiliotest: status callback %s %s: HTTP %d: %s", sid, status, resp.StatusCode, body)
	}
	return resp
}
