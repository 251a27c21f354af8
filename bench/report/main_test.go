package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// write puts files (name → JSON) into dir/backend.
func write(t *testing.T, dir, backend string, files map[string]string) {
	t.Helper()
	d := filepath.Join(dir, backend)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, js := range files {
		if err := os.WriteFile(filepath.Join(d, name), []byte(js), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReport(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "sqlite", map[string]string{
		"intake-tocsin-1.json":  `{"sent":20000,"accepted":20000,"accepted_per_sec":3000,"server":{"cpu_seconds":4}}`,
		"intake-tocsin-2.json":  `{"sent":20000,"accepted":20000,"accepted_per_sec":4000,"server":{"cpu_seconds":4}}`,
		"intake-tocsin-3.json":  `{"sent":20000,"accepted":19999,"accepted_per_sec":3500,"server":{"cpu_seconds":4}}`,
		"intake-trivial-1.json": `{"sent":100000,"accepted":100000,"accepted_per_sec":60000}`,
		"intake-trivial-2.json": `{"sent":100000,"accepted":100000,"accepted_per_sec":50000}`,
		"intake-trivial-3.json": `{"sent":100000,"accepted":100000,"accepted_per_sec":70000}`,
		"repeat.json":           `{"sent":20000,"accepted":20000,"accepted_per_sec":21000}`,
		"repeat-growth.json":    `{"repeats":20000,"payload_rows_before":1,"payload_rows_after":20001,"bytes_before":102400,"bytes_after":17510400}`,
		"deliver.json": `{"sent":20000,"accepted":20000,"accepted_per_sec":4000,"delivery":{"unique":20000,"duplicates":0,"per_sec":1200},
			"server":{"cpu_seconds":30},"drain":{"backlog":14000,"delivered":14000,"per_sec":1000,"cpu_us_per_delivery":1150}}`,
		"fixed.json":   `{"sent":10000,"accepted":10000,"rate":500,"latency":{"count":10000,"p50_ms":1.2,"p99_ms":5.5},"after_answer":{"count":10000,"p50_ms":1.1,"p99_ms":3.5},"before_answer":12,"delivery":{"unique":10000,"per_sec":500,"latency":{"count":10000,"p50_ms":2.35,"p99_ms":9.04,"max_ms":40.5}}}`,
		"timers.json":  `{"timers":10000,"wait_seconds":60,"due_spread_seconds":3.2,"fired":10000,"not_fired":0,"lateness":{"count":10000,"p50_ms":400,"p99_ms":900,"max_ms":1900},"fired_per_sec":2000}`,
		"startup.json": `{"start_ms":[20,30,25],"start_median_ms":25,"start_min_ms":20,"start_max_ms":30,"first_ms":60,"idle_seconds":5,"idle_rss_median_mib":38.5,"idle_rss_max_mib":39}`,
	})
	write(t, dir, "postgres", map[string]string{
		"intake-tocsin-1.json": `{"sent":20000,"accepted":20000,"accepted_per_sec":4100,"server":{"cpu_seconds":4}}`,
		"repeat-growth.json":   `{"repeats":20000,"payload_rows_before":1,"payload_rows_after":1,"bytes_before":1000,"bytes_after":1000}`,
		"fixed.json":           `{"sent":10000,"accepted":10000,"rate":500,"lost":2,"delivery":{"unique":9998,"per_sec":500,"latency":{"count":9998,"p50_ms":3,"p99_ms":40,"max_ms":60}}}`,
		"wake-escalate.json":   `{"n":60,"rate":20,"accepted":60,"delivered":60,"via_a":0,"lost":0,"delay":{"count":60,"p50_ms":400,"p99_ms":1000,"max_ms":1000}}`,
		"wake.json":            `{"n":200,"rate":20,"accepted":200,"delivered":200,"via_a":0,"lost":0,"delay":{"count":200,"p50_ms":4,"p99_ms":12,"max_ms":15}}`,
		"deliver.json":         `{"sent":20000,"accepted":20000,"accepted_per_sec":6000,"delivery":{"unique":20000,"per_sec":6000},"server":{"cpu_seconds":6},"drain":{"backlog":50,"delivered":50,"per_sec":3000,"cpu_us_per_delivery":100}}`,
		"drain.json":           `{"sent":20000,"accepted":20000,"accepted_per_sec":9000,"delivery":{"unique":20000,"per_sec":4000},"drain":{"backlog":15000,"delivered":15000,"per_sec":6000,"cpu_us_per_delivery":150}}`,
	})
	var rows []Row
	for _, b := range []string{"sqlite", "postgres", "absent"} {
		r, err := Backend(filepath.Join(dir, b), b)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r...)
	}
	type want struct{ figure, backend, verdict, measured string }
	for i, w := range []want{
		{"durable intake", "sqlite", "missed", "3,500/s (3,000–4,000, 3 runs), 1 errors; trivial handler 60,000/s (50,000–70,000); tocsin is **5.8%** of it; 200 µs tocsin CPU per alert"},
		{"deduplicated repeats (one", "sqlite", "met", "21,000/s, 0 errors"},
		{"deduplicated repeats stored once", "sqlite", "missed", "+1.00 payload rows and +870 bytes of database per repeat (20000 repeats: 1 → 20001 rows, 100 KiB → 16.7 MiB)"},
		{"deliveries through a webhook channel, intake", "sqlite", "missed", "1,200/s delivered (first to last arrival) while the intake took 4,000/s; backlog 14,000 when the intake ended"},
		{"deliveries through a webhook channel, drained", "sqlite", "missed", "drained **1,000/s** with **1150 µs** tocsin CPU per delivery: 14,000 left when the intake (4,000/s, the same run) ended"},
		{"alert → first webhook", "sqlite", "met", "p99 **9.04 ms** (p50 2.35, max 40.5) at 500/s; of which accept p50 1.20 / p99 5.50 ms, answer → arrival p50 1.10 / p99 3.50 ms (12 arrived before their answer)"},
		{"escalation timer", "sqlite", "met", "10,000 timers due within 3.2 s: late p50 400 ms, p99 **900 ms**, max **1900 ms**; 2,000 fired/s"},
		{"idle RSS", "sqlite", "missed", "**38.5 MiB** idle (5s after start; max 39.0) / **25.0 ms** to ready (median of 3; 20.0–30.0; first start 60.0 ms)"},
		{"durable intake", "postgres", "met", "4,100/s (4,100–4,100, 1 runs), 0 errors"},
		{"deduplicated repeats stored once", "postgres", "met", "+0.00 payload rows"},
		{"deliveries through a webhook channel, intake", "postgres", "met", "6,000/s delivered (first to last arrival) while the intake took 6,000/s; backlog 50 when the intake ended"},
		{"deliveries through a webhook channel, drained", "postgres", "met", "drained **6,000/s** with **150 µs** tocsin CPU per delivery: 15,000 left when the intake (9,000/s, pacing off) ended"},
		{"alert → first webhook", "postgres", "missed", "p99 **40.0 ms**"},
		{"work accepted by busy instance A", "postgres", "met", "p99 **12.0 ms**"},
		{"a timer armed on busy instance A", "postgres", "missed", "p99 **1000 ms**, max 1000 ms (60 alerts at 20/s, 0 run by A, 0 lost)"},
	} {
		if i >= len(rows) {
			t.Fatalf("only %d rows: %+v", len(rows), rows)
		}
		r := rows[i]
		if !strings.HasPrefix(r.Figure, w.figure) || r.Backend != w.backend || r.Verdict != w.verdict || !strings.Contains(r.Measured, w.measured) {
			t.Errorf("row %d = %+v\nwant %+v", i, r, w)
		}
	}
	if len(rows) != 15 {
		t.Errorf("%d rows, want 15", len(rows))
	}
	table := Table(rows)
	if strings.Count(table, "\n") != 17 || !strings.Contains(table, "| **missed** |") {
		t.Fatalf("table:\n%s", table)
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999.4: "999", 1000: "1,000", 1234567.8: "1,234,568", -5300: "-5,300"} {
		if got := Thousands(in); got != want {
			t.Errorf("Thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

// TestDeliverRowsWithoutTheDrainRun: a run of this version whose drain run
// (pacing off) is missing reports no drain figure rather than the paced
// run's own small drain.
func TestDeliverRowsWithoutTheDrainRun(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "sqlite", map[string]string{
		"deliver.json": `{"sent":20000,"accepted":20000,"accepted_per_sec":2000,"after_answer":{"count":20000,"p50_ms":300},
			"delivery":{"unique":20000,"per_sec":2000},"drain":{"backlog":500,"delivered":500,"per_sec":6000,"cpu_us_per_delivery":100}}`,
	})
	rows, err := deliverRows(filepath.Join(dir, "sqlite"), "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || !strings.Contains(rows[0].Measured, "backlog 500 when the intake ended") || rows[0].Verdict != "met" {
		t.Fatalf("rows = %+v; want the keeping-up row alone", rows)
	}
}
