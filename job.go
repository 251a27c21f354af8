package tocsin

import (
	"context"
	"encoding/json"
	"strconv"
	"time"
)

// Job kinds run by the engine.
const (
	// JobNotify delivers one notification to one channel (the outbox).
	JobNotify = "notify"
	// JobRenotify re-sends the notifications of an unacknowledged incident.
	JobRenotify = "renotify"
	// JobEscalate hands an unacknowledged incident to an on-call provider.
	JobEscalate = "escalate"
	// JobDeescalate resolves the provider's incident after tocsin's resolves.
	JobDeescalate = "deescalate"
)

// EscalateArgs are the arguments of JobEscalate and JobDeescalate jobs.
type EscalateArgs struct {
	Provider string `json:"provider"`
	Target   string `json:"target,omitempty"`
	// Ref is the provider's reference (deescalate only).
	Ref string `json:"ref,omitempty"`
}

// Job is a durable unit of work: an outbox row to run after the commit that
// wrote it, or a timer that runs at DueAt. Jobs are claimed with a lease, so
// a crashed worker's job runs again elsewhere: handlers must be idempotent.
type Job struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	// Lane groups jobs that share a worker pool ("notify:slack"), so one
	// slow destination never delays the others.
	Lane string `json:"lane"`
	// Key, when set, is unique among pending jobs (e.g. "renotify:<incident>").
	Key        string          `json:"key,omitempty"`
	IncidentID string          `json:"incident_id,omitempty"`
	Args       json.RawMessage `json:"args,omitempty"`
	DueAt      time.Time       `json:"due_at"`
	Attempts   int             `json:"attempts"`
	CreatedAt  time.Time       `json:"created_at"`
	LastError  string          `json:"last_error,omitempty"`
}

// NotifyArgs are the arguments of a JobNotify job.
type NotifyArgs struct {
	Channel string `json:"channel"`
	Event   string `json:"event"`
	AlertID string `json:"alert_id,omitempty"`
	// Destination holds per-request overrides for the channel.
	Destination map[string]string `json:"destination,omitempty"`
	// Failure is what failed, for an EventDeliveryFailed notice.
	Failure *DeliveryFailure `json:"failure,omitempty"`
	// Runbook is the step that waits, for a NotifyEventRunbookWaiting
	// notice.
	Runbook *RunbookWait `json:"runbook,omitempty"`
}

// NotifyEventDeliveryFailed is the event of a notice telling a team's
// channels that a notification or an escalation gave up.
const NotifyEventDeliveryFailed = "delivery_failed"

// NotifyEventRunbookWaiting is the event of a notice telling a team's
// channels that a runbook step of the incident waits for a responder.
const NotifyEventRunbookWaiting = "runbook_waiting"

// DeliveryFailure describes a delivery that gave up.
type DeliveryFailure struct {
	// Channel is the channel or on-call provider that failed.
	Channel string `json:"channel"`
	// What failed: "opened notification", "escalation", …
	What string `json:"what"`
	// Error is the last error.
	Error    string `json:"error"`
	Attempts int    `json:"attempts"`
}

// OnCallRefChannel prefixes the ChannelRef.Channel of an incident opened
// at an on-call provider; its Ref is the JSON of EscalateArgs with Ref set.
const OnCallRefChannel = "oncall:"

// ChannelRef is what a channel returned for its first message about an
// incident, kept so later messages can update it.
type ChannelRef struct {
	IncidentID string
	Channel    string
	Ref        string
}

// JobOutcome is what running a job decided; the store records all of it in
// one transaction with the job's completion.
type JobOutcome struct {
	// RetryAt, when non-zero, re-arms the job at that time instead of
	// finishing it.
	RetryAt time.Time
	// Error is the last error, kept on a re-armed job.
	Error string
	// Events are appended to the incident's timeline.
	Events []*TimelineEvent
	// Ref is stored (first one wins) when non-nil.
	Ref *ChannelRef
	// Next are follow-up jobs to schedule (a re-armed timer).
	Next []*Job
	// Failed, with RetryAt zero, keeps the job as a failed delivery
	// instead of deleting it, so it can be redelivered.
	Failed bool
	// Stage, when set, records a stage of an engagement (its pages,
	// nested engagements and next stage). It gates the whole outcome: a
	// stage already recorded, or of an engagement no longer active,
	// records nothing of it.
	Stage *StageProgress
	// Page, when set, records the result of a page's send attempt, also
	// when the job is re-armed to retry it.
	Page *PageUpdate
	// Notice, when set, records a notice sent to a contact (a hand-off
	// note, an activation code) on the contact's record, once per job.
	Notice *ContactNotice
	// Runbook, when set, is what an attempt of a runbook step did: the
	// store asks the runbook package what follows (the next step, a retry,
	// the execution's end) and records it with the job's completion.
	Runbook *RunbookResult
}

// ContactNotice is a message to a person that is not about an incident (a
// hand-off note, an activation code), as recorded on the contact's record.
type ContactNotice struct {
	// ID is the job that sent it: a notice is recorded once.
	ID      string `json:"id"`
	Contact string `json:"contact"`
	// Channel is the contact channel's name.
	Channel string `json:"channel"`
	// Kind is the job kind that sent it (JobHandOffNote, JobActivation).
	Kind string `json:"kind"`
	// Text is what was sent; empty for an activation code, a secret.
	Text   string `json:"text,omitempty"`
	Status string `json:"status"` // NoticeSent or NoticeFailed
	Error  string `json:"error,omitempty"`
	// At is when it was recorded (set by the store).
	At time.Time `json:"at"`
}

// Statuses of a ContactNotice.
const (
	NoticeSent   = "sent"
	NoticeFailed = "failed"
)

// JobClaim says which due jobs a worker may lease, and how many.
type JobClaim struct {
	Owner string
	Now   time.Time
	Lease time.Duration
	// Limit bounds the number of jobs claimed at once.
	Limit int
	// Kinds are the job kinds the worker has handlers for; jobs of other
	// kinds stay queued for an instance that has them. Nil means every kind.
	Kinds []string
	// Lanes narrows kinds to lanes: a kind listed here is claimed only in
	// the listed lanes (the channels or providers this instance has
	// configured), so an instance never takes work it cannot run.
	Lanes map[string][]string
	// Slots is how many jobs each lane may start now (its idle workers); a
	// lane at 0 is skipped. Lanes not listed may start DefaultSlots (0:
	// Limit).
	Slots        map[string]int
	DefaultSlots int
	// StrandedAfter, when positive, also claims jobs of the worker's kinds
	// outside its lanes once they are overdue by that long: no running
	// instance is configured for them (a channel removed everywhere), and
	// the handler records the failure on the incident's timeline instead
	// of the job waiting forever.
	StrandedAfter time.Duration
}

// JobStore is the durable queue of jobs.
type JobStore interface {
	// ClaimJobs leases due jobs as c allows, oldest due first.
	ClaimJobs(ctx context.Context, c JobClaim) ([]*Job, error)
	// CompleteJob finishes, re-arms or fails a claimed job and records its
	// outcome. It fails with ECONFLICT when owner no longer holds the lease.
	// A job cancelled while it ran (its incident acknowledged or resolved)
	// still has its events and reference recorded, and is then removed.
	CompleteJob(ctx context.Context, job *Job, owner string, out JobOutcome) error
	// ExtendLeases renews owner's leases on the given jobs until until, so
	// a long-running job keeps its lease while a dead worker's lapses.
	ExtendLeases(ctx context.Context, owner string, ids []string, until time.Time) error
	// ReleaseJobs hands owner's leased jobs back unfinished (a shutdown),
	// so another worker runs them at once; the interrupted attempt does
	// not count.
	ReleaseJobs(ctx context.Context, owner string, ids []string) error
	// NextDue returns the earliest due time of unleased jobs.
	NextDue(ctx context.Context) (time.Time, bool, error)
	// PendingJobs counts jobs not yet finished (the outbox depth).
	PendingJobs(ctx context.Context) (int, error)
}

// JobKindStats describe the queue of one job kind, for metrics.
type JobKindStats struct {
	Kind string
	// Pending counts unfinished jobs (queued, running, armed timers).
	Pending int
	// Retrying counts pending jobs that failed at least once.
	Retrying int
	// OldestRetry is when the oldest retrying job was queued (zero: none).
	OldestRetry time.Time
	// Overdue counts jobs due over a minute ago that nobody runs: every
	// instance able to run them is busy or down, or none is configured to.
	Overdue int
	// Failed counts jobs that gave up (POST …/redeliver queues them again).
	Failed int
}

// Delivery is what a notify job needs to render its message: the incident
// with its alerts, the alert that caused the event with the payload it came
// in, and the channel's reference from its first message.
type Delivery struct {
	Incident *Incident
	Alert    *Alert
	Payload  json.RawMessage
	Ref      string
}

// RenotifyArgs are the arguments of a JobRenotify timer.
type RenotifyArgs struct {
	// Destinations are the per-request channel overrides of the alert that
	// opened the incident, reused for reminders.
	Destinations map[string]map[string]string `json:"destinations,omitempty"`
}

// Jobs of tocsin's own on-call engine.
const (
	// JobStage starts one stage of an engagement.
	JobStage = "stage"
	// JobPage sends one page.
	JobPage = "page"
	// JobActivation sends a contact channel's activation code.
	JobActivation = "activation"
	// JobHandOff is a schedule's timer: it finds the people whose on-call
	// shift starts or ends and queues one JobHandOffNote for each.
	JobHandOff = "handoff"
	// JobHandOffNote tells one person their on-call shift starts or ends.
	JobHandOffNote = "handoff_note"
	// JobEngage is a response plan engagement's delay: when it ends on an
	// incident still triggered, the engagement starts.
	JobEngage = "engage"
	// JobPlanNotify tells one notification target of a response plan of
	// an incident's lifecycle (a signed webhook).
	JobPlanNotify = "plan_notify"
)

// EngageArgs are the arguments of a JobEngage job: what to engage, as
// ResponseEngagement.Target names it, for which plan's engagement.
type EngageArgs struct {
	ResponsePlan string `json:"response_plan"`
	Index        int    `json:"index"`
	Kind         string `json:"kind"`
	Name         string `json:"name"`
}

// EngageKey is the job key of a response plan engagement's delay.
func EngageKey(incidentID, plan string, index int) string {
	return JobEngage + ":" + incidentID + ":" + plan + ":" + strconv.Itoa(index)
}

// PlanNotifyArgs are the arguments of a JobPlanNotify job: the target is
// named by its plan and index, so its secret is read when it is sent and
// never stored in a job.
type PlanNotifyArgs struct {
	ResponsePlan string `json:"response_plan"`
	Index        int    `json:"index"`
	Event        string `json:"event"`
	// Impact is the impact an "impact_changed" event reports.
	Impact int `json:"impact,omitempty"`
}

// Lifecycle events a response plan's notification targets hear of.
const (
	LifecycleCreated       = "created"
	LifecycleAcknowledged  = "acknowledged"
	LifecycleImpactChanged = "impact_changed"
	LifecycleResolved      = "resolved"
)

// PlanNotifyLane is the lane of response plans' notification targets.
const PlanNotifyLane = JobNotify + ":" + "plan_targets"

// HandOffNoteArgs are the arguments of a JobHandOffNote job: the text is
// written when it is sent, in the contact's time zone of that moment.
type HandOffNoteArgs struct {
	Schedule string `json:"schedule"`
	Contact  string `json:"contact"`
	// At is the shift change announced.
	At time.Time `json:"at"`
	// Incoming is true when the contact's shift starts, false when it ends.
	Incoming bool `json:"incoming"`
	// With are the others on call (incoming) or who took over (outgoing).
	With []string `json:"with,omitempty"`
}

// HandOffArgs are the arguments of a JobHandOff timer: hand-offs after
// Since have not been announced yet.
type HandOffArgs struct {
	Schedule string    `json:"schedule"`
	Since    time.Time `json:"since"`
	// OnCall are the people last told they are on call, when Known: the
	// next run tells whoever the current rotations and overrides add or
	// remove (an override deleted mid-shift included).
	OnCall []string `json:"on_call,omitempty"`
	Known  bool     `json:"known,omitempty"`
}

// StageArgs are the arguments of a JobStage job: Seq counts the stages
// started, over repeats (iteration × stages + index).
type StageArgs struct {
	EngagementID string `json:"engagement_id"`
	Seq          int    `json:"seq"`
}

// PageArgs are the arguments of a JobPage job.
type PageArgs struct {
	PageID string `json:"page_id"`
}

// ActivationArgs are the arguments of a JobActivation job.
type ActivationArgs struct {
	Contact string `json:"contact"`
	Channel string `json:"channel"`
	Code    string `json:"code"`
}

// Events a notification (NotifyArgs.Event) can be about.
const (
	NotifyEventOpened       = "opened"
	NotifyEventAcknowledged = "acknowledged"
	NotifyEventResolved     = "resolved"
	NotifyEventRenotify     = "renotify"
)

// Lanes and keys of jobs, defined here once: every package that queues,
// claims or cancels a job names its lane and key through these. A kind
// without a lane function runs in the lane named after the kind.

// NotifyLane is the lane of notifications to a channel.
func NotifyLane(channel string) string { return JobNotify + ":" + channel }

// EscalateLane is the lane of escalations and resolves at an on-call provider.
func EscalateLane(provider string) string { return JobEscalate + ":" + provider }

// PageLane is the lane of pages of one channel type ("page:sms").
func PageLane(channelType string) string { return JobPage + ":" + channelType }

// RenotifyKey is the key of an incident's reminder timer.
func RenotifyKey(incidentID string) string { return JobRenotify + ":" + incidentID }

// EscalateKey is the key of an incident's ack-or-escalate timer.
func EscalateKey(incidentID string) string { return JobEscalate + ":" + incidentID }

// StageKey is the key of the seq-th stage started by an engagement.
func StageKey(engagementID string, seq int) string {
	return JobStage + ":" + engagementID + ":" + strconv.Itoa(seq)
}

// PageKey is the key of the job sending one page.
func PageKey(pageID string) string { return JobPage + ":" + pageID }

// HandOffKey is the key of a schedule's hand-off timer.
func HandOffKey(schedule string) string { return JobHandOff + ":" + schedule }

// HandOffNoteKey is the key of the note telling contact of the shift
// change of schedule at at (incoming: their shift starts), so a timer run
// twice queues it once.
func HandOffNoteKey(schedule, contact string, at time.Time, incoming bool) string {
	dir := "out"
	if incoming {
		dir = "in"
	}
	return JobHandOffNote + ":" + schedule + ":" + contact + ":" + strconv.FormatInt(at.UnixMicro(), 10) + ":" + dir
}

// Job states. A pending job is queued, armed or running; a cancelled one
// was cancelled while it ran and is removed once its outcome is recorded;
// a failed one gave up and waits for a redelivery.
const (
	JobPending   = "pending"
	JobCancelled = "cancelled"
	JobFailed    = "failed"
)
