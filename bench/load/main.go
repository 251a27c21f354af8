// Command load sends Alertmanager webhooks to tocsin's intake and measures
// how fast and how quickly they are durably accepted; with -sink it also
// reports, from the bench sink, how many webhook deliveries came out and
// how long they took.
//
// Every alert has its own groupKey, so each one opens a new incident and
// causes one "opened" webhook. Its labels carry a unique bench_id
// ("<run>-<seq>") and bench_sent_ns, the intended send time in Unix
// nanoseconds, which the sink uses to measure alert→delivery latency.
//
// With -rate 0 the load is closed loop: -concurrency workers each send the
// next alert as soon as the previous one is answered (maximum throughput).
// With -rate R it is open loop: alert i is due at start + i/R whatever
// happened before, and latency is measured from that intended time, so a
// stalled server shows up as latency instead of being hidden by the load
// tool slowing down (coordinated omission).
//
// Usage:
//
//	load -url http://127.0.0.1:8080 -token T [-rate 500 -duration 20s | -n 20000]
//	     [-concurrency 64] [-sink http://127.0.0.1:9099] [-wait 60s]
//	     [-out json|markdown] [-backend sqlite -scenario max] [-json FILE]
//	load -md-header
package main

import (
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tocsin/bench/internal/emit"
	"tocsin/bench/internal/latency"
	"tocsin/bench/internal/procstat"
	"tocsin/bench/internal/wire"
)

func main() {
	var cfg Config
	flag.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "tocsin base URL")
	flag.StringVar(&cfg.Token, "token", "bench-ingest-token", "ingest bearer token")
	flag.Float64Var(&cfg.Rate, "rate", 0, "alerts per second (0: as fast as possible, closed loop)")
	flag.DurationVar(&cfg.Duration, "duration", 0, "how long to send (when -n is 0)")
	flag.IntVar(&cfg.N, "n", 0, "number of alerts (overrides -duration)")
	flag.IntVar(&cfg.Concurrency, "concurrency", 0, "requests in flight at most (default 64 for -rate 0, else max(64, rate) up to 1000)")
	flag.DurationVar(&cfg.Timeout, "timeout", 30*time.Second, "timeout of one request")
	flag.BoolVar(&cfg.Repeat, "repeat", false, "send the same alert, byte for byte, in every request (deduplicated repeats)")
	sink := flag.String("sink", "", "bench sink base URL: reset it before and read delivery stats after")
	wait := flag.Duration("wait", 60*time.Second, "with -sink: how long to wait for every accepted alert to be delivered")
	settle := flag.Duration("settle", time.Second, "with -sink: how long to keep listening for duplicates once all are delivered")
	out := flag.String("out", "markdown", "output: json or markdown (one table row)")
	backend := flag.String("backend", "", "backend name for the report")
	scenario := flag.String("scenario", "", "scenario name for the report")
	jsonFile := flag.String("json", "", "also write the JSON result to this file")
	notesFile := flag.String("notes", "", "append Markdown bullets about anything abnormal (errors, losses, duplicates) to this file")
	serverPID := flag.Int("server-pid", 0, "tocsin's process id: report its CPU time and peak RSS during the run (Linux)")
	mdHeader := flag.Bool("md-header", false, "print the Markdown table header and exit")
	flag.Parse()

	if *mdHeader {
		fmt.Print(MarkdownHeader())
		return
	}
	if *out != "json" && *out != "markdown" {
		fatalf("-out must be json or markdown")
	}
	if cfg.N <= 0 && cfg.Duration <= 0 {
		cfg.N = 20000
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 64
		if cfg.Rate > 0 {
			cfg.Concurrency = min(max(64, int(cfg.Rate)), 1000)
		}
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	cfg.Run = newRunID()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ctl := &http.Client{Timeout: 10 * time.Second}
	if *sink != "" {
		*sink = strings.TrimRight(*sink, "/")
		if err := resetSink(ctx, ctl, *sink, cfg.Run); err != nil {
			fatalf("resetting the sink: %v", err)
		}
	}

	var watch *procstat.Watch
	if *serverPID > 0 {
		var err error
		if watch, err = procstat.Start(*serverPID); err != nil {
			fmt.Fprintf(os.Stderr, "load: not measuring the server: %v\n", err)
		}
	}

	res, err := Run(ctx, cfg)
	if err != nil {
		fatalf("%v", err)
	}
	res.Backend, res.Scenario = *backend, *scenario

	if *sink != "" {
		// The drain starts now: the intake is over.
		var mark *drainMark
		if watch != nil && !cfg.Repeat {
			var merr error
			if mark, merr = markDrain(ctx, ctl, *sink, *serverPID); merr != nil {
				fmt.Fprintf(os.Stderr, "load: not measuring the drain: %v\n", merr)
			}
		}
		var cpuDrained time.Duration
		delivered := func() {
			if mark == nil {
				return
			}
			var cerr error
			if cpuDrained, cerr = procstat.CPU(*serverPID); cerr != nil {
				fmt.Fprintf(os.Stderr, "load: not measuring the drain: %v\n", cerr)
				mark = nil
			}
		}
		st, missing, err := waitDelivered(ctx, ctl, *sink, res.accepted, *wait, *settle, delivered)
		if err != nil {
			fatalf("reading the sink: %v", err)
		}
		res.Delivery = st
		res.Lost, res.LostSample, res.DeliveredNotAccepted = compare(cfg.Run, res.accepted, missing)
		if arrivals, err := sinkArrivals(ctx, ctl, *sink); err != nil {
			fmt.Fprintf(os.Stderr, "load: not measuring the latency after the answer: %v\n", err)
		} else {
			after, first := res.afterAnswer(arrivals)
			res.AfterAnswer, res.BeforeAnswer = &after, first
		}
		if mark != nil {
			res.Drain = mark.drain(st, int64(res.Accepted), cpuDrained)
		}
	}
	if watch != nil {
		cpu, rss, err := watch.Stop()
		if err != nil {
			fmt.Fprintf(os.Stderr, "load: measuring the server: %v\n", err)
		} else {
			res.Server = &ServerUsage{CPUSeconds: cpu.Seconds(), MaxRSSMiB: float64(rss) / (1 << 20)}
		}
	}

	if *notesFile != "" {
		if err := appendNotes(*notesFile, res.Notes(cfg)); err != nil {
			fatalf("%v", err)
		}
	}
	if err := emit.Result(res, *jsonFile, *out); err != nil {
		fatalf("%v", err)
	}
	for _, s := range res.ErrorSamples {
		fmt.Fprintf(os.Stderr, "load: failure sample: %s\n", s)
	}
	if res.Lost > 0 {
		fmt.Fprintf(os.Stderr, "load: %d accepted alerts were never delivered, e.g. %s\n", res.Lost, strings.Join(res.LostSample, ", "))
	}
}

// compare finds the accepted alerts that were not delivered and the
// delivered ones that were not accepted. missing is sorted.
func compare(run string, accepted []bool, missing []uint64) (lost int, sample []string, extra int) {
	isMissing := make([]bool, len(accepted))
	for _, seq := range missing {
		if seq < uint64(len(accepted)) {
			isMissing[seq] = true
		}
	}
	for seq, ok := range accepted {
		switch {
		case ok && isMissing[seq]:
			lost++
			if len(sample) < 5 {
				sample = append(sample, wire.ID(run, uint64(seq)))
			}
		case !ok && !isMissing[seq]:
			extra++
		}
	}
	return lost, sample, extra
}

// Notes describes in Markdown bullets what went wrong or looks abnormal in
// r, a run of cfg: nothing for a clean run.
func (r *Result) Notes(cfg Config) []string {
	var notes []string
	add := func(format string, args ...any) {
		prefix := ""
		if r.Backend != "" || r.Scenario != "" {
			prefix = "**" + strings.TrimSpace(r.Backend+", "+r.Scenario) + "**: "
		}
		notes = append(notes, "- "+prefix+fmt.Sprintf(format, args...))
	}
	if n := r.Sent - r.Accepted; n > 0 {
		kinds := make([]string, 0, len(r.Errors))
		for k, v := range r.Errors {
			kinds = append(kinds, fmt.Sprintf("%s ×%d", k, v))
		}
		slices.Sort(kinds)
		add("%d of %d intake requests failed (%s)", n, r.Sent, strings.Join(kinds, ", "))
		for _, s := range r.ErrorSamples {
			add("failure sample: `%s`", strings.ReplaceAll(s, "`", "'"))
		}
	}
	if cfg.Rate > 0 && cfg.N == 0 && r.SendSeconds > cfg.Duration.Seconds()*1.05+0.1 {
		add("open loop fell behind: sending %d alerts at %.0f/s took %.1fs instead of %.1fs (workers all busy)",
			r.Sent, cfg.Rate, r.SendSeconds, cfg.Duration.Seconds())
	}
	d := r.Delivery
	if d == nil {
		return notes
	}
	if r.Lost > 0 {
		add("%d accepted alerts were not delivered to the sink within the wait (e.g. %s)", r.Lost, strings.Join(r.LostSample, ", "))
	}
	if r.DeliveredNotAccepted > 0 {
		add("%d alerts whose intake request failed were delivered anyway (committed, answer lost)", r.DeliveredNotAccepted)
	}
	if d.Duplicates > 0 {
		add("%d duplicate deliveries (%d repeated a delivery_id, %d were new notifications of an alert already notified)",
			d.Duplicates, d.DuplicateDeliveryIDs, d.Duplicates-d.DuplicateDeliveryIDs)
	}
	if d.BadSignature > 0 {
		add("%d deliveries had a bad X-Tocsin-Signature", d.BadSignature)
	}
	if d.Unparsed > 0 {
		add("%d deliveries had no readable bench_id/bench_sent_ns", d.Unparsed)
	}
	if d.Stale > 0 {
		add("%d deliveries of an earlier run arrived during this one", d.Stale)
	}
	others := make([]string, 0, len(d.Events))
	for e, n := range d.Events {
		if e != "opened" {
			others = append(others, fmt.Sprintf("%q ×%d", e, n))
		}
	}
	if len(others) > 0 {
		slices.Sort(others)
		add("deliveries of other events: %s", strings.Join(others, ", "))
	}
	return notes
}

// appendNotes appends notes, one a line, to the file at path.
func appendNotes(path string, notes []string) error {
	if len(notes) == 0 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strings.Join(notes, "\n") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// MarkdownHeader is the header of the table MarkdownRow writes rows of.
func MarkdownHeader() string {
	return "| backend | scenario | sent | accepted/s | accept p50 / p99 / max (ms) | errors | delivered (unique) | duplicates | delivered/s | delivery p50 / p99 / max (ms) | tocsin CPU (s) | tocsin RSS (MiB) |\n" +
		"|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
}

// MarkdownRow formats r as one row of the MarkdownHeader table.
func (r *Result) MarkdownRow() string {
	errs := r.Sent - r.Accepted
	delivered, dups, dps, dlat, cpu, rss := "–", "–", "–", "–", "–", "–"
	if u := r.Server; u != nil {
		cpu = fmt.Sprintf("%.1f", u.CPUSeconds)
		rss = fmt.Sprintf("%.0f", u.MaxRSSMiB)
	}
	if d := r.Delivery; d != nil {
		dps = fmt.Sprintf("%.0f", d.PerSec)
		delivered = fmt.Sprintf("%d", d.Unique)
		if r.Lost > 0 {
			delivered += fmt.Sprintf(" (%d lost)", r.Lost)
		}
		dups = fmt.Sprintf("%d", d.Duplicates)
		dlat = triple(d.Latency)
	}
	return fmt.Sprintf("| %s | %s | %d | %.0f | %s | %d | %s | %s | %s | %s | %s | %s |\n",
		r.Backend, r.Scenario, r.Sent, r.AcceptedPerSec, triple(r.Latency), errs, delivered, dups, dps, dlat, cpu, rss)
}

// triple formats p50 / p99 / max.
func triple(s latency.Summary) string {
	if s.Count == 0 {
		return "–"
	}
	return latency.FormatMs(s.P50) + " / " + latency.FormatMs(s.P99) + " / " + latency.FormatMs(s.Max)
}

// resetSink clears the sink and tells it the run id.
func resetSink(ctx context.Context, c *http.Client, sink, run string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sink+"/reset?run="+run, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// Drained, so the connection goes back to the pool.
	defer io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST /reset: %s", resp.Status)
	}
	return nil
}

// getJSON decodes the JSON answer of GET url into v.
func getJSON(ctx context.Context, c *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s %s", url, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// waitDelivered polls the sink until every accepted alert has been
// delivered or wait has passed, then listens settle longer for duplicates.
// It returns the sink's stats and the alerts it has not got.
// delivered, when not nil, is called once every alert has arrived (or
// the wait is over), before the settle.
func waitDelivered(ctx context.Context, c *http.Client, sink string, accepted []bool, wait, settle time.Duration, delivered func()) (*wire.SinkStats, []uint64, error) {
	want := int64(0)
	for _, ok := range accepted {
		if ok {
			want++
		}
	}
	deadline := time.Now().Add(wait)
	for {
		var st wire.SinkStats
		if err := getJSON(ctx, c, sink+"/stats", &st); err != nil {
			return nil, nil, err
		}
		// Unique also counts alerts whose request failed but which were
		// committed anyway: once it is high enough, check the accepted
		// ones one by one.
		if st.Unique >= want {
			missing, err := sinkMissing(ctx, c, sink, len(accepted))
			if err != nil {
				return nil, nil, err
			}
			if lost, _, _ := compare("", accepted, missing); lost == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "load: gave up waiting after %v with %d unique deliveries for %d accepted alerts\n", wait, st.Unique, want)
			settle = 0
			break
		}
		select {
		case <-time.After(250 * time.Millisecond):
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	if delivered != nil {
		delivered()
	}
	select {
	case <-time.After(settle):
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	var st wire.SinkStats
	if err := getJSON(ctx, c, sink+"/stats", &st); err != nil {
		return nil, nil, err
	}
	missing, err := sinkMissing(ctx, c, sink, len(accepted))
	if err != nil {
		return nil, nil, err
	}
	return &st, missing, nil
}

// drainMark is the state of the server and the sink when the intake
// ended.
type drainMark struct {
	at     time.Time
	cpu    time.Duration
	unique int64
}

// markDrain reads the server's CPU time and the sink's unique deliveries
// at the end of the intake.
func markDrain(ctx context.Context, c *http.Client, sink string, pid int) (*drainMark, error) {
	m := &drainMark{at: time.Now()}
	var err error
	if m.cpu, err = procstat.CPU(pid); err != nil {
		return nil, err
	}
	var st wire.SinkStats
	if err := getJSON(ctx, c, sink+"/stats", &st); err != nil {
		return nil, err
	}
	m.unique = st.Unique
	return m, nil
}

// drain describes the delivery phase from the mark to the last arrival in
// st, of accepted alerts; cpu is the server's CPU time once all arrived.
func (m *drainMark) drain(st *wire.SinkStats, accepted int64, cpu time.Duration) *Drain {
	d := &Drain{Backlog: max(accepted-m.unique, 0), Delivered: st.Unique - m.unique, CPUSeconds: (cpu - m.cpu).Seconds()}
	if last, err := time.Parse(time.RFC3339Nano, st.LastAt); err == nil && last.After(m.at) {
		d.Seconds = last.Sub(m.at).Seconds()
	}
	if d.Seconds > 0 {
		d.PerSec = float64(d.Delivered) / d.Seconds
	}
	if d.Delivered > 0 {
		d.CPUMicrosPerDelivery = d.CPUSeconds * 1e6 / float64(d.Delivered)
	}
	return d
}

// sinkMissing asks the sink which of the first n alerts it has not got.
func sinkMissing(ctx context.Context, c *http.Client, sink string, n int) ([]uint64, error) {
	var missing []uint64
	err := getJSON(ctx, c, fmt.Sprintf("%s/missing?n=%d", sink, n), &missing)
	return missing, err
}

// sinkArrivals reads the sink's first arrival of each alert of the run
// (GET /deliveries: "seq,sent_ns,arrival_ns,latency_ms" lines).
func sinkArrivals(ctx context.Context, c *http.Client, sink string) (map[uint64]int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sink+"/deliveries", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /deliveries: %s", resp.Status)
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("GET /deliveries: %w", err)
	}
	out := make(map[uint64]int64, len(rows))
	for i, row := range rows {
		if i == 0 || len(row) < 3 {
			continue // the header
		}
		seq, err1 := strconv.ParseUint(row[0], 10, 64)
		at, err2 := strconv.ParseInt(row[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("GET /deliveries: line %d: %q", i+1, strings.Join(row, ","))
		}
		out[seq] = at
	}
	return out, nil
}

// newRunID returns 8 random hex digits.
func newRunID() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// fatalf prints an error and exits 1.
func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "load: "+format+"\n", args...)
	os.Exit(1)
}
