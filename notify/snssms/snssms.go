// Package snssms is Amazon SNS as an SMS provider of tocsin's paging: it
// implements notify.SMSSender with SNS's Publish action to a phone number
// (aws-sdk-go-v2), with the message attributes
//
//   - AWS.SNS.SMS.SMSType: sms_type, Transactional unless configured
//     Promotional (Transactional is routed for reliability, which a page
//     needs);
//   - AWS.SNS.SMS.SenderID: sender_id, when configured (countries that
//     support alphanumeric sender IDs show it instead of a number).
//
// A body longer than SNS's 1,600 characters per Publish is cut. SNS has no
// per-message delivery callback: notify.SMS.StatusCallback is ignored
// (delivery status goes to CloudWatch Logs when the account enables it).
//
// Credentials come from the SDK's default chain (environment, shared
// files, SSO, web identity, ECS/EC2 roles) unless Options.Credentials is
// set. The region is the config's region, else the chain's (AWS_REGION, the
// profile). endpoint overrides the service endpoint (tests, VPC endpoints).
//
// The SDK's own retries are off: one SendSMS is one attempt, bounded by the
// timeout, and tocsin's engine retries durably with backoff. Errors are
// classified by AWS error code: throttling and internal errors are
// retryable (honouring Retry-After); InvalidParameter, AuthorizationError,
// OptedOut, bad credentials and the like are permanent; other statuses
// follow HTTP (429/5xx retryable, 4xx permanent); network errors and
// timeouts are retryable.
package snssms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"tocsin"
	"tocsin/config"
	"tocsin/notify"
)

// Name is the provider's config name.
const Name = "sns"

const (
	// DefaultTimeout bounds one Publish when neither the config nor
	// Options set a timeout.
	DefaultTimeout = 10 * time.Second
	// MaxBodyLength is SNS's limit on one SMS Publish, in characters.
	MaxBodyLength = 1600
)

// SMS types (sms_type).
const (
	Transactional = "Transactional"
	Promotional   = "Promotional"
)

// Message attribute names SNS reads for SMS.
const (
	AttrSMSType  = "AWS.SNS.SMS.SMSType"
	AttrSenderID = "AWS.SNS.SMS.SenderID"
)

// Options are the provider's dependencies; the zero value is usable.
type Options struct {
	// HTTPClient sends every request (credential look-ups too). Nil uses
	// the SDK's client with the timeout; leave it nil when AWS_CA_BUNDLE is
	// set, which the SDK can add only to its own client.
	HTTPClient *http.Client
	// Timeout bounds each Publish, credential retrieval included, when the
	// config sets no timeout (DefaultTimeout when neither does).
	Timeout time.Duration
	// Credentials replaces the SDK's default credential chain (tests).
	Credentials aws.CredentialsProvider
	// Logger receives debug logs. Nil discards them.
	Logger *slog.Logger
}

// Provider sends SMS through Amazon SNS. It is safe for concurrent use.
type Provider struct {
	client   *sns.Client
	smsType  string
	senderID string
	timeout  time.Duration
	logger   *slog.Logger
}

var _ notify.SMSSender = (*Provider)(nil)

// New validates cfg, loads the AWS configuration and returns the provider.
// ctx bounds loading the configuration (no network call is made: the
// credentials are fetched when first used). Errors name the config key.
func New(ctx context.Context, cfg config.SNSSMS, opts Options) (*Provider, error) {
	p := &Provider{senderID: cfg.SenderID, timeout: cfg.Timeout.Std(), logger: opts.Logger}
	switch {
	case cfg.SMSType == "" || strings.EqualFold(cfg.SMSType, Transactional):
		p.smsType = Transactional
	case strings.EqualFold(cfg.SMSType, Promotional):
		p.smsType = Promotional
	default:
		return nil, fmt.Errorf("paging.sns.sms_type: %q is not Transactional or Promotional", cfg.SMSType)
	}
	if cfg.SenderID != "" && !validSenderID(cfg.SenderID) {
		return nil, errors.New("paging.sns.sender_id: must be 1 to 11 letters, digits or hyphens, with at least one letter")
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("paging.sns.endpoint: must be an absolute http or https URL")
		}
	}
	if p.timeout <= 0 {
		p.timeout = opts.Timeout
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	awsCfg, err := notify.LoadAWSConfig(ctx, notify.AWSConfig{Region: cfg.Region, RegionKey: "paging.sns.region",
		HTTPClient: opts.HTTPClient, Timeout: p.timeout, Credentials: opts.Credentials})
	if err != nil {
		return nil, err
	}
	p.client = sns.NewFromConfig(awsCfg, func(o *sns.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return p, nil
}

// validSenderID reports whether s is an SNS sender ID: 1 to 11
// alphanumeric characters (hyphens allowed), at least one a letter.
func validSenderID(s string) bool {
	if len(s) > 11 {
		return false
	}
	letter := false
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			letter = true
		case r >= '0' && r <= '9', r == '-':
		default:
			return false
		}
	}
	return letter
}

// Name implements notify.SMSSender.
func (p *Provider) Name() string { return Name }

// SendSMS publishes m to its phone number and returns SNS's message id.
func (p *Provider) SendSMS(ctx context.Context, m *notify.SMS) (string, error) {
	switch {
	case m == nil:
		return "", notify.Permanent(errors.New("publish SNS SMS: nil message"))
	case strings.TrimSpace(m.To) == "":
		return "", notify.Permanent(errors.New("publish SNS SMS: no recipient number"))
	case strings.TrimSpace(m.Body) == "":
		return "", notify.Permanent(errors.New("publish SNS SMS: empty body"))
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	out, err := p.client.Publish(ctx, p.publishInput(m))
	if err != nil {
		return "", classify(fmt.Errorf("publish SNS SMS: %w", err))
	}
	id := aws.ToString(out.MessageId)
	if id == "" {
		// SNS accepted the message: retrying would send it again.
		return "", notify.Permanent(errors.New("publish SNS SMS: SNS accepted the message but answered no message id"))
	}
	p.logger.Debug("sns sms published", "message_id", id)
	return id, nil
}

// publishInput is the Publish request for m.
func (p *Provider) publishInput(m *notify.SMS) *sns.PublishInput {
	attrs := map[string]types.MessageAttributeValue{
		AttrSMSType: {DataType: aws.String("String"), StringValue: aws.String(p.smsType)},
	}
	if p.senderID != "" {
		attrs[AttrSenderID] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(p.senderID)}
	}
	return &sns.PublishInput{
		PhoneNumber:       aws.String(strings.TrimSpace(m.To)),
		Message:           aws.String(tocsin.Truncate(m.Body, MaxBodyLength)),
		MessageAttributes: attrs,
	}
}
