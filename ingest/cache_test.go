package ingest_test

import (
	"os"
	"reflect"
	"testing"
	"time"

	"tocsin"
	"tocsin/ingest"
)

// TestDecodeCache checks that a body is decoded from the cache from its
// third sighting on (the second decodes it twice to check the time does
// not matter), with the new ReceivedAt, and a copy the caller may change;
// that another body, another source, a failing body and a decoding that
// depends on the time are decoded every time.
func TestDecodeCache(t *testing.T) {
	body, err := os.ReadFile("testdata/alertmanager_firing.json")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	// stamped sets StartsAt to the time received, as a decoder of a
	// sender that sends no time would.
	stamped := func(b []byte, now time.Time) ([]*tocsin.Alert, error) {
		alerts, err := ingest.Alertmanager(b, now)
		for _, a := range alerts {
			a.StartsAt = now
		}
		return alerts, err
	}
	for _, tc := range []struct {
		name    string
		decode  ingest.Decoder
		bodies  [][]byte
		sources []string
		calls   []int // decodes per sighting
		wantErr bool
	}{
		{"same body", ingest.Alertmanager, [][]byte{body, body, body, body}, []string{"am", "am", "am", "am"}, []int{1, 2, 0, 0}, false},
		{"another source", ingest.Alertmanager, [][]byte{body, body, body}, []string{"am", "am", "grafana"}, []int{1, 2, 1}, false},
		{"body changed", ingest.Alertmanager, [][]byte{body, body, append(body[:len(body):len(body)], ' ')}, []string{"am", "am", "am"}, []int{1, 2, 1}, false},
		{"time matters", stamped, [][]byte{body, body, body, body}, []string{"am", "am", "am", "am"}, []int{1, 2, 2, 2}, false},
		{"bad body", ingest.Alertmanager, [][]byte{[]byte(`{"alerts":[]}`), []byte(`{"alerts":[]}`), []byte(`{"alerts":[]}`)}, []string{"am", "am", "am"}, []int{1, 1, 1}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cache ingest.DecodeCache
			for i, b := range tc.bodies {
				calls := 0
				counted := func(b []byte, now time.Time) ([]*tocsin.Alert, error) { calls++; return tc.decode(b, now) }
				now := t0.Add(time.Duration(i) * time.Minute)
				got, err := cache.Decode(tc.sources[i], counted, b, now)
				if calls != tc.calls[i] {
					t.Fatalf("sighting %d: %d decodes; want %d", i+1, calls, tc.calls[i])
				}
				want, wantErr := tc.decode(b, now)
				if (err != nil) != tc.wantErr || (wantErr != nil) != tc.wantErr {
					t.Fatalf("sighting %d: error %v (direct %v); want error %v", i+1, err, wantErr, tc.wantErr)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("sighting %d: %+v; want %+v", i+1, got, want)
				}
				// The caller's changes do not reach the next hit.
				for _, a := range got {
					a.Title, a.Labels["alertname"], a.ID = "changed", "changed", "id"
				}
			}
		})
	}
}
