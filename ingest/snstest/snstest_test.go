package snstest_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"tocsin/ingest"
	"tocsin/ingest/snstest"
)

const topic = "arn:aws:sns:eu-west-1:123456789012:alarms"

// roundTrip sends m through JSON and ParseSNS, as a handler receives it.
func roundTrip(t *testing.T, m *ingest.SNSMessage) *ingest.SNSMessage {
	t.Helper()
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ingest.ParseSNS(body)
	if err != nil {
		t.Fatalf("ParseSNS: %v", err)
	}
	return got
}

func TestBuildersVerify(t *testing.T) {
	p := snstest.NewPKI(t)
	if snstest.NewPKI(t) != p {
		t.Error("NewPKI made a second PKI")
	}
	s := snstest.NewServer(t, p)
	v := s.Verifier(p, nil)
	ctx := context.Background()

	alarm := `{"AlarmName":"db-cpu","NewStateValue":"ALARM","Region":"EU (Ireland)"}`
	for _, version := range []string{"1", "2"} {
		m := snstest.Notification(s, topic, alarm, time.Now(), version)
		if m.Subject != `ALARM: "db-cpu" in EU (Ireland)` {
			t.Errorf("Subject %q", m.Subject)
		}
		snstest.Sign(t, p.LeafKey, m)
		if err := v.Verify(ctx, roundTrip(t, m)); err != nil {
			t.Errorf("notification, version %s: %v", version, err)
		}
		m.Message = `{"AlarmName":"other"}`
		if err := v.Verify(ctx, m); err == nil {
			t.Errorf("tampered notification, version %s, verified", version)
		}
	}
	if m := snstest.Notification(s, topic, "plain text", time.Now(), "2"); m.Subject != "" {
		t.Errorf("Subject of a plain message: %q", m.Subject)
	}
	if a, b := snstest.Notification(s, topic, alarm, time.Now(), "2"), snstest.Notification(s, topic, alarm, time.Now(), "2"); a.MessageId == b.MessageId {
		t.Errorf("two notifications share MessageId %s", a.MessageId)
	}

	c := snstest.SubscriptionConfirmation(s, topic, time.Now(), "2")
	snstest.Sign(t, p.LeafKey, c)
	c = roundTrip(t, c)
	if err := v.Verify(ctx, c); err != nil {
		t.Fatalf("confirmation: %v", err)
	}
	if err := v.Confirm(ctx, c); err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	if n, tokens := s.Confirms.Load(), s.ConfirmedTokens(); n != 1 || len(tokens) != 1 || tokens[0] != c.Token {
		t.Errorf("confirms %d, tokens %v; want 1 and [%s]", n, tokens, c.Token)
	}
	if n := s.CertFetches.Load(); n != 1 {
		t.Errorf("certificate fetched %d times, want 1 (cached)", n)
	}
}
