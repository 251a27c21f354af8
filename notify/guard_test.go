package notify_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"tocsin"
	"tocsin/config"
	"tocsin/netguard"
	"tocsin/notify"
	"tocsin/notify/webhook"
)

// TestGuardedHTTPClientRefusesPrivateAfterDNS dials a name, not an
// address: "localhost" passes no literal check, resolves to loopback, and
// the connection is refused after resolution unless loopback is allowed.
func TestGuardedHTTPClientRefusesPrivateAfterDNS(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	byName := "http://localhost:" + port + "/hook?token=s3cret"

	for _, target := range []string{byName, srv.URL + "/hook"} {
		resp, err := notify.GuardedHTTPClient(0, nil).Post(target, "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: posted (%d), want refused", target, resp.StatusCode)
		}
		var be *netguard.BlockedError
		if !errors.As(err, &be) || !be.Addr.IsLoopback() {
			t.Fatalf("%s: error %v is not a loopback BlockedError", target, err)
		}
		if permanent, _ := notify.Classify(err); !permanent {
			t.Errorf("%s: a refused address is retryable", target)
		}
	}
	// The channel that pages contacts' webhooks fails permanently, without
	// the URL's secret in the error.
	ch, err := webhook.New(config.Webhook{Enable: true, URL: byName}, webhook.Options{HTTPClient: notify.GuardedHTTPClient(0, nil)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ch.Send(context.Background(), &notify.Message{Event: notify.EventOpened, Incident: &tocsin.Incident{ID: "inc-1", Title: "t"}})
	if permanent, _ := notify.Classify(err); err == nil || !permanent || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("webhook send: %v (permanent %v)", err, permanent)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the server got %d requests while refused", n)
	}

	// The operator allows loopback: the same name is reached.
	allow, err := netguard.New([]string{"127.0.0.0/8", "::1/128"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := notify.GuardedHTTPClient(0, allow).Post(byName, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("allowed loopback: %v", err)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Fatalf("hits = %d, want 1", hits.Load())
	}
}
