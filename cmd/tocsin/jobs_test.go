package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tocsin/app"
	"tocsin/apptest"
	"tocsin/config"
	"tocsin/integration/integrationtest"
	"tocsin/store/storetest"
)

// flakyProxy forwards to target, first failing the requests fail says to
// fail (with 503) and holding each request for delay's answer.
type flakyProxy struct {
	*httptest.Server
	mu       sync.Mutex
	fail     func(r *http.Request) bool
	delay    func(r *http.Request) time.Duration
	inFlight atomic.Int32
}

func newFlakyProxy(t testing.TB, target string) *flakyProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &flakyProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.inFlight.Add(1)
		defer p.inFlight.Add(-1)
		p.mu.Lock()
		fail, delay := p.fail, p.delay
		p.mu.Unlock()
		if delay != nil {
			select {
			case <-time.After(delay(r)):
			case <-r.Context().Done():
				return
			}
		}
		if fail != nil && fail(r) {
			http.Error(w, "outage", http.StatusServiceUnavailable)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *flakyProxy) set(fail func(*http.Request) bool, delay func(*http.Request) time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail, p.delay = fail, delay
}

func forBothDatabases(t *testing.T, f func(t *testing.T, dbURL func(t testing.TB) string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, storetest.SQLiteURL) })
	t.Run("postgres", func(t *testing.T) { f(t, storetest.PostgresURL) })
}

// TestResolveWhileEscalationInFlight resolves an incident while the
// provider is still answering its trigger: the provider must get the
// trigger and then the resolve (the reference the slow answer brings is
// saved and de-escalated, not discarded with a cancelled job).
func TestResolveWhileEscalationInFlight(t *testing.T) {
	forBothDatabases(t, func(t *testing.T, dbURL func(t testing.TB) string) {
		pd := integrationtest.NewPagerDuty(t)
		slow := newFlakyProxy(t, pd.URL)
		slow.set(nil, func(r *http.Request) time.Duration { return 3 * time.Second })
		ts := apptest.Start(t, dbURL(t), func(c *config.Config) {
			zero := 0.0
			c.OnCall = config.OnCall{Enable: true, Provider: "pagerduty", WaitMinutes: &zero,
				PagerDuty: config.PagerDuty{RoutingKey: "R0UTINGKEY0000000000000000000000", APIURL: slow.URL}}
			c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false
		})
		status, body := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"slow provider"}`)
		if status != 201 {
			t.Fatalf("alert: %d %v", status, body)
		}
		id := apptest.FirstID(t, body)
		apptest.Eventually(t, "trigger in flight", func() bool { return slow.inFlight.Load() == 1 })
		time.Sleep(time.Second)
		if status, body := ts.Post(t, "/api/v1/incidents/"+id+"/resolve", apptest.APIToken, ""); status != 200 {
			t.Fatalf("resolve: %d %v", status, body)
		}
		slow.set(nil, nil)
		deadline := time.Now().Add(10 * time.Second)
		for len(pd.Events()) < 2 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		evs := pd.Events()
		if len(evs) != 2 || evs[0].EventAction != "trigger" || evs[1].EventAction != "resolve" || evs[0].DedupKey != evs[1].DedupKey {
			var got []string
			for _, e := range evs {
				got = append(got, e.EventAction+":"+e.DedupKey)
			}
			t.Fatalf("provider got %v; want trigger then resolve of the same incident", got)
		}
	})
}

// TestOrderKeptAfterOutage opens and resolves incidents while the webhook
// receiver is down: once it is back, each incident's "opened" arrives
// before its "resolved".
func TestOrderKeptAfterOutage(t *testing.T) {
	forBothDatabases(t, func(t *testing.T, dbURL func(t testing.TB) string) {
		// Retries every 200 ms: the 1 s outage is far from exhausting them.
		ts := apptest.Start(t, dbURL(t), func(c *config.Config) { c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false },
			func(o *app.Options) {
				o.Backoff = func(int, time.Duration, float64) time.Duration { return 200 * time.Millisecond }
			})
		ts.Sink.FailNext(1 << 30)
		const n = 10
		ids := make([]string, n)
		for i := range n {
			status, body := ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, apptest.AMPayload("order-"+strconv.Itoa(i), "firing", "fp"))
			if status != 201 {
				t.Fatalf("alert: %d %v", status, body)
			}
			ids[i] = apptest.FirstID(t, body)
		}
		time.Sleep(300 * time.Millisecond)
		for i := range n {
			if status, body := ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, apptest.AMPayload("order-"+strconv.Itoa(i), "resolved", "fp")); status != 201 && status != 200 {
				t.Fatalf("resolve: %d %v", status, body)
			}
		}
		time.Sleep(500 * time.Millisecond)
		ts.Sink.FailNext(0)
		apptest.Eventually(t, "every notification delivered", func() bool { return len(ts.Sink.Events("")) >= 2*n })
		for _, id := range ids {
			if got := strings.Join(ts.Sink.Events(id), ","); got != "opened,resolved" {
				t.Errorf("incident %s: deliveries %s; want opened,resolved", id, got)
			}
		}
	})
}

// TestTwoInstancesDifferentConfigs runs two servers on one PostgreSQL
// database with different channels: A has Slack and on-call, B only a
// webhook. Neither drops the other's work: every Slack message and
// every escalation of A's incidents happens, every webhook of B's.
func TestTwoInstancesDifferentConfigs(t *testing.T) {
	dbURL := storetest.PostgresURL(t)
	pd := integrationtest.NewPagerDuty(t)
	slackSrv := apptest.NewFakeSlack(t)
	// Every first Slack attempt fails, so retries are up for grabs.
	var slackCalls sync.Map
	flaky := newFlakyProxy(t, slackSrv.URL)
	flaky.set(func(r *http.Request) bool {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		key := r.URL.Path + string(body)
		_, seen := slackCalls.LoadOrStore(key, true)
		return !seen
	}, nil)
	a := apptest.Start(t, dbURL, func(c *config.Config) {
		wait := 0.005 // 300 ms: a timer either instance may see due first
		c.OnCall = config.OnCall{Enable: true, Provider: "pagerduty", WaitMinutes: &wait,
			PagerDuty: config.PagerDuty{RoutingKey: "R0UTINGKEY0000000000000000000000", APIURL: pd.URL}}
		c.Alert.Slack.APIURL = flaky.URL + "/api/"
		c.Alert.Email.Enable, c.Alert.Webhook.Enable = false, false
	})
	b := apptest.Start(t, dbURL, func(c *config.Config) { c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false })
	const n = 20
	for i := range n {
		if status, body := a.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"from A `+strconv.Itoa(i)+`"}`); status != 201 {
			t.Fatalf("alert: %d %v", status, body)
		}
		if status, body := b.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"from B `+strconv.Itoa(i)+`"}`); status != 201 {
			t.Fatalf("alert: %d %v", status, body)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		posts, _ := slackSrv.Counts()
		if posts >= n && len(pd.Events()) >= n && len(b.Sink.Events("")) >= n {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	if posts, _ := slackSrv.Counts(); posts != n {
		t.Errorf("%d Slack messages for %d incidents", posts, n)
	}
	if got := len(pd.Events()); got != n {
		t.Errorf("%d escalations for %d incidents", got, n)
	}
	if got := len(b.Sink.Events("")); got != n {
		t.Errorf("%d webhooks for %d incidents", got, n)
	}
}
