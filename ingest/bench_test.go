package ingest_test

import (
	"os"
	"testing"
	"time"

	"tocsin/ingest"
)

// BenchmarkAlertmanager measures decoding one Alertmanager webhook (the
// testdata sample) into alerts: the intake's JSON share of CPU.
func BenchmarkAlertmanager(b *testing.B) {
	body, err := os.ReadFile("testdata/alertmanager_firing.json")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for range b.N {
		if _, err := ingest.Alertmanager(body, now); err != nil {
			b.Fatal(err)
		}
	}
}
