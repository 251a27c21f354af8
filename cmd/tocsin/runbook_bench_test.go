package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tocsin"
	"tocsin/store/storetest"
)

// BenchmarkRunbookSleepers measures issue 12's "1,000 concurrent
// executions each sleeping then resuming — how late the steps run
// (p50/p99) and what it costs": the real binary (a separate process, so
// its CPU is its own) on SQLite and PostgreSQL; 1,000 incidents, each
// with an execution whose aws:sleep ends at the same Timestamp and whose
// next step calls a local server. For each execution it reads how late
// the step after the sleep started (the step row's started_at against the
// sleep's end) and how late its call arrived; the wall time from the
// sleep's end until the last execution succeeded; and the server's CPU
// (utime+stime) and peak RSS over that wake-up, and over the start of the
// executions. Run it with
//
//	go test -run '^$' -bench RunbookSleepers -benchtime 1x ./cmd/tocsin/
//
// (TOCSIN_TEST_POSTGRES_URL set for PostgreSQL; TOCSIN_BENCH_SLEEPERS
// changes the 1,000).
func BenchmarkRunbookSleepers(b *testing.B) {
	n := 1000
	if v := os.Getenv("TOCSIN_BENCH_SLEEPERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("TOCSIN_BENCH_SLEEPERS=%q is not a positive number", v)
		}
	}
	bin := buildBinary(b)
	for _, kind := range storetest.Kinds() {
		b.Run(kind.Name, func(b *testing.B) {
			dbURL := kind.URL(b)
			if kind.Name == "sqlite" {
				dbURL = "sqlite://" + b.TempDir() + "/tocsin.db"
			}
			var all sleeperRound
			for range b.N {
				r := runSleepers(b, bin, dbURL, n)
				all.stepLate = append(all.stepLate, r.stepLate...)
				all.callLate = append(all.callLate, r.callLate...)
				all.wall = max(all.wall, r.wall)
				all.startWall += r.startWall
				all.startCPU += r.startCPU
				all.wakeCPU += r.wakeCPU
				all.rssMiB = max(all.rssMiB, r.rssMiB)
			}
			report(b, kind.Name, n, all)
		})
	}
}

// sleeperRound is what one round measured.
type sleeperRound struct {
	// stepLate and callLate are, per execution, how late the step after
	// the sleep started and how late its call arrived.
	stepLate, callLate []time.Duration
	// wall is from the sleep's end to the last execution's success;
	// startWall how long starting the incidents and executions took.
	wall, startWall time.Duration
	// startCPU and wakeCPU are the server's utime+stime while the
	// executions were started and from just before the wake-up to the
	// end.
	startCPU, wakeCPU time.Duration
	rssMiB            float64
}

// runSleepers starts a server on dbURL, n executions that sleep until one
// moment, and measures their wake-up.
func runSleepers(b *testing.B, bin, dbURL string, n int) sleeperRound {
	b.Helper()
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	done := make(chan struct{})
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		id := r.URL.Query().Get("exec")
		mu.Lock()
		if _, seen := arrived[id]; !seen {
			arrived[id] = at
			if len(arrived) == n {
				close(done)
			}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok": true}`))
	}))
	defer sink.Close()
	dir := b.TempDir()
	p := startProcess(b, bin, writeConfig(b, dir, dbURL, sink.URL), freeAddr(b))
	defer kill9(p)
	c := rbAPI{p.url}
	c.putRunbook(b, "sleepers", fmt.Sprintf(`schemaVersion: '0.3'
parameters:
  Wake: {type: String}
mainSteps:
  - {name: Nap, action: 'aws:sleep', inputs: {Timestamp: '{{ Wake }}'}}
  - name: Call
    action: 'tocsin:http'
    inputs: {Method: GET, URL: '%s/woke?exec={{ automation:EXECUTION_ID }}'}
`, sink.URL))

	// The sleep ends long enough after now for every execution to start:
	// about 2 ms of a request each on this machine, plus a margin.
	t0 := time.Now()
	wake := t0.Add(10*time.Second + time.Duration(n)*6*time.Millisecond).Truncate(time.Second)
	cpu0 := procCPU(b, p)
	ids := startSleepers(b, c, n, wake)
	var r sleeperRound
	r.startWall = time.Since(t0)
	cpu1 := procCPU(b, p)
	r.startCPU = cpu1 - cpu0
	if !time.Now().Before(wake.Add(-time.Second)) {
		b.Fatalf("starting %d executions took %s, past their wake time: the round measures nothing", n, r.startWall)
	}
	time.Sleep(time.Until(wake) - 500*time.Millisecond)
	cpu2 := procCPU(b, p)
	select {
	case <-done:
	case <-time.After(time.Until(wake) + 5*time.Minute):
		mu.Lock()
		b.Fatalf("5 minutes after the wake time %d of %d executions have called", len(arrived), n)
	}
	// The call's arrival is not the execution's end: wait for each to
	// have succeeded, and read its steps.
	var last time.Time
	for _, id := range ids {
		e := c.await(b, id, "ended", time.Minute, func(e *tocsin.RunbookExecution) bool { return tocsin.RunbookEnded(e.Status) })
		if e.Status != tocsin.RunbookSuccess || len(e.Steps) != 2 {
			b.Fatalf("execution %s: %s %q, steps %s", id, e.Status, e.FailureMessage, stepSummary(e))
		}
		nap, call := e.Steps[0], e.Steps[1]
		if !nap.WakeAt.Equal(wake) {
			b.Fatalf("execution %s slept until %s; want %s", id, nap.WakeAt, wake)
		}
		r.stepLate = append(r.stepLate, call.StartedAt.Sub(wake))
		mu.Lock()
		r.callLate = append(r.callLate, arrived[id].Sub(wake))
		mu.Unlock()
		if call.EndedAt.After(last) {
			last = call.EndedAt
		}
	}
	r.wall = last.Sub(wake)
	r.wakeCPU = procCPU(b, p) - cpu2
	r.rssMiB = procPeakRSS(b, p)
	return r
}

// startSleepers starts n incidents with one execution each, 16 at a time,
// and returns the executions' ids.
func startSleepers(b *testing.B, c rbAPI, n int, wake time.Time) []string {
	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	params := map[string][]string{"Wake": {wake.UTC().Format(time.RFC3339)}}
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			inc := c.startIncident(b, fmt.Sprintf("sleeper %d", i))
			ids[i] = c.startRunbook(b, "sleepers", inc, params)
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return ids
}

// report prints a round's figures as a row of BENCHMARKS.md's table and
// as the benchmark's metrics.
func report(b *testing.B, backend string, n int, r sleeperRound) {
	slices.Sort(r.stepLate)
	slices.Sort(r.callLate)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(pct(r.stepLate, 50)), "step-p50-ms")
	b.ReportMetric(ms(pct(r.stepLate, 99)), "step-p99-ms")
	b.ReportMetric(ms(r.stepLate[len(r.stepLate)-1]), "step-max-ms")
	b.ReportMetric(ms(r.wall), "wall-ms")
	b.ReportMetric(r.wakeCPU.Seconds(), "wake-cpu-s")
	fmt.Printf("| %s | %d | %.0f / %.0f / %.0f | %.0f / %.0f / %.0f | %.2f | %.2f | %.1f | %.2f | %.0f |\n",
		backend, n,
		ms(pct(r.stepLate, 50)), ms(pct(r.stepLate, 99)), ms(r.stepLate[len(r.stepLate)-1]),
		ms(pct(r.callLate, 50)), ms(pct(r.callLate, 99)), ms(r.callLate[len(r.callLate)-1]),
		r.wall.Seconds(), r.wakeCPU.Seconds(), r.startWall.Seconds(), r.startCPU.Seconds(), r.rssMiB)
}

// pct is the p-th percentile of sorted durations (nearest rank).
func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// procCPU is a process's user and system time so far, from
// /proc/PID/stat (in USER_HZ ticks, 100 a second on Linux).
func procCPU(b *testing.B, p *process) time.Duration {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		b.Fatalf("read the server's CPU time: %v", err)
	}
	// The fields after the command's name, which may hold spaces, start
	// with the state (field 3); utime and stime are fields 14 and 15.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("read the server's CPU time from %q", raw)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// procPeakRSS is a process's largest resident set so far, in MiB.
func procPeakRSS(b *testing.B, p *process) float64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		b.Fatalf("read the server's memory: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	b.Fatalf("no VmHWM in /proc/%d/status", p.cmd.Process.Pid)
	return 0
}
