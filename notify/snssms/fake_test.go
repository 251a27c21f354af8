package snssms_test

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// Test credentials the fake and the tests share.
const (
	accessKeyID     = "AKIDTOCSINSNSTEST"
	secretAccessKey = "tocsin-sns-test-secret-access-key"
)

// publish is one Publish request the fake accepted.
type publish struct {
	PhoneNumber string
	Message     string
	// Attributes maps a message attribute's name to "DataType:StringValue".
	Attributes map[string]string
	// Region and AccessKeyID are read from the SigV4 credential scope.
	Region      string
	AccessKeyID string
}

// fault is how the fake fails a request.
type fault struct {
	Status     int
	Code       string
	RetryAfter string
	Hang       bool
}

// fakeSNS speaks SNS's Query protocol for Publish: POST / with a form
// (Action=Publish, Version, PhoneNumber, Message,
// MessageAttributes.entry.N.Name/Value.DataType/Value.StringValue), an
// XML PublishResponse, and ErrorResponse documents for errors.
type fakeSNS struct {
	*httptest.Server
	done chan struct{}

	mu        sync.Mutex
	published []publish
	faults    []fault
	requests  int
}

func newFakeSNS(t *testing.T, tls bool) *fakeSNS {
	f := &fakeSNS{done: make(chan struct{})}
	if tls {
		f.Server = httptest.NewTLSServer(http.HandlerFunc(f.serve))
	} else {
		f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	}
	t.Cleanup(func() {
		close(f.done)
		f.Close()
	})
	return f
}

func (f *fakeSNS) failNext(n int, ft fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.faults = append(f.faults, ft)
	}
}

func (f *fakeSNS) calls() []publish {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]publish(nil), f.published...)
}

func (f *fakeSNS) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

var (
	sigV4 = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/\d{8}/([^/]+)/sns/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$`)
	e164  = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	entry = regexp.MustCompile(`^MessageAttributes\.entry\.(\d+)\.Name$`)
)

func (f *fakeSNS) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	var ft *fault
	if len(f.faults) > 0 {
		ft = &f.faults[0]
		f.faults = f.faults[1:]
	}
	f.mu.Unlock()
	if ft != nil {
		if ft.Hang {
			select {
			case <-r.Context().Done():
			case <-f.done:
			}
			return
		}
		if ft.RetryAfter != "" {
			w.Header().Set("Retry-After", ft.RetryAfter)
		}
		writeError(w, ft.Status, ft.Code, "injected fault")
		return
	}
	m := sigV4.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil || r.Header.Get("X-Amz-Date") == "" {
		writeError(w, 403, "MissingAuthenticationToken", "Request is missing a SigV4 Authentication Token for sns")
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		writeError(w, 400, "InvalidAction", r.Method+" "+r.URL.Path)
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, 400, "MalformedQueryString", err.Error())
		return
	}
	form := r.PostForm
	if form.Get("Action") != "Publish" || form.Get("Version") != "2010-03-31" {
		writeError(w, 400, "InvalidAction", "The action "+form.Get("Action")+" is not valid for this endpoint.")
		return
	}
	p := publish{PhoneNumber: form.Get("PhoneNumber"), Message: form.Get("Message"), Attributes: map[string]string{}, AccessKeyID: m[1], Region: m[2]}
	for k := range form {
		if e := entry.FindStringSubmatch(k); e != nil {
			prefix := "MessageAttributes.entry." + e[1] + ".Value."
			p.Attributes[form.Get(k)] = form.Get(prefix+"DataType") + ":" + form.Get(prefix+"StringValue")
		}
	}
	switch t := p.Attributes["AWS.SNS.SMS.SMSType"]; {
	case !e164.MatchString(p.PhoneNumber):
		writeError(w, 400, "InvalidParameter", "Invalid parameter: PhoneNumber Reason: "+p.PhoneNumber+" is not valid to publish to")
		return
	case p.Message == "":
		writeError(w, 400, "InvalidParameter", "Invalid parameter: Empty message")
		return
	case t != "" && t != "String:Transactional" && t != "String:Promotional":
		writeError(w, 400, "InvalidParameter", "Invalid parameter: SMSType "+t)
		return
	case p.PhoneNumber == "+15550000999":
		writeError(w, 400, "OptedOut", "Phone number is opted out")
		return
	}
	f.mu.Lock()
	f.published = append(f.published, p)
	id := fmt.Sprintf("%08d-0000-4000-8000-000000000000", len(f.published))
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>%s</MessageId></PublishResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></PublishResponse>`, id)
}

// writeError answers in the Query protocol's error dialect.
func writeError(w http.ResponseWriter, status int, code, message string) {
	if code == "" {
		switch {
		case status == 429:
			code = "Throttling"
		case status >= 500:
			code = "InternalError"
		case status == 403:
			code = "AuthorizationError"
		default:
			code = "InvalidParameter"
		}
	}
	kind := "Sender"
	if status >= 500 {
		kind = "Receiver"
	}
	var msg strings.Builder
	xml.EscapeText(&msg, []byte(message))
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>req-err</RequestId></ErrorResponse>`, kind, code, msg.String())
}

// setEnv points the SDK's default chain at the test credentials for the
// rest of t: static keys, region us-east-1, empty shared files, no
// instance metadata, no CA bundle or endpoint from the environment.
func setEnv(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"config", "credentials"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": accessKeyID, "AWS_SECRET_ACCESS_KEY": secretAccessKey, "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CA_BUNDLE": "", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_SNS": "",
	} {
		t.Setenv(k, v)
	}
}
