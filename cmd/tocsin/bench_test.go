package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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

// TestWebhookDeliveriesReuseTheConnection: the webhook channel's second
// delivery goes over the connection its first one opened (a new TCP and
// TLS handshake per delivery would cost more than the delivery), through
// the whole path: intake, the outbox, the worker, the channel.
func TestWebhookDeliveriesReuseTheConnection(t *testing.T) {
	var mu sync.Mutex
	var conns, requests int
	hook := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		requests++
		mu.Unlock()
	}))
	hook.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	hook.Start()
	t.Cleanup(hook.Close)
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) {
		c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false
		c.Alert.Webhook.URL = hook.URL + "/hook"
	})
	for i := 1; i <= 2; i++ {
		if code, body := ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, apptest.AMPayload(fmt.Sprintf("reuse-%d", i), "firing", "x")); code != http.StatusCreated {
			t.Fatalf("alert %d: %d %v", i, code, body)
		}
		apptest.Eventually(t, fmt.Sprintf("delivery %d", i), func() bool { mu.Lock(); defer mu.Unlock(); return requests == i })
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 1 {
		t.Fatalf("%d connections for %d deliveries; want 1", conns, requests)
	}
}

// BenchmarkIntakeRepeat measures the whole path of Alertmanager's
// repeat_interval over HTTP: one group, opened once, then re-sent
// unchanged from parallel clients (each an unchanged repeat: counted,
// nothing else).
func BenchmarkIntakeRepeat(b *testing.B) {
	for _, kind := range storetest.Kinds() {
		b.Run(kind.Name, func(b *testing.B) {
			ts := apptest.Start(b, kind.URL(b), func(c *config.Config) { c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false })
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			body := apptest.AMPayload("bench-repeat", "firing", "x")
			post := func(want int) {
				req, _ := http.NewRequest("POST", ts.URL+"/api/v1/alerts/alertmanager", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+apptest.IngestToken)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil {
					b.Fatal(err)
				}
				if resp.StatusCode != want {
					b.Fatalf("status %d, want %d", resp.StatusCode, want)
				}
			}
			post(http.StatusCreated)
			b.SetParallelism(32)
			b.ResetTimer()
			start := cpuTime(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					post(http.StatusOK)
				}
			})
			// The process's CPU per request, the client's included: on a
			// shared machine, steadier than wall time.
			b.ReportMetric(float64((cpuTime(b)-start).Microseconds())/float64(b.N), "cpu-µs/op")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
		})
	}
}

// cpuTime is the CPU time this process has used (user and system).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
