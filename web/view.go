package web

import (
	"html/template"
	"net/http"

	"tocsin"
	"tocsin/api"
)

// viewPage is the read-only incident page behind the "View the incident"
// link of every message: what happened, its alerts, its runbook
// executions (each step's status, times, redacted inputs, outputs and
// failure, the current step's Markdown instructions as escaped text, the
// steps to come) and its timeline, for a person who followed the link
// from chat or email. It carries no form and no button: a view link is
// long-lived and must never change anything.
var viewPage = template.Must(template.New("view").Funcs(template.FuncMap{
	"when": func(t interface{ Format(string) string }) string { return t.Format("2006-01-02 15:04:05 MST") },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>tocsin — {{.Incident.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:3rem auto;padding:0 1rem;color:#222}
.muted{color:#666}table{border-collapse:collapse;width:100%}td,th{text-align:left;vertical-align:top;padding:.25rem .5rem;border-bottom:1px solid #eee}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f6f6;padding:.5rem}.status{font-weight:bold;text-transform:uppercase}
.runbook{border-left:3px solid #ccc;padding-left:.75rem;margin:1rem 0}.current{background:#fff8e1}pre.io{margin:0;font-size:.85em}</style></head>
<body><h1>{{.Incident.Title}}</h1>
<p><span class="status">{{.Incident.Status}}</span> · impact {{.Incident.Impact}} · opened {{when .Incident.CreatedAt}}
{{with .Incident.AckedAt}}<br>acknowledged {{when .}}{{with $.Incident.AckedBy}} by {{.}}{{end}}{{end}}
{{with .Incident.ResolvedAt}}<br>resolved {{when .}}{{with $.Incident.ResolvedBy}} by {{.}}{{end}}{{end}}</p>
<p class="muted">Incident {{.Incident.ID}} · source {{.Incident.Source}}{{if eq .Incident.Status "triggered"}} · acknowledge with the Acknowledge link of the message, or <code>tocsin incident ack {{.Incident.ID}}</code>{{end}}</p>
{{with .Incident.Summary}}<h2>Summary</h2><pre>{{.}}</pre>{{end}}
<h2>Alerts ({{len .Incident.Alerts}})</h2>
{{range .Incident.Alerts}}<h3>{{.Title}} <span class="muted">{{.Status}}{{with .Severity}} · {{.}}{{end}}</span></h3>
{{with .Description}}<pre>{{.}}</pre>{{end}}
{{if .Labels}}<table>{{range $k, $v := .Labels}}<tr><th>{{$k}}</th><td>{{$v}}</td></tr>{{end}}</table>{{end}}
{{end}}
{{if .RunbooksFailed}}<h2>Runbooks</h2><p class="muted">The runbook executions could not be read; try again later.</p>{{end}}
{{with .Runbooks}}<h2>Runbooks ({{len .}})</h2>{{end}}
{{range $rb := .Runbooks}}<section class="runbook"><h3>{{.Exec.Runbook}} <span class="muted">version {{.Exec.Version}}</span> · <span class="status">{{.Exec.Status}}</span></h3>
<p class="muted">Execution {{.Exec.ID}} · started {{when .Exec.StartedAt}}{{with .Exec.StartedBy}} by {{.}}{{end}}{{if not .Exec.EndedAt.IsZero}} · ended {{when .Exec.EndedAt}}{{end}}</p>
{{with .Exec.FailureMessage}}<p><strong>Failed:</strong> {{.}}</p>{{end}}
{{with .Current}}<h4>Now: {{.Name}} <span class="muted">{{.Action}} · {{.Status}}</span></h4>
{{if eq .Status "Waiting"}}<p class="muted">{{if eq .Action "aws:approve"}}An approver answers with <code>tocsin runbook approve {{$rb.Exec.ID}} --as NAME</code> (or <code>reject</code>), or the buttons of the chat message{{else}}Resume with <code>tocsin runbook resume {{$rb.Exec.ID}}</code>, or the chat message's Resume button{{end}}.</p>{{end}}{{end}}
{{with .Instructions}}<pre class="instructions">{{.}}</pre>{{end}}
{{if .Steps}}<table><tr><th>#</th><th>Step</th><th>Status</th><th>Started</th><th>Ended</th><th>Inputs</th><th>Outputs</th></tr>
{{range .Steps}}<tr{{if and $rb.Current (eq .Seq $rb.Current.Seq)}} class="current"{{end}}><td>{{.Seq}}</td><td>{{.Name}}<br><span class="muted">{{.Action}}{{if gt .Attempt 1}} · attempt {{.Attempt}}{{end}}</span></td><td>{{.Status}}</td>
<td class="muted">{{when .StartedAt}}</td><td class="muted">{{if not .EndedAt.IsZero}}{{when .EndedAt}}{{end}}</td>
<td>{{with .Inputs}}<pre class="io">{{.}}</pre>{{end}}</td><td>{{with .Outputs}}<pre class="io">{{.}}</pre>{{end}}{{with .FailureMessage}}<p><strong>Failed:</strong> {{.}}</p>{{end}}{{range .Approvals}}<br>{{if .Approved}}approved{{else}}rejected{{end}} by {{.By}}{{with .Comment}}: {{.}}{{end}}{{end}}</td></tr>
{{end}}</table>{{end}}
{{with .Upcoming}}<p>To come: {{range $i, $s := .}}{{if $i}}, {{end}}{{$s}}{{end}}</p>{{end}}
</section>{{end}}
<h2>Timeline</h2>
<table>{{range .Incident.Timeline}}<tr><td class="muted">{{when .At}}</td><td>{{.Kind}}</td><td>{{.Message}}{{with .Actor}} <span class="muted">({{.}})</span>{{end}}</td></tr>{{end}}</table>
</body></html>`))

// handleIncidentPage serves GET /incidents/{id}: the incident page a signed
// view link (AckSigner.ViewURL) opens, readable without an API token.
func (s *Server) handleIncidentPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if s.opts.Acks == nil {
		s.renderAck(w, http.StatusServiceUnavailable, ackView{Heading: "Unavailable", Message: "Incident links are not configured."})
		return
	}
	q := r.URL.Query()
	if err := s.opts.Acks.CheckView(id, q.Get("exp"), q.Get("sig")); err != nil {
		s.renderAck(w, api.StatusCode(tocsin.ErrorCode(err)), ackView{Heading: "Link not valid", Message: tocsin.ErrorMessage(err)})
		return
	}
	inc, err := s.store.FindIncident(r.Context(), id)
	if err != nil {
		api.LogError(s.opts.Logger, r, err)
		s.renderAck(w, api.StatusCode(tocsin.ErrorCode(err)), ackView{Heading: "Not available", Message: tocsin.ErrorMessage(err)})
		return
	}
	data := viewData{Incident: inc}
	if data.Runbooks, err = s.executions(r.Context(), inc.ID); err != nil {
		// The incident still shows: its runbooks are one part of it.
		api.LogError(s.opts.Logger, r, err)
		data.Runbooks, data.RunbooksFailed = nil, true
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(http.StatusOK)
	_ = viewPage.Execute(w, data)
}

// viewData is what the incident page shows.
type viewData struct {
	Incident *tocsin.Incident
	// Runbooks are the incident's executions; RunbooksFailed says they
	// could not be read.
	Runbooks       []executionView
	RunbooksFailed bool
}
