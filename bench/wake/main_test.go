package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"tocsin/bench/internal/sink"
	"tocsin/bench/internal/wire"
)

func TestDelays(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ns := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	accepted := []time.Time{t0, t0, {}, t0, t0.Add(time.Second)}
	d, before, lost := Delays(accepted, []sink.Arrival{
		{Seq: 1, AtNS: ns(30 * time.Millisecond)},
		{Seq: 0, AtNS: ns(10 * time.Millisecond)},
		{Seq: 0, AtNS: ns(900 * time.Millisecond)}, // a later delivery of 0: ignored
		{Seq: 2, AtNS: ns(5 * time.Millisecond)},   // not accepted
		{Seq: 4, AtNS: ns(999 * time.Millisecond)}, // before its answer
		{Seq: 77, AtNS: ns(time.Millisecond)},      // not sent
	})
	if fmt.Sprint(d) != "[30ms 10ms 0s]" || before != 1 || lost != 1 {
		t.Fatalf("Delays = %v, %d before the answer, %d lost", d, before, lost)
	}
}

func TestHolder(t *testing.T) {
	sk := sink.New()
	sk.Reset("meas")
	h := &holder{blockRun: "blk", sink: sk.Handler(), release: make(chan struct{})}
	srv := httptest.NewServer(h)
	defer srv.Close()
	body := func(run string) string {
		return `{"version":"1","event":"opened","incident":{"labels":{"bench_id":"` + wire.ID(run, 1) + `","bench_sent_ns":"5"}}}`
	}
	postHook := func(run string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hold", strings.NewReader(body(run)))
		req.Header.Set("X-Tocsin-Event", "opened")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	done := make(chan int)
	go func() { done <- postHook("blk") }()
	if _, err := waitStable(context.Background(), &h.held, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// A measured alert reaching A goes on to the sink at once.
	if code := postHook("meas"); code != 200 || h.viaA.Load() != 1 || sk.Stats().Unique != 1 {
		t.Fatalf("pass-through: %d, via A %d, sink %+v", code, h.viaA.Load(), sk.Stats())
	}
	select {
	case <-done:
		t.Fatal("the blocker was not held")
	case <-time.After(100 * time.Millisecond):
	}
	h.Release()
	h.Release() // twice is fine
	if code := <-done; code != 200 || h.held.Load() != 0 {
		t.Fatalf("released blocker: %d, %d held", code, h.held.Load())
	}
	var r Result
	r.Backend, r.Work, r.N, r.Rate, r.Held, r.HeldAtEnd, r.Delivered, r.ViaA = "postgres", "notify", 3, 20, 8, 7, 3, 1
	if row := r.MarkdownRow(); row != "| postgres | notify | 3 | 20 | 8 → 7 | 2 | 1 | 0 | – |\n" {
		t.Fatalf("row %q", row)
	}
	if !bytes.Contains([]byte(MarkdownHeader()), []byte("A's 2xx → arrival")) {
		t.Fatal("header")
	}
}

// TestMeasure runs two real instances on PostgreSQL.
func TestMeasure(t *testing.T) {
	url := os.Getenv("TOCSIN_TEST_POSTGRES_URL")
	if url == "" || testing.Short() {
		t.Skip("needs TOCSIN_TEST_POSTGRES_URL and builds tocsin")
	}
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schema := fmt.Sprintf("bench_wake_test_%d", time.Now().UnixNano())
	dir := t.TempDir()
	bin := filepath.Join(dir, "tocsin")
	if out, err := exec.Command("go", "build", "-o", bin, "tocsin/cmd/tocsin").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for _, work := range []string{"notify", "escalate"} {
		s := schema + "_" + work
		if _, err := db.Exec("CREATE SCHEMA " + s); err != nil {
			t.Fatal(err)
		}
		defer db.Exec("DROP SCHEMA " + s + " CASCADE")
		res, err := Measure(context.Background(), Options{Bin: bin, Database: url + sep + "search_path=" + s, Dir: filepath.Join(dir, work),
			Work: work, N: 10, Rate: 20, Blockers: 16, Wait: 20 * time.Second})
		if err != nil {
			t.Fatalf("%s: %v", work, err)
		}
		if res.Work != work || res.Accepted != 10 || res.Delivered != 10 || res.Lost != 0 || res.Held < 1 || res.Delay.Count != 10 || res.Delay.Max > 10000 {
			t.Fatalf("%s: result %+v", work, res)
		}
	}
}
