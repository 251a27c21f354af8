package ingest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/ingest"
)

// now is the receive time used throughout the tests.
var now = time.Date(2024, 5, 1, 10, 1, 0, 0, time.UTC)

// readFile returns a file from testdata.
func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkResult checks what every decoder promises, whatever the input: no
// panic (the caller's job), an EINVALID *tocsin.Error on failure, and on
// success 1 to MaxAlertsPerRequest alerts of the given source (any source
// when source is "") that each have a dedup key, a fingerprint, a title, a
// valid status, valid JSON as Raw, and that marshal.
func checkResult(source string, alerts []*tocsin.Alert, err error) error {
	if err != nil {
		var e *tocsin.Error
		if !errors.As(err, &e) || e.Code != tocsin.EINVALID || e.Message == "" {
			return fmt.Errorf("error %#v is not an EINVALID *tocsin.Error", err)
		}
		if alerts != nil {
			return fmt.Errorf("alerts %v returned with error %v", alerts, err)
		}
		return nil
	}
	if len(alerts) == 0 || len(alerts) > ingest.MaxAlertsPerRequest {
		return fmt.Errorf("%d alerts", len(alerts))
	}
	for i, a := range alerts {
		switch {
		case a == nil:
			return fmt.Errorf("alert %d is nil", i)
		case a.Source == "" || (source != "" && a.Source != source):
			return fmt.Errorf("alert %d: Source %q, want %q", i, a.Source, source)
		case a.DedupKey == "":
			return fmt.Errorf("alert %d: empty DedupKey", i)
		case a.Fingerprint == "":
			return fmt.Errorf("alert %d: empty Fingerprint", i)
		case strings.TrimSpace(a.Title) == "":
			return fmt.Errorf("alert %d: empty Title", i)
		case a.Status != tocsin.AlertFiring && a.Status != tocsin.AlertResolved:
			return fmt.Errorf("alert %d: Status %q", i, a.Status)
		case a.Severity != strings.ToLower(a.Severity):
			return fmt.Errorf("alert %d: Severity %q is not lower case", i, a.Severity)
		case !json.Valid(a.Raw):
			return fmt.Errorf("alert %d: Raw is not valid JSON: %q", i, a.Raw)
		}
		for _, l := range a.Links {
			if !strings.HasPrefix(l.URL, "http://") && !strings.HasPrefix(l.URL, "https://") {
				return fmt.Errorf("alert %d: link %q is not http(s)", i, l.URL)
			}
		}
		if _, err := json.Marshal(a); err != nil {
			return fmt.Errorf("alert %d does not marshal: %v", i, err)
		}
	}
	return nil
}

// decodeOK decodes body and fails the test on an error or a broken invariant.
func decodeOK(t *testing.T, decode ingest.Decoder, source string, body []byte) []*tocsin.Alert {
	t.Helper()
	alerts, err := decode(body, now)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if err := checkResult(source, alerts, nil); err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		if !a.ReceivedAt.Equal(now) {
			t.Errorf("ReceivedAt = %v, want %v", a.ReceivedAt, now)
		}
	}
	return alerts
}

// wantInvalid checks that err is an EINVALID *tocsin.Error whose message
// contains want.
func wantInvalid(t *testing.T, alerts []*tocsin.Alert, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %q; alerts: %+v", want, alerts)
	}
	if code := tocsin.ErrorCode(err); code != tocsin.EINVALID {
		t.Fatalf("code %q, want %q (%v)", code, tocsin.EINVALID, err)
	}
	if msg := tocsin.ErrorMessage(err); !strings.Contains(msg, want) {
		t.Fatalf("message %q does not contain %q", msg, want)
	}
}

// errorCase is an input a decoder must reject, and a part of the message.
type errorCase struct {
	name, body, want string
}

func runErrorCases(t *testing.T, decode ingest.Decoder, cases []errorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alerts, err := decode([]byte(tc.body), now)
			wantInvalid(t, alerts, err, tc.want)
		})
	}
}

// commonErrors are rejected by every decoder.
var commonErrors = []errorCase{
	{"empty", "", "empty body"},
	{"blank", " \n\t ", "empty body"},
	{"not json", "hello", "invalid JSON at offset 1: invalid character 'h'"},
	{"truncated", `{"a":`, "invalid JSON at offset 5"},
}

func link(t *testing.T, a *tocsin.Alert, text string) string {
	t.Helper()
	for _, l := range a.Links {
		if l.Text == text {
			return l.URL
		}
	}
	t.Errorf("no link %q in %+v", text, a.Links)
	return ""
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestLookup(t *testing.T) {
	for _, source := range []string{"alertmanager", "grafana", "sentry", "pagerduty", "generic"} {
		d, ok := ingest.Lookup(source)
		if !ok || d == nil {
			t.Errorf("Lookup(%q) = %v, %v", source, d, ok)
		}
	}
	for _, source := range []string{"cloudwatch", "json", "", "Alertmanager"} {
		if _, ok := ingest.Lookup(source); ok {
			t.Errorf("Lookup(%q) found a decoder", source)
		}
	}
	d, _ := ingest.Lookup("pagerduty")
	alerts := decodeOK(t, d, tocsin.SourcePagerDuty, readFile(t, "pagerduty_trigger.json"))
	if alerts[0].Fingerprint != "srv01/mysql-disk" {
		t.Errorf("Lookup(pagerduty) decodes to %+v", alerts[0])
	}
}
