// Package awsim escalates tocsin incidents to AWS Incident Manager
// (ssm-incidents) with aws-sdk-go-v2.
//
// Trigger calls StartIncident with the configured response plan (or the
// alternate in other_response_plan_arns named by the escalation's Target)
// and the incident's real context, where Versus sent only "Incident id
// <uuid>":
//
//   - title: the incident's title (cut to 200 characters); when empty the
//     response plan's template title applies;
//   - impact: the incident's impact 1–5 (out of range: the plan's);
//   - clientToken: the escalation's DedupKey (hashed when longer than 128),
//     so a retried trigger returns the incident already started instead of
//     starting a second one;
//   - triggerDetails: source "tocsin", the time of the call, and rawData, a
//     JSON object with incident_id, dedup_key, url, title, impact, severity,
//     source, summary and labels (summary and labels are dropped, in that
//     order, if the object would exceed AWS's 10,000 characters);
//   - relatedItems: an OTHER item titled "tocsin incident" with the URL
//     back to tocsin.
//
// The reference is the incident record ARN. Resolve calls
// UpdateIncidentRecord with status RESOLVED.
//
// Credentials come from the SDK's default chain (environment, shared
// files, SSO, web identity, ECS/EC2 roles). The region is the config's
// region, else the response plan ARN's, else the chain's (AWS_REGION, the
// profile). endpoint overrides the service endpoint (tests, VPC endpoints).
//
// The SDK's own retries are off: one Trigger is one attempt, bounded by the
// timeout, and tocsin's engine retries durably with backoff. Errors are
// classified by AWS error code: throttling, internal errors, conflicts and
// quota errors are retryable (honouring Retry-After); access denied,
// validation, unknown resources and bad credentials are permanent; other
// statuses follow HTTP (429/5xx retryable, 4xx permanent); network errors
// and timeouts are retryable.
package awsim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/ssmincidents"
	"github.com/aws/aws-sdk-go-v2/service/ssmincidents/types"

	"tocsin"
	"tocsin/config"
	"tocsin/integration"
	"tocsin/notify"
)

// Name is the provider's config name.
const Name = "aws_incident_manager"

// DefaultTimeout bounds one call to AWS when Options sets none.
const DefaultTimeout = 10 * time.Second

// TriggerSource is StartIncident's triggerDetails.source.
const TriggerSource = "tocsin"

// RelatedItemTitle titles the related item linking back to tocsin.
const RelatedItemTitle = "tocsin incident"

// Limits of StartIncident.
const (
	maxTitle       = 200
	maxClientToken = 128
	maxRawData     = 10000
)

// Options are the provider's dependencies; the zero value is usable.
type Options struct {
	// HTTPClient sends every request (credential look-ups too). Nil uses
	// the SDK's client with Timeout; leave it nil when AWS_CA_BUNDLE is
	// set, which the SDK can add only to its own client.
	HTTPClient *http.Client
	// Timeout bounds each call (default DefaultTimeout), credential
	// retrieval included.
	Timeout time.Duration
	// Credentials replaces the SDK's default credential chain (tests).
	Credentials aws.CredentialsProvider
	// Logger receives debug logs. Nil discards them.
	Logger *slog.Logger
	// Now is the clock for triggerDetails.timestamp. Nil is time.Now.
	Now func() time.Time
}

// Provider starts and resolves Incident Manager incidents. It is safe for
// concurrent use.
type Provider struct {
	client *ssmincidents.Client
	// plans maps a target ("" is the default) to a response plan ARN.
	plans   map[string]string
	timeout time.Duration
	logger  *slog.Logger
	now     func() time.Time
}

var _ integration.Provider = (*Provider)(nil)

// New validates cfg, loads the AWS configuration and returns the provider.
// ctx bounds loading the configuration (no network call is made: the
// credentials are fetched when first used). Errors name the config key.
func New(ctx context.Context, cfg config.AWSIncidentManager, opts Options) (*Provider, error) {
	p := &Provider{plans: map[string]string{}, timeout: opts.Timeout, logger: opts.Logger, now: opts.Now}
	region := cfg.Region
	if cfg.ResponsePlanARN == "" {
		return nil, errors.New("response_plan_arn: required")
	}
	r, err := planRegion(cfg.ResponsePlanARN)
	if err != nil {
		return nil, fmt.Errorf("response_plan_arn: %w", err)
	}
	p.plans[""] = cfg.ResponsePlanARN
	if region == "" {
		region = r
	}
	for k, v := range cfg.OtherResponsePlanARNs {
		if k == "" {
			return nil, errors.New("other_response_plan_arns: empty key")
		}
		if _, err := planRegion(v); err != nil {
			return nil, fmt.Errorf("other_response_plan_arns.%s: %w", k, err)
		}
		p.plans[k] = v
	}
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("endpoint: must be an absolute http or https URL")
		}
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	awsCfg, err := notify.LoadAWSConfig(ctx, notify.AWSConfig{Region: region, RegionKey: "region",
		HTTPClient: opts.HTTPClient, Timeout: p.timeout, Credentials: opts.Credentials})
	if err != nil {
		return nil, err
	}
	p.client = ssmincidents.NewFromConfig(awsCfg, func(o *ssmincidents.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return p, nil
}

// planRegion checks that s is a response plan ARN and returns its region
// (usually empty: Incident Manager ARNs are global).
func planRegion(s string) (string, error) {
	a, err := arn.Parse(s)
	if err != nil || a.Service != "ssm-incidents" || !strings.HasPrefix(a.Resource, "response-plan/") {
		return "", fmt.Errorf("%q is not an ssm-incidents response plan ARN", s)
	}
	return a.Region, nil
}

// Name implements integration.Provider.
func (p *Provider) Name() string { return Name }

// HasTarget reports whether key names an entry of other_response_plan_arns.
func (p *Provider) HasTarget(key string) bool {
	_, ok := p.plans[key]
	return ok && key != ""
}

// Trigger starts an incident (or, for the same DedupKey, finds the one
// started) and returns its incident record ARN.
func (p *Provider) Trigger(ctx context.Context, e *integration.Escalation) (string, error) {
	if e == nil {
		return "", notify.Permanent(errors.New("start incident: nil escalation"))
	}
	plan, ok := p.plans[e.Target]
	if !ok {
		return "", notify.Permanent(fmt.Errorf("unknown target %q: not in other_response_plan_arns", e.Target))
	}
	in := NewStartIncident(e, plan, p.now())
	if in.ClientToken == nil {
		return "", notify.Permanent(errors.New("start incident: escalation has neither a dedup key nor an incident id"))
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	out, err := p.client.StartIncident(ctx, in)
	if err != nil {
		return "", classify(fmt.Errorf("start incident: %w", err))
	}
	ref := aws.ToString(out.IncidentRecordArn)
	if ref == "" {
		// The client token makes a retry return the incident, if any.
		return "", errors.New("start incident: the answer has no incident record ARN")
	}
	p.logger.Debug("aws incident started", "incident_id", e.IncidentID, "incident_record_arn", ref, "target", e.Target)
	return ref, nil
}

// Resolve sets the incident record ref resolved.
func (p *Provider) Resolve(ctx context.Context, e *integration.Escalation, ref string) error {
	if ref == "" {
		return notify.Permanent(errors.New("resolve incident: no incident record ARN"))
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	_, err := p.client.UpdateIncidentRecord(ctx, &ssmincidents.UpdateIncidentRecordInput{
		Arn:    aws.String(ref),
		Status: types.IncidentRecordStatusResolved,
	})
	if err != nil {
		return classify(fmt.Errorf("resolve incident: %w", err))
	}
	p.logger.Debug("aws incident resolved", "incident_record_arn", ref)
	return nil
}

// NewStartIncident builds the StartIncident request for e with response
// plan plan at time now. ClientToken is nil when e has no dedup key and no
// incident id.
func NewStartIncident(e *integration.Escalation, plan string, now time.Time) *ssmincidents.StartIncidentInput {
	in := &ssmincidents.StartIncidentInput{
		ResponsePlanArn: aws.String(plan),
		TriggerDetails: &types.TriggerDetails{
			Source:    aws.String(TriggerSource),
			Timestamp: aws.Time(now.UTC()),
			RawData:   aws.String(rawData(e)),
		},
	}
	if t := strings.TrimSpace(e.Title); t != "" {
		in.Title = aws.String(tocsin.Truncate(t, maxTitle))
	}
	if e.Impact >= 1 && e.Impact <= 5 {
		in.Impact = aws.Int32(int32(e.Impact))
	}
	if tok := ClientToken(e); tok != "" {
		in.ClientToken = aws.String(tok)
	}
	if e.URL != "" {
		in.RelatedItems = []types.RelatedItem{{
			Title: aws.String(RelatedItemTitle),
			Identifier: &types.ItemIdentifier{
				Type:  types.ItemTypeOther,
				Value: &types.ItemValueMemberUrl{Value: e.URL},
			},
		}}
	}
	return in
}

// ClientToken is StartIncident's idempotency token for e: its dedup key
// (or "tocsin-<incident id>"), hashed when longer than AWS allows.
func ClientToken(e *integration.Escalation) string {
	k := e.DedupKey
	if k == "" && e.IncidentID != "" {
		k = "tocsin-" + e.IncidentID
	}
	if len(k) > maxClientToken {
		sum := sha256.Sum256([]byte(k))
		k = "tocsin-" + hex.EncodeToString(sum[:])
	}
	return k
}

// rawData is triggerDetails.rawData: e as a JSON object within AWS's limit.
func rawData(e *integration.Escalation) string {
	d := struct {
		IncidentID string            `json:"incident_id"`
		DedupKey   string            `json:"dedup_key,omitempty"`
		URL        string            `json:"url,omitempty"`
		Title      string            `json:"title,omitempty"`
		Impact     int               `json:"impact,omitempty"`
		Severity   string            `json:"severity,omitempty"`
		Source     string            `json:"source,omitempty"`
		Summary    string            `json:"summary,omitempty"`
		Labels     map[string]string `json:"labels,omitempty"`
	}{e.IncidentID, e.DedupKey, e.URL, tocsin.Truncate(e.Title, maxTitle), e.Impact, e.Severity, e.Source, tocsin.Truncate(e.Summary, 4000), e.Labels}
	for step := 0; ; step++ {
		b, _ := json.Marshal(d)
		// Bytes bound characters from above.
		if len(b) <= maxRawData || step == 3 {
			return tocsin.Truncate(string(b), maxRawData)
		}
		switch step {
		case 0:
			d.Summary = ""
		case 1:
			d.Labels = nil
		case 2:
			d.URL, d.DedupKey, d.IncidentID = tocsin.Truncate(d.URL, 2000), tocsin.Truncate(d.DedupKey, 500), tocsin.Truncate(d.IncidentID, 500)
			d.Severity, d.Source = tocsin.Truncate(d.Severity, 200), tocsin.Truncate(d.Source, 200)
		}
	}
}
