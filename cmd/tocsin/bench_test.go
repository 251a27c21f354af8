package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"tocsin/apptest"
	"tocsin/config"
	"tocsin/store/storetest"
)

// BenchmarkIntakeAlertmanager measures the whole intake path over HTTP —
// decode, commit (group commit on SQLite), answer — with the webhook
// channel delivering to a local sink meanwhile. Each alert opens an incident.
func BenchmarkIntakeAlertmanager(b *testing.B) {
	for _, kind := range storetest.Kinds() {
		b.Run(kind.Name, func(b *testing.B) {
			ts := apptest.Start(b, kind.URL(b), func(c *config.Config) { c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false })
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			var n atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					req, _ := http.NewRequest("POST", ts.URL+"/api/v1/alerts/alertmanager", strings.NewReader(apptest.AMPayload(fmt.Sprintf("bench-%d", i), "firing", "x")))
					req.Header.Set("Authorization", "Bearer "+apptest.IngestToken)
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					// Read to EOF before closing, or the transport drops the
					// connection and every request dials a new one.
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err != nil {
						b.Fatal(err)
					}
					if resp.StatusCode != http.StatusCreated {
						b.Fatalf("status %d", resp.StatusCode)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
		})
	}
}
