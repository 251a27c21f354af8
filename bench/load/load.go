package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"tocsin/bench/internal/latency"
	"tocsin/bench/internal/wire"
)

// Config describes one load run.
type Config struct {
	// URL is tocsin's base URL, e.g. http://127.0.0.1:8080.
	URL string
	// Token is the ingest bearer token.
	Token string
	// Rate is the intended alerts per second; 0 sends as fast as
	// Concurrency allows (closed loop).
	Rate float64
	// N is the number of alerts; when 0, Duration bounds the run instead.
	N int
	// Duration bounds the run when N is 0.
	Duration time.Duration
	// Concurrency is the number of requests in flight at most.
	Concurrency int
	// Timeout bounds one request.
	Timeout time.Duration
	// Run is the run id in every bench_id.
	Run string
	// Client sends the requests; nil builds one for Concurrency.
	Client *http.Client
	// Repeat sends one and the same alert (alert 0, byte for byte) in
	// every request, as Alertmanager re-sends an unchanged group every
	// repeat_interval: one incident, every request after the first a
	// deduplicated repeat.
	Repeat bool
}

// total returns how many alerts an open-loop or fixed-count run sends, or
// -1 when a closed-loop run is bounded by time.
func (c *Config) total() int {
	switch {
	case c.N > 0:
		return c.N
	case c.Rate > 0:
		return int(math.Ceil(c.Rate * c.Duration.Seconds()))
	default:
		return -1
	}
}

// Result is the outcome of one load run (the JSON of -out json).
type Result struct {
	// Backend and Scenario name the run in reports.
	Backend  string `json:"backend,omitempty"`
	Scenario string `json:"scenario,omitempty"`
	// Run is the run id, the prefix of every bench_id.
	Run string `json:"run"`
	// Rate and Concurrency are those of the Config (rate 0: closed loop).
	Rate        float64 `json:"rate"`
	Concurrency int     `json:"concurrency"`
	// Sent is the number of requests made.
	Sent int `json:"sent"`
	// Accepted is the number of 2xx answers.
	Accepted int `json:"accepted"`
	// Statuses counts answers by HTTP status; Errors counts failures
	// (non-2xx statuses and transport errors) by kind.
	Statuses map[int]int    `json:"statuses"`
	Errors   map[string]int `json:"errors"`
	// ErrorSamples holds the first few failures in full.
	ErrorSamples []string `json:"error_samples,omitempty"`
	// WallSeconds runs from the first intended send to the last answer.
	WallSeconds float64 `json:"wall_seconds"`
	// SendSeconds runs from the first intended send to the last actual
	// send: for a fixed rate, how long sending what was meant to take
	// Duration really took.
	SendSeconds float64 `json:"send_seconds"`
	// AcceptedPerSec is Accepted / WallSeconds.
	AcceptedPerSec float64 `json:"accepted_per_sec"`
	// Latency is the accept latency of 2xx answers measured from the
	// intended send time (includes waiting for a free connection when the
	// server falls behind: no coordinated omission).
	Latency latency.Summary `json:"latency"`
	// ServiceLatency is the same measured from the actual send time.
	ServiceLatency latency.Summary `json:"service_latency"`
	// Delivery is the sink's view after the run (nil without -sink).
	Delivery *wire.SinkStats `json:"delivery,omitempty"`
	// AfterAnswer is, per delivered alert, from its 2xx answer (committed)
	// to its first delivery's arrival at the sink: the part of the
	// latency that comes after the commit — the worker woken, the job
	// claimed, its incident read, the message rendered and sent (nil
	// without -sink).
	AfterAnswer *latency.Summary `json:"after_answer,omitempty"`
	// BeforeAnswer counts the deliveries that arrived before their alert's
	// answer was read (tocsin answers and wakes its worker at the same
	// commit): counted as 0 in AfterAnswer.
	BeforeAnswer int `json:"before_answer"`
	// Lost counts accepted alerts the sink never got; LostSample lists a
	// few of their bench_ids.
	Lost       int      `json:"lost"`
	LostSample []string `json:"lost_sample,omitempty"`
	// DeliveredNotAccepted counts alerts the sink got although their
	// request failed (e.g. committed but the answer timed out).
	DeliveredNotAccepted int `json:"delivered_not_accepted"`
	// Server is tocsin's resource use from the start of the run until
	// its deliveries were counted (nil without -server-pid).
	Server *ServerUsage `json:"server,omitempty"`
	// Drain is the delivery phase after the intake ended (nil without
	// both -sink and -server-pid).
	Drain *Drain `json:"drain,omitempty"`

	// accepted[seq] tells whether alert seq was answered 2xx; answered[seq]
	// is when (Unix nanoseconds).
	accepted []bool
	answered []int64
}

// ServerUsage is the resource use of the server process during a run.
type ServerUsage struct {
	// CPUSeconds is user+system CPU time.
	CPUSeconds float64 `json:"cpu_seconds"`
	// MaxRSSMiB is the largest resident set size seen (sampled every
	// 100ms).
	MaxRSSMiB float64 `json:"max_rss_mib"`
}

// Drain is what the server delivered once the intake had ended: with no
// requests coming in, its CPU time goes to the deliveries alone.
type Drain struct {
	// Backlog is the accepted alerts not delivered yet when the last
	// intake answer came: how far delivery fell behind the intake.
	Backlog int64 `json:"backlog"`
	// Delivered is the unique deliveries from then on.
	Delivered int64 `json:"delivered"`
	// Seconds runs from the end of the intake to the last arrival.
	Seconds float64 `json:"seconds"`
	// PerSec is Delivered / Seconds.
	PerSec float64 `json:"per_sec"`
	// CPUSeconds is the server's user+system CPU time from the end of the
	// intake until every delivery had arrived; CPUMicrosPerDelivery is it
	// over Delivered.
	CPUSeconds           float64 `json:"cpu_seconds"`
	CPUMicrosPerDelivery float64 `json:"cpu_us_per_delivery"`
}

// record is the outcome of one request.
type record struct {
	seq      uint64
	status   int
	err      error
	intended time.Time
	sent     time.Time
	done     time.Time
	body     string // start of the answer of a failure
}

// job is one alert to send at its intended time (zero: now).
type job struct {
	seq      uint64
	intended time.Time
}

// NewClient returns the shared HTTP client of a run: keep-alive
// connections for every worker, no HTTP/2, no compression.
func NewClient(concurrency int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// Run sends the alerts of cfg and returns what happened.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Concurrency < 1 {
		return nil, errors.New("concurrency must be at least 1")
	}
	if cfg.N <= 0 && cfg.Duration <= 0 {
		return nil, errors.New("either n or duration must be positive")
	}
	if cfg.Run == "" {
		return nil, errors.New("run id is empty")
	}
	client := cfg.Client
	if client == nil {
		client = NewClient(cfg.Concurrency, cfg.Timeout)
	}
	target := cfg.URL + "/api/v1/alerts/alertmanager"
	auth := "Bearer " + cfg.Token
	total := cfg.total()
	start := time.Now()
	var fixed []byte
	if cfg.Repeat {
		fixed = wire.AppendAlert(nil, cfg.Run, 0, start)
	}

	jobs := make(chan job, max(min(total, 1<<20), cfg.Concurrency))
	results := make([][]record, cfg.Concurrency)
	var wg sync.WaitGroup

	switch {
	case cfg.Rate > 0:
		// Open loop: a dispatcher queues each alert at its intended time;
		// workers take them as they free up.
		go func() {
			defer close(jobs)
			interval := float64(time.Second) / cfg.Rate
			for i := 0; i < total; i++ {
				due := start.Add(time.Duration(float64(i) * interval))
				if d := time.Until(due); d > 0 {
					t := time.NewTimer(d)
					select {
					case <-t.C:
					case <-ctx.Done():
						t.Stop()
						return
					}
				}
				select {
				case jobs <- job{seq: uint64(i), intended: due}:
				case <-ctx.Done():
					return
				}
			}
		}()
	default:
		// Closed loop: each worker sends its next alert as soon as its
		// previous one is answered.
		deadline := start.Add(cfg.Duration)
		go func() {
			defer close(jobs)
			for seq := 0; total < 0 || seq < total; seq++ {
				if total < 0 && time.Now().After(deadline) {
					return
				}
				select {
				case jobs <- job{seq: uint64(seq)}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}

	for w := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 1024)
			recs := make([]record, 0, 1024)
			for j := range jobs {
				if ctx.Err() != nil {
					continue
				}
				recs = append(recs, send(ctx, client, target, auth, cfg.Run, j, fixed, &buf))
			}
			results[w] = recs
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return summarize(cfg, start, results), nil
}

// send makes one intake request: alert j.seq, or the fixed body when
// there is one (Config.Repeat).
func send(ctx context.Context, client *http.Client, target, auth, run string, j job, fixed []byte, buf *[]byte) record {
	r := record{seq: j.seq, intended: j.intended}
	r.sent = time.Now()
	if r.intended.IsZero() {
		r.intended = r.sent
	}
	body := fixed
	if body == nil {
		*buf = wire.AppendAlert((*buf)[:0], run, j.seq, r.intended)
		body = *buf
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		r.err, r.done = err, time.Now()
		return r
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		r.err, r.done = err, time.Now()
		return r
	}
	r.status = resp.StatusCode
	if r.status/100 == 2 {
		_, err = io.Copy(io.Discard, resp.Body)
	} else {
		var b []byte
		b, err = io.ReadAll(io.LimitReader(resp.Body, 512))
		r.body = string(b)
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	resp.Body.Close()
	r.done = time.Now()
	if err != nil && r.status/100 == 2 {
		// The answer was cut short: the commit is not confirmed.
		r.err = err
	}
	return r
}

// maxSamples is how many failures Result.ErrorSamples keeps.
const maxSamples = 5

// summarize merges the workers' records.
func summarize(cfg Config, start time.Time, results [][]record) *Result {
	res := &Result{
		Run: cfg.Run, Rate: cfg.Rate, Concurrency: cfg.Concurrency,
		Statuses: map[int]int{}, Errors: map[string]int{},
	}
	var lat, svc []time.Duration
	var lastDone, lastSent time.Time
	var maxSeq uint64
	for _, recs := range results {
		for _, r := range recs {
			res.Sent++
			maxSeq = max(maxSeq, r.seq+1)
			if r.done.After(lastDone) {
				lastDone = r.done
			}
			if r.sent.After(lastSent) {
				lastSent = r.sent
			}
			if r.status != 0 {
				res.Statuses[r.status]++
			}
			if r.err == nil && r.status/100 == 2 {
				res.Accepted++
				lat = append(lat, r.done.Sub(r.intended))
				svc = append(svc, r.done.Sub(r.sent))
				continue
			}
			kind, detail := classify(r)
			res.Errors[kind]++
			if len(res.ErrorSamples) < maxSamples {
				res.ErrorSamples = append(res.ErrorSamples, fmt.Sprintf("%s: %s", wire.ID(cfg.Run, r.seq), detail))
			}
		}
	}
	res.accepted, res.answered = make([]bool, maxSeq), make([]int64, maxSeq)
	for _, recs := range results {
		for _, r := range recs {
			if r.err == nil && r.status/100 == 2 {
				res.accepted[r.seq], res.answered[r.seq] = true, r.done.UnixNano()
			}
		}
	}
	if !lastDone.IsZero() {
		res.WallSeconds = lastDone.Sub(start).Seconds()
		res.SendSeconds = lastSent.Sub(start).Seconds()
	}
	if res.WallSeconds > 0 {
		res.AcceptedPerSec = float64(res.Accepted) / res.WallSeconds
	}
	res.Latency = latency.Summarize(lat)
	res.ServiceLatency = latency.Summarize(svc)
	return res
}

// afterAnswer summarizes, over the arrivals of accepted alerts, the time
// from each one's 2xx answer to its arrival (0 for one that arrived first),
// and counts those that arrived first.
func (r *Result) afterAnswer(arrivals map[uint64]int64) (latency.Summary, int) {
	var d []time.Duration
	first := 0
	for seq, at := range arrivals {
		if seq < uint64(len(r.accepted)) && r.accepted[seq] {
			if at < r.answered[seq] {
				first++
			}
			d = append(d, max(time.Duration(at-r.answered[seq]), 0))
		}
	}
	return latency.Summarize(d), first
}

// classify names a failure for Result.Errors and describes it.
func classify(r record) (kind, detail string) {
	if r.err == nil {
		body := r.body
		if len(body) > 300 {
			body = body[:300] + "…"
		}
		return "HTTP " + strconv.Itoa(r.status), "HTTP " + strconv.Itoa(r.status) + " " + body
	}
	var ne net.Error
	switch {
	case errors.Is(r.err, syscall.ECONNREFUSED):
		kind = "connection refused"
	case errors.Is(r.err, syscall.ECONNRESET):
		kind = "connection reset"
	case errors.Is(r.err, syscall.EADDRNOTAVAIL):
		kind = "no local port"
	case errors.Is(r.err, io.EOF), errors.Is(r.err, io.ErrUnexpectedEOF):
		kind = "EOF"
	case errors.Is(r.err, context.DeadlineExceeded), errors.Is(r.err, os.ErrDeadlineExceeded), errors.As(r.err, &ne) && ne.Timeout():
		kind = "timeout"
	default:
		kind = "transport error"
	}
	return kind, r.err.Error()
}
