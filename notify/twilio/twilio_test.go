package twilio_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"tocsin/config"
	"tocsin/notify"
	"tocsin/notify/twilio"
	"tocsin/notify/twiliotest"
)

func newProvider(t *testing.T, apiURL string, edit func(*config.Twilio)) *twilio.Provider {
	t.Helper()
	cfg := config.Twilio{
		AccountSID: twiliotest.AccountSID,
		AuthToken:  twiliotest.AuthToken,
		From:       twiliotest.From,
		APIURL:     apiURL,
		Timeout:    config.Duration(2 * time.Second),
	}
	if edit != nil {
		edit(&cfg)
	}
	p, err := twilio.New(cfg, twilio.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// capture is a server that records one request and answers with status and body.
func capture(t *testing.T, status int, body string) (srv *httptest.Server, got func() (*http.Request, url.Values)) {
	t.Helper()
	var req *http.Request
	var form url.Values
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		req, form = r, r.PostForm
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() (*http.Request, url.Values) { return req, form }
}

func TestSendSMSRequest(t *testing.T) {
	srv, got := capture(t, http.StatusCreated, `{"sid": "SM0123", "status": "queued"}`)
	p := newProvider(t, srv.URL+"/", nil)
	id, err := p.SendSMS(context.Background(), &notify.SMS{To: "+15551230001", Body: "Incident 42 opened", StatusCallback: "https://tocsin.example/twilio/status"})
	if err != nil || id != "SM0123" {
		t.Fatalf("SendSMS = %q, %v", id, err)
	}
	r, form := got()
	if r.Method != http.MethodPost || r.URL.Path != "/2010-04-01/Accounts/"+twiliotest.AccountSID+"/Messages.json" {
		t.Errorf("request %s %s", r.Method, r.URL.Path)
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != twiliotest.AccountSID || pass != twiliotest.AuthToken {
		t.Errorf("basic auth %q %q %v", user, pass, ok)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type %q", ct)
	}
	want := url.Values{"To": {"+15551230001"}, "From": {twiliotest.From}, "Body": {"Incident 42 opened"}, "StatusCallback": {"https://tocsin.example/twilio/status"}}
	if form.Encode() != want.Encode() {
		t.Errorf("form %v, want %v", form, want)
	}
	if p.Name() != "twilio" {
		t.Errorf("Name = %q", p.Name())
	}
}

func TestSendSMSThroughFake(t *testing.T) {
	tw := twiliotest.New(t)
	p := newProvider(t, tw.URL, nil)
	long := strings.Repeat("é", 2000)
	for _, body := range []string{"Incident 42 opened: db down", long} {
		if _, err := p.SendSMS(context.Background(), &notify.SMS{To: "+15551230001", Body: body}); err != nil {
			t.Fatalf("SendSMS: %v", err)
		}
	}
	msgs := tw.Messages()
	if len(msgs) != 2 || msgs[0].Body != "Incident 42 opened: db down" || msgs[0].From != twiliotest.From || msgs[0].StatusCallback != "" {
		t.Fatalf("messages = %+v", msgs)
	}
	if n := len([]rune(msgs[1].Body)); n != twilio.MaxBodyLength || !strings.HasSuffix(msgs[1].Body, "…") {
		t.Errorf("long body has %d characters", n)
	}
}

func TestMessagingService(t *testing.T) {
	srv, got := capture(t, http.StatusCreated, `{"sid": "SM1"}`)
	p := newProvider(t, srv.URL, func(c *config.Twilio) { c.From = "MG0123456789abcdef0123456789abcdef" })
	if _, err := p.SendSMS(context.Background(), &notify.SMS{To: "+15551230001", Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	if _, form := got(); form.Get("MessagingServiceSid") != "MG0123456789abcdef0123456789abcdef" || form.Has("From") {
		t.Errorf("form %v", form)
	}
	_, err := p.Call(context.Background(), &notify.Call{To: "+15551230001", Say: "hi"})
	if permanent, _ := notify.Classify(err); err == nil || !permanent {
		t.Errorf("call from a messaging service: %v", err)
	}
}

func TestCall(t *testing.T) {
	tw := twiliotest.New(t)
	p := newProvider(t, tw.URL, nil)
	gather := "https://tocsin.example/twilio/gather?page=p1&sig=a+b"
	say := `Incident 42 <db> & "payments": press 1 to acknowledge.`
	id, err := p.Call(context.Background(), &notify.Call{To: "+15551230001", Say: say, GatherURL: gather, StatusCallback: "https://tocsin.example/twilio/status"})
	if err != nil {
		t.Fatal(err)
	}
	calls := tw.Calls()
	if len(calls) != 1 {
		t.Fatalf("calls = %+v", calls)
	}
	c := calls[0]
	if c.Sid != id || !strings.HasPrefix(id, "CA") || c.To != "+15551230001" || c.From != twiliotest.From ||
		c.GatherURL != gather || c.Say != say || c.StatusCallback != "https://tocsin.example/twilio/status" {
		t.Errorf("call = %+v", c)
	}
	if c.Twiml != twilio.GatherTwiML(say, gather) {
		t.Errorf("Twiml = %s", c.Twiml)
	}
}

func TestCallRequest(t *testing.T) {
	srv, got := capture(t, http.StatusCreated, `{"sid": "CA0123", "status": "queued"}`)
	p := newProvider(t, srv.URL, nil)
	id, err := p.Call(context.Background(), &notify.Call{To: "+15551230001", Say: "hi", GatherURL: "https://g.example/"})
	if err != nil || id != "CA0123" {
		t.Fatalf("Call = %q, %v", id, err)
	}
	r, form := got()
	if r.URL.Path != "/2010-04-01/Accounts/"+twiliotest.AccountSID+"/Calls.json" {
		t.Errorf("path %s", r.URL.Path)
	}
	if _, pass, _ := r.BasicAuth(); pass != twiliotest.AuthToken {
		t.Error("no basic auth")
	}
	want := url.Values{"To": {"+15551230001"}, "From": {twiliotest.From}, "Twiml": {twilio.GatherTwiML("hi", "https://g.example/")}}
	if form.Encode() != want.Encode() {
		t.Errorf("form %v, want %v", form, want)
	}
}

func TestLongSayFitsTwimlLimit(t *testing.T) {
	tw := twiliotest.New(t)
	p := newProvider(t, tw.URL, nil)
	for _, say := range []string{strings.Repeat("a", 1900), strings.Repeat("<&> ", 3000)} {
		if _, err := p.Call(context.Background(), &notify.Call{To: "+15551230001", Say: say, GatherURL: "https://g.example/x?a=1&b=2"}); err != nil {
			t.Fatalf("Call with a %d-byte say: %v", len(say), err)
		}
	}
	for _, c := range tw.Calls() {
		if len(c.Twiml) > twilio.MaxTwimlLength || c.GatherURL != "https://g.example/x?a=1&b=2" || c.Say == "" {
			t.Errorf("Twiml of %d bytes, gather %q", len(c.Twiml), c.GatherURL)
		}
	}
}

func TestErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		name       string
		fault      twiliotest.Fault
		permanent  bool
		retryAfter time.Duration
		code       int
	}{
		{"429 with Retry-After", twiliotest.Fault{Status: 429, Code: 20429, RetryAfter: "7"}, false, 7 * time.Second, 20429},
		{"500", twiliotest.Fault{Status: 500}, false, 0, 20500},
		{"503 with Retry-After", twiliotest.Fault{Status: 503, Code: 20503, RetryAfter: "30"}, false, 30 * time.Second, 20503},
		{"invalid To", twiliotest.Fault{Status: 400, Code: 21211, Message: "Invalid 'To' Phone Number: +1555"}, true, 0, 21211},
		{"unsubscribed", twiliotest.Fault{Status: 400, Code: 21610, Message: "Attempt to send to unsubscribed recipient"}, true, 0, 21610},
		{"queue full", twiliotest.Fault{Status: 400, Code: 21611}, false, 0, 21611},
		{"401", twiliotest.Fault{Status: 401, Code: 20003, Message: "Authenticate"}, true, 0, 20003},
		{"403", twiliotest.Fault{Status: 403, Code: 20403}, true, 0, 20403},
		{"404", twiliotest.Fault{Status: 404}, true, 0, 20404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tw := twiliotest.New(t)
			p := newProvider(t, tw.URL, nil)
			for _, send := range []func() error{
				func() error {
					_, err := p.SendSMS(context.Background(), &notify.SMS{To: "+15551230001", Body: "x"})
					return err
				},
				func() error {
					_, err := p.Call(context.Background(), &notify.Call{To: "+15551230001", Say: "x"})
					return err
				},
			} {
				tw.FailNextWith(1, tc.fault)
				err := send()
				if err == nil {
					t.Fatal("no error")
				}
				permanent, after := notify.Classify(err)
				if permanent != tc.permanent || after != tc.retryAfter {
					t.Errorf("%v: permanent %v retry after %v, want %v %v", err, permanent, after, tc.permanent, tc.retryAfter)
				}
				var te *twilio.Error
				if !errors.As(err, &te) || te.Code != tc.code || te.Status != tc.fault.Status {
					t.Errorf("%v: twilio.Error %+v", err, te)
				}
				if tc.fault.Message != "" && !strings.Contains(err.Error(), tc.fault.Message) {
					t.Errorf("%v: message missing", err)
				}
			}
		})
	}
}

func TestErrorWithoutTwilioBody(t *testing.T) {
	srv, _ := capture(t, http.StatusBadGateway, "<html>Bad Gateway</html>")
	p := newProvider(t, srv.URL, nil)
	_, err := p.SendSMS(context.Background(), &notify.SMS{To: "+15551230001", Body: "x"})
	if permanent, _ := notify.Classify(err); err == nil || permanent || !strings.Contains(err.Error(), "HTTP 502: <html>Bad Gateway</html>") {
		t.Errorf("502: %v", err)
	}
	// Accepted, but the answer has no sid: retrying would send it twice.
	srv, _ = capture(t, http.StatusCreated, `{}`)
	p = newProvider(t, srv.URL, nil)
	_, err = p.SendSMS(context.Background(), &notify.SMS{To: "+15551230001", Body: "x"})
	if permanent, _ := notify.Classify(err); err == nil || !permanent {
		t.Errorf("no sid: %v", err)
	}
	// A redirect is not followed.
	srv, _ = capture(t, http.StatusFound, ``)
	p = newProvider(t, srv.URL, nil)
	_, err = p.SendSMS(context.Background(), &notify.SMS{To: "+15551230001", Body: "x"})
	if permanent, _ := notify.Classify(err); err == nil || !permanent {
		t.Errorf("redirect: %v", err)
	}
}

func TestRejectsEmptyMessages(t *testing.T) {
	tw := twiliotest.New(t)
	p := newProvider(t, tw.URL, nil)
	ctx := context.Background()
	for name, err := range map[string]error{
		"nil sms":    second(p.SendSMS(ctx, nil)),
		"no To":      second(p.SendSMS(ctx, &notify.SMS{Body: "x"})),
		"no Body":    second(p.SendSMS(ctx, &notify.SMS{To: "+15551230001", Body: " "})),
		"nil call":   second(p.Call(ctx, nil)),
		"call no To": second(p.Call(ctx, &notify.Call{Say: "x"})),
	} {
		if permanent, _ := notify.Classify(err); err == nil || !permanent {
			t.Errorf("%s: %v", name, err)
		}
	}
	if tw.Requests() != 0 {
		t.Errorf("%d requests sent", tw.Requests())
	}
}

func second(_ string, err error) error { return err }

func TestTimeoutOnHangingServer(t *testing.T) {
	tw := twiliotest.New(t)
	p := newProvider(t, tw.URL, func(c *config.Twilio) { c.Timeout = config.Duration(200 * time.Millisecond) })
	tw.FailNextWith(2, twiliotest.Fault{Hang: true})
	for _, send := range []func() error{
		func() error {
			return second(p.SendSMS(context.Background(), &notify.SMS{To: "+15551230001", Body: "x"}))
		},
		func() error { return second(p.Call(context.Background(), &notify.Call{To: "+15551230001", Say: "x"})) },
	} {
		start := time.Now()
		err := send()
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("gave up after %v", d)
		}
		if permanent, _ := notify.Classify(err); err == nil || permanent {
			t.Errorf("hang: %v (a timeout must be retryable)", err)
		}
		if strings.Contains(err.Error(), twiliotest.AuthToken) {
			t.Errorf("token in %v", err)
		}
	}
}

func TestOptionsTimeoutAndClient(t *testing.T) {
	tw := twiliotest.New(t)
	tw.FailNextWith(1, twiliotest.Fault{Hang: true})
	p, err := twilio.New(config.Twilio{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, From: twiliotest.From, APIURL: tw.URL},
		twilio.Options{Timeout: 150 * time.Millisecond, HTTPClient: &http.Client{}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := p.SendSMS(context.Background(), &notify.SMS{To: "+15551230001", Body: "x"}); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("Options.Timeout not applied: %v after %v", err, time.Since(start))
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	const token = "s3cretAuthTokenValue0123456789ab"
	basic := base64.StdEncoding.EncodeToString([]byte(twiliotest.AccountSID + ":" + token))
	// A server that echoes what it got, the Authorization header included.
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"code": 21211, "message": "bad request with `+r.Header.Get("Authorization")+` and `+token+`"}`)
	}))
	defer echo.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	tw := twiliotest.New(t)

	for name, apiURL := range map[string]string{"echo": echo.URL, "unreachable": closed, "401": tw.URL, "hang": tw.URL} {
		t.Run(name, func(t *testing.T) {
			if name == "hang" {
				tw.FailNextWith(1, twiliotest.Fault{Hang: true})
			}
			p := newProvider(t, apiURL, func(c *config.Twilio) {
				c.AuthToken = token
				c.Timeout = config.Duration(200 * time.Millisecond)
			})
			_, err := p.SendSMS(context.Background(), &notify.SMS{To: "+15551230001", Body: "x"})
			if err == nil {
				t.Fatal("no error")
			}
			if msg := err.Error(); strings.Contains(msg, token) || strings.Contains(msg, basic) {
				t.Errorf("secret in error: %v", err)
			}
		})
	}
	for _, cfg := range []config.Twilio{
		{AccountSID: twiliotest.AccountSID, AuthToken: token, From: "+1", APIURL: "ftp://" + token},
		{AccountSID: "AC/" + token, AuthToken: token, From: "+1"},
	} {
		if _, err := twilio.New(cfg, twilio.Options{}); err == nil || strings.Contains(err.Error(), token) {
			t.Errorf("New: %v", err)
		}
	}
}

func TestNewValidates(t *testing.T) {
	ok := config.Twilio{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, From: twiliotest.From}
	for key, edit := range map[string]func(*config.Twilio){
		"paging.twilio.account_sid": func(c *config.Twilio) { c.AccountSID = "" },
		"paging.twilio.auth_token":  func(c *config.Twilio) { c.AuthToken = "" },
		"paging.twilio.from":        func(c *config.Twilio) { c.From = " " },
		"paging.twilio.api_url":     func(c *config.Twilio) { c.APIURL = "api.twilio.com" },
	} {
		cfg := ok
		edit(&cfg)
		if _, err := twilio.New(cfg, twilio.Options{}); err == nil || !strings.HasPrefix(err.Error(), key+":") {
			t.Errorf("%s: %v", key, err)
		}
	}
	if _, err := twilio.New(ok, twilio.Options{}); err != nil {
		t.Errorf("default API URL: %v", err)
	}
}
