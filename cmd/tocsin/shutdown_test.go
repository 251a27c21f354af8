package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tocsin/apptest"
	"tocsin/store/storetest"
)

// TestSIGTERMAndKill9WithAHangingChannel runs the binary on PostgreSQL
// with a webhook receiver that hangs. SIGTERM stops the server within its
// bounded grace (not after every hanging send times out), and after kill
// -9 another instance delivers everything within seconds: the dead
// instance held only what it was running, under a short lease.
func TestSIGTERMAndKill9WithAHangingChannel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dbURL := storetest.PostgresURL(t)
	var hang atomic.Bool
	hang.Store(true)
	var inFlight atomic.Int32
	var mu sync.Mutex
	delivered := map[string]bool{}
	sinkSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Read the body first: the server notices a closed connection (and
		// cancels the request's context) only once the body is consumed.
		body, _ := io.ReadAll(r.Body)
		if hang.Load() {
			inFlight.Add(1)
			defer inFlight.Add(-1)
			for hang.Load() && r.Context().Err() == nil {
				time.Sleep(10 * time.Millisecond)
			}
			if r.Context().Err() != nil {
				return
			}
		}
		var d struct {
			Incident struct{ ID string } `json:"incident"`
		}
		json.Unmarshal(body, &d)
		mu.Lock()
		delivered[d.Incident.ID] = true
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	// Cleanups run last-in first-out: the processes are killed first, then
	// hanging handlers are released and the receiver closed.
	t.Cleanup(func() { hang.Store(false); sinkSrv.Close() })
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(delivered) }

	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "tocsin.yaml")
	cfg := fmt.Sprintf(`data_dir: %s
database: %q
log: {level: warn}
ingest: {tokens: [%s]}
api: {tokens: [%s]}
alert:
  webhook: {enable: true, url: %s/hook, timeout: 60s}
`, dir, dbURL, apptest.IngestToken, apptest.APIToken, sinkSrv.URL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	p := startProcess(t, bin, cfgPath, freeAddr(t))
	const alerts = 20
	for i := range alerts {
		req, _ := http.NewRequest("POST", p.url+"/api/v1/alerts/generic", strings.NewReader(`{"title":"hang `+strconv.Itoa(i)+`"}`))
		req.Header.Set("Authorization", "Bearer "+apptest.IngestToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("alert %d: %v %v", i, resp, err)
		}
		resp.Body.Close()
	}
	apptest.Eventually(t, "a full lane of hanging sends", func() bool { return inFlight.Load() == 8 })

	t0 := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan struct{})
	go func() { p.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("SIGTERM: still running after 30s:\n%s", p.log.String())
	}
	if took := time.Since(t0); took > 8*time.Second {
		t.Fatalf("SIGTERM took %s with hanging sends; the grace is 5s", took)
	}

	// Again, and this time the instance dies.
	p = startProcess(t, bin, cfgPath, freeAddr(t))
	for deadline := time.Now().Add(15 * time.Second); inFlight.Load() != 8; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after restart %d sends in flight, %d delivered; want a full lane of 8:\n%s", inFlight.Load(), count(), p.log.String())
		}
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	killed := time.Now()
	hang.Store(false)
	startProcess(t, bin, cfgPath, freeAddr(t))
	deadline := killed.Add(20 * time.Second)
	for count() < alerts && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(killed)
	if n := count(); n != alerts {
		t.Fatalf("%d of %d delivered 20s after kill -9", n, alerts)
	}
	// The 8 sends in flight wait out the dead instance's 10 s lease; the
	// other 12 were never claimed and go at once.
	if took > 15*time.Second {
		t.Fatalf("deliveries resumed %s after kill -9; a dead instance's jobs must move on within its 10s lease", took)
	}
	t.Logf("SIGTERM stopped in time; after kill -9 all %d delivered in %s", alerts, took.Round(100*time.Millisecond))
}
