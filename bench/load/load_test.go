package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tocsin/bench/internal/sink"
	"tocsin/bench/internal/wire"
	"tocsin/ingest"
)

// fakeTocsin answers the intake like tocsin and delivers an "opened"
// webhook to hook for every alert, except: seq%10 == 3 is answered 503
// but still delivered (committed, answer lost); seq == 5 is accepted but
// never delivered; seq == 7 is delivered twice with one delivery id.
func fakeTocsin(t *testing.T, hook string, delay func(seq uint64) time.Duration) *httptest.Server {
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/alerts/alertmanager" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		var body bytes.Buffer
		body.ReadFrom(r.Body)
		alerts, err := ingest.Alertmanager(body.Bytes(), time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		labels := alerts[0].Labels
		_, seq, _ := wire.ParseID(labels[wire.LabelID])
		if delay != nil {
			time.Sleep(delay(seq))
		}
		deliver := func() {
			defer wg.Done()
			js, _ := json.Marshal(map[string]any{
				"version": "1", "event": "opened", "delivery_id": fmt.Sprintf("dlv_%d", seq),
				"incident": map[string]any{"labels": labels}, "alert": map[string]any{"labels": labels},
			})
			req, _ := http.NewRequest(http.MethodPost, hook, bytes.NewReader(js))
			req.Header.Set("X-Tocsin-Event", "opened")
			req.Header.Set("X-Tocsin-Delivery", fmt.Sprintf("dlv_%d", seq))
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		if seq != 5 {
			wg.Add(1)
			go deliver()
		}
		if seq == 7 {
			wg.Add(1)
			go deliver()
		}
		if seq%10 == 3 {
			http.Error(w, `{"error":"overloaded"}`, http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"status":"ok"}`))
	}))
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	return srv
}

func TestRunWithSink(t *testing.T) {
	sk := httptest.NewServer(sink.New().Handler())
	defer sk.Close()
	srv := fakeTocsin(t, sk.URL+"/hook", nil)
	ctx := context.Background()
	c := http.DefaultClient
	cfg := Config{URL: srv.URL, Token: "tok", N: 100, Concurrency: 8, Timeout: 5 * time.Second, Run: "run1"}
	if err := resetSink(ctx, c, sk.URL, cfg.Run); err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 100 || res.Accepted != 90 || res.Errors["HTTP 503"] != 10 || res.Statuses[201] != 90 || res.Statuses[503] != 10 {
		t.Fatalf("result = %+v", res)
	}
	if len(res.ErrorSamples) == 0 || !strings.Contains(res.ErrorSamples[0], "overloaded") {
		t.Fatalf("samples = %q", res.ErrorSamples)
	}
	if res.Latency.Count != 90 || res.AcceptedPerSec <= 0 {
		t.Fatalf("latency = %+v, %v/s", res.Latency, res.AcceptedPerSec)
	}
	// 89 of the 90 accepted are delivered (seq 5 is lost): waiting gives up.
	called := 0
	st, missing, err := waitDelivered(ctx, c, sk.URL, res.accepted, time.Second, 100*time.Millisecond, func() { called++ })
	if err != nil {
		t.Fatal(err)
	}
	if called != 1 {
		t.Fatalf("the delivered callback ran %d times", called)
	}
	// Unique counts the 10 delivered-but-503 ones too.
	if st.Unique != 99 || st.Received != 100 || st.Duplicates != 1 || st.DuplicateDeliveryIDs != 1 || st.Stale != 0 {
		t.Fatalf("sink stats = %+v", st)
	}
	lost, sample, extra := compare(cfg.Run, res.accepted, missing)
	if lost != 1 || len(sample) != 1 || sample[0] != "run1-5" || extra != 10 {
		t.Fatalf("compare = %d %q %d", lost, sample, extra)
	}
	// The time from each accepted alert's answer to its arrival: the 89
	// delivered of the 90 accepted (the 10 answered 503 are not counted).
	arrivals, err := sinkArrivals(ctx, c, sk.URL)
	if err != nil || len(arrivals) != 99 {
		t.Fatalf("arrivals: %d, %v; want 99", len(arrivals), err)
	}
	if after, first := res.afterAnswer(arrivals); after.Count != 89 || first > 89 || after.Max < 0 || after.Max > 5000 {
		t.Fatalf("after the answer: %+v, %d first", after, first)
	}
	res.Delivery, res.Lost, res.LostSample, res.DeliveredNotAccepted = st, lost, sample, extra
	res.Backend, res.Scenario = "fake", "max"
	notes := strings.Join(res.Notes(cfg), "\n")
	for _, want := range []string{"**fake, max**: 10 of 100 intake requests failed (HTTP 503 ×10)", "overloaded",
		"1 accepted alerts were not delivered to the sink within the wait (e.g. run1-5)", "10 alerts whose intake request failed were delivered anyway",
		"1 duplicate deliveries (1 repeated a delivery_id, 0 were"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
	row := res.MarkdownRow()
	if strings.Count(row, "|") != strings.Count(strings.SplitN(MarkdownHeader(), "\n", 2)[0], "|") || !strings.Contains(row, "(1 lost)") {
		t.Fatalf("row %q does not fit the header", row)
	}
}

func TestRunOpenLoop(t *testing.T) {
	sk := httptest.NewServer(http.NotFoundHandler())
	defer sk.Close()
	// The first request stalls for 300ms; with one connection the
	// following ones queue behind it.
	srv := fakeTocsin(t, sk.URL, func(seq uint64) time.Duration {
		if seq == 0 {
			return 300 * time.Millisecond
		}
		return 0
	})
	cfg := Config{URL: srv.URL, Token: "tok", Rate: 100, Duration: 500 * time.Millisecond, Concurrency: 1, Timeout: 5 * time.Second, Run: "r"}
	start := time.Now()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 50 {
		t.Fatalf("sent %d, want 50", res.Sent)
	}
	if el := time.Since(start); el < 450*time.Millisecond {
		t.Fatalf("a 100/s run of 50 alerts took %v", el)
	}
	// Queued requests count their wait from the intended send time.
	if res.Latency.P90 < 150 || res.ServiceLatency.P50 > res.Latency.P50/2 {
		t.Fatalf("latency %+v, service %+v", res.Latency, res.ServiceLatency)
	}
	if res.SendSeconds < 0.45 {
		t.Fatalf("send seconds %v", res.SendSeconds)
	}
}

func TestRunClosedLoopDuration(t *testing.T) {
	sk := httptest.NewServer(http.NotFoundHandler())
	defer sk.Close()
	srv := fakeTocsin(t, sk.URL, nil)
	cfg := Config{URL: srv.URL, Token: "tok", Duration: 200 * time.Millisecond, Concurrency: 4, Timeout: 5 * time.Second, Run: "r"}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent < 10 || res.WallSeconds < 0.2 || res.WallSeconds > 2 {
		t.Fatalf("sent %d in %vs", res.Sent, res.WallSeconds)
	}
}

func TestErrorsConnRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	res, err := Run(context.Background(), Config{URL: url, Token: "tok", N: 3, Concurrency: 2, Timeout: time.Second, Run: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 0 || res.Errors["connection refused"] != 3 {
		t.Fatalf("errors %v", res.Errors)
	}
}

func TestRunRepeat(t *testing.T) {
	var mu sync.Mutex
	bodies := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		mu.Lock()
		bodies[b.String()]++
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		repeat bool
		want   int // distinct bodies
	}{{true, 1}, {false, 20}} {
		clear(bodies)
		res, err := Run(context.Background(), Config{URL: srv.URL, Token: "tok", N: 20, Concurrency: 4, Timeout: time.Second, Run: "r", Repeat: tc.repeat})
		if err != nil {
			t.Fatal(err)
		}
		if res.Accepted != 20 || len(bodies) != tc.want {
			t.Fatalf("repeat %v: %d accepted, %d distinct bodies, want %d", tc.repeat, res.Accepted, len(bodies), tc.want)
		}
		for body := range bodies {
			if _, err := ingest.Alertmanager([]byte(body), time.Now()); err != nil {
				t.Fatalf("repeat %v: body rejected: %v", tc.repeat, err)
			}
		}
	}
}

func TestDrain(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		unique int64 // delivered when the intake ended
		st     wire.SinkStats
		cpu    time.Duration
		want   Drain
	}{
		{"backlog drained in 2s", 400, wire.SinkStats{Unique: 1000, LastAt: at.Add(2 * time.Second).Format(time.RFC3339Nano)}, 2600 * time.Millisecond,
			Drain{Backlog: 600, Delivered: 600, Seconds: 2, PerSec: 300, CPUSeconds: 0.6, CPUMicrosPerDelivery: 1000}},
		{"kept up with the intake", 1000, wire.SinkStats{Unique: 1000, LastAt: at.Add(-time.Millisecond).Format(time.RFC3339Nano)}, 2010 * time.Millisecond,
			Drain{CPUSeconds: 0.01}},
	} {
		m := &drainMark{at: at, cpu: 2 * time.Second, unique: tc.unique}
		got := m.drain(&tc.st, 1000, tc.cpu)
		if got.Backlog != tc.want.Backlog || got.Delivered != tc.want.Delivered || !near(got.Seconds, tc.want.Seconds) ||
			!near(got.PerSec, tc.want.PerSec) || !near(got.CPUSeconds, tc.want.CPUSeconds) || !near(got.CPUMicrosPerDelivery, tc.want.CPUMicrosPerDelivery) {
			t.Errorf("%s: drain = %+v, want %+v", tc.name, *got, tc.want)
		}
	}
}

// near reports whether a and b agree to a millionth.
func near(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }

// TestReusesConnections checks that answers are read to the end so the
// shared client keeps its connections: about one per worker.
func TestReusesConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"status":"ok","count":1,"incident_ids":["inc_1"],"results":[{"created":true}]}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	res, err := Run(context.Background(), Config{URL: srv.URL, Token: "tok", N: 400, Concurrency: 4, Timeout: 5 * time.Second, Run: "r"})
	if err != nil {
		t.Fatal(err)
	}
	// A connection goes back to the pool just after its body's EOF, so a
	// worker quick enough may now and then dial another: allow twice the
	// workers. Unread answers cost a connection per request.
	if res.Accepted != 400 || conns.Load() > 8 {
		t.Fatalf("%d accepted over %d connections (4 workers)", res.Accepted, conns.Load())
	}
}
