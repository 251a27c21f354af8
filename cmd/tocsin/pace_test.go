package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tocsin/apptest"
	"tocsin/config"
	"tocsin/store/storetest"
)

// hookLog is a webhook receiver that takes delay per request and counts
// each incident's deliveries by the path they came to.
type hookLog struct {
	*httptest.Server
	mu    sync.Mutex
	byID  map[string]int
	paths map[string]int
	total atomic.Int32
}

func newHookLog(t *testing.T, delay time.Duration) *hookLog {
	t.Helper()
	h := &hookLog{byID: map[string]int{}, paths: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		var d struct {
			Incident struct{ ID string } `json:"incident"`
		}
		json.NewDecoder(r.Body).Decode(&d)
		h.mu.Lock()
		h.byID[d.Incident.ID]++
		h.paths[r.URL.Path]++
		h.mu.Unlock()
		h.total.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.Close)
	return h
}

// counts returns the incidents delivered, the deliveries made twice or
// more, and the deliveries that came to path.
func (h *hookLog) counts(path string) (incidents, again, atPath int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.byID {
		again += n - 1
	}
	return len(h.byID), again, h.paths[path]
}

// pacedServer runs tocsin on dbURL with only a webhook channel, to hook's
// path, and ingest.pace.backlog 20.
func pacedServer(t *testing.T, dbURL string, hook *hookLog, path string) *apptest.Server {
	t.Helper()
	backlog := 20
	return apptest.Start(t, dbURL, func(c *config.Config) {
		c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false
		c.Alert.Webhook.URL = hook.URL + path
		c.Ingest.Pace = config.Pace{Backlog: &backlog, MaxWait: config.Duration(100 * time.Millisecond)}
	})
}

// sendGroups posts n alerts, each its own group (a new incident) named
// after prefix, from 16 senders; every one must be accepted.
func sendGroups(t *testing.T, ts *apptest.Server, prefix string, n int) {
	t.Helper()
	err := storetest.Parallel(16, n, func(i int) error {
		return postGroup(http.DefaultClient, ts, fmt.Sprintf("%s-%d", prefix, i))
	})
	if err != nil {
		t.Fatalf("of %d alerts, one not accepted: %v", n, err)
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
	hook := newHookLog(t, 10*time.Millisecond)
	ts := pacedServer(t, storetest.SQLiteURL(t), hook, "/hook")
	sendGroups(t, ts, "storm", 300)
	apptest.Eventually(t, "300 deliveries", func() bool { return hook.total.Load() >= 300 })
	if n := paced(t, ts); n == 0 {
		t.Fatal("no intake answer was paced while 300 deliveries queued behind 8 workers")
	}
}

// TestIntakePacedOnTwoInstances: two instances on one PostgreSQL, alerts
// sent to A alone. A's answers are paced while the shared backlog is
// deep, B takes its share of the deliveries (its webhook path), and every
// incident is delivered exactly once.
func TestIntakePacedOnTwoInstances(t *testing.T) {
	dbURL := storetest.PostgresURL(t)
	hook := newHookLog(t, 10*time.Millisecond)
	a := pacedServer(t, dbURL, hook, "/a")
	pacedServer(t, dbURL, hook, "/b")
	sendGroups(t, a, "storm", 300)
	apptest.Eventually(t, "300 deliveries", func() bool { return hook.total.Load() >= 300 })
	incidents, again, byB := hook.counts("/b")
	if incidents != 300 || again != 0 {
		t.Errorf("%d incidents delivered, %d deliveries made again; want 300 once each", incidents, again)
	}
	if byB == 0 {
		t.Error("instance B delivered none of the 300: the backlog was A's alone")
	}
	if n := paced(t, a); n == 0 {
		t.Error("no answer of A was paced while 300 deliveries queued on two instances")
	}
	t.Logf("B delivered %d of 300; A paced %v answers", byB, paced(t, a))
}

// TestIntakeNotPacedBehindASlowChannel: a channel taking longer than the
// pacer's Fast per delivery is not made faster by waiting: however deep
// its backlog, no answer is held.
func TestIntakeNotPacedBehindASlowChannel(t *testing.T) {
	hook := newHookLog(t, 60*time.Millisecond)
	ts := pacedServer(t, storetest.SQLiteURL(t), hook, "/hook")
	// A first few, so the lane's pace is known when the storm comes.
	sendGroups(t, ts, "first", 16)
	apptest.Eventually(t, "8 deliveries", func() bool { return hook.total.Load() >= 8 })
	sendGroups(t, ts, "storm", 300)
	apptest.Eventually(t, "316 deliveries", func() bool { return hook.total.Load() >= 316 })
	if n := paced(t, ts); n != 0 {
		t.Fatalf("%v answers paced behind a channel taking 60 ms a delivery", n)
	}
}
