// Command report reads the JSON results bench/run.sh collected and prints
// issue 13's target table: every figure with its target beside it and
// whether it was met, per backend.
//
// The directory holds one folder per backend (sqlite, postgres) with the
// files run.sh writes: intake-tocsin-N.json and intake-trivial-N.json
// (bench/load, runs N = 1, 2, …), repeat.json (bench/load -repeat) and
// repeat-growth.json (the database before and after the repeats),
// deliver.json and fixed.json (bench/load with the sink), timers.json
// (bench/timers), wake.json and wake-escalate.json (bench/wake -work
// notify, escalate) and startup.json (bench/startup).
// A missing file leaves its row out (or says "not measured").
//
// Usage:
//
//	report -dir RESULTS
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"tocsin/bench/internal/latency"
)

func main() {
	dir := flag.String("dir", "", "the results directory")
	flag.Parse()
	if *dir == "" {
		log.Fatal("report: -dir is required")
	}
	var rows []Row
	for _, b := range []string{"sqlite", "postgres"} {
		r, err := Backend(filepath.Join(*dir, b), b)
		if err != nil {
			log.Fatalf("report: %v", err)
		}
		rows = append(rows, r...)
	}
	fmt.Print(Table(rows))
}

// Row is one line of the target table.
type Row struct {
	Figure, Backend, Measured, Target string
	// Verdict is "met", "missed" or "" (no target for this backend, or
	// nothing measured).
	Verdict string
}

// Table formats rows as Markdown.
func Table(rows []Row) string {
	var b strings.Builder
	b.WriteString("| figure | backend | measured | target | |\n|---|---|---|---|---|\n")
	for _, r := range rows {
		v := r.Verdict
		if v == "missed" {
			v = "**missed**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.Figure, r.Backend, r.Measured, r.Target, v)
	}
	return b.String()
}

// verdict is "met" when ok, else "missed".
func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// The JSON the tools write, as far as the report reads it.
type (
	summary struct {
		Count int     `json:"count"`
		P50   float64 `json:"p50_ms"`
		P99   float64 `json:"p99_ms"`
		Max   float64 `json:"max_ms"`
	}
	loadResult struct {
		Sent           int     `json:"sent"`
		Accepted       int     `json:"accepted"`
		WallSeconds    float64 `json:"wall_seconds"`
		SendSeconds    float64 `json:"send_seconds"`
		Rate           float64 `json:"rate"`
		AcceptedPerSec float64 `json:"accepted_per_sec"`
		Latency        summary `json:"latency"`
		Delivery       *struct {
			Unique     int64   `json:"unique"`
			Duplicates int64   `json:"duplicates"`
			PerSec     float64 `json:"per_sec"`
			Latency    summary `json:"latency"`
		} `json:"delivery"`
		AfterAnswer  *summary `json:"after_answer"`
		BeforeAnswer int      `json:"before_answer"`
		Lost         int      `json:"lost"`
		Server       *struct {
			CPUSeconds float64 `json:"cpu_seconds"`
		} `json:"server"`
		Drain *struct {
			Backlog              int64   `json:"backlog"`
			Delivered            int64   `json:"delivered"`
			PerSec               float64 `json:"per_sec"`
			CPUMicrosPerDelivery float64 `json:"cpu_us_per_delivery"`
		} `json:"drain"`
	}
	growth struct {
		Repeats     int   `json:"repeats"`
		RowsBefore  int64 `json:"payload_rows_before"`
		RowsAfter   int64 `json:"payload_rows_after"`
		BytesBefore int64 `json:"bytes_before"`
		BytesAfter  int64 `json:"bytes_after"`
	}
	timersResult struct {
		Timers           int     `json:"timers"`
		WaitSeconds      float64 `json:"wait_seconds"`
		DueSpreadSeconds float64 `json:"due_spread_seconds"`
		Fired            int     `json:"fired"`
		NotFired         int     `json:"not_fired"`
		Duplicates       int     `json:"duplicates"`
		Lateness         summary `json:"lateness"`
		FiredPerSec      float64 `json:"fired_per_sec"`
	}
	wakeResult struct {
		N         int     `json:"n"`
		Rate      float64 `json:"rate"`
		Accepted  int     `json:"accepted"`
		Delivered int     `json:"delivered"`
		ViaA      int     `json:"via_a"`
		Lost      int     `json:"lost"`
		Delay     summary `json:"delay"`
	}
	startupResult struct {
		Starts           []float64 `json:"start_ms"`
		StartMedianMs    float64   `json:"start_median_ms"`
		StartMinMs       float64   `json:"start_min_ms"`
		StartMaxMs       float64   `json:"start_max_ms"`
		FirstMs          float64   `json:"first_ms"`
		IdleSeconds      float64   `json:"idle_seconds"`
		IdleRSSMedianMiB float64   `json:"idle_rss_median_mib"`
		IdleRSSMaxMiB    float64   `json:"idle_rss_max_mib"`
	}
)

// read decodes the JSON file at path into v; false when it does not exist.
func read(path string, v any) (bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

// runs reads prefix-1.json, prefix-2.json, … until one is missing.
func runs(dir, prefix string) ([]loadResult, error) {
	var out []loadResult
	for i := 1; ; i++ {
		var r loadResult
		ok, err := read(filepath.Join(dir, prefix+"-"+strconv.Itoa(i)+".json"), &r)
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		out = append(out, r)
	}
}

// Backend returns the rows of one backend's results (none when its folder
// does not exist).
func Backend(dir, name string) ([]Row, error) {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	var rows []Row
	for _, f := range []func(string, string) ([]Row, error){intakeRows, repeatRows, deliverRows, fixedRows, timerRows, wakeRows, startupRows} {
		r, err := f(dir, name)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

// intakeRows: durable intake beside the trivial handler.
func intakeRows(dir, name string) ([]Row, error) {
	toc, err := runs(dir, "intake-tocsin")
	if err != nil {
		return nil, err
	}
	triv, err := runs(dir, "intake-trivial")
	if err != nil {
		return nil, err
	}
	if len(toc) == 0 {
		return nil, nil
	}
	rates, errs := perSec(toc)
	lo, med, hi := latency.Spread(rates)
	m := fmt.Sprintf("%s/s (%s–%s, %d runs), %d errors", Thousands(med), Thousands(lo), Thousands(hi), len(toc), errs)
	ratioOK := true
	if len(triv) > 0 {
		trates, _ := perSec(triv)
		tlo, tmed, thi := latency.Spread(trates)
		ratio := med / tmed
		ratioOK = ratio >= 0.20
		m += fmt.Sprintf("; trivial handler %s/s (%s–%s); tocsin is **%.1f%%** of it", Thousands(tmed), Thousands(tlo), Thousands(thi), 100*ratio)
	}
	if cpu := cpuPerAlert(toc); cpu > 0 {
		m += fmt.Sprintf("; %.0f µs tocsin CPU per alert", cpu)
	}
	r := Row{Figure: "durable intake, new incident per alert (no channel)", Backend: name, Measured: m}
	switch name {
	case "sqlite":
		r.Target = "≥ 10,000 alerts/s, ≥ 20% of the trivial handler, 0 errors"
		r.Verdict = verdict(med >= 10000 && ratioOK && len(triv) > 0 && errs == 0)
	case "postgres":
		r.Target = "≥ 4,000 alerts/s, 0 errors"
		r.Verdict = verdict(med >= 4000 && errs == 0)
	}
	return []Row{r}, nil
}

// perSec returns each run's accepted/s and the failed requests of all.
func perSec(rs []loadResult) (rates []float64, errs int) {
	for _, r := range rs {
		rates = append(rates, r.AcceptedPerSec)
		errs += r.Sent - r.Accepted
	}
	return rates, errs
}

// cpuPerAlert is the median over runs of tocsin's CPU per accepted alert,
// µs (0 when not measured).
func cpuPerAlert(rs []loadResult) float64 {
	var v []float64
	for _, r := range rs {
		if r.Server != nil && r.Accepted > 0 {
			v = append(v, r.Server.CPUSeconds*1e6/float64(r.Accepted))
		}
	}
	_, med, _ := latency.Spread(v)
	return med
}

// repeatRows: deduplicated repeats, their rate and what they store.
func repeatRows(dir, name string) ([]Row, error) {
	var rows []Row
	var r loadResult
	ok, err := read(filepath.Join(dir, "repeat.json"), &r)
	if err != nil {
		return nil, err
	}
	if ok {
		rate := Row{Figure: "deduplicated repeats (one group re-sent)", Backend: name,
			Measured: fmt.Sprintf("%s/s, %d errors", Thousands(r.AcceptedPerSec), r.Sent-r.Accepted)}
		if name == "sqlite" {
			rate.Target, rate.Verdict = "≥ 20,000/s", verdict(r.AcceptedPerSec >= 20000 && r.Sent == r.Accepted)
		} else {
			rate.Target = "– (the target is SQLite's)"
		}
		rows = append(rows, rate)
	}
	var g growth
	ok, err = read(filepath.Join(dir, "repeat-growth.json"), &g)
	if err != nil {
		return nil, err
	}
	if ok && g.Repeats > 0 {
		perRow := float64(g.RowsAfter-g.RowsBefore) / float64(g.Repeats)
		perByte := float64(g.BytesAfter-g.BytesBefore) / float64(g.Repeats)
		rows = append(rows, Row{Figure: "deduplicated repeats stored once", Backend: name,
			Measured: fmt.Sprintf("%+.2f payload rows and %+.0f bytes of database per repeat (%d repeats: %d → %d rows, %s → %s)",
				perRow, perByte, g.Repeats, g.RowsBefore, g.RowsAfter, Bytes(g.BytesBefore), Bytes(g.BytesAfter)),
			Target:  "a counter, last-seen time and the latest payload: no new payload row per repeat",
			Verdict: verdict(g.RowsAfter-g.RowsBefore <= 1)})
	}
	return rows, nil
}

// deliverRows: deliveries through the webhook channel at full intake —
// keeping up with it (deliver.json: intake paced, the default), and the
// drain of the backlog intake leaves with pacing off (drain.json; a
// deliver.json of an older run without drain.json has its own drain).
func deliverRows(dir, name string) ([]Row, error) {
	var rows []Row
	var r loadResult
	ok, err := read(filepath.Join(dir, "deliver.json"), &r)
	if err != nil {
		return nil, err
	}
	if ok && r.Delivery != nil {
		d := r.Delivery
		m := fmt.Sprintf("%s/s delivered (first to last arrival) while the intake took %s/s", Thousands(d.PerSec), Thousands(r.AcceptedPerSec))
		keptUp := false
		if dr := r.Drain; dr != nil {
			m += fmt.Sprintf("; backlog %s when the intake ended", Thousands(float64(dr.Backlog)))
			keptUp = float64(dr.Backlog) <= 0.05*float64(r.Accepted)
		}
		if l := d.Latency; l.Count > 0 {
			m += fmt.Sprintf("; alert → delivery p50 %s / p99 %s ms, accept p99 %s ms", latency.FormatMs(l.P50), latency.FormatMs(l.P99), latency.FormatMs(r.Latency.P99))
		}
		m += lostDuplicates(&r)
		rows = append(rows, Row{Figure: "deliveries through a webhook channel, intake at full speed", Backend: name, Measured: m,
			Target:  "keeping up with intake (backlog ≤ 5% when the intake ends)",
			Verdict: verdict(keptUp && r.Lost == 0 && d.Duplicates == 0)})
	}
	var dres loadResult
	src := "pacing off"
	ok, err = read(filepath.Join(dir, "drain.json"), &dres)
	if err != nil {
		return nil, err
	}
	if !ok {
		if r.AfterAnswer != nil {
			// A run of this version whose drain run failed: its paced
			// intake left no backlog worth a drain figure.
			return rows, nil
		}
		// An older run (before pacing): the drain after its one intake.
		dres, src = r, "the same run"
	}
	r = dres
	dr := r.Drain
	if dr == nil || dr.Delivered < 100 {
		return rows, nil
	}
	m := fmt.Sprintf("drained **%s/s** with **%.0f µs** tocsin CPU per delivery: %s left when the intake (%s/s, %s) ended",
		Thousands(dr.PerSec), dr.CPUMicrosPerDelivery, Thousands(float64(dr.Backlog)), Thousands(r.AcceptedPerSec), src)
	m += lostDuplicates(&r)
	rows = append(rows, Row{Figure: "deliveries through a webhook channel, drained from a backlog", Backend: name, Measured: m,
		Target: "≥ 5,000/s drained, ≤ 200 µs CPU each",
		Verdict: verdict(dr.PerSec >= 5000 && dr.CPUMicrosPerDelivery > 0 && dr.CPUMicrosPerDelivery <= 200 && r.Lost == 0 &&
			(r.Delivery == nil || r.Delivery.Duplicates == 0))})
	return rows, nil
}

// lostDuplicates says what a delivery run lost or sent twice, if anything.
func lostDuplicates(r *loadResult) string {
	if r.Delivery != nil && (r.Lost > 0 || r.Delivery.Duplicates > 0) {
		return fmt.Sprintf("; %d lost, %d duplicates", r.Lost, r.Delivery.Duplicates)
	}
	return ""
}

// fixedRows: alert → first webhook delivery at a steady rate.
func fixedRows(dir, name string) ([]Row, error) {
	var r loadResult
	ok, err := read(filepath.Join(dir, "fixed.json"), &r)
	if err != nil || !ok || r.Delivery == nil {
		return nil, err
	}
	l := r.Delivery.Latency
	target, limit := "< 20 ms", 20.0
	if name == "postgres" {
		target, limit = "< 50 ms", 50
	}
	m := fmt.Sprintf("p99 **%s ms** (p50 %s, max %s) at %g/s", latency.FormatMs(l.P99), latency.FormatMs(l.P50), latency.FormatMs(l.Max), r.Rate)
	// The budget's two parts: to the committed answer, and after it.
	if r.Latency.Count > 0 {
		m += fmt.Sprintf("; of which accept p50 %s / p99 %s ms", latency.FormatMs(r.Latency.P50), latency.FormatMs(r.Latency.P99))
	}
	if a := r.AfterAnswer; a != nil && a.Count > 0 {
		m += fmt.Sprintf(", answer → arrival p50 %s / p99 %s ms (%d arrived before their answer)", latency.FormatMs(a.P50), latency.FormatMs(a.P99), r.BeforeAnswer)
	}
	if r.Lost > 0 {
		m += fmt.Sprintf("; %d lost", r.Lost)
	}
	return []Row{{Figure: "alert → first webhook delivery p99 at a steady rate", Backend: name, Measured: m,
		Target: target + " at 500/s", Verdict: verdict(l.Count > 0 && l.P99 < limit && r.Lost == 0 && r.Rate >= 500)}}, nil
}

// timerRows: escalation timers due together.
func timerRows(dir, name string) ([]Row, error) {
	var r timersResult
	ok, err := read(filepath.Join(dir, "timers.json"), &r)
	if err != nil || !ok {
		return nil, err
	}
	l := r.Lateness
	m := fmt.Sprintf("%s timers due within %.1f s: late p50 %s ms, p99 **%s ms**, max **%s ms**; %s fired/s",
		Thousands(float64(r.Timers)), r.DueSpreadSeconds, latency.FormatMs(l.P50), latency.FormatMs(l.P99), latency.FormatMs(l.Max), Thousands(r.FiredPerSec))
	if r.NotFired > 0 || r.Duplicates > 0 {
		m += fmt.Sprintf("; %d not fired, %d fired twice", r.NotFired, r.Duplicates)
	}
	return []Row{{Figure: "escalation timer lateness, timers due in the same minute", Backend: name, Measured: m,
		Target:  "10,000 timers: p99 < 1 s, max < 2 s",
		Verdict: verdict(r.Timers >= 10000 && l.P99 < 1000 && l.Max < 2000 && r.NotFired == 0)}}, nil
}

// wakeRows: the two-instance wake-up, for a notification and for a
// timer due at once.
func wakeRows(dir, name string) ([]Row, error) {
	var rows []Row
	for _, w := range []struct{ file, figure string }{
		{"wake.json", "work accepted by busy instance A (a webhook), instance B idle"},
		{"wake-escalate.json", "a timer armed on busy instance A due now, instance B idle"},
	} {
		var r wakeResult
		ok, err := read(filepath.Join(dir, w.file), &r)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		l := r.Delay
		m := fmt.Sprintf("A's 2xx → arrival p50 %s ms, p99 **%s ms**, max %s ms (%d alerts at %g/s, %d run by A, %d lost)",
			latency.FormatMs(l.P50), latency.FormatMs(l.P99), latency.FormatMs(l.Max), r.N, r.Rate, r.ViaA, r.Lost)
		rows = append(rows, Row{Figure: w.figure, Backend: name, Measured: m,
			Target: "B or A runs it within 100 ms (p99)", Verdict: verdict(l.Count > 0 && l.P99 <= 100 && r.Lost == 0)})
	}
	return rows, nil
}

// startupRows: idle RSS and start-up to ready.
func startupRows(dir, name string) ([]Row, error) {
	var r startupResult
	ok, err := read(filepath.Join(dir, "startup.json"), &r)
	if err != nil || !ok {
		return nil, err
	}
	// 40 MB read strictly: 40,000,000 bytes.
	limitMiB := 40e6 / (1 << 20)
	m := fmt.Sprintf("**%.1f MiB** idle (%gs after start; max %.1f) / **%s ms** to ready (median of %d; %s–%s; first start %s ms)",
		r.IdleRSSMedianMiB, r.IdleSeconds, r.IdleRSSMaxMiB, latency.FormatMs(r.StartMedianMs), len(r.Starts), latency.FormatMs(r.StartMinMs), latency.FormatMs(r.StartMaxMs), latency.FormatMs(r.FirstMs))
	return []Row{{Figure: "idle RSS / start-up to ready", Backend: name, Measured: m, Target: "< 40 MB (38.1 MiB) / < 100 ms",
		Verdict: verdict(len(r.Starts) > 0 && r.IdleRSSMedianMiB < limitMiB && r.StartMedianMs < 100)}}, nil
}

// Thousands formats v rounded to a whole number with comma separators.
func Thousands(v float64) string {
	n := int64(math.Round(v))
	neg := n < 0
	if neg {
		n = -n
	}
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Bytes formats a size in KiB or MiB.
func Bytes(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
}
