package tocsin

import "time"

// Engagement statuses.
const (
	EngagementActive    = "active"
	EngagementStopped   = "stopped"   // acknowledged or resolved
	EngagementExhausted = "exhausted" // every stage ran without an essential acknowledgement
)

// Page statuses: pending until sent; then sent, delivered, read,
// acknowledged; or error, cancelled (the engagement stopped first),
// rate_limited.
const (
	PagePending      = "pending"
	PageSending      = "sending"
	PageSent         = "sent"
	PageDelivered    = "delivered"
	PageRead         = "read"
	PageAcknowledged = "acknowledged"
	PageError        = "error"
	PageCancelled    = "cancelled"
	PageRateLimited  = "rate_limited"
)

// Outcomes of claiming a page for sending (store.ClaimPage).
const (
	// PageClaimed: the page is now "sending"; send it.
	PageClaimed = "claimed"
	// PageSkip: cancelled, already sent, or its engagement stopped.
	PageSkip = "skip"
	// PageInterrupted: found still "sending": a process died during the
	// send. Whether the provider got it is unknown, and tocsin does not
	// page twice, so it is not sent again.
	PageInterrupted = "interrupted"
	// PageLimited: the number reached its rate limit; marked rate_limited.
	PageLimited = "rate_limited"
)

// Timeline event kinds of the on-call engine.
const (
	EventEngaged = "engaged"
	EventStage   = "stage"
	EventPage    = "page"
)

// Engagement is one run of an escalation plan for an incident.
type Engagement struct {
	ID         string     `json:"id"`
	IncidentID string     `json:"incident_id"`
	Plan       string     `json:"escalation_plan"`
	ParentID   string     `json:"parent_id,omitempty"`
	Test       bool       `json:"test,omitempty"`
	Status     string     `json:"status"`
	StopReason string     `json:"stop_reason,omitempty"`
	Progress   int        `json:"stages_started"`
	StartedAt  time.Time  `json:"started_at"`
	StoppedAt  *time.Time `json:"stopped_at,omitempty"`
	Pages      []*Page    `json:"pages,omitempty"`
}

// Page is one message to one contact channel.
type Page struct {
	ID           string     `json:"id"`
	EngagementID string     `json:"engagement_id"`
	IncidentID   string     `json:"incident_id"`
	Key          string     `json:"-"`
	Contact      string     `json:"contact"`
	ChannelName  string     `json:"channel"`
	ChannelType  string     `json:"type"`
	Address      string     `json:"address"`
	Essential    bool       `json:"essential"`
	AckCode      string     `json:"-"`
	Status       string     `json:"status"`
	Provider     string     `json:"provider,omitempty"`
	ProviderRef  string     `json:"provider_ref,omitempty"`
	Error        string     `json:"error,omitempty"`
	DueAt        time.Time  `json:"due_at"`
	SentAt       *time.Time `json:"sent_at,omitempty"`
	Receipts     []*Receipt `json:"receipts,omitempty"`
}

// Receipt records what happened to a page: sent, delivered, read,
// acknowledged, error.
type Receipt struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail,omitempty"`
}

// PageAck says what a contact's acknowledgement of a page (an SMS reply,
// a key press) did.
type PageAck struct {
	Page *Page
	// Stopped is true when the contact was essential: the incident is
	// acknowledged and the escalation stops.
	Stopped bool
	// Already is true when the page was acknowledged before.
	Already bool
}

// StageProgress is what running one stage of an engagement decided, as
// part of its job's outcome (JobOutcome.Stage).
type StageProgress struct {
	EngagementID string
	// Seq is the stage job's sequence number; the stage is recorded only
	// once per Seq, and only while the engagement is active: otherwise
	// nothing of the outcome is (its events and jobs included).
	Seq int
	// Pages are the pages to send (their DueAt set); Key makes each unique.
	Pages []*Page
	// Plans are nested escalation plans to engage.
	Plans []string
	// NextAt, when non-zero, arms the stage Seq+1 then.
	NextAt time.Time
	// Final marks the engagement exhausted (no further stage).
	Final bool
}

// PageUpdate is the result of a page's send attempt, as part of its job's
// outcome (JobOutcome.Page): the page's new status, with a receipt.
type PageUpdate struct {
	PageID   string
	Status   string // sent, error, rate_limited, pending (to retry)
	Provider string
	Ref      string
	Error    string
}
