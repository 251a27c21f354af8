package integrationtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Credentials the ServiceNow fake accepts by default.
const (
	ServiceNowUsername = "tocsin"
	ServiceNowPassword = "servicenow-test-password"
)

// ServiceNow is a fake of a ServiceNow instance's Table API:
//
//	GET   /api/now/table/{table}?sysparm_query=a=b^c=d&sysparm_limit=&sysparm_fields=
//	GET   /api/now/table/{table}/{sys_id}
//	POST  /api/now/table/{table}              → 201 {"result": record}
//	PATCH /api/now/table/{table}/{sys_id}     → 200 {"result": record} (PUT too)
//
// It requires basic auth with Username and Password (401 otherwise) and
// answers in ServiceNow's dialect ({"error": {"message", "detail"},
// "status": "failure"}). Encoded queries support only field=value terms
// joined by ^. New records get a sys_id, a number (INC0010001, …) and
// state "1" (New) unless given. It is safe for concurrent use.
type ServiceNow struct {
	// URL is the instance to configure (servicenow.instance_url).
	URL string
	// Username and Password are the accepted basic-auth credentials
	// (ServiceNowUsername and ServiceNowPassword). Do not change them once
	// requests may arrive.
	Username, Password string

	base
	mu      sync.Mutex
	records []*ServiceNowRecord
	creates []ServiceNowRecord
	updates []ServiceNowRecord
	queries []string
}

// ServiceNowRecord is a table record: its table, sys_id and fields (every
// value as a string, as the Table API returns them).
type ServiceNowRecord struct {
	Table  string
	SysID  string
	Fields map[string]string
}

// NewServiceNow starts a ServiceNow Table API fake that lives until t ends.
func NewServiceNow(t testing.TB) *ServiceNow {
	t.Helper()
	s := &ServiceNow{Username: ServiceNowUsername, Password: ServiceNowPassword}
	s.start(t, s.serve, writeServiceNowError)
	s.URL = s.srv.URL
	return s
}

// Records returns every record, in creation order, as it is now.
func (s *ServiceNow) Records() []ServiceNowRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ServiceNowRecord, len(s.records))
	for i, r := range s.records {
		out[i] = r.clone()
	}
	return out
}

// Record returns the record sysID as it is now.
func (s *ServiceNow) Record(sysID string) (ServiceNowRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.records {
		if r.SysID == sysID {
			return r.clone(), true
		}
	}
	return ServiceNowRecord{}, false
}

// Creates returns the accepted POSTs: each with the fields as sent and the
// sys_id assigned.
func (s *ServiceNow) Creates() []ServiceNowRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ServiceNowRecord(nil), s.creates...)
}

// Updates returns the accepted PATCH/PUTs: each with the fields as sent.
func (s *ServiceNow) Updates() []ServiceNowRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ServiceNowRecord(nil), s.updates...)
}

// Queries returns the sysparm_query of every accepted list request.
func (s *ServiceNow) Queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries...)
}

// FailNext makes the next n requests fail with f.
func (s *ServiceNow) FailNext(n int, f Fault) { s.failNext(n, f) }

// ClearFaults drops faults not yet used.
func (s *ServiceNow) ClearFaults() { s.clearFaults() }

// Requests counts every request received, faults included.
func (s *ServiceNow) Requests() int { return s.count() }

func (s *ServiceNow) serve(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != s.Username || p != s.Password {
		writeServiceNowError(w, Fault{Status: http.StatusUnauthorized, Message: "User Not Authenticated", Code: "Required to provide Auth information"})
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/now/table/")
	table, sysID, _ := strings.Cut(rest, "/")
	if !ok || table == "" || strings.Contains(sysID, "/") {
		writeServiceNowError(w, Fault{Status: http.StatusBadRequest, Message: "Requested URI does not represent any resource"})
		return
	}
	switch {
	case r.Method == http.MethodGet && sysID == "":
		s.list(w, r, table)
	case r.Method == http.MethodGet:
		s.get(w, table, sysID)
	case r.Method == http.MethodPost && sysID == "":
		s.create(w, r, table)
	case (r.Method == http.MethodPatch || r.Method == http.MethodPut) && sysID != "":
		s.update(w, r, table, sysID)
	default:
		writeServiceNowError(w, Fault{Status: http.StatusMethodNotAllowed, Message: "Method not Supported"})
	}
}

func (s *ServiceNow) list(w http.ResponseWriter, r *http.Request, table string) {
	q := r.URL.Query()
	query := q.Get("sysparm_query")
	var conds [][2]string
	for term := range strings.SplitSeq(query, "^") {
		if term == "" || strings.HasPrefix(term, "ORDERBY") {
			continue
		}
		field, value, ok := strings.Cut(term, "=")
		if !ok || field == "" || strings.ContainsAny(field, "<>!") {
			writeServiceNowError(w, Fault{Status: http.StatusBadRequest, Message: "the fake supports only field=value query terms: " + term})
			return
		}
		conds = append(conds, [2]string{field, value})
	}
	limit := -1
	if v := q.Get("sysparm_limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeServiceNowError(w, Fault{Status: http.StatusBadRequest, Message: "invalid sysparm_limit"})
			return
		}
		limit = n
	}
	var fields []string
	if v := q.Get("sysparm_fields"); v != "" {
		fields = strings.Split(v, ",")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, query)
	result := []map[string]string{}
	for _, rec := range s.records {
		if rec.Table != table || !rec.matches(conds) {
			continue
		}
		if limit >= 0 && len(result) >= limit {
			break
		}
		result = append(result, rec.project(fields))
	}
	writeJSON(w, http.StatusOK, map[string]any{"result": result})
}

func (s *ServiceNow) get(w http.ResponseWriter, table, sysID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec := s.find(table, sysID); rec != nil {
		writeJSON(w, http.StatusOK, map[string]any{"result": rec.project(nil)})
		return
	}
	writeServiceNowError(w, Fault{Status: http.StatusNotFound, Message: "No Record found", Code: "Record doesn't exist or ACL restricts the record retrieval"})
}

func (s *ServiceNow) create(w http.ResponseWriter, r *http.Request, table string) {
	fields, ok := readServiceNowBody(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := &ServiceNowRecord{Table: table, SysID: randomHex(16), Fields: map[string]string{}}
	s.creates = append(s.creates, ServiceNowRecord{Table: table, SysID: rec.SysID, Fields: fields})
	prefix := "REC"
	if table == "incident" {
		prefix = "INC"
	}
	rec.Fields["number"] = fmt.Sprintf("%s%07d", prefix, 10001+len(s.records))
	rec.Fields["state"] = "1"
	for k, v := range fields {
		rec.Fields[k] = v
	}
	rec.Fields["sys_id"] = rec.SysID
	s.records = append(s.records, rec)
	writeJSON(w, http.StatusCreated, map[string]any{"result": rec.project(nil)})
}

func (s *ServiceNow) update(w http.ResponseWriter, r *http.Request, table, sysID string) {
	fields, ok := readServiceNowBody(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.find(table, sysID)
	if rec == nil {
		writeServiceNowError(w, Fault{Status: http.StatusNotFound, Message: "No Record found", Code: "Record doesn't exist or ACL restricts the record retrieval"})
		return
	}
	s.updates = append(s.updates, ServiceNowRecord{Table: table, SysID: sysID, Fields: fields})
	for k, v := range fields {
		if k != "sys_id" {
			rec.Fields[k] = v
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"result": rec.project(nil)})
}

// readServiceNowBody decodes a JSON object and renders its values as
// strings, as ServiceNow stores them.
func readServiceNowBody(w http.ResponseWriter, r *http.Request) (map[string]string, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return nil, false
	}
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil || in == nil {
		writeServiceNowError(w, Fault{Status: http.StatusBadRequest, Message: "Exception while reading request", Code: "The payload is not valid JSON."})
		return nil, false
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		switch v := v.(type) {
		case nil:
			out[k] = ""
		case string:
			out[k] = v
		case float64, bool:
			out[k] = fmt.Sprint(v)
		default:
			b, _ := json.Marshal(v)
			out[k] = string(b)
		}
	}
	return out, true
}

func (s *ServiceNow) find(table, sysID string) *ServiceNowRecord {
	for _, rec := range s.records {
		if rec.Table == table && rec.SysID == sysID {
			return rec
		}
	}
	return nil
}

func (r *ServiceNowRecord) matches(conds [][2]string) bool {
	for _, c := range conds {
		if r.Fields[c[0]] != c[1] {
			return false
		}
	}
	return true
}

func (r *ServiceNowRecord) project(fields []string) map[string]string {
	out := map[string]string{}
	if len(fields) == 0 {
		for k, v := range r.Fields {
			out[k] = v
		}
		return out
	}
	for _, f := range fields {
		out[f] = r.Fields[f]
	}
	return out
}

func (r *ServiceNowRecord) clone() ServiceNowRecord {
	return ServiceNowRecord{Table: r.Table, SysID: r.SysID, Fields: r.project(nil)}
}

// writeServiceNowError answers in the Table API's error dialect; f.Code is
// the error's detail.
func writeServiceNowError(w http.ResponseWriter, f Fault) {
	msg := f.Message
	if msg == "" {
		msg = http.StatusText(f.Status)
	}
	writeJSON(w, f.Status, map[string]any{"error": map[string]string{"message": msg, "detail": f.Code}, "status": "failure"})
}
