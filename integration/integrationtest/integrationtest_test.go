package integrationtest

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func do(t *testing.T, method, url, body string, h map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

const sig = "AWS4-HMAC-SHA256 Credential=AKID/20260301/eu-west-1/ssm-incidents/aws4_request, SignedHeaders=host, Signature=abc"

func TestAWS(t *testing.T) {
	a := NewAWS(t)
	start := `{"responsePlanArn":"` + ResponsePlanARN("p") + `","title":"t","impact":2,"clientToken":"tok","triggerDetails":{"source":"tocsin","timestamp":1772368500}}`
	if code, h, _ := do(t, "POST", a.URL+"/startIncident", start, nil); code != 403 || h.Get("X-Amzn-ErrorType") != "AccessDeniedException" {
		t.Errorf("unsigned: %d %v", code, h)
	}
	auth := map[string]string{"Authorization": sig}
	code, _, body := do(t, "POST", a.URL+"/startIncident", start, auth)
	_, _, again := do(t, "POST", a.URL+"/startIncident", start, auth)
	if code != 200 || !strings.Contains(body, "incident-record/p/") || again != body {
		t.Errorf("start: %d %s / %s", code, body, again)
	}
	if code, _, _ := do(t, "POST", a.URL+"/startIncident", strings.Replace(start, `"impact":2`, `"impact":7`, 1), auth); code != 400 {
		t.Errorf("impact 7: %d", code)
	}
	arn := a.Incidents()[0].Arn
	if code, _, _ := do(t, "POST", a.URL+"/updateIncidentRecord", `{"arn":"`+arn+`","status":"RESOLVED"}`, auth); code != 200 {
		t.Errorf("update: %d", code)
	}
	if code, h, _ := do(t, "POST", a.URL+"/updateIncidentRecord", `{"arn":"arn:nope","status":"RESOLVED"}`, auth); code != 404 || h.Get("X-Amzn-ErrorType") != "ResourceNotFoundException" {
		t.Errorf("update unknown: %d", code)
	}
	s := a.Starts()
	if len(s) != 2 || s[0].Region != "eu-west-1" || s[0].AccessKeyID != "AKID" || s[0].Impact != 2 || len(a.Incidents()) != 1 ||
		a.Incidents()[0].Status != "RESOLVED" || len(a.Updates()) != 1 || a.Requests() != 6 {
		t.Errorf("starts %+v, incidents %+v, updates %+v, requests %d", s, a.Incidents(), a.Updates(), a.Requests())
	}
	a.FailNext(1, Throttled())
	if code, h, body := do(t, "POST", a.URL+"/startIncident", start, auth); code != 429 || h.Get("Retry-After") != "2" || !strings.Contains(body, `"__type":"ThrottlingException"`) {
		t.Errorf("throttled: %d %v %s", code, h, body)
	}
}

func TestPagerDuty(t *testing.T) {
	p := NewPagerDuty(t)
	url := p.URL + "/v2/enqueue"
	if code, _, body := do(t, "POST", url, `{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"bad"}}`, nil); code != 400 || !strings.Contains(body, "severity") {
		t.Errorf("bad severity: %d %s", code, body)
	}
	if code, _, body := do(t, "POST", url, `{"routing_key":"k","event_action":"trigger","dedup_key":"d","payload":{"summary":"s","source":"h","severity":"info"}}`, nil); code != 202 || !strings.Contains(body, `"dedup_key":"d"`) {
		t.Errorf("trigger: %d %s", code, body)
	}
	if code, _, _ := do(t, "POST", url, `{"routing_key":"k","event_action":"resolve"}`, nil); code != 400 {
		t.Errorf("resolve without dedup_key: %d", code)
	}
	do(t, "POST", url, `{"routing_key":"k","event_action":"resolve","dedup_key":"d"}`, nil)
	if p.Status("k", "d") != "resolved" || len(p.Events()) != 2 || p.Events()[0].Payload.Severity != "info" {
		t.Errorf("status %q, events %+v", p.Status("k", "d"), p.Events())
	}
}

func TestServiceNow(t *testing.T) {
	s := NewServiceNow(t)
	tbl := s.URL + "/api/now/table/incident"
	if code, _, _ := do(t, "GET", tbl, "", nil); code != 401 {
		t.Errorf("no auth: %d", code)
	}
	req := func(method, url, body string) (int, string) {
		r, _ := http.NewRequest(method, url, strings.NewReader(body))
		r.SetBasicAuth(s.Username, s.Password)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := req("POST", tbl, `{"short_description":"x","correlation_id":"c1","urgency":1}`); code != 201 || !strings.Contains(body, `"number":"INC0010001"`) {
		t.Errorf("create: %d %s", code, body)
	}
	id := s.Records()[0].SysID
	if code, body := req("GET", tbl+"?sysparm_query=correlation_id%3Dc1&sysparm_limit=1&sysparm_fields=sys_id", ""); code != 200 || body != `{"result":[{"sys_id":"`+id+`"}]}`+"\n" {
		t.Errorf("query: %d %s", code, body)
	}
	if _, body := req("GET", tbl+"?sysparm_query=correlation_id%3Dc2", ""); body != `{"result":[]}`+"\n" {
		t.Errorf("query miss: %s", body)
	}
	if code, _ := req("PATCH", tbl+"/"+id, `{"state":"6"}`); code != 200 {
		t.Errorf("patch: %d", code)
	}
	if code, _ := req("PATCH", tbl+"/nope", `{"state":"6"}`); code != 404 {
		t.Errorf("patch unknown: %d", code)
	}
	if r, _ := s.Record(id); r.Fields["state"] != "6" || r.Fields["urgency"] != "1" || len(s.Updates()) != 1 {
		t.Errorf("record %+v", r)
	}
}

func TestIncidentIO(t *testing.T) {
	f := NewIncidentIO(t)
	url := f.URL + "/v2/alert_events/http/src1"
	auth := map[string]string{"Authorization": "Bearer " + f.APIKey}
	if code, _, _ := do(t, "POST", url, `{"title":"t","status":"firing"}`, nil); code != 401 {
		t.Errorf("no auth: %d", code)
	}
	if code, _, _ := do(t, "POST", url, `{"title":"t","status":"open"}`, auth); code != 422 {
		t.Errorf("bad status: %d", code)
	}
	if code, _, _ := do(t, "POST", url, `{"title":"t","status":"firing","deduplication_key":"d"}`, auth); code != 202 || f.Status("src1", "d") != "firing" {
		t.Errorf("firing: %d", code)
	}
}

// A hanging request is released when the test ends, so Close does not block.
func TestHangReleasedAtCleanup(t *testing.T) {
	done := make(chan struct{})
	t.Run("inner", func(t *testing.T) {
		p := NewPagerDuty(t)
		p.FailNext(1, Hang())
		go func() {
			defer close(done)
			c := &http.Client{Timeout: 5 * time.Second}
			if resp, err := c.Post(p.URL+"/v2/enqueue", "application/json", strings.NewReader("{}")); err == nil {
				resp.Body.Close()
			}
		}()
		for p.Requests() == 0 {
			time.Sleep(time.Millisecond)
		}
	})
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Error("hanging request not released")
	}
}
