package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/store"
	"tocsin/store/storetest"
	"tocsin/web"
)

// hostileBook calls an API whose answer is hostile, then waits at a pause
// whose instructions are hostile too.
const hostileBook = `{"schemaVersion":"0.3","mainSteps":[
 {"name":"Fetch","action":"tocsin:http","inputs":{"Method":"GET","URL":"https://api.example.com/x",
   "Headers":{"Authorization":"Bearer s3cret-token","X-Trace":"trace-1"}},
   "outputs":[{"Name":"Msg","Selector":"$.Body.msg","Type":"String"}]},
 {"name":"Inspect","action":"aws:pause","description":"## Look\n<img src=x onerror=alert(2)> **now**"},
 {"name":"Close","action":"aws:pause"}]}`

// TestIncidentPageShowsRunbooks runs an execution in a real SQLite store
// to a pause after an HTTP step whose answer holds markup, and reads the
// incident's page: the steps with their status, times, redacted inputs
// and outputs, the current step's instructions, the steps to come, all
// escaped; no form and no button.
func TestIncidentPageShowsRunbooks(t *testing.T) {
	ctx := context.Background()
	clock := storetest.NewClock(storetest.Epoch)
	db := storetest.Open(t, storetest.SQLiteURL(t), store.Options{Now: clock.Now, Policy: tocsin.Policy{Impacts: tocsin.DefaultImpacts()}})
	inc, _, err := db.Incidents().StartIncident(ctx, &tocsin.IncidentStart{Title: "API errors", Impact: 2, By: tocsin.Actor{Name: "alice"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Runbooks().PutRunbook(ctx, &tocsin.Runbook{Name: "fix-api", Body: hostileBook, Format: "json", Document: json.RawMessage(hostileBook)}); err != nil {
		t.Fatal(err)
	}
	ex, err := db.Runbooks().StartRunbook(ctx, tocsin.RunbookStart{Runbook: "fix-api", IncidentID: inc.ID, By: tocsin.Actor{Name: "alice", Via: "api"}})
	if err != nil {
		t.Fatal(err)
	}
	// The HTTP step's job answers with markup, as a hostile API would.
	jobs, err := db.Jobs().ClaimJobs(ctx, tocsin.JobClaim{Owner: "w1", Now: clock.Now(), Lease: time.Minute, Limit: 10, Kinds: []string{tocsin.JobRunbookStep}})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claimed %d step jobs: %v", len(jobs), err)
	}
	clock.Add(3 * time.Second)
	raw := map[string]any{"StatusCode": 200, "Body": map[string]any{"msg": `</pre><script>alert(1)</script>`}}
	if err := db.Jobs().CompleteJob(ctx, jobs[0], "w1", tocsin.JobOutcome{Runbook: &tocsin.RunbookResult{ExecutionID: ex.ID, Seq: 1, Attempt: 1, Outputs: raw}}); err != nil {
		t.Fatal(err)
	}

	acks := &web.AckSigner{Key: []byte("k"), PublicHost: "https://tocsin.example.com", TTL: time.Hour, Now: clock.Now}
	mux := http.NewServeMux()
	web.New(db.Incidents(), web.Options{Acks: acks, Runbooks: db.Runbooks()}).Register(mux)
	page := get(t, mux, acks.ViewURL(inc.ID))

	for _, want := range []string{
		"<h2>Runbooks (1)</h2>", "fix-api <span class=\"muted\">version 1</span>", `<span class="status">Waiting</span>`, "Execution " + ex.ID,
		"started 2026-", "by alice via api",
		// The current step and how to answer it, read-only.
		"Now: Inspect", "Resume with <code>tocsin runbook resume " + ex.ID + "</code>",
		// Its instructions, escaped, not rendered.
		`<pre class="instructions">## Look` + "\n" + `&lt;img src=x onerror=alert(2)&gt; **now**</pre>`,
		// The HTTP step: succeeded, with its times, the credential redacted and the answer escaped.
		"<td>Fetch<br>", "<td>Success</td>", "&#34;X-Trace&#34;: &#34;trace-1&#34;", "&#34;Authorization&#34;: &#34;[redacted]&#34;",
		"&#34;Msg&#34;: &#34;&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;&#34;",
		"To come: Close",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script>", "<img", "s3cret-token", "<form", "<button"} {
		if strings.Contains(page, bad) {
			t.Errorf("page holds %q:\n%s", bad, page)
		}
	}

	// Resumed twice, the execution has ended: no current step, nothing to come.
	for range 2 {
		if _, err := db.Runbooks().SignalRunbook(ctx, tocsin.RunbookSignal{ExecutionID: ex.ID, Type: tocsin.SignalResume, By: tocsin.Actor{Name: "bob"}}); err != nil {
			t.Fatal(err)
		}
	}
	page = get(t, mux, acks.ViewURL(inc.ID))
	if !strings.Contains(page, `<span class="status">Success</span>`) || strings.Contains(page, "Now: ") || strings.Contains(page, "To come:") ||
		!strings.Contains(page, " · ended 2026-") {
		t.Errorf("ended execution's page:\n%s", page)
	}

	// Without runbooks wired, the page shows the incident alone.
	bare := http.NewServeMux()
	web.New(db.Incidents(), web.Options{Acks: acks}).Register(bare)
	if page := get(t, bare, acks.ViewURL(inc.ID)); strings.Contains(page, "Runbooks") || !strings.Contains(page, "API errors") {
		t.Errorf("page without runbooks:\n%s", page)
	}
}

// get fetches a signed link's page from h, wanting 200.
func get(t *testing.T, h http.Handler, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", u.RequestURI(), nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u.Path, rec.Code, body)
	}
	return string(body)
}
