package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"tocsin"
	"tocsin/api"
)

// AckSigner makes and checks signed, expiring acknowledgement links, in
// Versus Incident's shape: PUBLIC_HOST/api/ack/ID?exp=UNIX&sig=HEX, where
// sig is HMAC-SHA256(key, ID + "." + exp).
type AckSigner struct {
	Key        []byte
	PublicHost string
	TTL        time.Duration
	Now        func() time.Time
}

// URL returns the signed acknowledgement link of an incident.
func (a *AckSigner) URL(incidentID string) string {
	exp := a.Now().Add(a.TTL).Unix()
	return strings.TrimRight(a.PublicHost, "/") + "/api/ack/" + url.PathEscape(incidentID) +
		"?exp=" + strconv.FormatInt(exp, 10) + "&sig=" + a.sign(incidentID, exp)
}

// ViewTTL is how long an incident view link (ViewURL) stays valid: long
// enough to read an incident back during its post-incident review.
const ViewTTL = 30 * 24 * time.Hour

// ViewURL returns a signed, read-only link to an incident's page
// (PUBLIC_HOST/incidents/ID?exp=UNIX&sig=HEX), valid for ViewTTL. Its
// signature covers a different message than an acknowledgement link's, so
// a view link can never acknowledge.
func (a *AckSigner) ViewURL(incidentID string) string {
	exp := a.Now().Add(ViewTTL).Unix()
	return strings.TrimRight(a.PublicHost, "/") + "/incidents/" + url.PathEscape(incidentID) +
		"?exp=" + strconv.FormatInt(exp, 10) + "&sig=" + a.signFor(viewPurpose, incidentID, exp)
}

// Purposes a link is signed for; the acknowledgement link keeps Versus's
// message (no prefix) so existing links stay valid.
const (
	ackPurpose  = ""
	viewPurpose = "view."
)

func (a *AckSigner) sign(id string, exp int64) string { return a.signFor(ackPurpose, id, exp) }

func (a *AckSigner) signFor(purpose, id string, exp int64) string {
	m := hmac.New(sha256.New, a.Key)
	m.Write([]byte(purpose + id + "." + strconv.FormatInt(exp, 10)))
	return hex.EncodeToString(m.Sum(nil))
}

// Check verifies a link's signature and expiry: EUNAUTHORIZED when the
// signature is wrong, EFORBIDDEN when the link has expired.
func (a *AckSigner) Check(id, exp, sig string) error {
	return a.check(ackPurpose, id, exp, sig, "this acknowledgement link has expired; acknowledge in tocsin instead")
}

// CheckView verifies an incident view link (ViewURL).
func (a *AckSigner) CheckView(id, exp, sig string) error {
	return a.check(viewPurpose, id, exp, sig, "this incident link has expired; ask your team for the incident in tocsin")
}

func (a *AckSigner) check(purpose, id, exp, sig, expired string) error {
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || sig == "" {
		return tocsin.Errorf(tocsin.EUNAUTHORIZED, "this link is incomplete or invalid")
	}
	if !hmac.Equal([]byte(sig), []byte(a.signFor(purpose, id, e))) {
		return tocsin.Errorf(tocsin.EUNAUTHORIZED, "this link is invalid")
	}
	if a.Now().Unix() > e {
		return tocsin.Errorf(tocsin.EFORBIDDEN, "%s", expired)
	}
	return nil
}

var ackPage = template.Must(template.New("ack").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>tocsin — {{.Heading}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}
button{font-size:1.1rem;padding:.6rem 1.4rem;background:#C70039;color:#fff;border:0;border-radius:4px;cursor:pointer}
input{font-size:1rem;padding:.4rem;margin:.5rem 0 1rem;width:100%;box-sizing:border-box}.muted{color:#666}</style></head>
<body><h1>{{.Heading}}</h1>
{{if .Incident}}<p><strong>{{.Incident.Title}}</strong><br><span class="muted">Impact {{.Incident.Impact}} · {{.Incident.Status}} · opened {{.Incident.CreatedAt.Format "2006-01-02 15:04 MST"}}</span></p>{{end}}
<p>{{.Message}}</p>
{{if .Form}}<form method="post" action="{{.Action}}"><label for="name">Your name (recorded on the timeline)</label>
<input id="name" name="name" autocomplete="name" maxlength="100"><button type="submit">Acknowledge</button></form>{{end}}
</body></html>`))

type ackView struct {
	Heading, Message, Action string
	Incident                 *tocsin.Incident
	Form                     bool
}

func (s *Server) renderAck(w http.ResponseWriter, status int, v ackView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	w.WriteHeader(status)
	_ = ackPage.Execute(w, v)
}

// checkAckLink validates the link and loads the incident, answering with
// an error page when it cannot.
func (s *Server) checkAckLink(w http.ResponseWriter, r *http.Request) (*tocsin.Incident, bool) {
	id := r.PathValue("id")
	if s.opts.Acks == nil {
		s.renderAck(w, http.StatusServiceUnavailable, ackView{Heading: "Unavailable", Message: "Acknowledgement links are not configured."})
		return nil, false
	}
	q := r.URL.Query()
	if err := s.opts.Acks.Check(id, q.Get("exp"), q.Get("sig")); err != nil {
		s.renderAck(w, api.StatusCode(tocsin.ErrorCode(err)), ackView{Heading: "Link not valid", Message: tocsin.ErrorMessage(err)})
		return nil, false
	}
	inc, err := s.store.FindIncident(r.Context(), id)
	if err != nil {
		api.LogError(s.opts.Logger, r, err)
		s.renderAck(w, api.StatusCode(tocsin.ErrorCode(err)), ackView{Heading: "Not available", Message: tocsin.ErrorMessage(err)})
		return nil, false
	}
	return inc, true
}

// handleAckPage shows a confirmation page. GET never acknowledges: link
// scanners and chat unfurlers fetch links.
func (s *Server) handleAckPage(w http.ResponseWriter, r *http.Request) {
	inc, ok := s.checkAckLink(w, r)
	if !ok {
		return
	}
	v := ackView{Heading: "Acknowledge incident?", Incident: inc, Action: r.URL.RequestURI()}
	switch inc.Status {
	case tocsin.StatusTriggered:
		v.Form, v.Message = true, "Acknowledging tells your team you are on it and stops further escalation."
	case tocsin.StatusAcknowledged:
		v.Heading, v.Message = "Already acknowledged", "Acknowledged by "+inc.AckedBy+"."
	default:
		v.Heading, v.Message = "Already resolved", "This incident is resolved."
	}
	s.renderAck(w, http.StatusOK, v)
}

// handleAckHead answers HEAD without acknowledging anything.
func (s *Server) handleAckHead(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
}

// handleAckPost acknowledges the incident of a valid link.
func (s *Server) handleAckPost(w http.ResponseWriter, r *http.Request) {
	inc, ok := s.checkAckLink(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	name := strings.TrimSpace(r.PostFormValue("name"))
	if len(name) > 100 {
		name = name[:100]
	}
	inc, changed, err := s.store.Acknowledge(r.Context(), inc.ID, tocsin.Actor{Name: api.SanitizeActor(name), Via: "ack link"})
	if err != nil {
		api.LogError(s.opts.Logger, r, err)
		s.renderAck(w, api.StatusCode(tocsin.ErrorCode(err)), ackView{Heading: "Could not acknowledge", Message: tocsin.ErrorMessage(err)})
		return
	}
	v := ackView{Heading: "Acknowledged", Incident: inc, Message: "Thank you. The incident is acknowledged."}
	if !changed {
		v.Heading = "Already acknowledged"
		v.Message = "Acknowledged by " + inc.AckedBy + "."
		if inc.Status == tocsin.StatusResolved {
			v.Heading, v.Message = "Already resolved", "This incident is resolved."
		}
	}
	s.renderAck(w, http.StatusOK, v)
}
