// Package procstat reads a process's CPU time and resident set from /proc
// (Linux), for the benchmarks' figures of tocsin's own cost.
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// clockTicks is Linux's USER_HZ, the unit of /proc/PID/stat times.
const clockTicks = 100

// CPU returns the user+system CPU time used so far by process pid,
// read from /proc/PID/stat (Linux only).
func CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU extracts utime+stime from the text of /proc/PID/stat.
func parseStatCPU(b []byte) (time.Duration, error) {
	// The command name, field 2, is in parentheses and may hold spaces:
	// count fields from the last ')'. utime and stime are fields 14, 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc stat format")
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc stat format")
	}
	ut, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc stat format")
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// RSS returns the resident set size of process pid in bytes, read
// from /proc/PID/status (Linux only).
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusRSS(b)
}

// parseStatusRSS extracts VmRSS from the text of /proc/PID/status.
func parseStatusRSS(b []byte) (int64, error) {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			break
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			break
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no VmRSS in /proc status")
}

// Watch follows the CPU time and peak RSS of a process during a run.
type Watch struct {
	pid      int
	cpu0     time.Duration
	stop     chan struct{}
	done     sync.WaitGroup
	mu       sync.Mutex
	maxRSS   int64
	firstErr error
}

// Start begins sampling pid's RSS every 100ms.
func Start(pid int) (*Watch, error) {
	cpu, err := CPU(pid)
	if err != nil {
		return nil, err
	}
	w := &Watch{pid: pid, cpu0: cpu, stop: make(chan struct{})}
	w.sample()
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				w.sample()
			case <-w.stop:
				return
			}
		}
	}()
	return w, nil
}

// sample records the current RSS.
func (w *Watch) sample() {
	rss, err := RSS(w.pid)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if w.firstErr == nil {
			w.firstErr = err
		}
		return
	}
	w.maxRSS = max(w.maxRSS, rss)
}

// Stop ends the sampling and returns the CPU time used since watchProc and
// the largest RSS seen.
func (w *Watch) Stop() (cpu time.Duration, maxRSS int64, err error) {
	close(w.stop)
	w.done.Wait()
	w.sample()
	cpu1, err := CPU(w.pid)
	if err != nil {
		return 0, 0, err
	}
	return cpu1 - w.cpu0, w.maxRSS, nil
}
