package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tocsin/bench/internal/wire"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	alert := wire.AppendAlert(nil, "r", 1, time.Now())
	for _, tc := range []struct {
		name, method string
		body         []byte
		status       int
		answer       string
	}{
		{"an alert", http.MethodPost, alert, 200, `{"status":"ok"}`},
		{"an empty POST", http.MethodPost, nil, 200, `{"status":"ok"}`},
		{"too large", http.MethodPost, bytes.Repeat([]byte("x"), 2<<20), 400, "reading body"},
		{"a GET", http.MethodGet, nil, 405, "POST only"},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+"/api/v1/alerts/alertmanager", bytes.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.answer) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, resp.StatusCode, b, tc.status, tc.answer)
		}
	}
}

// TestKeepAlive checks that a client reading answers to the end reuses
// one connection, so the limit measured is not dialing's.
func TestKeepAlive(t *testing.T) {
	srv := httptest.NewUnstartedServer(Handler())
	var conns atomic.Int32
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	for range 20 {
		resp, err := http.Post(srv.URL, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	srv.Close()
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 20 requests", n)
	}
}
