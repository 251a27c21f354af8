package ingest_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tocsin"
	"tocsin/ingest"
)

// edgeSeeds are small inputs that exercise the error paths.
var edgeSeeds = []string{
	``, ` `, `null`, `0`, `"x"`, `[]`, `[null]`, `[[]]`, `{}`, `{"alerts":null}`,
	`{"receiver":1,"alerts":[{"labels":{"a":{"b":[1,2]}},"startsAt":1e300,"endsAt":"9999-12-31T23:59:59Z"}]}`,
	`{"alerts":[{"startsAt":"-0001-01-01T00:00:00Z","endsAt":-1}],"status":"resolved"}`,
	`{"AlarmName":"x","StateChangeTime":"2024-05-01T10:00:00.000+2500","AlarmArn":"arn:aws:cloudwatch"}`,
	`{"data":{"event":{"tags":[[1,2,3],{"key":null}],"timestamp":"NaN"}}}`,
	`{"routing_key":"r","event_action":"trigger","payload":{"summary":"s","source":"s","severity":"info","timestamp":"Infinity","custom_details":[1]}}`,
	`{"title":"t","links":[{"url":"https://x.example.com","text":null}]}`,
	`[{"title":"t"},{"receiver":"r","alerts":[{}]}]`,
	`{"Type":"Notification","MessageId":"1","TopicArn":"a","Timestamp":"2024-05-01T10:00:00Z","Message":"m","SignatureVersion":"2","SigningCertURL":"https://sns.us-east-1.amazonaws.com/x.pem"}`,
	"{\"title\":\"\xff\xfe\"}",
}

// addSeeds seeds f with every testdata file and the edge seeds.
func addSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range edgeSeeds {
		f.Add([]byte(s))
	}
}

// fuzzDecoder checks that decode never panics and keeps checkResult's promises.
func fuzzDecoder(f *testing.F, source string, decode ingest.Decoder) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		alerts, err := decode(body, now)
		if err := checkResult(source, alerts, err); err != nil {
			t.Fatalf("%v\ninput: %q", err, body)
		}
	})
}

func FuzzAlertmanager(f *testing.F) { fuzzDecoder(f, tocsin.SourceAlertmanager, ingest.Alertmanager) }
func FuzzGrafana(f *testing.F)      { fuzzDecoder(f, tocsin.SourceGrafana, ingest.Grafana) }
func FuzzCloudWatch(f *testing.F)   { fuzzDecoder(f, tocsin.SourceCloudWatch, ingest.CloudWatchAlarm) }
func FuzzSentry(f *testing.F)       { fuzzDecoder(f, tocsin.SourceSentry, ingest.Sentry) }
func FuzzPagerDuty(f *testing.F)    { fuzzDecoder(f, tocsin.SourcePagerDuty, ingest.PagerDuty) }
func FuzzGeneric(f *testing.F)      { fuzzDecoder(f, tocsin.SourceGeneric, ingest.Generic) }
func FuzzDetect(f *testing.F)       { fuzzDecoder(f, "", ingest.Detect) }

// FuzzParseSNS checks that ParseSNS never panics, that what it accepts has
// a known Type and its required fields, and that Verify rejects it without
// panicking or touching the network.
func FuzzParseSNS(f *testing.F) {
	addSeeds(f)
	v := &ingest.SNSVerifier{
		AllowHost: func(string) bool { return false },
		Now:       func() time.Time { return now },
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ingest.ParseSNS(body)
		if err != nil {
			if tocsin.ErrorCode(err) != tocsin.EINVALID || m != nil {
				t.Fatalf("ParseSNS(%q) = %v, %v", body, m, err)
			}
			return
		}
		switch m.Type {
		case "Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation":
		default:
			t.Fatalf("ParseSNS(%q) accepted Type %q", body, m.Type)
		}
		if m.MessageId == "" || m.TopicArn == "" || m.Timestamp == "" {
			t.Fatalf("ParseSNS(%q) accepted %+v", body, m)
		}
		if err := v.Verify(context.Background(), m); tocsin.ErrorCode(err) != tocsin.EUNAUTHORIZED {
			t.Fatalf("Verify(%+v) = %v, want EUNAUTHORIZED", m, err)
		}
	})
}

// FuzzPagerDutyChange checks that a PagerDuty change event is decoded
// without panicking, and that what it accepts a change store takes.
func FuzzPagerDutyChange(f *testing.F) {
	f.Add([]byte(`{"routing_key":"k","payload":{"summary":"Deploy v42","source":"ci","custom_details":{"service":"checkout"}},"links":[{"href":"https://ci.example.com/1"}]}`))
	f.Add([]byte(`{"payload":{"summary":7,"timestamp":"yesterday"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := ingest.PagerDutyChange(body, "", now)
		if err != nil {
			if code := tocsin.ErrorCode(err); code != tocsin.EINVALID && code != tocsin.ETOOLARGE {
				t.Fatalf("PagerDutyChange(%q): code %s (%v)", body, code, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("PagerDutyChange(%q) accepted what the store refuses: %v", body, err)
		}
	})
}
