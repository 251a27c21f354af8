package inbound

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	"tocsin"
	"tocsin/api"
	"tocsin/notify"
	"tocsin/notify/slack"
)

// Runbooks is what a runbook wait's Slack buttons need (store.Runbooks).
type Runbooks interface {
	RunbookExecution(ctx context.Context, id string) (*tocsin.RunbookExecution, error)
	// SignalRunbook resumes, approves or rejects (tocsin.RunbookStore).
	SignalRunbook(ctx context.Context, sig tocsin.RunbookSignal) (*tocsin.RunbookExecution, error)
}

// Contacts tells who a Slack user is: the contacts with an activated
// Slack channel whose address is the user's id (store.OnCall).
type Contacts interface {
	ListContacts(ctx context.Context) ([]*tocsin.Contact, error)
}

// SlackReplies answers a click on a runbook button that changed nothing
// with a message to the one user (notify/slack's Channel). A click that
// answers the wait needs no answer here: the wait's end is a job that
// takes the buttons away from every message that announced it.
type SlackReplies interface {
	PostEphemeral(ctx context.Context, channel, user, text string) error
}

// handleRunbookClick answers a click on a runbook wait's button. The
// Slack user is the actor: the contact whose activated Slack channel is
// theirs, else their Slack name (a Resume only: an approval needs an
// approver's contact). A click that changes nothing (the step no longer
// waits, the user is no approver, the store refuses the signal) is told
// to the user alone; one that ends the wait has its buttons replaced by
// the outbox (the machine's JobRunbookWait). The signal names the step,
// so a click on an earlier wait's message never answers a later one.
// Slack is answered 200 either way, since it shows the user an error for
// anything else.
func (s *Server) handleRunbookClick(w http.ResponseWriter, r *http.Request, c *slack.RunbookInteraction) {
	if s.opts.Runbooks == nil {
		api.Error(w, r, tocsin.Errorf(tocsin.ENOTFOUND, "runbooks are not served here"))
		return
	}
	ctx := r.Context()
	exec, err := s.opts.Runbooks.RunbookExecution(ctx, c.ExecutionID)
	if tocsin.ErrorCode(err) == tocsin.ENOTFOUND {
		s.ephemeral(ctx, c, fmt.Sprintf("Runbook execution %s no longer exists.", c.ExecutionID))
		w.WriteHeader(http.StatusOK)
		return
	} else if err != nil {
		s.fail(w, r, err)
		return
	}
	if !notify.Waits(exec, c.Seq, 0) {
		// Answered elsewhere (the API, the CLI, another message) and the
		// buttons not gone yet: the user hears why nothing happened.
		s.ephemeral(ctx, c, fmt.Sprintf("Runbook %s is no longer waiting at this step (%s); nothing was changed.", exec.Runbook, exec.Status))
		w.WriteHeader(http.StatusOK)
		return
	}
	step := exec.Steps[c.Seq-1]
	aliases, err := s.slackContacts(ctx, c.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	by, refusal := s.runbookActor(c, step, aliases)
	if refusal != "" {
		s.ephemeral(ctx, c, refusal)
		w.WriteHeader(http.StatusOK)
		return
	}
	after, err := s.opts.Runbooks.SignalRunbook(ctx, tocsin.RunbookSignal{ExecutionID: exec.ID, Type: c.Signal, By: by, Seq: c.Seq})
	switch code := tocsin.ErrorCode(err); {
	case err == nil:
	case code == tocsin.ECONFLICT || code == tocsin.EFORBIDDEN || code == tocsin.EINVALID:
		s.ephemeral(ctx, c, tocsin.ErrorMessage(err)+"; nothing was changed.")
		w.WriteHeader(http.StatusOK)
		return
	default:
		s.fail(w, r, err)
		return
	}
	if notify.Waits(after, c.Seq, 0) {
		// An approval of several: the buttons stay for the others.
		s.ephemeral(ctx, c, fmt.Sprintf("Your approval of step %s is recorded as %s; the step waits for more approvals.", step.Name, by.Name))
	}
	w.WriteHeader(http.StatusOK)
}

// runbookActor is who a click signals as, or why it may not: an approval
// or a rejection needs a contact of the user who approves the step and
// has not answered it yet.
func (s *Server) runbookActor(c *slack.RunbookInteraction, step *tocsin.RunbookStep, aliases []string) (tocsin.Actor, string) {
	if c.Signal == tocsin.SignalResume {
		name := api.SanitizeActor(c.UserName)
		if len(aliases) > 0 {
			name = aliases[0]
		}
		return tocsin.Actor{Name: name, Via: "slack"}, ""
	}
	approvers := approverNames(step.Inputs["Approvers"])
	for _, a := range aliases {
		answered := slices.ContainsFunc(step.Approvals, func(x tocsin.RunbookApproval) bool { return x.By == a })
		if slices.Contains(approvers, a) && !answered {
			return tocsin.Actor{Name: a, Via: "slack"}, ""
		}
	}
	who := "Your Slack user"
	if len(aliases) > 0 {
		who = "Your contact " + strings.Join(aliases, ", ")
	}
	return tocsin.Actor{}, fmt.Sprintf("%s is not an approver of step %s, or has answered it already (approvers: %s). "+
		"An approver answers from Slack through a contact whose activated Slack channel is your user id %s; nothing was changed.",
		who, step.Name, strings.Join(approvers, ", "), c.UserID)
}

// slackContacts are the aliases of the contacts whose activated Slack
// channel is the user's, in alias order.
func (s *Server) slackContacts(ctx context.Context, userID string) ([]string, error) {
	if s.opts.Contacts == nil || userID == "" {
		return nil, nil
	}
	all, err := s.opts.Contacts.ListContacts(ctx)
	if err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	var out []string
	for _, ct := range all {
		if slices.ContainsFunc(ct.Channels, func(ch tocsin.ContactChannel) bool {
			return ch.Type == tocsin.ChannelSlack && ch.Activated && ch.Address == userID
		}) {
			out = append(out, ct.Alias)
		}
	}
	sort.Strings(out)
	return out, nil
}

// approverNames reads an approval step's Approvers input as stored: a
// list, or one name.
func approverNames(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []string:
		return x
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// ephemeral tells the clicking user alone; a failure is logged, as the
// click's answer cannot carry it.
func (s *Server) ephemeral(ctx context.Context, c *slack.RunbookInteraction, text string) {
	if s.opts.Slack == nil || c.ChannelID == "" {
		return
	}
	if err := s.opts.Slack.PostEphemeral(ctx, c.ChannelID, c.UserID, text); err != nil {
		s.opts.Logger.Warn("slack ephemeral answer failed", "execution_id", c.ExecutionID, "err", err)
	}
}
