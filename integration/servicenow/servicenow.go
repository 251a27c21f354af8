// Package servicenow escalates tocsin incidents to ServiceNow through the
// Table API, with basic auth.
//
// Trigger first looks for a record already opened for the incident, so a
// retried trigger never opens a second one:
//
//	GET {instance_url}/api/now/table/{table}?sysparm_query=correlation_id=<key>&sysparm_limit=1&sysparm_fields=sys_id
//
// and, when there is none, creates it:
//
//	POST {instance_url}/api/now/table/{table}
//	{
//	  "short_description": "Postgresql down (instance pg-prod-01)",
//	  "description": "Postgresql instance is down.\n\ntocsin incident: https://…\n…labels…",
//	  "impact": "1", "urgency": "1",
//	  "correlation_id": "tocsin-inc_01", "correlation_display": "tocsin"
//	}
//
// The reference is the record's sys_id. Resolve sets the record resolved:
//
//	PATCH {instance_url}/api/now/table/{table}/{sys_id}
//	{"state": "6", "close_code": "Resolved", "close_notes": "Resolved in tocsin: https://…"}
//
// The table defaults to incident; state 6, close_code and close_notes are
// the incident table's. An escalation's Target picks an instance from
// other_instance_urls, with the same credentials.
//
// tocsin's impact maps to ServiceNow's impact and urgency so that the
// instance's default priority matrix gives the same priority:
//
//	tocsin impact  ServiceNow impact/urgency  priority
//	1 critical     1 high   / 1 high          1 Critical
//	2 high         1 high   / 2 medium        2 High
//	3 medium       2 medium / 2 medium        3 Moderate
//	4 low          2 medium / 3 low           4 Low
//	5 none         3 low    / 3 low           5 Planning
//
// (an impact out of range is treated as 3).
//
// The correlation_id is the escalation's DedupKey when it is at most 100
// characters of letters, digits and ._:- (the field's length, and no ^ that
// would break the encoded query); otherwise "tocsin-" and a hash of it.
// Lookup-then-create is not atomic: two concurrent triggers for one
// incident could both create, which tocsin's engine never does (it runs
// one job per incident at a time).
//
// Errors: 429, 408 and 5xx are retryable (honouring Retry-After); other
// statuses are permanent (401 bad credentials, 403 an ACL, 404 an unknown
// table or record). A 2xx answer that is not JSON — a hibernating developer
// instance answers 200 with an HTML page — is retryable. The password never
// appears in errors.
package servicenow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"tocsin"
	"tocsin/config"
	"tocsin/integration"
	"tocsin/notify"
)

// Name is the provider's config name.
const Name = "servicenow"

// DefaultTable is the table records are created in when the config names none.
const DefaultTable = "incident"

// DefaultTimeout bounds one call to ServiceNow when Options sets none.
const DefaultTimeout = 10 * time.Second

// What Resolve writes: the incident table's Resolved state, a close code
// and close notes (followed by the incident's URL).
const (
	StateResolved = "6"
	CloseCode     = "Resolved"
	CloseNotes    = "Resolved in tocsin"
)

// CorrelationDisplay is written to correlation_display on every record.
const CorrelationDisplay = "tocsin"

// Field limits of the incident table.
const (
	maxShortDescription = 160
	maxCorrelationID    = 100
	maxDescription      = 4000
	maxResponse         = 1 << 20
)

var (
	tableName     = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	safeKey       = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)
	errNoResponse = errors.New("response has no sys_id")
)

// Options are the provider's dependencies; the zero value is usable.
type Options struct {
	// HTTPClient sends every request. Nil builds one with Timeout that does
	// not follow redirects.
	HTTPClient *http.Client
	// Timeout bounds each call (default DefaultTimeout), whatever the
	// client's own timeout. A trigger makes up to two calls.
	Timeout time.Duration
	// Logger receives debug logs. Nil discards them.
	Logger *slog.Logger
}

// Provider creates and resolves ServiceNow records. It is safe for
// concurrent use.
type Provider struct {
	// instances maps a target ("" is the default) to an instance base URL.
	instances map[string]string
	table     string
	username  string
	password  string
	client    *http.Client
	timeout   time.Duration
	logger    *slog.Logger
	secrets   []string
}

var _ integration.Provider = (*Provider)(nil)

// New validates cfg and returns the provider. Errors name the config key.
func New(cfg config.ServiceNow, opts Options) (*Provider, error) {
	p := &Provider{
		instances: map[string]string{}, table: cfg.Table, username: cfg.Username, password: cfg.Password,
		client: opts.HTTPClient, timeout: opts.Timeout, logger: opts.Logger,
	}
	base, err := instanceURL(cfg.InstanceURL)
	if err != nil {
		return nil, fmt.Errorf("instance_url: %w", err)
	}
	p.instances[""] = base
	for k, v := range cfg.OtherInstanceURLs {
		if k == "" {
			return nil, errors.New("other_instance_urls: empty key")
		}
		if p.instances[k], err = instanceURL(v); err != nil {
			return nil, fmt.Errorf("other_instance_urls.%s: %w", k, err)
		}
	}
	switch {
	case cfg.Username == "":
		return nil, errors.New("username: required")
	case cfg.Password == "":
		return nil, errors.New("password: required")
	case p.table == "":
		p.table = DefaultTable
	case !tableName.MatchString(p.table):
		return nil, fmt.Errorf("table: %q is not a table name", p.table)
	}
	basic := base64.StdEncoding.EncodeToString([]byte(cfg.Username + ":" + cfg.Password))
	p.secrets = []string{cfg.Password, basic}
	if p.client, p.timeout, p.logger, err = integration.HTTPDefaults(p.client, p.timeout, DefaultTimeout, p.logger); err != nil {
		return nil, err
	}
	return p, nil
}

func instanceURL(s string) (string, error) {
	u, err := url.Parse(s)
	if s == "" {
		return "", errors.New("required")
	}
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", errors.New("must be an absolute http or https URL without credentials")
	}
	return strings.TrimRight(s, "/"), nil
}

// Name implements integration.Provider.
func (p *Provider) Name() string { return Name }

// HasTarget reports whether key names an entry of other_instance_urls.
func (p *Provider) HasTarget(key string) bool {
	_, ok := p.instances[key]
	return ok && key != ""
}

// Trigger returns the sys_id of the record correlated with e, creating the
// record when there is none.
func (p *Provider) Trigger(ctx context.Context, e *integration.Escalation) (string, error) {
	if e == nil {
		return "", notify.Permanent(errors.New("trigger: nil escalation"))
	}
	base, err := p.instance(e.Target)
	if err != nil {
		return "", err
	}
	corr := CorrelationID(e)
	if corr == "" {
		return "", notify.Permanent(errors.New("trigger: escalation has neither a dedup key nor an incident id"))
	}
	sysID, err := p.lookup(ctx, base, corr)
	if err != nil || sysID != "" {
		if sysID != "" {
			p.logger.Debug("servicenow record exists", "incident_id", e.IncidentID, "sys_id", sysID)
		}
		return sysID, err
	}
	var out struct {
		Result struct {
			SysID  string `json:"sys_id"`
			Number string `json:"number"`
		} `json:"result"`
	}
	if err := p.do(ctx, http.MethodPost, p.tableURL(base, ""), NewRecord(e, corr), &out); err != nil {
		return "", fmt.Errorf("create record: %w", err)
	}
	if out.Result.SysID == "" {
		// Retrying finds the record by its correlation_id if it was made.
		return "", fmt.Errorf("create record: %w", errNoResponse)
	}
	p.logger.Debug("servicenow record created", "incident_id", e.IncidentID, "sys_id", out.Result.SysID, "number", out.Result.Number)
	return out.Result.SysID, nil
}

// Resolve sets the record ref (found by correlation_id when ref is empty)
// resolved, on the instance of e.Target.
func (p *Provider) Resolve(ctx context.Context, e *integration.Escalation, ref string) error {
	if e == nil {
		e = &integration.Escalation{}
	}
	base, err := p.instance(e.Target)
	if err != nil {
		return err
	}
	if ref == "" {
		corr := CorrelationID(e)
		if corr != "" {
			if ref, err = p.lookup(ctx, base, corr); err != nil {
				return err
			}
		}
		if ref == "" {
			return notify.Permanent(errors.New("resolve: no record to resolve"))
		}
	}
	notes := CloseNotes
	if e.URL != "" {
		notes += ": " + e.URL
	}
	body := map[string]string{"state": StateResolved, "close_code": CloseCode, "close_notes": notes}
	if err := p.do(ctx, http.MethodPatch, p.tableURL(base, ref), body, nil); err != nil {
		return fmt.Errorf("resolve record: %w", err)
	}
	p.logger.Debug("servicenow record resolved", "incident_id", e.IncidentID, "sys_id", ref)
	return nil
}

// lookup returns the sys_id of the record with correlation_id corr, or "".
func (p *Provider) lookup(ctx context.Context, base, corr string) (string, error) {
	q := url.Values{
		"sysparm_query":  {"correlation_id=" + corr},
		"sysparm_limit":  {"1"},
		"sysparm_fields": {"sys_id"},
	}
	var out struct {
		Result []struct {
			SysID string `json:"sys_id"`
		} `json:"result"`
	}
	if err := p.do(ctx, http.MethodGet, p.tableURL(base, "")+"?"+q.Encode(), nil, &out); err != nil {
		return "", fmt.Errorf("look up record: %w", err)
	}
	if len(out.Result) == 0 {
		return "", nil
	}
	return out.Result[0].SysID, nil
}

func (p *Provider) instance(target string) (string, error) {
	if base, ok := p.instances[target]; ok {
		return base, nil
	}
	return "", notify.Permanent(fmt.Errorf("unknown target %q: not in other_instance_urls", target))
}

func (p *Provider) tableURL(base, sysID string) string {
	u := base + "/api/now/table/" + p.table
	if sysID != "" {
		u += "/" + url.PathEscape(sysID)
	}
	return u
}

// do sends one request with in as its JSON body (if not nil) and decodes
// the answer into out (if not nil).
func (p *Provider) do(ctx context.Context, method, u string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return notify.Permanent(fmt.Errorf("encode body: %w", err))
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return notify.Permanent(notify.Redact(fmt.Errorf("build request: %w", err), p.secrets...))
	}
	req.SetBasicAuth(p.username, p.password)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "tocsin")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return notify.Redact(err, p.secrets...)
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}()
	if err := notify.CheckResponse(resp); err != nil {
		return notify.Redact(err, p.secrets...)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponse)).Decode(out); err != nil {
		// Most often an HTML page from a hibernating or misrouted instance.
		ct := resp.Header.Get("Content-Type")
		return fmt.Errorf("HTTP %d with an unreadable body (Content-Type %q): %w", resp.StatusCode, ct, err)
	}
	return nil
}

// NewRecord returns the fields Trigger creates a record with.
func NewRecord(e *integration.Escalation, correlationID string) map[string]string {
	title := e.Title
	if title == "" {
		title = "Incident " + e.IncidentID
	}
	impact, urgency := ImpactUrgency(e.Impact)
	return map[string]string{
		"short_description":   tocsin.Truncate(title, maxShortDescription),
		"description":         tocsin.Truncate(description(e), maxDescription),
		"impact":              impact,
		"urgency":             urgency,
		"correlation_id":      correlationID,
		"correlation_display": CorrelationDisplay,
	}
}

// ImpactUrgency maps tocsin's impact to ServiceNow's impact and urgency
// (see the package documentation).
func ImpactUrgency(impact int) (string, string) {
	switch impact {
	case 1:
		return "1", "1"
	case 2:
		return "1", "2"
	case 4:
		return "2", "3"
	case 5:
		return "3", "3"
	}
	return "2", "2"
}

// description is the record's description: the summary, a link back, the
// incident's facts and its labels.
func description(e *integration.Escalation) string {
	var b strings.Builder
	if e.Summary != "" {
		b.WriteString(e.Summary + "\n\n")
	}
	if e.URL != "" {
		b.WriteString("tocsin incident: " + e.URL + "\n")
	}
	b.WriteString("Incident ID: " + e.IncidentID + "\n")
	if e.Impact != 0 {
		b.WriteString("Impact: " + strconv.Itoa(e.Impact) + "\n")
	}
	if e.Severity != "" {
		b.WriteString("Severity: " + e.Severity + "\n")
	}
	if e.Source != "" {
		b.WriteString("Source: " + e.Source + "\n")
	}
	if len(e.Labels) > 0 {
		b.WriteString("Labels:\n")
		for _, k := range slices.Sorted(maps.Keys(e.Labels)) {
			b.WriteString("  " + k + "=" + e.Labels[k] + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// CorrelationID is the correlation_id of e's record: its dedup key (or
// "tocsin-<incident id>"), hashed when too long or unsafe in a query.
func CorrelationID(e *integration.Escalation) string {
	k := e.DedupKey
	if k == "" && e.IncidentID != "" {
		k = "tocsin-" + e.IncidentID
	}
	if k == "" || (len(k) <= maxCorrelationID && safeKey.MatchString(k)) {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "tocsin-" + hex.EncodeToString(sum[:20])
}
