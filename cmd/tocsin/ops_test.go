package main

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"strings"
	"testing"

	"tocsin/apptest"
	"tocsin/config"
	"tocsin/store/storetest"
)

// /readyz answers 503 while tocsin cannot commit (here SQLite's write lock
// is held by another process, as a full disk would fail every write), and
// 200 again once it can.
func TestReadyzNeedsACommit(t *testing.T) {
	dbURL := storetest.SQLiteURL(t)
	ts := apptest.Start(t, dbURL, nil)
	if status, _ := ts.Get(t, "/readyz"); status != http.StatusOK {
		t.Fatalf("readyz: %d", status)
	}
	// It waits for a write of tocsin's in progress to end, then holds the
	// lock.
	other, err := sql.Open("sqlite", strings.TrimPrefix(dbURL, "sqlite://")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	ctx := context.Background()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("readyz while writes cannot commit: %d", resp.StatusCode)
	}
	conn.ExecContext(ctx, "ROLLBACK")
	apptest.Eventually(t, "ready again", func() bool { status, _ := ts.Get(t, "/readyz"); return status == http.StatusOK })
}

func getMetrics(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/metrics", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metrics.token guards /metrics with a bearer token; metrics.listen moves
// /metrics to a listener of its own, off the public one.
func TestMetricsAccess(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) { c.Metrics.Token = "metrics-secret" })
	if status, _ := getMetrics(t, ts.URL, ""); status != http.StatusUnauthorized {
		t.Errorf("metrics without the token: %d", status)
	}
	if status, _ := getMetrics(t, ts.URL, apptest.APIToken); status != http.StatusUnauthorized {
		t.Errorf("metrics with another token: %d", status)
	}
	if status, body := getMetrics(t, ts.URL, "metrics-secret"); status != http.StatusOK || !strings.Contains(body, "tocsin_outbox_depth") {
		t.Errorf("metrics with the token: %d", status)
	}

	ts = apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) { c.Metrics.Listen = "127.0.0.1:0" })
	if status, _ := getMetrics(t, ts.URL, ""); status != http.StatusNotFound {
		t.Errorf("metrics on the main listener with metrics.listen set: %d", status)
	}
	var addr string
	apptest.Eventually(t, "metrics listener", func() bool { addr = ts.App.MetricsAddr(); return addr != "" })
	if status, body := getMetrics(t, "http://"+addr, ""); status != http.StatusOK || !strings.Contains(body, "tocsin_outbox_depth") {
		t.Errorf("metrics on metrics.listen: %d", status)
	}
}
