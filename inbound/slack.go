package inbound

import (
	"net/http"

	"tocsin"
	"tocsin/api"
	"tocsin/notify/slack"
)

// handleSlackInteraction serves Slack's interactivity requests: the
// Acknowledge button and a runbook wait's Resume, Approve and Reject
// buttons. The request must carry Slack's signature.
func (s *Server) handleSlackInteraction(w http.ResponseWriter, r *http.Request) {
	if s.opts.SlackSigningSecret == "" {
		api.Error(w, r, tocsin.Errorf(tocsin.ENOTFOUND, "Slack interactivity is not configured (alert.slack.signing_secret)"))
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := slack.VerifyRequest(s.opts.SlackSigningSecret, r.Header, body, s.opts.Now()); err != nil {
		api.Error(w, r, tocsin.Errorf(tocsin.EUNAUTHORIZED, "invalid Slack signature"))
		return
	}
	if click, ok, err := slack.ParseRunbookInteraction(body); err != nil {
		s.fail(w, r, err)
		return
	} else if ok {
		s.handleRunbookClick(w, r, click)
		return
	}
	act, ok, err := slack.ParseInteraction(body)
	if err != nil {
		s.fail(w, r, tocsin.Errorf(tocsin.EINVALID, "Slack interaction: %v", err))
		return
	}
	if !ok {
		w.WriteHeader(http.StatusOK)
		return
	}
	name := act.UserName
	if name == "" {
		name = act.UserID
	}
	if _, _, err := s.store.Acknowledge(r.Context(), act.IncidentID, tocsin.Actor{Name: api.SanitizeActor(name), Via: "slack"}); err != nil {
		s.fail(w, r, err)
		return
	}
	// The message is updated by the outbox (chat.update), not here.
	w.WriteHeader(http.StatusOK)
}
