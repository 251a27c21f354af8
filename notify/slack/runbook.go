package slack

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/slack-go/slack"

	"tocsin"
)

// Action IDs of a runbook wait's buttons. Their value is
// "<execution id>:<step seq>", so a click on the message of an earlier
// wait never answers a later one.
const (
	ResumeActionID  = "tocsin_runbook_resume"
	ApproveActionID = "tocsin_runbook_approve"
	RejectActionID  = "tocsin_runbook_reject"
)

// runbookActions are the buttons' action IDs and the signals they send.
var runbookActions = map[string]string{
	ResumeActionID:  tocsin.SignalResume,
	ApproveActionID: tocsin.SignalApprove,
	RejectActionID:  tocsin.SignalReject,
}

// runbookBlocks is a runbook wait's message: its escaped text and, when
// Slack can deliver the clicks to tocsin (the signing secret is set), a
// Resume button for a pause, Approve and Reject for an approval.
func (c *Channel) runbookBlocks(text string, w *tocsin.RunbookWait) []slack.Block {
	blocks := []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)}
	if !c.interactive {
		return blocks
	}
	value := w.ExecutionID + ":" + strconv.Itoa(w.Seq)
	button := func(id, label string, style slack.Style) slack.BlockElement {
		return slack.NewButtonBlockElement(id, value, slack.NewTextBlockObject(slack.PlainTextType, label, false, false)).WithStyle(style)
	}
	var buttons []slack.BlockElement
	switch w.Action {
	case "aws:approve":
		buttons = append(buttons, button(ApproveActionID, "Approve", slack.StylePrimary), button(RejectActionID, "Reject", slack.StyleDanger))
	default:
		buttons = append(buttons, button(ResumeActionID, "Resume", slack.StylePrimary))
	}
	return append(blocks, slack.NewActionBlock("tocsin_runbook", buttons...))
}

// UpdateRunbookMessage replaces a runbook wait's message (channel, ts)
// with its text (as posted, already escaped) and a line saying what
// became of the wait (escaped here), without the buttons.
func (c *Channel) UpdateRunbookMessage(ctx context.Context, channel, ts, text, outcome string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	line := ":white_check_mark: " + escape(outcome)
	blocks := []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, line, false, false), nil, nil)}
	if text = strings.TrimSpace(text); text != "" {
		blocks = append([]slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, tocsin.Truncate(text, maxSectionText), false, false), nil, nil)}, blocks...)
	}
	if _, _, _, err := c.api.UpdateMessageContext(ctx, channel, ts, slack.MsgOptionText(escape(outcome), false), slack.MsgOptionBlocks(blocks...)); err != nil {
		return c.classify("update runbook message", err)
	}
	return nil
}

// PostEphemeral shows text (escaped here) to one user in a channel only
// (chat.postEphemeral): the answer to a click that changed nothing.
func (c *Channel) PostEphemeral(ctx context.Context, channel, user, text string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if _, err := c.api.PostEphemeralContext(ctx, channel, user, slack.MsgOptionText(escape(text), false)); err != nil {
		return c.classify("post ephemeral", err)
	}
	return nil
}

// RunbookInteraction is a click on a runbook wait's button.
type RunbookInteraction struct {
	// Signal is tocsin.SignalResume, SignalApprove or SignalReject.
	Signal      string
	ExecutionID string
	// Seq is the step the message announced.
	Seq       int
	UserID    string
	UserName  string
	ChannelID string
	MessageTS string
	// Text is the message's text as posted (its first section), kept when
	// the message is updated.
	Text string
}

// runbookPayload is what a runbook button's click adds to
// interactionPayload: the message's blocks, whose text the update keeps.
type runbookPayload struct {
	Message struct {
		Blocks []struct {
			Type string `json:"type"`
			Text struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"blocks"`
	} `json:"message"`
}

// ParseRunbookInteraction parses a Slack interactivity request's body and
// returns the click on a runbook wait's button. ok is false, with a nil
// error, for any other interaction. Malformed bodies or button values give
// an error with code tocsin.EINVALID. Call VerifyRequest first.
func ParseRunbookInteraction(body []byte) (*RunbookInteraction, bool, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, false, tocsin.Errorf(tocsin.EINVALID, "slack interaction: invalid form body")
	}
	raw := form.Get("payload")
	var p interactionPayload
	var m runbookPayload
	if err := errors.Join(json.Unmarshal([]byte(raw), &p), json.Unmarshal([]byte(raw), &m)); err != nil {
		return nil, false, tocsin.Errorf(tocsin.EINVALID, "slack interaction: invalid payload JSON")
	}
	if p.Type != "block_actions" {
		return nil, false, nil
	}
	for _, a := range p.Actions {
		signal, ok := runbookActions[a.ActionID]
		if !ok {
			continue
		}
		i := strings.LastIndex(a.Value, ":")
		seq, err := strconv.Atoi(a.Value[i+1:])
		if i < 1 || err != nil || seq < 1 {
			return nil, false, tocsin.Errorf(tocsin.EINVALID, "slack interaction: runbook action value %q is not execution:step", tocsin.Truncate(a.Value, 100))
		}
		in := &RunbookInteraction{
			Signal: signal, ExecutionID: a.Value[:i], Seq: seq,
			UserID:    p.User.ID,
			UserName:  firstNonEmpty(p.User.Username, p.User.Name, p.User.ID),
			ChannelID: firstNonEmpty(p.Container.ChannelID, p.Channel.ID),
			MessageTS: firstNonEmpty(p.Container.MessageTS, p.Message.TS),
		}
		for _, b := range m.Message.Blocks {
			if b.Type == "section" {
				in.Text = b.Text.Text
				break
			}
		}
		return in, true, nil
	}
	return nil, false, nil
}
