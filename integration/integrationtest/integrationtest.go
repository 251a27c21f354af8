// Package integrationtest holds local fakes of the on-call providers tocsin
// escalates to — AWS Incident Manager, PagerDuty Events API v2, the
// ServiceNow Table API and incident.io HTTP alert sources — and Run, the
// checks every integration.Provider must pass against them.
//
// Each fake is an httptest server that speaks its provider's protocol
// closely enough for the real client code to run unchanged: it checks
// authentication, validates requests as the provider does, keeps the state
// a test wants to assert on (incidents opened, events received, records
// resolved), and answers in the provider's own dialect. Every fake can be
// told to fail its next requests (FailNext) with an HTTP status, a
// provider error code, a custom body, or by hanging until the client gives
// up. Servers close when the test ends.
//
// A scenario test points tocsin's config at fake.URL and then asserts on
// what the provider saw:
//
//	pd := integrationtest.NewPagerDuty(t)
//	cfg.OnCall.PagerDuty = config.PagerDuty{RoutingKey: "R0UTINGKEY", APIURL: pd.URL}
//	// … fire an alert, let the ack timer expire …
//	ev := pd.Events()[0] // event_action "trigger", the incident's title, …
//	pd.FailNext(2, integrationtest.Throttled()) // the next two calls get 429
//
// Requests that a fault answered are counted by Requests but not recorded
// as accepted calls (Starts, Events, Creates, …).
package integrationtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Fault is an injected failure: how a fake answers a request instead of
// serving it. The zero value is a 500.
type Fault struct {
	// Status is the HTTP status to answer (default 500).
	Status int
	// Code is the provider's error code. The AWS fake sends it as the
	// X-Amzn-ErrorType header and the body's __type; it defaults from
	// Status (429 ThrottlingException, 5xx InternalServerException, 403
	// AccessDeniedException, 404 ResourceNotFoundException, 409
	// ConflictException, other 4xx ValidationException). Other fakes put it
	// in their error body.
	Code string
	// Message is the error message in the body.
	Message string
	// Body, when set, is sent verbatim instead of the provider's error body
	// (to echo a secret back, or to send HTML like a hibernating instance).
	Body string
	// ContentType overrides the response's Content-Type.
	ContentType string
	// RetryAfter is the Retry-After header value to send, if any.
	RetryAfter string
	// Hang holds the request open, answering nothing, until the client
	// gives up or the test ends.
	Hang bool
}

// Throttled is a 429 with AWS's ThrottlingException code and Retry-After: 2.
func Throttled() Fault {
	return Fault{Status: http.StatusTooManyRequests, Code: "ThrottlingException", Message: "Rate exceeded", RetryAfter: "2"}
}

// ServerError is a 500 with AWS's InternalServerException code.
func ServerError() Fault {
	return Fault{Status: http.StatusInternalServerError, Code: "InternalServerException", Message: "internal server error"}
}

// Rejected is a client error with the given status and error code, e.g.
// Rejected(403, "AccessDeniedException").
func Rejected(status int, code string) Fault {
	return Fault{Status: status, Code: code, Message: "rejected by the fake"}
}

// Hang is a fault that never answers.
func Hang() Fault { return Fault{Hang: true} }

// faultWriter writes f in a provider's dialect; f.Status is already set.
type faultWriter func(w http.ResponseWriter, f Fault)

// base is what every fake shares: the server, the fault queue and the
// request counter.
type base struct {
	srv      *httptest.Server
	done     chan struct{}
	writeErr faultWriter

	fmu      sync.Mutex
	faults   []Fault
	requests int
}

// start serves h behind the fault injector until t ends.
func (b *base) start(t testing.TB, h http.HandlerFunc, wf faultWriter) {
	t.Helper()
	b.done = make(chan struct{})
	b.writeErr = wf
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, ok := b.take(); ok {
			b.fail(w, r, f)
			return
		}
		h(w, r)
	}))
	// Cleanups run last-in first-out: release hanging handlers, then close.
	t.Cleanup(b.srv.Close)
	t.Cleanup(func() { close(b.done) })
}

// take counts a request and pops the next fault, if any.
func (b *base) take() (Fault, bool) {
	b.fmu.Lock()
	defer b.fmu.Unlock()
	b.requests++
	if len(b.faults) == 0 {
		return Fault{}, false
	}
	f := b.faults[0]
	b.faults = b.faults[1:]
	return f, true
}

func (b *base) fail(w http.ResponseWriter, r *http.Request, f Fault) {
	if f.Hang {
		select {
		case <-r.Context().Done():
		case <-b.done:
			// Drop the connection rather than answer an empty 200.
			panic(http.ErrAbortHandler)
		}
		return
	}
	if f.Status == 0 {
		f.Status = http.StatusInternalServerError
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Body != "" {
		ct := f.ContentType
		if ct == "" {
			ct = "application/json"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(f.Body))
		return
	}
	b.writeErr(w, f)
}

// failNext queues n copies of f.
func (b *base) failNext(n int, f Fault) {
	b.fmu.Lock()
	defer b.fmu.Unlock()
	for range n {
		b.faults = append(b.faults, f)
	}
}

// clearFaults drops the queued faults.
func (b *base) clearFaults() {
	b.fmu.Lock()
	defer b.fmu.Unlock()
	b.faults = nil
}

// count returns the number of requests received, faults included.
func (b *base) count() int {
	b.fmu.Lock()
	defer b.fmu.Unlock()
	return b.requests
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// maxBody bounds what the fakes read of a request body.
const maxBody = 1 << 20

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
