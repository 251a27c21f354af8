package engage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"time"

	"tocsin"
	"tocsin/notify"
)

// pageFailed counts a page that gave up and tells the team's channels: a
// person who was not reached is itself an alert, as a failed notification
// or escalation is. A test page's failure is on its own quiet incident only.
func (e *Engine) pageFailed(job *tocsin.Job, p *tocsin.Page, test bool, msg string) []*tocsin.Job {
	kind := tocsin.PageLane(p.ChannelType)
	if e.Logger != nil {
		e.Logger.Error("page failed", "incident_id", p.IncidentID, "contact", p.Contact, "channel", p.ChannelName, "type", p.ChannelType, "err", msg)
	}
	if e.Observe != nil {
		e.Observe(kind, "failed")
	}
	if test {
		return nil
	}
	names := slices.Sorted(maps.Keys(e.Channels))
	return notify.FailureNotices(p.IncidentID, names, "", tocsin.DeliveryFailure{Channel: kind,
		What: fmt.Sprintf("page to %s by %s (%s)", p.Contact, p.ChannelType, p.ChannelName), Error: msg, Attempts: job.Attempts}, e.Now())
}

// HandlePage sends one page. The page is claimed (marked sending) before
// the send, so a send interrupted by a crash is never repeated (see
// tocsin.PageInterrupted); the result is recorded by the job's outcome.
func (e *Engine) HandlePage(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	var args tocsin.PageArgs
	if err := json.Unmarshal(job.Args, &args); err != nil {
		return tocsin.JobOutcome{}
	}
	limit := e.MaxPerNumberPerHour
	if limit <= 0 {
		limit = DefaultMaxPerNumberPerHour
	}
	// Read what the message needs before claiming, so nothing after the
	// claim but the send itself can fail.
	pre, err := e.Store.FindPage(ctx, args.PageID)
	if err != nil {
		return e.retryErr(job, err)
	}
	d, err := e.Store.LoadDelivery(ctx, pre.IncidentID, "", "")
	if err != nil {
		return e.retryErr(job, err)
	}
	eng, err := e.Store.FindEngagement(ctx, pre.EngagementID)
	if err != nil {
		return e.retryErr(job, err)
	}
	p, claim, err := e.Store.ClaimPage(ctx, args.PageID, limit, e.Now().Add(-time.Hour))
	if err != nil {
		return e.retryErr(job, err)
	}
	switch claim {
	case tocsin.PageInterrupted:
		msg := fmt.Sprintf("tocsin stopped while paging %s by %s (%s); the provider may have sent it, so it is not sent again (no duplicate pages). The escalation plan continues.",
			p.Contact, p.ChannelType, p.ChannelName)
		return pageOutcome(p, tocsin.PageUpdate{Status: tocsin.PageError, Error: "interrupted during send"}, msg)
	case tocsin.PageLimited:
		msg := fmt.Sprintf("Page to %s (%s) not sent: %s reached its limit of %d pages an hour", p.Contact, p.ChannelName, p.Address, limit)
		return pageOutcome(p, tocsin.PageUpdate{Status: tocsin.PageRateLimited, Error: "rate limited"}, msg)
	case tocsin.PageClaimed:
		provider, ref, failed, err := e.send(ctx, p, d, eng.Test, job.ID)
		return e.sent(job, p, eng.Test, provider, ref, failed, err)
	}
	return tocsin.JobOutcome{}
}

// sent is the outcome of a claimed page's send: sent, failed for good
// (the team's channels are told), or back to pending for a retry.
func (e *Engine) sent(job *tocsin.Job, p *tocsin.Page, test bool, provider, ref string, failed []string, err error) tocsin.JobOutcome {
	if err == nil {
		msg := fmt.Sprintf("Paged %s by %s (%s) via %s", p.Contact, p.ChannelType, p.ChannelName, provider)
		if len(failed) > 0 {
			msg += " after " + strings.Join(failed, "; ")
		}
		out := pageOutcome(p, tocsin.PageUpdate{Status: tocsin.PageSent, Provider: provider, Ref: ref}, msg)
		out.Events[0].Actor = provider
		out.Events[0].Data = tocsin.MustJSON(map[string]any{"page_id": p.ID, "contact": p.Contact, "channel": p.ChannelName, "provider": provider, "ref": ref})
		return out
	}
	permanent, after := notify.Classify(err)
	max := e.MaxAttempts
	if max <= 0 {
		max = DefaultMaxAttempts
	}
	if permanent || job.Attempts >= max {
		msg := fmt.Sprintf("Page to %s by %s (%s) failed: %v", p.Contact, p.ChannelType, p.ChannelName, err)
		out := pageOutcome(p, tocsin.PageUpdate{Status: tocsin.PageError, Error: err.Error()}, msg)
		out.Next = e.pageFailed(job, p, test, msg)
		return out
	}
	return tocsin.JobOutcome{Page: &tocsin.PageUpdate{PageID: p.ID, Status: tocsin.PagePending, Error: err.Error()},
		RetryAt: e.Now().Add(e.Backoff(job.Attempts, after, rand.Float64())), Error: err.Error()}
}

// pageOutcome records a page's final result u with a timeline event.
func pageOutcome(p *tocsin.Page, u tocsin.PageUpdate, msg string) tocsin.JobOutcome {
	u.PageID = p.ID
	return tocsin.JobOutcome{Page: &u, Events: []*tocsin.TimelineEvent{event(p.IncidentID, tocsin.EventPage, msg)}}
}

// send delivers a page through its channel type; failed lists providers
// that failed before one delivered.
func (e *Engine) send(ctx context.Context, p *tocsin.Page, d *tocsin.Delivery, test bool, deliveryID string) (provider, ref string, failed []string, err error) {
	inc := d.Incident
	ack := ""
	if e.AckURL != nil {
		ack = e.AckURL(inc.ID)
	}
	switch p.ChannelType {
	case tocsin.ChannelSMS:
		var errs []error
		for _, s := range e.SMS {
			// Only a provider whose replies reach tocsin may ask for one;
			// through any other the ack link is the way to acknowledge.
			code := ""
			if r, ok := s.(Replier); ok && r.AcceptsReplies() {
				code = p.AckCode
			}
			body := SMSText(inc, code, ack, test)
			id, err := s.SendSMS(ctx, &notify.SMS{To: p.Address, Body: body, StatusCallback: e.webhookURL("/api/v1/twilio/status")})
			if err == nil {
				return s.Name(), id, failed, nil
			}
			failed = append(failed, s.Name()+" failed: "+err.Error())
			errs = append(errs, err)
		}
		return "", "", failed, allFailed("sms", errs)
	case tocsin.ChannelVoice:
		var errs []error
		for _, c := range e.Voice {
			id, err := c.Call(ctx, &notify.Call{To: p.Address, Say: VoiceText(inc, test),
				GatherURL: e.webhookURL("/api/v1/twilio/voice/" + url.PathEscape(p.ID)), StatusCallback: e.webhookURL("/api/v1/twilio/status")})
			if err == nil {
				return c.Name(), id, failed, nil
			}
			failed = append(failed, c.Name()+" failed: "+err.Error())
			errs = append(errs, err)
		}
		return "", "", failed, allFailed("voice", errs)
	}
	ch, dest, err := e.channelFor(p.ChannelType, p.Address)
	if err != nil {
		return "", "", nil, err
	}
	if test && p.ChannelType == tocsin.ChannelEmail {
		dest["subject"] = "[TEST page] " + inc.Title
	}
	ref, err = ch.Send(ctx, &notify.Message{Event: notify.EventOpened, Incident: inc, Alert: d.Alert, Payload: d.Payload, AckURL: ack,
		Destination: dest, DeliveryID: deliveryID, SentAt: e.Now().UTC()})
	return ch.Name(), ref, nil, err
}

// channelFor returns the team channel that carries a contact channel of
// type typ (email, Slack DM, Telegram, webhook) and the destination that
// points it at address.
func (e *Engine) channelFor(typ, address string) (notify.Channel, map[string]string, error) {
	var ch notify.Channel
	dest := map[string]string{}
	switch typ {
	case tocsin.ChannelEmail:
		ch, dest["to"] = e.Channels["email"], address
	case tocsin.ChannelSlack:
		ch, dest["channel_id"] = e.Channels["slack"], address
	case tocsin.ChannelTelegram:
		ch, dest["chat_id"] = e.Channels["telegram"], address
	case tocsin.ChannelWebhook:
		if e.Webhook != nil {
			var err error
			if ch, err = e.Webhook(address); err != nil {
				return nil, nil, notify.Permanent(err)
			}
		}
	}
	if ch == nil {
		return nil, nil, notify.Permanent(fmt.Errorf("the %s channel is not configured in tocsin", typ))
	}
	return ch, dest, nil
}

// allFailed combines the errors of every provider: permanent only if all were.
func allFailed(kind string, errs []error) error {
	if len(errs) == 0 {
		return notify.Permanent(fmt.Errorf("no %s provider is configured (paging.%s)", kind, kind))
	}
	permanent := true
	var after time.Duration
	for _, err := range errs {
		p, a := notify.Classify(err)
		permanent = permanent && p
		after = max(after, a)
	}
	err := errors.Join(errs...)
	if permanent {
		return notify.Permanent(err)
	}
	return notify.RetryAfter(err, after)
}

func (e *Engine) webhookURL(path string) string {
	if e.PublicHost == "" {
		return ""
	}
	return strings.TrimRight(e.PublicHost, "/") + path
}

// Replier is an SMS provider that can report whether replies to its
// messages reach tocsin (Twilio's messaging webhook does). A page sent
// through a provider that is not one asks for no reply code.
type Replier interface {
	AcceptsReplies() bool
}

// SMSText is a page's text message: what, how bad, and how to acknowledge
// (reply with code, when one is given, or open the ack link).
func SMSText(inc *tocsin.Incident, code, ackURL string, test bool) string {
	prefix := "[tocsin]"
	if test {
		prefix = "[tocsin TEST]"
	}
	title := inc.Title
	if r := []rune(title); len(r) > 80 {
		title = string(r[:79]) + "…"
	}
	s := fmt.Sprintf("%s Impact %d: %s.", prefix, inc.Impact, title)
	switch {
	case code != "":
		s += " Reply " + code + " to acknowledge."
		if ackURL != "" {
			s += " " + ackURL
		}
	case ackURL != "":
		s += " Acknowledge: " + ackURL
	}
	return s
}

// VoiceText is what a page's voice call says.
func VoiceText(inc *tocsin.Incident, test bool) string {
	s := fmt.Sprintf("This is tocsin. Impact %d incident: %s. Press 1 to acknowledge.", inc.Impact, inc.Title)
	if test {
		s = "This is a test page from tocsin. " + s
	}
	return s
}
