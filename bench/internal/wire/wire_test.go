package wire

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"tocsin/ingest"
)

func TestID(t *testing.T) {
	id := ID("ab-cd12", 42)
	if id != "ab-cd12-42" {
		t.Fatalf("ID = %q", id)
	}
	if got := string(AppendID([]byte("x"), "ab-cd12", 42)); got != "x"+id {
		t.Fatalf("AppendID = %q", got)
	}
	run, seq, ok := ParseID(id)
	if !ok || run != "ab-cd12" || seq != 42 {
		t.Fatalf("ParseID = %q %d %v", run, seq, ok)
	}
	for _, bad := range []string{"", "-1", "abc", "abc-", "abc-x", "abc-+1", "abc-1 "} {
		if _, _, ok := ParseID(bad); ok {
			t.Errorf("ParseID(%q) ok", bad)
		}
	}
}

func TestAppendAlert(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	body := AppendAlert(nil, "abcd1234", 42, at)
	if !json.Valid(body) {
		t.Fatalf("invalid JSON: %s", body)
	}
	alerts, err := ingest.Alertmanager(body, time.Now())
	if err != nil {
		t.Fatalf("tocsin's decoder rejects it: %v\n%s", err, body)
	}
	if len(alerts) != 1 {
		t.Fatalf("%d alerts", len(alerts))
	}
	a := alerts[0]
	if a.Labels[LabelID] != "abcd1234-42" || a.Labels[LabelSentNS] != strconv.FormatInt(at.UnixNano(), 10) {
		t.Fatalf("labels = %v", a.Labels)
	}
	if a.DedupKey != `http://am {}:{bench_id="abcd1234-42"}` || a.Fingerprint != "abcd1234-42" || !a.StartsAt.Equal(at) || a.Resolved() {
		t.Fatalf("alert = %+v", a)
	}
	other, _ := ingest.Alertmanager(AppendAlert(nil, "abcd1234", 43, at), time.Now())
	if other[0].DedupKey == a.DedupKey {
		t.Fatal("two alerts share a dedup key")
	}
}
