package procstat

import (
	"os"
	"testing"
	"time"
)

func TestParseProc(t *testing.T) {
	stat := []byte("1234 (tocsin (x) y) S 1 1234 1234 0 -1 4194560 5000 0 0 0 250 75 0 0 20 0 12 0 100 2000000 3000 18446744073709551615\n")
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3250*time.Millisecond {
		t.Fatalf("parseStatCPU = %v, %v", cpu, err)
	}
	if _, err := parseStatCPU([]byte("garbage")); err == nil {
		t.Fatal("garbage parsed")
	}
	status := []byte("Name:\ttocsin\nVmPeak:\t  999 kB\nVmRSS:\t   20480 kB\nThreads:\t9\n")
	rss, err := parseStatusRSS(status)
	if err != nil || rss != 20<<20 {
		t.Fatalf("parseStatusRSS = %v, %v", rss, err)
	}
	if _, err := parseStatusRSS([]byte("Name:\tx\n")); err == nil {
		t.Fatal("no VmRSS parsed")
	}
}

func TestWatchSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	w, err := Start(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(end) {
	}
	cpu, rss, err := w.Stop()
	if err != nil || cpu < 0 || rss <= 0 {
		t.Fatalf("cpu %v rss %v err %v", cpu, rss, err)
	}
}
