package action

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tocsin"
)

// echo answers with what it received, as JSON, and counts calls.
type echo struct {
	calls atomic.Int32
	srv   *httptest.Server
}

func newEcho(t *testing.T) *echo {
	e := &echo{}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		w.Header().Add("X-Answer", "first")
		w.Header().Add("X-Answer", "second")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"method": r.Method, "path": r.URL.Path, "query": r.URL.RawQuery, "body": string(body),
			"content_type": r.Header.Get("Content-Type"), "auth": r.Header.Get("Authorization"), "count": 3,
		})
	}))
	t.Cleanup(e.srv.Close)
	return e
}

func TestHTTPCallsAnAllowedURL(t *testing.T) {
	e := newEcho(t)
	h := &HTTP{Allow: []string{e.srv.URL + "/api/"}, MaxResponse: 1 << 20}
	res, err := h.Run(context.Background(), map[string]any{
		"Method": "post", "URL": e.srv.URL + "/api/v1/items?x=1",
		"Headers": map[string]any{"Authorization": "Bearer t0ken"},
		"Body":    map[string]any{"title": "db down", "impact": int64(2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res["StatusCode"] != 200 {
		t.Fatalf("status: %v", res["StatusCode"])
	}
	if hs := res["Headers"].(map[string]any); hs["X-Answer"] != "first" {
		t.Errorf("headers: %v", hs)
	}
	body, ok := res["Body"].(map[string]any)
	if !ok {
		t.Fatalf("body not decoded: %#v", res["Body"])
	}
	want := map[string]any{"method": "POST", "path": "/api/v1/items", "query": "x=1", "body": `{"impact":2,"title":"db down"}`,
		"content_type": "application/json", "auth": "Bearer t0ken", "count": int64(3)}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("%s: %#v, want %#v", k, body[k], v)
		}
	}
}

// Issue 12: values are data — a hostile incident title interpolated into
// a body reaches the server byte for byte, as text or inside JSON.
func TestHTTPSendsHostileBodyVerbatim(t *testing.T) {
	const hostile = `{{ x }} $(rm -rf /) "quotes" ; DROP TABLE x; --`
	e := newEcho(t)
	h := &HTTP{Allow: []string{e.srv.URL}, MaxResponse: 1 << 20}
	for _, tc := range []struct {
		name     string
		body     any
		wantBody string
		wantCT   string
	}{
		{"text", hostile, hostile, ""},
		{"json", map[string]any{"title": hostile}, `{"title":"{{ x }} $(rm -rf /) \"quotes\" ; DROP TABLE x; --"}`, "application/json"},
		{"json list", []any{hostile}, `["{{ x }} $(rm -rf /) \"quotes\" ; DROP TABLE x; --"]`, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := h.Run(context.Background(), map[string]any{"Method": "PUT", "URL": e.srv.URL + "/x", "Body": tc.body})
			if err != nil {
				t.Fatal(err)
			}
			got := res["Body"].(map[string]any)
			if got["body"] != tc.wantBody || got["content_type"] != tc.wantCT {
				t.Fatalf("server got %q (%q), want %q (%q)", got["body"], got["content_type"], tc.wantBody, tc.wantCT)
			}
		})
	}
}

func TestHTTPRefusesURLsOutsideTheAllowList(t *testing.T) {
	e := newEcho(t)
	base := e.srv.URL // http://127.0.0.1:PORT
	h := &HTTP{Allow: []string{base + "/api/v1", "https://other.example/"}, MaxResponse: 1 << 20}
	for _, tc := range []struct {
		name, url string
		ok        bool
	}{
		{"prefix itself", base + "/api/v1", true},
		{"under prefix", base + "/api/v1/items", true},
		{"segment boundary", base + "/api/v10", false},
		{"sibling", base + "/api/v2/items", false},
		{"dot dot", base + "/api/v1/../../admin", false},
		{"encoded dot dot", base + "/api/v1/%2e%2e/admin", false},
		// Segments some servers read as ".." (IIS and others split on
		// "\"; Tomcat drops ";params" from a segment).
		{"backslash dot dot", base + `/api/v1\..\..\admin`, false},
		{"encoded backslash dot dot", base + "/api/v1/%5c..%5c..%5cadmin", false},
		{"dot dot with a path parameter", base + "/api/v1/..;/..;/admin", false},
		{"dot with a path parameter", base + "/api/v1/.;x/items", false},
		{"dots inside a name", base + "/api/v1/a..b/c.d", true},
		{"userinfo", strings.Replace(base, "http://", "http://u:p@", 1) + "/api/v1/x", false},
		{"other port", "http://127.0.0.1:1/api/v1/x", false},
		{"other scheme", strings.Replace(base, "http://", "https://", 1) + "/api/v1/x", false},
		{"other host", "http://localhost" + base[strings.LastIndex(base, ":"):] + "/api/v1/x", false},
		{"not http", "file:///etc/passwd", false},
		{"relative", "/api/v1/x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.calls.Load()
			_, err := h.Run(context.Background(), map[string]any{"Method": "GET", "URL": tc.url})
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("called")
			}
			if e.calls.Load() != before {
				t.Fatal("the server was reached")
			}
			if tc.url[0] != '/' && !strings.HasPrefix(tc.url, "file:") && !strings.Contains(err.Error(), "runbooks.http.allow") {
				t.Errorf("error does not name the key: %v", err)
			}
			if strings.Contains(err.Error(), "u:p@") {
				t.Errorf("error shows the user info: %v", err)
			}
		})
	}
}

func TestHTTPDoesNotFollowRedirectsOutsideTheList(t *testing.T) {
	outside := newEcho(t)
	inside := newEcho(t)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		to := outside.srv.URL + "/stolen"
		if r.URL.Path == "/in" {
			to = inside.srv.URL + "/ok"
		}
		http.Redirect(w, r, to, http.StatusFound)
	}))
	defer redirect.Close()
	h := &HTTP{Allow: []string{redirect.URL, inside.srv.URL}, MaxResponse: 1 << 20}
	_, err := h.Run(context.Background(), map[string]any{"Method": "GET", "URL": redirect.URL + "/out"})
	if err == nil || !strings.Contains(err.Error(), "runbooks.http.allow") || outside.calls.Load() != 0 {
		t.Fatalf("redirect outside the list: %v (calls %d)", err, outside.calls.Load())
	}
	res, err := h.Run(context.Background(), map[string]any{"Method": "GET", "URL": redirect.URL + "/in"})
	if err != nil || res["Body"].(map[string]any)["path"] != "/ok" {
		t.Fatalf("redirect inside the list: %v %v", res, err)
	}
}

func TestHTTPAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"maintenance"}`+strings.Repeat("x", 500))
		case "/text":
			io.WriteString(w, "plain words")
		case "/big":
			io.WriteString(w, strings.Repeat("y", 101))
		case "/fits":
			io.WriteString(w, strings.Repeat("y", 100))
		case "/busy":
			http.Error(w, "busy", http.StatusServiceUnavailable) // "busy\n"
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}
	}))
	defer srv.Close()
	h := &HTTP{Allow: []string{srv.URL}, MaxResponse: 100}
	run := func(ctx context.Context, path string) (map[string]any, error) {
		return h.Run(ctx, map[string]any{"Method": "GET", "URL": srv.URL + path, "Headers": map[string]any{"X-Api-Key": "s3cr3t-value"}})
	}
	t.Run("non-2xx", func(t *testing.T) {
		h.MaxResponse = 1 << 20
		defer func() { h.MaxResponse = 100 }()
		res, err := run(context.Background(), "/down")
		if err == nil || !strings.HasPrefix(err.Error(), `HTTP 503: {"error":"maintenance"}xxx`) {
			t.Fatalf("error: %v", err)
		}
		if n := len([]rune(strings.TrimPrefix(err.Error(), "HTTP 503: "))); n != 200 {
			t.Errorf("error quotes %d characters, want 200", n)
		}
		if res["StatusCode"] != 503 || res["Body"] == nil {
			t.Errorf("result of a failed call: %v", res)
		}
	})
	t.Run("non-2xx message on one line", func(t *testing.T) {
		if _, err := run(context.Background(), "/busy"); err == nil || err.Error() != "HTTP 503: busy" {
			t.Fatalf("error: %q", err)
		}
	})
	t.Run("text", func(t *testing.T) {
		res, err := run(context.Background(), "/text")
		if err != nil || res["Body"] != "plain words" {
			t.Fatalf("%v %v", res, err)
		}
	})
	t.Run("cap", func(t *testing.T) {
		if _, err := run(context.Background(), "/fits"); err != nil {
			t.Fatalf("an answer of exactly the cap: %v", err)
		}
		_, err := run(context.Background(), "/big")
		if tocsin.ErrorCode(err) != tocsin.ETOOLARGE || !strings.Contains(err.Error(), "runbooks.http.max_response_bytes") {
			t.Fatalf("over the cap: %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := run(ctx, "/slow")
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
			t.Fatalf("timeout: %v after %s", err, time.Since(start))
		}
		if strings.Contains(err.Error(), "s3cr3t-value") {
			t.Fatalf("a header value in an error: %v", err)
		}
	})
}

func TestHTTPBadInputs(t *testing.T) {
	h := &HTTP{Allow: []string{"http://127.0.0.1:1"}, MaxResponse: 10}
	for _, tc := range []struct {
		name   string
		inputs map[string]any
		want   string
	}{
		{"no method", map[string]any{"URL": "http://127.0.0.1:1/"}, "Method is required"},
		{"headers not a map", map[string]any{"Method": "GET", "URL": "http://127.0.0.1:1/", "Headers": "x"}, "Headers must be a map"},
		{"header not a string", map[string]any{"Method": "GET", "URL": "http://127.0.0.1:1/", "Headers": map[string]any{"X-N": int64(1)}}, "Headers.X-N must be a string"},
		// A method given by {{ }} is known only now: the document's check
		// (GET, HEAD, POST, PUT, PATCH, DELETE) is made again.
		{"interpolated method outside the list", map[string]any{"Method": "CONNECT", "URL": "http://127.0.0.1:1/"}, `"CONNECT" is not GET, HEAD, POST, PUT, PATCH or DELETE`},
		{"TRACE", map[string]any{"Method": "trace", "URL": "http://127.0.0.1:1/"}, `"trace" is not GET`},
		{"method with spaces", map[string]any{"Method": "GET /admin HTTP/1.1\r\nX:", "URL": "http://127.0.0.1:1/"}, "is not GET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.Run(context.Background(), tc.inputs)
			if tocsin.ErrorCode(err) != tocsin.EINVALID || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
	// A failed connection names the call without its query or headers.
	_, err := h.Run(context.Background(), map[string]any{"Method": "GET", "URL": "http://127.0.0.1:1/x?token=abc", "Headers": map[string]any{"Authorization": "Bearer zzz"}})
	if err == nil || strings.Contains(err.Error(), "token=abc") || strings.Contains(err.Error(), "zzz") || !strings.Contains(err.Error(), "GET http://127.0.0.1:1/x") {
		t.Fatalf("connection error: %v", err)
	}
}

// A server that echoes the credential it refuses (as many do: "invalid
// token abc…") must not put it in the error, which is the step's failure
// message on the timeline and the incident page.
func TestHTTPErrorDoesNotQuoteSentCredentials(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, "invalid credentials: "+r.Header.Get("Authorization")+" / "+r.Header.Get("X-Api-Key")+" for "+r.Header.Get("Accept"))
	}))
	defer srv.Close()
	h := &HTTP{Allow: []string{srv.URL}, MaxResponse: 1 << 20}
	_, err := h.Run(context.Background(), map[string]any{"Method": "GET", "URL": srv.URL + "/x",
		"Headers": map[string]any{"Authorization": "Bearer tok-123456", "X-Api-Key": "k-98765", "Accept": "text/plain"}})
	if err == nil {
		t.Fatal("a 401 is not an error")
	}
	for _, secret := range []string{"tok-123456", "k-98765"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("the error quotes a sent credential %q: %v", secret, err)
		}
	}
	if !strings.HasPrefix(err.Error(), "HTTP 401: invalid credentials: ") || !strings.Contains(err.Error(), "for text/plain") {
		t.Errorf("the error no longer says what the server answered: %v", err)
	}
}
