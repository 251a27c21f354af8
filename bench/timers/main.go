// Command timers measures how late tocsin's escalation timers fire: many
// ack-or-escalate timers come due within the same minute and each one's
// escalation reaches a fake PagerDuty; lateness is its arrival there minus
// the time it was due.
//
// tocsin runs with on-call on every incident (oncall.enable), a fixed
// oncall.wait_minutes W and provider pagerduty whose api_url is the fake.
// Each alert opens an incident whose timer is due at exactly its
// created_at + W (the store writes both from one clock reading), so the
// due times come from the incident API after the intake, and the fire
// times from the fake.
//
// Usage:
//
//	timers fake -addr 127.0.0.1:0 -addr-file F
//	timers report -fake http://FAKE -api http://TOCSIN -api-token T -wait 1m
//	              [-timeout 60s] [-backend sqlite] [-json FILE] [-out markdown|json]
//	timers -md-header
//
// fake serves POST /v2/enqueue (PagerDuty's Events API v2; the arrival is
// timestamped first, then the body decoded), GET /stats and GET
// /arrivals. report lists every incident of tocsin (run it on a database
// of this run only), waits until the fake has a trigger for each or until
// timeout after the last was due, and prints lateness p50/p99/max.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"tocsin/bench/internal/emit"
	"tocsin/bench/internal/latency"
	"tocsin/bench/internal/serve"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-md-header" {
		fmt.Print(MarkdownHeader())
		return
	}
	if len(os.Args) < 2 {
		fatalf("usage: timers fake|report [flags] (or -md-header)")
	}
	switch os.Args[1] {
	case "fake":
		runFake(os.Args[2:])
	case "report":
		runReport(os.Args[2:])
	default:
		fatalf("unknown command %q: fake or report", os.Args[1])
	}
}

// runFake serves the fake PagerDuty until SIGTERM.
func runFake(args []string) {
	fs := flag.NewFlagSet("fake", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (port 0: any free port)")
	addrFile := fs.String("addr-file", "", "write the address listened on to this file")
	_ = fs.Parse(args)
	ln, err := serve.Listen(*addr, *addrFile)
	if err != nil {
		fatalf("%v", err)
	}
	fmt.Fprintf(os.Stderr, "timers: fake PagerDuty on http://%s\n", ln.Addr())
	if err := serve.Run(ln, NewFake().Handler(), "timers"); err != nil {
		fatalf("%v", err)
	}
}

// runReport waits for the escalations and prints their lateness.
func runReport(args []string) {
	fs := flag.NewFlagSet("report", flag.ExitOnError)
	fake := fs.String("fake", "", "the fake's base URL")
	api := fs.String("api", "", "tocsin's base URL")
	token := fs.String("api-token", "bench-api-token", "tocsin API token")
	wait := fs.Duration("wait", time.Minute, "the on-call wait tocsin is configured with (oncall.wait_minutes)")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for escalations after the last timer was due")
	backend := fs.String("backend", "", "backend name for the report")
	jsonFile := fs.String("json", "", "also write the JSON result to this file")
	out := fs.String("out", "markdown", "output: json or markdown (one table row)")
	_ = fs.Parse(args)
	if *fake == "" || *api == "" {
		fatalf("report needs -fake and -api")
	}
	ctx := context.Background()
	c := &http.Client{Timeout: 30 * time.Second}
	due, err := dueTimes(ctx, c, strings.TrimRight(*api, "/"), *token, *wait)
	if err != nil {
		fatalf("listing incidents: %v", err)
	}
	if len(due) == 0 {
		fatalf("tocsin has no incidents: no timer was armed")
	}
	arrivals, err := awaitFires(ctx, c, strings.TrimRight(*fake, "/"), due, *timeout)
	if err != nil {
		fatalf("reading the fake: %v", err)
	}
	res := Compute(due, arrivals)
	res.Backend, res.WaitSeconds = *backend, wait.Seconds()
	if err := emit.Result(res, *jsonFile, *out); err != nil {
		fatalf("%v", err)
	}
}

// Arrival is one event the fake received.
type Arrival struct {
	// Incident is custom_details.incident_id (or the dedup_key without
	// its "tocsin-" prefix).
	Incident string `json:"incident"`
	// Action is the event_action: trigger or resolve.
	Action string `json:"action"`
	// AtNS is the arrival time, Unix nanoseconds.
	AtNS int64 `json:"at_ns"`
}

// Fake is a PagerDuty Events API v2 that records when each event arrived.
// It is safe for concurrent use.
type Fake struct {
	mu       sync.Mutex
	arrivals []Arrival
	bad      int
}

// NewFake returns a fake with nothing received.
func NewFake() *Fake { return &Fake{arrivals: make([]Arrival, 0, 1<<14)} }

// Handler serves POST /v2/enqueue, GET /stats and GET /arrivals.
func (f *Fake) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/enqueue", f.enqueue)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		st := map[string]int{"events": len(f.arrivals), "unreadable": f.bad}
		f.mu.Unlock()
		writeJSON(w, st)
	})
	mux.HandleFunc("GET /arrivals", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		a := append([]Arrival(nil), f.arrivals...)
		f.mu.Unlock()
		writeJSON(w, a)
	})
	return mux
}

// enqueue receives one event: the time first, then the body.
func (f *Fake) enqueue(w http.ResponseWriter, r *http.Request) {
	at := time.Now().UnixNano()
	var ev struct {
		EventAction string `json:"event_action"`
		DedupKey    string `json:"dedup_key"`
		Payload     *struct {
			CustomDetails struct {
				IncidentID string `json:"incident_id"`
			} `json:"custom_details"`
		} `json:"payload"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&ev); err != nil {
		f.mu.Lock()
		f.bad++
		f.mu.Unlock()
		http.Error(w, `{"status":"invalid event"}`, http.StatusBadRequest)
		return
	}
	inc := strings.TrimPrefix(ev.DedupKey, "tocsin-")
	if ev.Payload != nil && ev.Payload.CustomDetails.IncidentID != "" {
		inc = ev.Payload.CustomDetails.IncidentID
	}
	f.mu.Lock()
	f.arrivals = append(f.arrivals, Arrival{Incident: inc, Action: ev.EventAction, AtNS: at})
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{"status":"success","message":"Event processed","dedup_key":%q}`, ev.DedupKey)
}

// Result is the lateness of one run's timers (the JSON of -out json).
type Result struct {
	Backend     string  `json:"backend,omitempty"`
	WaitSeconds float64 `json:"wait_seconds"`
	// Timers is the number of incidents, each with one timer.
	Timers int `json:"timers"`
	// DueSpreadSeconds is from the first timer's due time to the last's.
	DueSpreadSeconds float64 `json:"due_spread_seconds"`
	// Fired is the timers whose escalation arrived; NotFired the others.
	Fired    int `json:"fired"`
	NotFired int `json:"not_fired"`
	// Duplicates is triggers beyond the first of one incident.
	Duplicates int `json:"duplicates"`
	// Early is the escalations that arrived before their timer was due.
	Early int `json:"early"`
	// Unknown is triggers for incidents the API did not list.
	Unknown int `json:"unknown"`
	// Lateness is arrival minus due time of each fired timer's first
	// trigger; an early one counts as 0 (and in Early).
	Lateness latency.Summary `json:"lateness"`
	// FiredPerSec is Fired over the time from the first arrival to the
	// last.
	FiredPerSec float64 `json:"fired_per_sec"`
}

// Compute matches the triggers to the timers' due times.
func Compute(due map[string]time.Time, arrivals []Arrival) *Result {
	res := &Result{Timers: len(due)}
	var first, last, dueMin, dueMax time.Time
	for _, d := range due {
		if dueMin.IsZero() || d.Before(dueMin) {
			dueMin = d
		}
		if d.After(dueMax) {
			dueMax = d
		}
	}
	res.DueSpreadSeconds = dueMax.Sub(dueMin).Seconds()
	fired := make(map[string]time.Time, len(due))
	for _, a := range arrivals {
		if a.Action != "trigger" {
			continue
		}
		if _, ok := due[a.Incident]; !ok {
			res.Unknown++
			continue
		}
		at := time.Unix(0, a.AtNS)
		if prev, ok := fired[a.Incident]; ok {
			res.Duplicates++
			if !at.Before(prev) {
				continue
			}
		}
		fired[a.Incident] = at
	}
	late := make([]time.Duration, 0, len(fired))
	for inc, at := range fired {
		d := at.Sub(due[inc])
		if d < 0 {
			res.Early++
			d = 0
		}
		late = append(late, d)
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	res.Fired, res.NotFired = len(fired), len(due)-len(fired)
	res.Lateness = latency.Summarize(late)
	if s := last.Sub(first).Seconds(); s > 0 && res.Fired > 1 {
		res.FiredPerSec = float64(res.Fired-1) / s
	}
	return res
}

// MarkdownHeader is the header of the table MarkdownRow writes rows of.
func MarkdownHeader() string {
	return "| backend | timers | wait | due within (s) | fired | not fired | duplicates | early | lateness p50 / p99 / max (ms) | fired/s |\n" +
		"|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
}

// MarkdownRow formats r as one row of the MarkdownHeader table.
func (r *Result) MarkdownRow() string {
	lat := "–"
	if r.Lateness.Count > 0 {
		lat = latency.FormatMs(r.Lateness.P50) + " / " + latency.FormatMs(r.Lateness.P99) + " / " + latency.FormatMs(r.Lateness.Max)
	}
	return fmt.Sprintf("| %s | %d | %s | %.1f | %d | %d | %d | %d | %s | %.0f |\n", r.Backend, r.Timers,
		time.Duration(r.WaitSeconds*float64(time.Second)), r.DueSpreadSeconds, r.Fired, r.NotFired, r.Duplicates, r.Early, lat, r.FiredPerSec)
}

// dueTimes lists every incident through tocsin's API: each one's timer
// is due at its created_at plus wait.
func dueTimes(ctx context.Context, c *http.Client, api, token string, wait time.Duration) (map[string]time.Time, error) {
	due := map[string]time.Time{}
	cursor := ""
	for {
		q := url.Values{"limit": {"500"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Incidents []struct {
				ID        string    `json:"id"`
				CreatedAt time.Time `json:"created_at"`
			} `json:"incidents"`
			NextCursor string `json:"next_cursor"`
		}
		if err := getJSON(ctx, c, api+"/api/v1/incidents?"+q.Encode(), token, &page); err != nil {
			return nil, err
		}
		for _, inc := range page.Incidents {
			due[inc.ID] = inc.CreatedAt.Add(wait)
		}
		if page.NextCursor == "" || len(page.Incidents) == 0 {
			return due, nil
		}
		cursor = page.NextCursor
	}
}

// awaitFires polls the fake until it has an event for every timer, or
// until timeout after the last was due, and returns what it received.
func awaitFires(ctx context.Context, c *http.Client, fake string, due map[string]time.Time, timeout time.Duration) ([]Arrival, error) {
	var last time.Time
	for _, d := range due {
		if d.After(last) {
			last = d
		}
	}
	deadline := last.Add(timeout)
	for {
		var st struct {
			Events int `json:"events"`
		}
		if err := getJSON(ctx, c, fake+"/stats", "", &st); err != nil {
			return nil, err
		}
		if st.Events >= len(due) {
			var a []Arrival
			if err := getJSON(ctx, c, fake+"/arrivals", "", &a); err != nil {
				return nil, err
			}
			if Compute(due, a).NotFired == 0 {
				return a, nil
			}
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "timers: gave up %v after the last timer was due, with %d events for %d timers\n", timeout, st.Events, len(due))
			var a []Arrival
			err := getJSON(ctx, c, fake+"/arrivals", "", &a)
			return a, err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// getJSON decodes the answer of GET u into v, with a bearer token unless
// it is empty.
func getJSON(ctx context.Context, c *http.Client, u, token string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s %s", u, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// writeJSON answers 200 with v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// fatalf prints an error and exits 1.
func fatalf(format string, args ...any) {
	log.SetFlags(0)
	log.Fatalf("timers: "+format, args...)
}
