package main

import (
	"context"
	"database/sql"
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

	"tocsin"
	"tocsin/apptest"
	"tocsin/config"
	"tocsin/store"
	"tocsin/store/storetest"
)

// deliverTemplate is a SQLite database holding the backlog
// BenchmarkDeliverDrain drains: built once per process, copied per run,
// so the profile of a run is the drain's, not the intake's.
var deliverTemplate struct {
	once sync.Once
	path string
	err  error
}

// BenchmarkDeliverDrain measures the delivery path alone on SQLite: a
// database already holding n incidents, each with one notify job for the
// webhook channel (TOCSIN_BENCH_DELIVERIES, default 5,000), is served by
// the real app (engine worker, dispatcher, webhook channel, store) whose
// webhook points at a local sink that counts requests; one op is the
// drain from the server's start until the sink has seen every delivery.
// It reports deliveries/s and this process's CPU per delivery (the sink
// included, which does almost nothing; on PostgreSQL the server's CPU is
// not). The postgres case runs with TOCSIN_TEST_POSTGRES_URL. Run it with
//
//	go test -run '^$' -bench DeliverDrain -benchtime 1x -count 6 -cpuprofile /tmp/deliver.prof ./cmd/tocsin/
func BenchmarkDeliverDrain(b *testing.B) {
	n := benchDeliveries(b)
	b.Run("sqlite", func(b *testing.B) {
		deliverTemplate.once.Do(func() { deliverTemplate.path, deliverTemplate.err = buildDeliverTemplate(n) })
		if deliverTemplate.err != nil {
			b.Fatal(deliverTemplate.err)
		}
		drainDeliveries(b, n, func() string {
			path := filepath.Join(b.TempDir(), "tocsin.db")
			if err := copyFile(deliverTemplate.path, path); err != nil {
				b.Fatal(err)
			}
			return "sqlite://" + path
		})
	})
	b.Run("postgres", func(b *testing.B) {
		drainDeliveries(b, n, func() string {
			url := storetest.PostgresURL(b)
			if err := fillDeliveries(url, n); err != nil {
				b.Fatal(err)
			}
			return url
		})
	})
}

// drainDeliveries runs the drain b.N times, each over a database newDB
// returns (called with the timer stopped) holding n queued deliveries.
func drainDeliveries(b *testing.B, n int, newDB func() string) {
	var got atomic.Int64
	sink := countingSink(&got)
	defer sink.Close()
	var wall, cpu time.Duration
	for range b.N {
		b.StopTimer()
		dbURL := newDB()
		got.Store(0)
		b.StartTimer()
		start, startCPU := time.Now(), processCPU(b)
		ts := apptest.Start(b, dbURL, func(c *config.Config) {
			c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false
			c.Alert.Webhook.URL = sink.URL + "/hook"
		})
		awaitDeliveries(b, &got, int64(n))
		wall += time.Since(start)
		cpu += processCPU(b) - startCPU
		b.StopTimer()
		ts.App.Close()
	}
	b.ReportMetric(float64(n*b.N)/wall.Seconds(), "deliveries/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/delivery")
}

// buildDeliverTemplate writes n incidents with a queued webhook
// notification each into a new SQLite file and returns its path.
func buildDeliverTemplate(n int) (string, error) {
	dir, err := os.MkdirTemp("", "tocsin-deliver-bench-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "tocsin.db")
	return path, fillDeliveries("sqlite://"+path, n)
}

// fillDeliveries ingests n alerts into the database at url, a new
// incident with a queued webhook notification each.
func fillDeliveries(url string, n int) error {
	ctx := context.Background()
	db, err := store.Open(ctx, url, store.Options{Policy: tocsin.Policy{
		Channels: []string{"webhook"}, AutoResolve: true, Impacts: tocsin.DefaultImpacts(),
	}})
	if err != nil {
		return err
	}
	defer db.Close()
	err = storetest.Parallel(8, n, func(i int) error {
		a := storetest.NewAlert("deliver-"+strconv.Itoa(i), "fp", tocsin.AlertFiring, "critical")
		_, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{a}, tocsin.IngestOptions{})
		return err
	})
	if err != nil {
		return err
	}
	return db.Close()
}

// copyFile copies the file at src to dst.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// processCPU is this process's user+system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStormAfterQuiet measures a storm's deliveries on PostgreSQL
// after a quiet time (TOCSIN_TEST_POSTGRES_URL): the server delivers
// alerts one at a time while its tables are a page or two, vacuumed and
// analysed as autovacuum would leave a quiet system's (every statement of
// the path prepared and planned then), and then takes
// TOCSIN_BENCH_DELIVERIES alerts (default 5,000) from 32 senders at once;
// one op is the storm, from its first alert until the sink has seen its
// last delivery. A plan made for the quiet tables must not read the whole
// outbox once the storm fills it (store's sessionSettings: run it with
// &enable_seqscan=on in the URL to see the difference).
func BenchmarkStormAfterQuiet(b *testing.B) {
	n := benchDeliveries(b)
	const quiet = 200
	var got atomic.Int64
	sink := countingSink(&got)
	defer sink.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	var wall, cpu time.Duration
	for run := range b.N {
		b.StopTimer()
		url := storetest.PostgresURL(b)
		got.Store(0)
		ts := apptest.Start(b, url, func(c *config.Config) {
			c.Alert.Slack.Enable, c.Alert.Email.Enable = false, false
			c.Alert.Webhook.URL = sink.URL + "/hook"
		})
		admin, err := sql.Open("pgx", url)
		if err != nil {
			b.Fatal(err)
		}
		for i := range quiet {
			if err := postGroup(client, ts, fmt.Sprintf("quiet-%d-%d", run, i)); err != nil {
				b.Fatal(err)
			}
			awaitDeliveries(b, &got, int64(i+1))
			if i == 9 {
				for _, tbl := range []string{"incidents", "alerts", "payloads", "timeline", "jobs", "channel_refs"} {
					if _, err := admin.Exec("VACUUM ANALYZE " + tbl); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		admin.Close()
		b.StartTimer()
		start, startCPU := time.Now(), processCPU(b)
		if err := storetest.Parallel(32, n, func(i int) error { return postGroup(client, ts, fmt.Sprintf("storm-%d-%d", run, i)) }); err != nil {
			b.Fatal(err)
		}
		awaitDeliveries(b, &got, int64(quiet+n))
		wall += time.Since(start)
		cpu += processCPU(b) - startCPU
		b.StopTimer()
		ts.App.Close()
	}
	b.ReportMetric(float64(n*b.N)/wall.Seconds(), "deliveries/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/alert")
}

// benchDeliveries is TOCSIN_BENCH_DELIVERIES, default 5,000.
func benchDeliveries(b *testing.B) int {
	v := os.Getenv("TOCSIN_BENCH_DELIVERIES")
	if v == "" {
		return 5000
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("TOCSIN_BENCH_DELIVERIES=%q is not a positive number", v)
	}
	return n
}

// awaitDeliveries waits until the sink counted want deliveries (at most
// 2 minutes).
func awaitDeliveries(b *testing.B, got *atomic.Int64, want int64) {
	deadline := time.Now().Add(2 * time.Minute)
	for got.Load() < want {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d deliveries after 2 minutes", got.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// countingSink is a webhook receiver that counts what it is sent.
func countingSink(got *atomic.Int64) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
}

// postGroup posts one firing Alertmanager alert of group (a new incident
// per group) with c, reads the answer (so the connection is reused) and
// returns an error unless it is 201. Safe on any goroutine.
func postGroup(c *http.Client, ts *apptest.Server, group string) error {
	req, _ := http.NewRequest("POST", ts.URL+"/api/v1/alerts/alertmanager", strings.NewReader(apptest.AMPayload(group, "firing", "x")))
	req.Header.Set("Authorization", "Bearer "+apptest.IngestToken)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("alert %s: status %d", group, resp.StatusCode)
	}
	return nil
}
