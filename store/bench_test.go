package store_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	"tocsin"
	"tocsin/store"
	"tocsin/store/storetest"
)

// BenchmarkIngest measures committing one new-incident alert per call
// (one transaction: payload, incident, alert, timeline, one notify job per
// channel), from parallel goroutines.
func BenchmarkIngest(b *testing.B) {
	for _, kind := range storetest.Kinds() {
		b.Run(kind.Name, func(b *testing.B) {
			db := storetest.Open(b, kind.URL(b), store.Options{Policy: tocsin.Policy{
				Channels: []string{"webhook"}, AutoResolve: true, Impacts: tocsin.DefaultImpacts(),
			}})
			var n atomic.Int64
			ctx := context.Background()
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					a := storetest.NewAlert("bench-"+strconv.FormatInt(i, 10), "fp", tocsin.AlertFiring, "critical")
					if _, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{a}, tocsin.IngestOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
		})
	}
}
