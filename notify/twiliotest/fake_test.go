package twiliotest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"tocsin/notify/twilio"
	"tocsin/notify/twiliotest"
)

// api posts form to the fake's resource with the given credentials and
// returns the status and decoded JSON body.
func api(t *testing.T, tw *twiliotest.Twilio, resource, token string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, tw.URL+"/2010-04-01/Accounts/"+twiliotest.AccountSID+"/"+resource, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(twiliotest.AccountSID, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func TestMessagesAPI(t *testing.T) {
	tw := twiliotest.New(t)
	status, body := api(t, tw, "Messages.json", twiliotest.AuthToken, url.Values{
		"To": {"+15551230001"}, "From": {twiliotest.From}, "Body": {"hello"}, "StatusCallback": {"https://cb.example/s"},
	})
	if status != http.StatusCreated || body["status"] != "queued" || !strings.HasPrefix(body["sid"].(string), "SM") {
		t.Fatalf("%d %v", status, body)
	}
	want := twiliotest.Message{Sid: body["sid"].(string), To: "+15551230001", From: twiliotest.From, Body: "hello", StatusCallback: "https://cb.example/s"}
	if m := tw.Messages(); len(m) != 1 || m[0] != want {
		t.Errorf("Messages = %+v", m)
	}

	for _, tc := range []struct {
		token string
		form  url.Values
		code  float64
	}{
		{"wrong", url.Values{"To": {"+15551230001"}, "From": {twiliotest.From}, "Body": {"x"}}, 20003},
		{twiliotest.AuthToken, url.Values{"To": {"555"}, "From": {twiliotest.From}, "Body": {"x"}}, 21211},
		{twiliotest.AuthToken, url.Values{"To": {"+15551230001"}, "From": {"+15550000000"}, "Body": {"x"}}, 21606},
		{twiliotest.AuthToken, url.Values{"To": {"+15551230001"}, "From": {twiliotest.From}}, 21602},
		{twiliotest.AuthToken, url.Values{"To": {"+15551230001"}, "From": {twiliotest.From}, "Body": {strings.Repeat("x", 1601)}}, 21617},
		{twiliotest.AuthToken, url.Values{"To": {"+15551230001"}, "From": {twiliotest.From}, "Body": {"x"}, "StatusCallback": {"/relative"}}, 21609},
	} {
		if status, body := api(t, tw, "Messages.json", tc.token, tc.form); status/100 != 4 || body["code"] != tc.code {
			t.Errorf("%v: %d %v", tc.form, status, body)
		}
	}
	if len(tw.Messages()) != 1 || tw.Requests() != 7 {
		t.Errorf("%d messages after %d requests", len(tw.Messages()), tw.Requests())
	}
}

func TestCallsAPI(t *testing.T) {
	tw := twiliotest.New(t)
	twiml := twilio.GatherTwiML("Press 1 <now>", "https://tocsin.example/g?p=1&s=2")
	status, body := api(t, tw, "Calls.json", twiliotest.AuthToken, url.Values{"To": {"+15551230001"}, "From": {twiliotest.From}, "Twiml": {twiml}})
	if status != http.StatusCreated || !strings.HasPrefix(body["sid"].(string), "CA") {
		t.Fatalf("%d %v", status, body)
	}
	want := twiliotest.Call{Sid: body["sid"].(string), To: "+15551230001", From: twiliotest.From, Twiml: twiml, GatherURL: "https://tocsin.example/g?p=1&s=2", Say: "Press 1 <now>"}
	if c := tw.Calls(); len(c) != 1 || c[0] != want {
		t.Errorf("Calls = %+v", c)
	}
	for twiml, code := range map[string]float64{
		"<Response><Say>a & b</Say></Response>": 12100,
		"":                                      21205,
		"<Response>" + strings.Repeat("x", 4000) + "</Response>": 32018,
	} {
		if status, body := api(t, tw, "Calls.json", twiliotest.AuthToken, url.Values{"To": {"+15551230001"}, "From": {twiliotest.From}, "Twiml": {twiml}}); status != 400 || body["code"] != code {
			t.Errorf("Twiml %.40q: %d %v", twiml, status, body)
		}
	}
}

func TestFailNext(t *testing.T) {
	tw := twiliotest.New(t)
	tw.FailNext(2, http.StatusTooManyRequests, 0)
	ok := url.Values{"To": {"+15551230001"}, "From": {twiliotest.From}, "Body": {"x"}}
	for range 2 {
		if status, body := api(t, tw, "Messages.json", twiliotest.AuthToken, ok); status != 429 || body["code"] != float64(20429) || body["status"] != float64(429) {
			t.Errorf("%d %v", status, body)
		}
	}
	if status, _ := api(t, tw, "Messages.json", twiliotest.AuthToken, ok); status != 201 {
		t.Errorf("third request: %d", status)
	}
	tw.FailNext(5, 500, 20500)
	tw.ClearFaults()
	if status, _ := api(t, tw, "Messages.json", twiliotest.AuthToken, ok); status != 201 {
		t.Errorf("after ClearFaults: %d", status)
	}
}

func TestHangIsReleasedAtCleanup(t *testing.T) {
	// A request hanging when the test ends must not block the server's Close.
	t.Run("inner", func(t *testing.T) {
		tw := twiliotest.New(t)
		tw.FailNextWith(1, twiliotest.Fault{Hang: true})
		go http.Post(tw.URL+"/2010-04-01/Accounts/x/Messages.json", "text/plain", nil)
		for tw.Requests() == 0 {
			time.Sleep(time.Millisecond)
		}
	})
}

// webhookServer validates every webhook with notify/twilio's
// ValidateSignature, independently written, and records the forms.
type webhookServer struct {
	*httptest.Server
	mu    sync.Mutex
	forms map[string]url.Values
}

func newWebhookServer(t *testing.T) *webhookServer {
	ws := &webhookServer{forms: map[string]url.Values{}}
	ws.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		full := "http://" + r.Host + r.URL.RequestURI()
		if !twilio.ValidateSignature(twiliotest.AuthToken, full, r.PostForm, r.Header.Get(twilio.SignatureHeader)) {
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		ws.mu.Lock()
		ws.forms[r.URL.Path] = r.PostForm
		ws.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, twilio.SayTwiML("Acknowledged. Thank you."))
	}))
	t.Cleanup(ws.Close)
	return ws
}

func (ws *webhookServer) form(path string) url.Values {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return ws.forms[path]
}

func TestReply(t *testing.T) {
	tw := twiliotest.New(t)
	ws := newWebhookServer(t)
	resp := tw.Reply(t, ws.URL+"/twilio/sms?tenant=a&x=1", "+15551230001", "ACK 42")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "<Response><Say>Acknowledged. Thank you.</Say></Response>" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	from, text, sid := twilio.ParseInboundSMS(ws.form("/twilio/sms"))
	if from != "+15551230001" || text != "ACK 42" || !strings.HasPrefix(sid, "SM") || ws.form("/twilio/sms").Get("To") != twiliotest.From {
		t.Errorf("ParseInboundSMS = %q %q %q", from, text, sid)
	}
	// A tampered form is rejected.
	form := url.Values{"From": {"+15551230001"}, "Body": {"ACK 42"}}
	req, _ := http.NewRequest(http.MethodPost, ws.URL+"/twilio/sms", strings.NewReader(url.Values{"From": {"+15551230001"}, "Body": {"ACK 43"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(twilio.SignatureHeader, twiliotest.Sign(ws.URL+"/twilio/sms", form))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("tampered form: %v %v", resp.Status, err)
	}
}

func TestPressAndStatus(t *testing.T) {
	tw := twiliotest.New(t)
	ws := newWebhookServer(t)
	api(t, tw, "Calls.json", twiliotest.AuthToken, url.Values{
		"To": {"+15551230001"}, "From": {twiliotest.From}, "StatusCallback": {ws.URL + "/twilio/status"},
		"Twiml": {twilio.GatherTwiML("Press 1", ws.URL+"/twilio/gather?page=p1&sig=x")},
	})
	call := tw.WaitCalls(t, 1, time.Second)[0]
	if resp := tw.Press(t, call, "1"); resp.StatusCode != 200 {
		t.Fatalf("Press: %d", resp.StatusCode)
	}
	g := ws.form("/twilio/gather")
	digits, callSid, person := twilio.ParseGather(g)
	if digits != "1" || callSid != call.Sid || person != "+15551230001" || g.Get("From") != twiliotest.From {
		t.Errorf("ParseGather = %q %q %q (form %v)", digits, callSid, person, g)
	}

	tw.Status(t, call.StatusCallback, call.Sid, "completed")
	sid, status, code := twilio.ParseStatus(ws.form("/twilio/status"))
	if sid != call.Sid || status != "completed" || code != "" {
		t.Errorf("call status = %q %q %q", sid, status, code)
	}

	status2, body := api(t, tw, "Messages.json", twiliotest.AuthToken, url.Values{"To": {"+15551230001"}, "From": {twiliotest.From}, "Body": {"x"}})
	if status2 != 201 {
		t.Fatal(status2)
	}
	msg := tw.WaitMessages(t, 1, time.Second)[0]
	if msg.Sid != body["sid"] {
		t.Errorf("WaitMessages = %+v", msg)
	}
	tw.StatusWithError(t, ws.URL+"/twilio/status", msg.Sid, "undelivered", "30003")
	f := ws.form("/twilio/status")
	sid, status, code = twilio.ParseStatus(f)
	if sid != msg.Sid || status != "undelivered" || code != "30003" || f.Get("To") != "+15551230001" {
		t.Errorf("message status = %q %q %q (%v)", sid, status, code, f)
	}
}

func TestWaitMessagesWakesUp(t *testing.T) {
	tw := twiliotest.New(t)
	go func() {
		time.Sleep(50 * time.Millisecond)
		form := url.Values{"To": {"+15551230001"}, "From": {twiliotest.From}, "Body": {"x"}}
		req, _ := http.NewRequest(http.MethodPost, tw.URL+"/2010-04-01/Accounts/"+twiliotest.AccountSID+"/Messages.json", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(twiliotest.AccountSID, twiliotest.AuthToken)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if m := tw.WaitMessages(t, 1, 5*time.Second); len(m) != 1 {
		t.Errorf("WaitMessages = %+v", m)
	}
}
