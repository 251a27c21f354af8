package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/slack-go/slack"

	"tocsin"
	"tocsin/notify"
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

// UpdateNotice replaces the message ref ("<channel>/<ts>", as
// PostNotice returned it) with n's text, escaped, and no buttons: a
// runbook wait that ended (notify.NoticeUpdater).
func (c *Channel) UpdateNotice(ctx context.Context, ref string, n *notify.Notice) error {
	channel, ts, ok := parseRef(ref)
	if !ok {
		return notify.Permanent(fmt.Errorf("slack: message reference %q is not channel/ts", ref))
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	text := tocsin.Truncate(escape(n.Text), maxSectionText)
	section := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)
	if _, _, _, err := c.api.UpdateMessageContext(ctx, channel, ts, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(section)); err != nil {
		return c.classify("update notice", err)
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
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
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
		return in, true, nil
	}
	return nil, false, nil
}
