package inbound

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"tocsin"
	"tocsin/api"
	"tocsin/notify/twilio"
)

// Pages is what the paging webhooks need from the store.
type Pages interface {
	FindPageByReply(ctx context.Context, address, code string) (*tocsin.Page, error)
	AcknowledgePage(ctx context.Context, pageID, via string) (*tocsin.PageAck, error)
	PageReceipt(ctx context.Context, provider, ref, kind, detail string) error
}

// twilioSigned refuses a Twilio webhook without a valid
// X-Twilio-Signature for the URL Twilio called (PublicHost + path).
func (s *Server) twilioSigned(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			api.Error(w, r, tocsin.Errorf(tocsin.EINVALID, "unreadable form: %v", err))
			return
		}
		full := strings.TrimRight(s.opts.PublicHost, "/") + r.URL.RequestURI()
		if !twilio.ValidateSignature(s.opts.TwilioAuthToken, full, r.PostForm, r.Header.Get("X-Twilio-Signature")) {
			api.Error(w, r, tocsin.Errorf(tocsin.EUNAUTHORIZED, "invalid X-Twilio-Signature"))
			return
		}
		h(w, r)
	}
}

func twiml(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, body)
}

// messageTwiML answers an inbound SMS with a text message.
func messageTwiML(text string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Response><Message>`)
	_ = xml.EscapeText(&b, []byte(text))
	b.WriteString(`</Message></Response>`)
	return b.String()
}

var codePattern = regexp.MustCompile(`\b\d{6}\b`)

// handleTwilioSMS acknowledges the page whose code a contact texts back.
func (s *Server) handleTwilioSMS(w http.ResponseWriter, r *http.Request) {
	from, body, _ := twilio.ParseInboundSMS(r.PostForm)
	code := codePattern.FindString(body)
	if code == "" {
		twiml(w, messageTwiML("tocsin: reply with the 6-digit code from the page to acknowledge it."))
		return
	}
	p, err := s.store.FindPageByReply(r.Context(), from, code)
	if err != nil {
		if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
			twiml(w, messageTwiML("tocsin: no page is waiting for code "+code+" from this number."))
			return
		}
		s.fail(w, r, err)
		return
	}
	res, err := s.store.AcknowledgePage(r.Context(), p.ID, "sms")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	twiml(w, messageTwiML(ackReply(res)))
}

// handleTwilioVoice receives the key pressed during a page's call.
func (s *Server) handleTwilioVoice(w http.ResponseWriter, r *http.Request) {
	digits, _, _ := twilio.ParseGather(r.PostForm)
	if digits != "1" {
		twiml(w, twilio.SayTwiML("Not acknowledged. Goodbye."))
		return
	}
	res, err := s.store.AcknowledgePage(r.Context(), r.PathValue("page"), "voice")
	if err != nil {
		if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
			twiml(w, twilio.SayTwiML("This page no longer exists. Goodbye."))
			return
		}
		s.fail(w, r, err)
		return
	}
	twiml(w, twilio.SayTwiML(ackReply(res)))
}

func ackReply(res *tocsin.PageAck) string {
	switch {
	case res.Already:
		return "Already acknowledged. Thank you."
	case res.Stopped:
		return "Acknowledged. The escalation has stopped. Thank you."
	}
	return "Acknowledged. You will not be paged again for this incident; the escalation continues to others."
}

// handleTwilioStatus records delivery reports of messages and calls.
func (s *Server) handleTwilioStatus(w http.ResponseWriter, r *http.Request) {
	sid, status, code := twilio.ParseStatus(r.PostForm)
	kind := ""
	switch status {
	case "delivered":
		kind = tocsin.PageDelivered
	case "read":
		kind = tocsin.PageRead
	case "completed":
		kind = tocsin.PageDelivered
	case "failed", "undelivered", "busy", "no-answer", "canceled":
		kind = tocsin.PageError
	default:
		w.WriteHeader(http.StatusNoContent)
		return
	}
	detail := status
	if code != "" {
		detail += " (error " + code + ")"
	}
	if err := s.store.PageReceipt(r.Context(), "twilio", sid, kind, detail); err != nil && tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
