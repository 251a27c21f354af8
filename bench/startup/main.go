// Command startup measures how fast `tocsin serve` starts and how much
// memory it holds when idle: the time from the exec to the first 200 from
// GET /readyz (polled every 2 ms), and VmRSS after the start and an idle
// pause. The first start creates the database (migrations) and is
// reported on its own; the median is over the starts after it, on the
// existing database, as a restart in production is.
//
// Usage:
//
//	startup -tocsin BIN [-n 5] [-idle 5s] [-dir DIR] [-json FILE] [-out markdown|json]
//	startup -md-header
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"tocsin/bench/internal/emit"
	"tocsin/bench/internal/latency"
	"tocsin/bench/internal/procstat"
	"tocsin/bench/internal/tocsinproc"
)

// config is the configuration of every start: no channel, tokens set (so
// no credentials file is generated after the first start), warnings only.
const config = `log: {level: warn}
ingest: {tokens: ["bench-ingest-token"]}
api: {tokens: ["bench-api-token"]}
`

func main() {
	bin := flag.String("tocsin", "", "the tocsin binary")
	n := flag.Int("n", 5, "starts on the existing database (after the first, which creates it)")
	idle := flag.Duration("idle", 5*time.Second, "idle time after each start before VmRSS is read")
	dir := flag.String("dir", "", "working directory (default: a temporary one, removed after)")
	backend := flag.String("backend", "sqlite", "backend name for the report")
	jsonFile := flag.String("json", "", "also write the JSON result to this file")
	out := flag.String("out", "markdown", "output: json or markdown (one table row)")
	mdHeader := flag.Bool("md-header", false, "print the Markdown table header and exit")
	flag.Parse()
	if *mdHeader {
		fmt.Print(MarkdownHeader())
		return
	}
	if *bin == "" || *n < 1 {
		log.Fatal("startup: -tocsin is required and -n must be at least 1")
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "tocsin-startup-")
		if err != nil {
			log.Fatalf("startup: %v", err)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	o := tocsinproc.Options{Bin: *bin, Dir: *dir, Config: config, Database: "sqlite://" + filepath.Join(*dir, "tocsin.db")}
	res, err := Measure(context.Background(), o, *n, *idle)
	if err != nil {
		log.Fatalf("startup: %v", err)
	}
	res.Backend = *backend
	if err := emit.Result(res, *jsonFile, *out); err != nil {
		log.Fatalf("startup: %v", err)
	}
}

// Result is the start-ups of one run (the JSON of -out json).
type Result struct {
	Backend string `json:"backend,omitempty"`
	// FirstMs is the first start, which creates the database.
	FirstMs float64 `json:"first_ms"`
	// StartMs is each later start's exec → ready time, with its spread.
	StartMs       []float64 `json:"start_ms"`
	StartMinMs    float64   `json:"start_min_ms"`
	StartMedianMs float64   `json:"start_median_ms"`
	StartMaxMs    float64   `json:"start_max_ms"`
	// IdleRSSMiB is each later start's VmRSS after IdleSeconds idle.
	IdleSeconds      float64   `json:"idle_seconds"`
	IdleRSSMiB       []float64 `json:"idle_rss_mib"`
	IdleRSSMinMiB    float64   `json:"idle_rss_min_mib"`
	IdleRSSMedianMiB float64   `json:"idle_rss_median_mib"`
	IdleRSSMaxMiB    float64   `json:"idle_rss_max_mib"`
}

// Measure starts tocsin once to create its database, then n times more,
// each time waiting idle and reading VmRSS before stopping it.
func Measure(ctx context.Context, o tocsinproc.Options, n int, idle time.Duration) (*Result, error) {
	res := &Result{IdleSeconds: idle.Seconds()}
	s, err := tocsinproc.Start(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("first start: %w", err)
	}
	res.FirstMs = latency.Ms(s.StartUp())
	s.Stop()
	for i := range n {
		s, err := tocsinproc.Start(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("start %d: %w", i+2, err)
		}
		res.StartMs = append(res.StartMs, latency.Ms(s.StartUp()))
		time.Sleep(idle)
		rss, err := procstat.RSS(s.PID)
		s.Stop()
		if err != nil {
			return nil, fmt.Errorf("start %d: %w", i+2, err)
		}
		res.IdleRSSMiB = append(res.IdleRSSMiB, float64(rss)/(1<<20))
	}
	res.StartMinMs, res.StartMedianMs, res.StartMaxMs = latency.Spread(res.StartMs)
	res.IdleRSSMinMiB, res.IdleRSSMedianMiB, res.IdleRSSMaxMiB = latency.Spread(res.IdleRSSMiB)
	return res, nil
}

// MarkdownHeader is the header of the table MarkdownRow writes rows of.
func MarkdownHeader() string {
	return "| backend | starts | start-up to ready, median (min – max) | first start (creates the database) | idle RSS, median (min – max) |\n" +
		"|---|--:|--:|--:|--:|\n"
}

// MarkdownRow formats r as one row of the MarkdownHeader table.
func (r *Result) MarkdownRow() string {
	return fmt.Sprintf("| %s | %d | %s ms (%s – %s) | %s ms | %.1f MiB (%.1f – %.1f) after %gs idle |\n", r.Backend, len(r.StartMs),
		latency.FormatMs(r.StartMedianMs), latency.FormatMs(r.StartMinMs), latency.FormatMs(r.StartMaxMs), latency.FormatMs(r.FirstMs),
		r.IdleRSSMedianMiB, r.IdleRSSMinMiB, r.IdleRSSMaxMiB, r.IdleSeconds)
}
