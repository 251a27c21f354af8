// Command wake measures how fast work accepted by one tocsin instance is
// taken up by another idle one sharing its PostgreSQL database: the delay
// from instance A's 2xx answer to an alert to the arrival of what it
// causes, run by instance B. The work is the alert's webhook notification
// (-work notify) or an ack-or-escalate timer due at once (-work escalate:
// on-call with a wait of 0 and provider pagerduty, the escalation
// arriving at a fake PagerDuty).
//
// A is kept from running it: it starts alone, its webhook channel (or
// PagerDuty) pointing at a hold endpoint that keeps every call for a
// first batch of "blocker" alerts waiting, so its lane is full (an
// instance claims only what its lanes can start). Then B starts with the
// same configuration pointing at the sink, takes the blockers A could not
// start, and goes idle. The measured alerts are then sent to A one at a
// time at a low rate: each one's job can only be run by B, which finds it
// when it is told (LISTEN/NOTIFY) or when it next polls. A call that still
// reaches A's hold endpoint (A's lane freed) is passed to the sink and
// counted as run by A.
//
// Usage:
//
//	wake -tocsin BIN -database postgres://…[&search_path=S] [-work notify|escalate]
//	     [-n 200] [-rate 20] [-blockers 16] [-backend postgres] [-json FILE] [-out markdown|json]
//	wake -md-header
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"tocsin/bench/internal/emit"
	"tocsin/bench/internal/latency"
	"tocsin/bench/internal/sink"
	"tocsin/bench/internal/tocsinproc"
	"tocsin/bench/internal/wire"
)

// Tokens of both instances.
const (
	ingestToken = "bench-ingest-token"
	apiToken    = "bench-api-token"
)

func main() {
	var o Options
	flag.StringVar(&o.Bin, "tocsin", "", "the tocsin binary")
	flag.StringVar(&o.Database, "database", "", "the PostgreSQL URL both instances share (a schema of this run only)")
	flag.StringVar(&o.Work, "work", "notify", "what B must run: notify (a webhook) or escalate (an on-call timer due at once)")
	flag.IntVar(&o.N, "n", 200, "alerts measured")
	flag.Float64Var(&o.Rate, "rate", 20, "alerts per second sent to A")
	flag.IntVar(&o.Blockers, "blockers", 16, "alerts whose deliveries fill A's webhook lane (at least its workers)")
	flag.DurationVar(&o.Wait, "wait", 30*time.Second, "how long to wait for the deliveries after the last alert")
	dir := flag.String("dir", "", "working directory (default: a temporary one, removed after)")
	backend := flag.String("backend", "postgres", "backend name for the report")
	jsonFile := flag.String("json", "", "also write the JSON result to this file")
	out := flag.String("out", "markdown", "output: json or markdown (one table row)")
	mdHeader := flag.Bool("md-header", false, "print the Markdown table header and exit")
	flag.Parse()
	if *mdHeader {
		fmt.Print(MarkdownHeader())
		return
	}
	if o.Bin == "" || o.Database == "" || o.N < 1 || o.Rate <= 0 || o.Blockers < 1 || (o.Work != "notify" && o.Work != "escalate") {
		log.Fatal("wake: -tocsin and -database are required; -n, -rate and -blockers must be positive; -work is notify or escalate")
	}
	o.Dir = *dir
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "tocsin-wake-")
		if err != nil {
			log.Fatalf("wake: %v", err)
		}
		defer os.RemoveAll(d)
		o.Dir = d
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Measure(ctx, o)
	if err != nil {
		log.Fatalf("wake: %v", err)
	}
	res.Backend = *backend
	if err := emit.Result(res, *jsonFile, *out); err != nil {
		log.Fatalf("wake: %v", err)
	}
}

// Options describe one measurement.
type Options struct {
	Bin, Database, Dir string
	// Work is "notify" or "escalate".
	Work     string
	N        int
	Rate     float64
	Blockers int
	Wait     time.Duration
}

// Result is the outcome of one measurement (the JSON of -out json).
type Result struct {
	Backend string  `json:"backend,omitempty"`
	Work    string  `json:"work"`
	N       int     `json:"n"`
	Rate    float64 `json:"rate"`
	// Held is the blocker calls A held when the measurement began (its
	// lane's workers) and HeldAtEnd when it ended: fewer means A's lane
	// freed during the measurement (PagerDuty calls time out after 10 s).
	Held      int64 `json:"held"`
	HeldAtEnd int64 `json:"held_at_end"`
	// Accepted is the alerts A answered 2xx; Delivered those whose
	// webhook arrived, ViaA of them delivered by A, Lost the others.
	Accepted  int   `json:"accepted"`
	Delivered int   `json:"delivered"`
	ViaA      int64 `json:"via_a"`
	Lost      int   `json:"lost"`
	// BeforeAnswer counts webhooks that arrived before A's answer did
	// (counted as a 0 delay).
	BeforeAnswer int `json:"before_answer"`
	// Delay is from A's 2xx answer to the webhook's arrival.
	Delay latency.Summary `json:"delay"`
}

// Delays pairs each alert's 2xx time (zero: not accepted) with its first
// delivery and returns the delays, how many arrived before the answer
// (counted as 0) and how many accepted alerts never arrived.
func Delays(accepted []time.Time, deliveries []sink.Arrival) (d []time.Duration, before, lost int) {
	got := make([]bool, len(accepted))
	for _, a := range deliveries {
		if a.Seq >= uint64(len(accepted)) || accepted[a.Seq].IsZero() || got[a.Seq] {
			continue
		}
		got[a.Seq] = true
		delay := time.Unix(0, a.AtNS).Sub(accepted[a.Seq])
		if delay < 0 {
			before++
			delay = 0
		}
		d = append(d, delay)
	}
	for i, at := range accepted {
		if !at.IsZero() && !got[i] {
			lost++
		}
	}
	return d, before, lost
}

// Measure runs the two instances and measures the wake-up of B.
func Measure(ctx context.Context, o Options) (*Result, error) {
	blockRun, run := newRunID(), newRunID()
	sk := sink.New()
	sk.Reset(blockRun)
	h := &holder{blockRun: blockRun, sink: sk.Handler(), release: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("POST /hold", h)
	mux.Handle("POST /hold/v2/enqueue", h)
	mux.HandleFunc("POST /pd/v2/enqueue", h.pass)
	mux.Handle("/", sk.Handler())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	defer h.Release()
	hooks := "http://" + ln.Addr().String()

	// A alone, its deliveries held: its lane fills up.
	a, err := startInstance(ctx, o, "a", hooks+"/hold")
	if err != nil {
		return nil, fmt.Errorf("instance A: %w", err)
	}
	defer a.Stop()
	client := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, o.Blockers)
	for i := range o.Blockers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := post(ctx, client, a.URL, blockRun, uint64(i)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, fmt.Errorf("blocker alert: %w", err)
	}
	held, err := waitStable(ctx, &h.held, 20*time.Second)
	if err != nil {
		return nil, fmt.Errorf("A's lane never filled: %w", err)
	}
	// B takes the blockers A could not start, then idles.
	target := hooks + "/hook"
	if o.Work == "escalate" {
		target = hooks + "/pd"
	}
	b, err := startInstance(ctx, o, "b", target)
	if err != nil {
		return nil, fmt.Errorf("instance B: %w", err)
	}
	defer b.Stop()
	if err := until(ctx, 30*time.Second, func() bool { return sk.Stats().Unique+h.held.Load() >= int64(o.Blockers) }); err != nil {
		return nil, fmt.Errorf("B did not deliver the %d blockers A left (%d delivered, %d held): %w",
			o.Blockers-int(held), sk.Stats().Unique, h.held.Load(), err)
	}
	time.Sleep(500 * time.Millisecond)
	sk.Reset(run)
	viaA0 := h.viaA.Load()

	// The measurement: one alert at a time, to A.
	accepted := make([]time.Time, o.N)
	start := time.Now()
	res := &Result{Work: o.Work, N: o.N, Rate: o.Rate, Held: h.held.Load()}
	for i := range o.N {
		due := start.Add(time.Duration(float64(i) * float64(time.Second) / o.Rate))
		select {
		case <-time.After(time.Until(due)):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		at, err := post(ctx, client, a.URL, run, uint64(i))
		if err != nil {
			fmt.Fprintf(os.Stderr, "wake: alert %d: %v\n", i, err)
			continue
		}
		accepted[i] = at
		res.Accepted++
	}
	res.HeldAtEnd = h.held.Load()
	_ = until(ctx, o.Wait, func() bool { return int(sk.Stats().Unique) >= res.Accepted })
	var lost int
	var delays []time.Duration
	delays, res.BeforeAnswer, lost = Delays(accepted, sk.Deliveries())
	res.Delivered, res.Lost, res.ViaA = len(delays), lost, h.viaA.Load()-viaA0
	res.Delay = latency.Summarize(delays)
	if a.Exited() || b.Exited() {
		return res, errors.New("an instance exited during the measurement; see its log")
	}
	return res, nil
}

// startInstance starts one tocsin whose webhook channel (or, for the
// escalate work, PagerDuty) posts to url.
func startInstance(ctx context.Context, o Options, name, url string) (*tocsinproc.Server, error) {
	dir := o.Dir + "/" + name
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`log: {level: warn}
ingest: {tokens: [%q]}
api: {tokens: [%q]}
alert:
  webhook:
    enable: true
    url: %s
    timeout: 55s
`, ingestToken, apiToken, url)
	if o.Work == "escalate" {
		cfg = fmt.Sprintf(`log: {level: warn}
ingest: {tokens: [%q]}
api: {tokens: [%q]}
oncall:
  enable: true
  wait_minutes: 0
  provider: pagerduty
  pagerduty: {routing_key: bench-routing-key, api_url: %s}
`, ingestToken, apiToken, url)
	}
	return tocsinproc.Start(ctx, tocsinproc.Options{Bin: o.Bin, Dir: dir, Config: cfg, Database: o.Database})
}

// post sends alert seq of run to tocsin and returns when the 2xx came.
func post(ctx context.Context, c *http.Client, base, run string, seq uint64) (time.Time, error) {
	body := wire.AppendAlert(nil, run, seq, time.Now())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/alerts/alertmanager", bytes.NewReader(body))
	if err != nil {
		return time.Time{}, err
	}
	req.Header.Set("Authorization", "Bearer "+ingestToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return time.Time{}, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	at := time.Now()
	if err != nil {
		return time.Time{}, err
	}
	if resp.StatusCode/100 != 2 {
		return time.Time{}, fmt.Errorf("HTTP %d %.200s", resp.StatusCode, b)
	}
	return at, nil
}

// holder is A's webhook endpoint: blocker deliveries wait there until
// released; any other delivery goes on to the sink and counts as
// delivered by A.
type holder struct {
	blockRun string
	sink     http.Handler
	release  chan struct{}
	once     sync.Once
	held     atomic.Int64
	viaA     atomic.Int64
}

// ServeHTTP implements http.Handler.
func (h *holder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if id, ok := sink.AlertID(body); ok {
		if run, _, ok := wire.ParseID(id); ok && run == h.blockRun {
			h.held.Add(1)
			select {
			case <-h.release:
			case <-r.Context().Done():
			}
			h.held.Add(-1)
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	h.viaA.Add(1)
	h.forward(w, r, body)
}

// pass hands B's calls to the sink.
func (h *holder) pass(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.forward(w, r, body)
}

// forward hands a call to the sink's webhook endpoint. A PagerDuty event
// has no X-Tocsin-Event: it counts as the alert's "opened" delivery.
func (h *holder) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/hook"
	r2.Body = io.NopCloser(bytes.NewReader(body))
	if r2.Header.Get("X-Tocsin-Event") == "" {
		r2.Header.Set("X-Tocsin-Event", "opened")
	}
	h.sink.ServeHTTP(w, r2)
}

// Release lets every held delivery finish.
func (h *holder) Release() { h.once.Do(func() { close(h.release) }) }

// waitStable waits until n is positive and has not changed for a second.
func waitStable(ctx context.Context, n *atomic.Int64, timeout time.Duration) (int64, error) {
	deadline := time.Now().Add(timeout)
	last, since := int64(-1), time.Now()
	for {
		v := n.Load()
		if v != last {
			last, since = v, time.Now()
		}
		if v > 0 && time.Since(since) >= time.Second {
			return v, nil
		}
		if time.Now().After(deadline) {
			return v, fmt.Errorf("%d held after %v", v, timeout)
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// until polls cond every 20 ms until it holds or timeout passes.
func until(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// MarkdownHeader is the header of the table MarkdownRow writes rows of.
func MarkdownHeader() string {
	return "| backend | work | alerts to A | rate (/s) | A's lane held (start → end) | run by B | by A | lost | A's 2xx → arrival p50 / p99 / max (ms) |\n" +
		"|---|---|--:|--:|--:|--:|--:|--:|--:|\n"
}

// MarkdownRow formats r as one row of the MarkdownHeader table.
func (r *Result) MarkdownRow() string {
	d := "–"
	if r.Delay.Count > 0 {
		d = latency.FormatMs(r.Delay.P50) + " / " + latency.FormatMs(r.Delay.P99) + " / " + latency.FormatMs(r.Delay.Max)
	}
	return fmt.Sprintf("| %s | %s | %d | %g | %d → %d | %d | %d | %d | %s |\n", r.Backend, r.Work, r.N, r.Rate, r.Held, r.HeldAtEnd,
		int64(r.Delivered)-r.ViaA, r.ViaA, r.Lost, d)
}

// newRunID returns 8 random hex digits.
func newRunID() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}
