package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tocsin/apptest"
	"tocsin/config"
	"tocsin/store/storetest"
)

// pacedServer runs tocsin with only a webhook channel, to a receiver that
// takes delay per request, and ingest.pace.backlog 20.
func pacedServer(t *testing.T, delay time.Duration) (*apptest.Server, *atomic.Int32) {
	t.Helper()
	var delivered atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		delivered.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(hook.Close)
	backlog := 20
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) {
		c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false
		c.Alert.Webhook.URL = hook.URL + "/hook"
		c.Ingest.Pace = config.Pace{Backlog: &backlog, MaxWait: config.Duration(100 * time.Millisecond)}
	})
	return ts, &delivered
}

// sendGroups posts n alerts, each its own group (a new incident) named
// after prefix, from 16 senders; every one must be accepted.
func sendGroups(t *testing.T, ts *apptest.Server, prefix string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	var next atomic.Int32
	var failed atomic.Int32
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)); i <= n; i = int(next.Add(1)) {
				req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/v1/alerts/alertmanager",
					strings.NewReader(apptest.AMPayload(fmt.Sprintf("%s-%d", prefix, i), "firing", "fp")))
				req.Header.Set("Authorization", "Bearer "+apptest.IngestToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil || resp.StatusCode != http.StatusCreated {
					failed.Add(1)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		t.Fatalf("%d of %d alerts not answered 201", f, n)
	}
}

var pacedTotal = regexp.MustCompile(`(?m)^tocsin_intake_paced_total (\S+)$`)

// paced reads tocsin_intake_paced_total.
func paced(t *testing.T, ts *apptest.Server) float64 {
	t.Helper()
	m := pacedTotal.FindStringSubmatch(ts.Metrics(t))
	if m == nil {
		t.Fatal("no tocsin_intake_paced_total in /metrics")
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestIntakePacedWhileDeliveriesAreBehind: with a webhook lane whose
// deliveries are fast (10 ms each) but fewer per second than the alerts
// coming in, intake answers are held while more than ingest.pace.backlog
// are due — counted in tocsin_intake_paced_total — and every alert is
// accepted and delivered.
func TestIntakePacedWhileDeliveriesAreBehind(t *testing.T) {
	ts, delivered := pacedServer(t, 10*time.Millisecond)
	sendGroups(t, ts, "storm", 300)
	apptest.Eventually(t, "300 deliveries", func() bool { return delivered.Load() >= 300 })
	if n := paced(t, ts); n == 0 {
		t.Fatal("no intake answer was paced while 300 deliveries queued behind 8 workers")
	}
}

// TestIntakeNotPacedBehindASlowChannel: a channel taking longer than the
// pacer's Fast per delivery is not made faster by waiting: however deep
// its backlog, no answer is held.
func TestIntakeNotPacedBehindASlowChannel(t *testing.T) {
	ts, delivered := pacedServer(t, 60*time.Millisecond)
	// A first few, so the lane's pace is known when the storm comes.
	sendGroups(t, ts, "first", 16)
	apptest.Eventually(t, "8 deliveries", func() bool { return delivered.Load() >= 8 })
	sendGroups(t, ts, "storm", 300)
	apptest.Eventually(t, "316 deliveries", func() bool { return delivered.Load() >= 316 })
	if n := paced(t, ts); n != 0 {
		t.Fatalf("%v answers paced behind a channel taking 60 ms a delivery", n)
	}
}
