package web

import (
	"html/template"
	"net/http"

	"tocsin"
	"tocsin/api"
)

// viewPage is the read-only incident page behind the "View the incident"
// link of every message: what happened, its alerts and its timeline, for a
// person who followed the link from chat or email. It carries no form: a
// view link is long-lived and must never change anything.
var viewPage = template.Must(template.New("view").Funcs(template.FuncMap{
	"when": func(t interface{ Format(string) string }) string { return t.Format("2006-01-02 15:04:05 MST") },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>tocsin — {{.Incident.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:3rem auto;padding:0 1rem;color:#222}
.muted{color:#666}table{border-collapse:collapse;width:100%}td,th{text-align:left;vertical-align:top;padding:.25rem .5rem;border-bottom:1px solid #eee}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f6f6;padding:.5rem}.status{font-weight:bold;text-transform:uppercase}</style></head>
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
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	w.WriteHeader(http.StatusOK)
	_ = viewPage.Execute(w, struct{ Incident *tocsin.Incident }{inc})
}
