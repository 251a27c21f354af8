package notify

import "context"

// SMS is a text message to one phone number (E.164, "+15551234567").
type SMS struct {
	To   string
	Body string
	// StatusCallback, when set, is where the provider reports delivery.
	StatusCallback string
}

// Call is a voice call that reads Say and gathers one key press, posted
// by the provider to GatherURL.
type Call struct {
	To  string
	Say string
	// GatherURL receives the pressed digit (Twilio: the Gather action).
	GatherURL string
	// StatusCallback, when set, is where the provider reports the call's progress.
	StatusCallback string
}

// SMSSender sends text messages; a page tries the configured senders in
// order until one accepts. Errors are classified as for channels
// (Permanent, RetryAfter).
type SMSSender interface {
	// Name is the provider's name ("twilio", "sns").
	Name() string
	// SendSMS hands the message to the provider and returns its id.
	SendSMS(ctx context.Context, m *SMS) (id string, err error)
}

// Caller places voice calls.
type Caller interface {
	Name() string
	// Call places the call and returns the provider's id.
	Call(ctx context.Context, c *Call) (id string, err error)
}
