package engage

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"tocsin"
	"tocsin/notify"
)

// HandleActivation sends a contact channel's activation code through the
// channel itself, and records on the contact's record that it was sent
// (without the code).
func (e *Engine) HandleActivation(ctx context.Context, job *tocsin.Job) tocsin.JobOutcome {
	var a tocsin.ActivationArgs
	if err := json.Unmarshal(job.Args, &a); err != nil {
		return tocsin.JobOutcome{}
	}
	c, err := e.Store.FindContact(ctx, a.Contact)
	if err != nil {
		return e.retryErr(job, err)
	}
	var ch *tocsin.ContactChannel
	for i := range c.Channels {
		if c.Channels[i].Name == a.Channel {
			ch = &c.Channels[i]
		}
	}
	if ch == nil {
		return tocsin.JobOutcome{}
	}
	text := fmt.Sprintf("Your tocsin activation code for %s is %s. It expires in 15 minutes.", a.Channel, a.Code)
	err = e.sendNotice(ctx, ch, text, text, job.ID)
	// The record keeps no code: it is a secret.
	return e.noticeOutcome(job, a.Contact, ch, "", "activation code not sent", err)
}

// noticeAttempts bounds the attempts at a notice (a hand-off note, an
// activation code): a person who is not reached is not an incident.
const noticeAttempts = 5

// noticeOutcome records a notice's send on the contact's record as text
// (what may be kept of it), or retries it, or records it as failed and
// logs failure.
func (e *Engine) noticeOutcome(job *tocsin.Job, alias string, ch *tocsin.ContactChannel, text, failure string, err error) tocsin.JobOutcome {
	n := &tocsin.ContactNotice{Contact: alias, Channel: ch.Name, Kind: job.Kind, Text: text, Status: tocsin.NoticeSent}
	if err == nil {
		return tocsin.JobOutcome{Notice: n}
	}
	if permanent, after := notify.Classify(err); !permanent && job.Attempts < noticeAttempts {
		return tocsin.JobOutcome{RetryAt: e.Now().Add(e.Backoff(job.Attempts, after, rand.Float64())), Error: err.Error()}
	}
	if e.Logger != nil {
		e.Logger.Warn(failure, "contact", alias, "channel", ch.Name, "err", err)
	}
	n.Status, n.Error = tocsin.NoticeFailed, err.Error()
	return tocsin.JobOutcome{Notice: n}
}

// sendNotice sends a plain notice (an activation code, a hand-off note) to
// one contact channel: as a text message or a call, or through the team
// channel of its type as a notify.Notice, never as an incident.
func (e *Engine) sendNotice(ctx context.Context, ch *tocsin.ContactChannel, subject, text, deliveryID string) error {
	switch ch.Type {
	case tocsin.ChannelSMS:
		var errs []error
		for _, s := range e.SMS {
			if _, err := s.SendSMS(ctx, &notify.SMS{To: ch.Address, Body: text}); err == nil {
				return nil
			} else {
				errs = append(errs, err)
			}
		}
		return allFailed("sms", errs)
	case tocsin.ChannelVoice:
		var errs []error
		for _, c := range e.Voice {
			if _, err := c.Call(ctx, &notify.Call{To: ch.Address, Say: spellDigits(text)}); err == nil {
				return nil
			} else {
				errs = append(errs, err)
			}
		}
		return allFailed("voice", errs)
	}
	c, _, err := e.channelFor(ch.Type, ch.Address)
	if err != nil {
		return err
	}
	ns, ok := c.(notify.NoticeSender)
	if !ok {
		return notify.Permanent(fmt.Errorf("the %s channel cannot send notices", c.Name()))
	}
	return ns.SendNotice(ctx, &notify.Notice{To: ch.Address, Subject: subject, Text: text, DeliveryID: deliveryID, SentAt: e.Now().UTC()})
}

// spellDigits separates digits so a voice reads them one by one.
func spellDigits(s string) string {
	out := make([]rune, 0, len(s)*2)
	for _, r := range s {
		out = append(out, r)
		if r >= '0' && r <= '9' {
			out = append(out, ' ')
		}
	}
	return string(out)
}
