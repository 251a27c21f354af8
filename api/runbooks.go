package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"tocsin"
	"tocsin/runbook"
	"tocsin/strict"
)

// Runbook routes: documents under /api/v1/runbooks, executions under
// /api/v1/runbook-executions. A document is checked here — parsed,
// validated and held to the configuration's policy — so the store keeps
// only documents that can run, already parsed (tocsin.Runbook.Document).

// maxSignalComment bounds the comment of a resume, approval, rejection or
// cancellation, as a timeline event's text would be.
const maxSignalComment = 4096

// runbookRoutes registers the runbook routes when the API has a runbook
// store.
func (s *Server) runbookRoutes() {
	if s.opts.Runbooks == nil {
		return
	}
	m := s.mux
	m.HandleFunc("GET /api/v1/runbooks", s.requireAPI(s.handleListRunbooks))
	m.HandleFunc("POST /api/v1/runbooks/validate", s.requireAPI(s.handleValidateRunbook))
	m.HandleFunc("GET /api/v1/runbooks/{name}", s.requireAPI(s.handleGetRunbook))
	m.HandleFunc("PUT /api/v1/runbooks/{name}", s.requireAPI(s.handlePutRunbook))
	m.HandleFunc("DELETE /api/v1/runbooks/{name}", s.requireAPI(s.handleDeleteRunbook))
	m.HandleFunc("POST /api/v1/runbooks/{name}/executions", s.requireAPI(s.handleStartRunbook))
	m.HandleFunc("GET /api/v1/runbook-executions", s.requireAPI(s.handleListExecutions))
	m.HandleFunc("GET /api/v1/incidents/{id}/runbook-executions", s.requireAPI(s.handleIncidentExecutions))
	m.HandleFunc("GET /api/v1/runbook-executions/{id}", s.requireAPI(s.handleGetExecution))
	for verb, typ := range map[string]string{"resume": tocsin.SignalResume, "approve": tocsin.SignalApprove, "reject": tocsin.SignalReject, "cancel": tocsin.SignalCancel} {
		m.HandleFunc("POST /api/v1/runbook-executions/{id}/"+verb, s.requireAPI(s.handleSignal(typ)))
	}
}

// problemJSON is one problem of a refused document, as the API shows it.
type problemJSON struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// documentError is a document refused with every problem found: its
// message joins them, and the answer lists them one by one.
type documentError struct {
	problems runbook.Problems
}

func (e *documentError) Error() string { return e.err().Error() }

// Unwrap gives the EINVALID error, so the error table answers 400.
func (e *documentError) Unwrap() error { return e.err() }

// err is the one EINVALID error whose message joins every problem.
func (e *documentError) err() error {
	s := make([]string, len(e.problems))
	for i, p := range e.problems {
		s[i] = p.Message
		if p.Path != "" {
			s[i] = p.Path + ": " + p.Message
		}
	}
	return tocsin.Errorf(tocsin.EINVALID, "runbook document: %s", strings.Join(s, "; "))
}

// writeDocumentError answers a refused document: the usual error shape,
// with the problems listed under "problems" beside code and message.
func writeDocumentError(w http.ResponseWriter, e *documentError) {
	list := make([]problemJSON, len(e.problems))
	for i, p := range e.problems {
		list[i] = problemJSON{Path: p.Path, Message: p.Message}
	}
	WriteJSON(w, StatusCode(tocsin.EINVALID), map[string]any{"error": map[string]any{
		"code": tocsin.EINVALID, "message": tocsin.ErrorMessage(e), "problems": list,
	}})
}

// failRunbook writes err, listing a document's problems when it has them.
func (s *Server) failRunbook(w http.ResponseWriter, r *http.Request, err error) {
	var de *documentError
	if errors.As(err, &de) {
		writeDocumentError(w, de)
		return
	}
	s.fail(w, r, err)
}

// parsedRunbook is a request body read as a runbook document.
type parsedRunbook struct {
	doc    *runbook.Document
	body   []byte
	format string
}

// readRunbook reads the body as a schema 0.3 document — JSON when the
// request says so or the body looks like it, YAML otherwise — and checks
// it with CheckRunbook.
func (s *Server) readRunbook(w http.ResponseWriter, r *http.Request) (*parsedRunbook, error) {
	body, err := ReadBody(w, r, s.opts.MaxBodyBytes)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, tocsin.Errorf(tocsin.EINVALID, "runbook document: the body is empty")
	}
	pr := &parsedRunbook{body: body, format: "yaml"}
	if isJSON(r.Header.Get("Content-Type")) || bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		pr.format = "json"
	}
	doc, probs := CheckRunbook(body, pr.format == "json", s.opts.RunbookPolicy)
	if len(probs) > 0 {
		return nil, &documentError{probs}
	}
	pr.doc = doc
	return pr, nil
}

// CheckRunbook reads a schema 0.3 document, JSON when asJSON and YAML
// otherwise, and checks it as a PUT does: ParseRunbook's checks, then the
// policy. It returns the document, or every problem found. `tocsin
// runbook validate --config` makes the same checks offline.
func CheckRunbook(body []byte, asJSON bool, p runbook.Policy) (*runbook.Document, runbook.Problems) {
	doc, probs := ParseRunbook(body, asJSON)
	if doc == nil {
		return nil, probs
	}
	probs = append(probs, doc.Allowed(p)...)
	if len(probs) > 0 {
		return nil, probs
	}
	return doc, nil
}

// ParseRunbook reads a schema 0.3 document, JSON when asJSON and YAML
// otherwise: parsed (unknown keys and wrong types named by their paths)
// and validated. The document is nil when it does not parse; problems
// list what Validate found besides.
func ParseRunbook(body []byte, asJSON bool) (*runbook.Document, runbook.Problems) {
	data := body
	if !asJSON {
		var err error
		if data, err = yamlToJSON(body); err != nil {
			return nil, runbook.Problems{{Path: "", Message: err.Error()}}
		}
	}
	doc, err := runbook.Parse(data)
	if err != nil {
		return nil, shapeProblems(data, err)
	}
	return doc, doc.Validate()
}

// isJSON reports whether a Content-Type is JSON's (application/json,
// application/*+json).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// yamlToJSON decodes one YAML document into a map, as runbook.FromMap
// takes it, and encodes it as JSON for runbook.Parse.
func yamlToJSON(body []byte) ([]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(body))
	var m map[string]any
	if err := decodeYAML(dec, &m); err != nil {
		return nil, fmt.Errorf("the YAML does not decode: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if m == nil {
		return nil, errors.New("the document must be a mapping")
	}
	var next any
	if err := decodeYAML(dec, &next); !errors.Is(err, io.EOF) {
		return nil, errors.New("the body holds more than one YAML document")
	}
	data, err := json.Marshal(m)
	if err != nil {
		// A mapping with keys that are not text (yaml.v3 gives
		// map[any]any) has no JSON form.
		return nil, errors.New("the document's keys must all be text")
	}
	return data, nil
}

// decodeYAML decodes the next document, turning yaml.v3's panics on
// hostile input into errors: a body must never crash the server.
func decodeYAML(dec *yaml.Decoder, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML cannot be decoded: %v", r)
		}
	}()
	return dec.Decode(v)
}

// shapeProblems names, with their paths, the keys and values of a document
// that runbook.Parse refused (unknown keys, wrong types); parseErr stands
// when the strict decoder finds nothing more precise.
func shapeProblems(data []byte, parseErr error) runbook.Problems {
	var probs strict.Problems
	if err := strict.JSON(data, &runbook.Document{}); errors.As(err, &probs) {
		out := make(runbook.Problems, len(probs))
		for i, p := range probs {
			msg := p.Msg
			if p.Hint != "" {
				msg += "; " + p.Hint
			}
			out[i] = runbook.Problem{Path: p.Path, Message: msg}
		}
		return out
	}
	return runbook.Problems{{Path: "", Message: strings.TrimPrefix(tocsin.ErrorMessage(parseErr), "runbook document: ")}}
}

func (s *Server) handleValidateRunbook(w http.ResponseWriter, r *http.Request) {
	if _, err := s.readRunbook(w, r); err != nil {
		s.failRunbook(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"valid": true})
}

// runbookName is the {name} of the path, checked.
func runbookName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if !tocsin.ValidRunbookName(name) {
		return "", tocsin.Errorf(tocsin.EINVALID, "name: %q must be 3-128 letters, digits or _-.:/", name)
	}
	return name, nil
}

// handlePutRunbook stores a document: 201 when it is a new version, 200
// when the body is the latest version's ("created" says which too).
func (s *Server) handlePutRunbook(w http.ResponseWriter, r *http.Request) {
	name, err := runbookName(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pr, err := s.readRunbook(w, r)
	if err != nil {
		s.failRunbook(w, r, err)
		return
	}
	parsed, err := json.Marshal(pr.doc)
	if err != nil {
		s.fail(w, r, fmt.Errorf("encode runbook %s: %w", name, err))
		return
	}
	rb := &tocsin.Runbook{Name: name, Body: string(pr.body), Format: pr.format, Description: pr.doc.Description, Document: parsed}
	stored, created, err := s.opts.Runbooks.PutRunbook(r.Context(), rb)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	WriteJSON(w, status, map[string]any{"runbook": stored, "created": created})
}

func (s *Server) handleListRunbooks(w http.ResponseWriter, r *http.Request) {
	list, err := s.opts.Runbooks.Runbooks(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if list == nil {
		list = []*tocsin.Runbook{}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"runbooks": list})
}

// handleGetRunbook answers the latest version, or ?version=N.
func (s *Server) handleGetRunbook(w http.ResponseWriter, r *http.Request) {
	version := 0
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.fail(w, r, tocsin.Errorf(tocsin.EINVALID, "version: %q is not a version number (1, 2, …)", v))
			return
		}
		version = n
	}
	rb, err := s.opts.Runbooks.Runbook(r.Context(), r.PathValue("name"), version)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"runbook": rb})
}

// handleDeleteRunbook deletes a runbook; the store refuses (409) while a
// response plan names it.
func (s *Server) handleDeleteRunbook(w http.ResponseWriter, r *http.Request) {
	if err := s.opts.Runbooks.DeleteRunbook(r.Context(), r.PathValue("name")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// startRunbookRequest is the body of POST /api/v1/runbooks/{name}/executions.
type startRunbookRequest struct {
	IncidentID string              `json:"incident_id"`
	Parameters map[string][]string `json:"parameters"`
	By         string              `json:"by"`
}

// handleStartRunbook starts an execution of the latest version: 201 with
// it. Its parameters are checked against the document first, so a bad one
// is a 400 naming it and nothing starts.
func (s *Server) handleStartRunbook(w http.ResponseWriter, r *http.Request) {
	var req startRunbookRequest
	if r.ContentLength != 0 {
		if err := s.decodeStrict(w, r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	ctx := r.Context()
	name := r.PathValue("name")
	rb, err := s.opts.Runbooks.Runbook(ctx, name, 0)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	doc, err := runbook.Parse(rb.Document)
	if err != nil {
		s.fail(w, r, fmt.Errorf("parse stored runbook %s: %w", name, err))
		return
	}
	if _, err := runbook.Params(doc, req.Parameters); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.IncidentID != "" {
		if _, err := s.store.FindIncident(ctx, req.IncidentID); err != nil {
			if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
				err = tocsin.Errorf(tocsin.EINVALID, "incident_id: no incident %q", req.IncidentID)
			}
			s.fail(w, r, err)
			return
		}
	}
	exec, err := s.opts.Runbooks.StartRunbook(ctx, tocsin.RunbookStart{
		Runbook: name, IncidentID: req.IncidentID, Parameters: req.Parameters, By: apiActor(req.By),
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, map[string]any{"execution": runbook.Redact(exec)})
}

// runbookStatuses are the statuses a list may filter on.
var runbookStatuses = []string{tocsin.RunbookPending, tocsin.RunbookInProgress, tocsin.RunbookWaiting, tocsin.RunbookSuccess,
	tocsin.RunbookFailed, tocsin.RunbookTimedOut, tocsin.RunbookCancelling, tocsin.RunbookCancelled}

// executionFilter reads ?runbook=, ?status= (comma-separated) and ?limit=.
func executionFilter(r *http.Request) (tocsin.RunbookFilter, error) {
	q := r.URL.Query()
	f := tocsin.RunbookFilter{IncidentID: q.Get("incident_id"), Runbook: q.Get("runbook")}
	for _, st := range splitList(q["status"]) {
		if !slices.Contains(runbookStatuses, st) {
			return f, tocsin.Errorf(tocsin.EINVALID, "status: %q is not one of %s", st, strings.Join(runbookStatuses, ", "))
		}
		f.Status = append(f.Status, st)
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			return f, tocsin.Errorf(tocsin.EINVALID, "limit: %q is not a number from 1 to 500", v)
		}
		f.Limit = n
	}
	return f, nil
}

func (s *Server) handleListExecutions(w http.ResponseWriter, r *http.Request) {
	f, err := executionFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.listExecutions(w, r, f)
}

// handleIncidentExecutions lists one incident's executions: 404 when there
// is no such incident.
func (s *Server) handleIncidentExecutions(w http.ResponseWriter, r *http.Request) {
	f, err := executionFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.IncidentID = r.PathValue("id")
	if _, err := s.store.FindIncident(r.Context(), f.IncidentID); err != nil {
		s.fail(w, r, err)
		return
	}
	s.listExecutions(w, r, f)
}

func (s *Server) listExecutions(w http.ResponseWriter, r *http.Request, f tocsin.RunbookFilter) {
	list, err := s.opts.Runbooks.RunbookExecutions(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]*tocsin.RunbookExecution, len(list))
	for i, e := range list {
		out[i] = runbook.Redact(e)
	}
	WriteJSON(w, http.StatusOK, map[string]any{"executions": out})
}

// handleGetExecution answers an execution with its steps, the current
// step's instructions and the names of the steps to come: the incident's
// runbook tab.
func (s *Server) handleGetExecution(w http.ResponseWriter, r *http.Request) {
	exec, err := s.opts.Runbooks.RunbookExecution(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := s.executionView(r.Context(), exec)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, out)
}

// executionView is an execution as GET shows it.
func (s *Server) executionView(ctx context.Context, exec *tocsin.RunbookExecution) (map[string]any, error) {
	out := map[string]any{"execution": runbook.Redact(exec), "current_instructions": "", "upcoming": []string{}}
	rb, err := s.opts.Runbooks.Runbook(ctx, exec.Runbook, exec.Version)
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		// The runbook was deleted since; the execution still shows.
		return out, nil
	} else if err != nil {
		return nil, err
	}
	doc, err := runbook.Parse(rb.Document)
	if err != nil {
		return nil, fmt.Errorf("parse runbook %s version %d: %w", exec.Runbook, exec.Version, err)
	}
	current, upcoming := runbook.Progress(doc, exec)
	if current != nil {
		out["current_step"] = current.Name
		out["current_instructions"] = current.Description
	}
	out["upcoming"] = upcoming
	return out, nil
}

// signalRequest is the optional body of a resume, approve, reject or
// cancel.
type signalRequest struct {
	By      string `json:"by"`
	Comment string `json:"comment"`
}

// handleSignal sends an execution a responder's signal: 409 when it does
// not wait for it, 403 when the actor may not give it (not an approver).
func (s *Server) handleSignal(typ string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req signalRequest
		if r.ContentLength != 0 {
			if err := s.decodeStrict(w, r, &req); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		by := apiActor(req.By)
		if (typ == tocsin.SignalApprove || typ == tocsin.SignalReject) && by.Name == "" {
			s.fail(w, r, tocsin.Errorf(tocsin.EINVALID, "by: who approves or rejects is required (an approver's name)"))
			return
		}
		if len(req.Comment) > maxSignalComment {
			s.fail(w, r, tocsin.Errorf(tocsin.EINVALID, "comment: longer than %d bytes", maxSignalComment))
			return
		}
		exec, err := s.opts.Runbooks.SignalRunbook(r.Context(), tocsin.RunbookSignal{
			ExecutionID: r.PathValue("id"), Type: typ, By: by, Comment: req.Comment,
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		WriteJSON(w, http.StatusOK, map[string]any{"execution": runbook.Redact(exec)})
	}
}
