// Package config defines tocsin's configuration file, loads it strictly and
// validates it. Its key names follow Versus Incident's config.yaml wherever
// Versus has the same setting, so a Versus file is a good start for ours.
//
// The package is pure: it reads the file it is given and the environment
// through a getenv function, and does nothing else.
package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"tocsin"
)

// Config is the whole configuration file.
type Config struct {
	Name          string    `yaml:"name"`
	Host          string    `yaml:"host"`
	Port          int       `yaml:"port"`
	PublicHost    string    `yaml:"public_host"`
	GatewaySecret string    `yaml:"gateway_secret"`
	Proxy         Proxy     `yaml:"proxy"`
	DataDir       string    `yaml:"data_dir"`
	Database      string    `yaml:"database"`
	Storage       Storage   `yaml:"storage"`
	API           API       `yaml:"api"`
	AWSAPI        AWSAPI    `yaml:"aws_api"`
	Ingest        Ingest    `yaml:"ingest"`
	Incidents     Incidents `yaml:"incidents"`
	Alert         Alert     `yaml:"alert"`
	Queue         Queue     `yaml:"queue"`
	OnCall        OnCall    `yaml:"oncall"`
	Paging        Paging    `yaml:"paging"`
	Log           Log       `yaml:"log"`
	Metrics       Metrics   `yaml:"metrics"`
	Runbooks      Runbooks  `yaml:"runbooks"`

	// Redis and Agent are Versus keys tocsin has no use for: they are
	// accepted so a Versus file loads, and reported as unused.
	Redis any `yaml:"redis"`
	Agent any `yaml:"agent"`
}

// Proxy is the outbound HTTP proxy channels may use (use_proxy).
type Proxy struct {
	URL      string `yaml:"url"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// Storage is Versus's storage block: type file maps to tocsin's SQLite in
// data_dir, type postgres to PostgreSQL at postgres.dsn.
type Storage struct {
	Type string `yaml:"type"`
	File struct {
		MaxIncidents int    `yaml:"max_incidents"`
		Path         string `yaml:"path"`
	} `yaml:"file"`
	Postgres struct {
		DSN string `yaml:"dsn"`
	} `yaml:"postgres"`
}

// API configures the JSON API under /api/v1.
type API struct {
	// Tokens are bearer tokens accepted by the incident API; TOCSIN_API_TOKEN adds one.
	Tokens []string `yaml:"tokens"`
}

// AWSAPI configures the AWS-compatible face (the ssm-incidents operations,
// SigV4-signed). It is served only when credentials are configured.
type AWSAPI struct {
	// PathPrefix is where the operations live: an SDK's or the aws CLI's
	// endpoint URL is public_host + path_prefix (default /aws/ssm-incidents).
	PathPrefix string `yaml:"path_prefix"`
	// AccountID is the account in the ARNs answered (default 000000000000).
	AccountID string `yaml:"account_id"`
	// Credentials are the access keys that may sign requests.
	Credentials []AWSCredential `yaml:"credentials"`
}

// AWSCredential is one access key of the AWS face. The secret is never
// logged or echoed in errors.
type AWSCredential struct {
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
}

// Ingest configures alert intake.
type Ingest struct {
	// Tokens are integration tokens accepted by the alert endpoints
	// (Authorization: Bearer or ?token=); TOCSIN_INGEST_TOKEN adds one.
	Tokens []string `yaml:"tokens"`
	// Open accepts alerts without a token, as Versus does. Warned at start.
	Open bool `yaml:"open"`
	// MaxBodyBytes limits request bodies (default 1 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// CloudWatch configures the SNS signature check of /api/v1/alerts/cloudwatch.
	CloudWatch CloudWatch `yaml:"cloudwatch"`
	// AllowedDestinations opens the free-form destination query
	// parameters (email_to, slack_channel_id, telegram_chat_id,
	// viber_channel_id, viber_user_id) to these values; shell-style
	// patterns such as "*@example.com" or "*" are allowed. A parameter not
	// listed is ignored with a warning (closed by default: an integration
	// token must not be a licence to mail or post anywhere), and even a
	// listed one is honoured only on requests with a valid integration token.
	AllowedDestinations map[string][]string `yaml:"allowed_destinations"`
	// Pace holds intake's answers while deliveries fall behind.
	Pace Pace `yaml:"pace"`
}

// Pace holds intake's answers (after their alerts are committed) while a
// lane running fast jobs — a webhook channel at full speed — has more than
// Backlog jobs due, for at most MaxWait each: in a storm senders slow to
// the pace deliveries keep, instead of every notification queueing behind
// the whole storm. A slow destination never makes intake wait.
type Pace struct {
	// Backlog is how many due jobs a fast lane may have before answers
	// wait (default 500); 0 turns pacing off.
	Backlog *int `yaml:"backlog"`
	// MaxWait bounds one answer's wait (default 250ms, at most 10s).
	MaxWait Duration `yaml:"max_wait"`
}

// CloudWatch configures Amazon SNS message handling.
type CloudWatch struct {
	// TopicARNs, when set, pins accepted messages to these topics.
	TopicARNs []string `yaml:"topic_arns"`
	// SkipSignature disables SNS signature verification. Only for tests.
	SkipSignature bool `yaml:"skip_signature"`
}

// Incidents configures the incident lifecycle.
type Incidents struct {
	// AutoResolve resolves an incident when all its alerts are resolved (default true).
	AutoResolve *bool `yaml:"auto_resolve"`
	// Impact maps a severity (lower-cased) to impact 1–5; it extends the defaults.
	Impact map[string]int `yaml:"impact"`
	// DefaultImpact is used for unknown severities (default 3).
	DefaultImpact int `yaml:"default_impact"`
	// RenotifyAfter re-sends the notification of an incident still
	// unacknowledged after this long (and again after each interval). Empty: off.
	RenotifyAfter Duration `yaml:"renotify_after"`
	// AckLinkTTL is how long an acknowledgement link is valid (default 24h).
	AckLinkTTL Duration `yaml:"ack_link_ttl"`
	// AttachmentMaxBytes limits an attachment (a related item stored by
	// tocsin; default 5 MiB).
	AttachmentMaxBytes int64 `yaml:"attachment_max_bytes"`
	// FindingsWindow is how long before an incident opened a change to its
	// service shows as a finding (default 2h).
	FindingsWindow Duration `yaml:"findings_window"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error (default info)
	Format string `yaml:"format"` // text or json (default text)
}

// Alert holds the notification channels, under Versus's key names.
type Alert struct {
	DebugBody bool     `yaml:"debug_body"`
	Slack     Slack    `yaml:"slack"`
	Telegram  Telegram `yaml:"telegram"`
	Viber     Viber    `yaml:"viber"`
	Email     Email    `yaml:"email"`
	MSTeams   MSTeams  `yaml:"msteams"`
	Lark      Lark     `yaml:"lark"`
	Webhook   Webhook  `yaml:"webhook"`
}

// Slack is the Slack channel: chat.postMessage with a bot token.
type Slack struct {
	Enable            bool                   `yaml:"enable"`
	Token             string                 `yaml:"token"`
	ChannelID         string                 `yaml:"channel_id"`
	TemplatePath      string                 `yaml:"template_path"`
	MessageProperties SlackMessageProperties `yaml:"message_properties"`
	// SigningSecret verifies Slack's interactivity requests (the Acknowledge button).
	SigningSecret string `yaml:"signing_secret"`
	// APIURL overrides https://slack.com/api/ (tests, proxies).
	APIURL  string   `yaml:"api_url"`
	Timeout Duration `yaml:"timeout"`
}

// SlackMessageProperties are Versus's button settings.
type SlackMessageProperties struct {
	ButtonText    string `yaml:"button_text"`
	ButtonStyle   string `yaml:"button_style"`
	DisableButton bool   `yaml:"disable_button"`
}

// Telegram is the Telegram Bot API channel.
type Telegram struct {
	Enable       bool     `yaml:"enable"`
	BotToken     string   `yaml:"bot_token"`
	ChatID       string   `yaml:"chat_id"`
	TemplatePath string   `yaml:"template_path"`
	UseProxy     bool     `yaml:"use_proxy"`
	APIURL       string   `yaml:"api_url"`
	Timeout      Duration `yaml:"timeout"`
}

// Viber is the Viber channel (api_type channel or bot).
type Viber struct {
	Enable       bool     `yaml:"enable"`
	BotToken     string   `yaml:"bot_token"`
	APIType      string   `yaml:"api_type"`
	ChannelID    string   `yaml:"channel_id"`
	UserID       string   `yaml:"user_id"`
	TemplatePath string   `yaml:"template_path"`
	UseProxy     bool     `yaml:"use_proxy"`
	APIURL       string   `yaml:"api_url"`
	Timeout      Duration `yaml:"timeout"`
}

// Email is the SMTP channel.
type Email struct {
	Enable       bool   `yaml:"enable"`
	SMTPHost     string `yaml:"smtp_host"`
	SMTPPort     int    `yaml:"smtp_port"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	From         string `yaml:"from"`
	To           string `yaml:"to"`
	Subject      string `yaml:"subject"`
	TemplatePath string `yaml:"template_path"`
	// TLS is starttls (default; required), implicit (SMTPS, default on port
	// 465), or none (plaintext, only for local relays).
	TLS string `yaml:"tls"`
	// InsecureSkipVerify disables certificate checks (tests only).
	InsecureSkipVerify bool     `yaml:"insecure_skip_verify"`
	Timeout            Duration `yaml:"timeout"`
}

// MSTeams is the Microsoft Teams channel (Power Automate / Workflows URL).
type MSTeams struct {
	Enable           bool              `yaml:"enable"`
	PowerAutomateURL string            `yaml:"power_automate_url"`
	TemplatePath     string            `yaml:"template_path"`
	OtherPowerURLs   map[string]string `yaml:"other_power_urls"`
	UseProxy         bool              `yaml:"use_proxy"`
	Timeout          Duration          `yaml:"timeout"`
}

// Lark is the Lark/Feishu custom-bot channel.
type Lark struct {
	Enable           bool              `yaml:"enable"`
	WebhookURL       string            `yaml:"webhook_url"`
	TemplatePath     string            `yaml:"template_path"`
	UseProxy         bool              `yaml:"use_proxy"`
	OtherWebhookURLs map[string]string `yaml:"other_webhook_urls"`
	Timeout          Duration          `yaml:"timeout"`
}

// Webhook is tocsin's outbound JSON webhook channel.
type Webhook struct {
	Enable bool   `yaml:"enable"`
	URL    string `yaml:"url"`
	// Secret signs each body: X-Tocsin-Signature: sha256=<hex HMAC-SHA256>.
	Secret   string            `yaml:"secret"`
	Headers  map[string]string `yaml:"headers"`
	UseProxy bool              `yaml:"use_proxy"`
	Timeout  Duration          `yaml:"timeout"`
}

// Queue is Versus's queue block; tocsin serves queue.sns.
type Queue struct {
	Enable    bool `yaml:"enable"`
	DebugBody bool `yaml:"debug_body"`
	SNS       SNS  `yaml:"sns"`
	SQS       any  `yaml:"sqs"`
	PubSub    any  `yaml:"pubsub"`
	AzBus     any  `yaml:"azbus"`
}

// SNS is Versus's SNS HTTPS endpoint.
type SNS struct {
	Enable                        bool   `yaml:"enable"`
	TopicARN                      string `yaml:"topic_arn"`
	HTTPSEndpointSubscriptionPath string `yaml:"https_endpoint_subscription_path"`
	HTTPSEndpointSubscription     string `yaml:"https_endpoint_subscription"`
}

// OnCall is Versus's on-call block.
type OnCall struct {
	Enable          bool     `yaml:"enable"`
	InitializedOnly bool     `yaml:"initialized_only"`
	WaitMinutes     *float64 `yaml:"wait_minutes"`
	Provider        string   `yaml:"provider"`
	// EscalationPlan is the default plan of provider tocsin (tocsin's own
	// on-call); ?oncall_escalation_plan= picks another per request.
	EscalationPlan     string             `yaml:"escalation_plan"`
	AWSIncidentManager AWSIncidentManager `yaml:"aws_incident_manager"`
	PagerDuty          PagerDuty          `yaml:"pagerduty"`
	ServiceNow         ServiceNow         `yaml:"servicenow"`
	IncidentIO         IncidentIO         `yaml:"incident_io"`
}

// AWSIncidentManager is the AWS Incident Manager provider.
type AWSIncidentManager struct {
	ResponsePlanARN       string            `yaml:"response_plan_arn"`
	OtherResponsePlanARNs map[string]string `yaml:"other_response_plan_arns"`
	Region                string            `yaml:"region"`
	Endpoint              string            `yaml:"endpoint"`
}

// PagerDuty is the PagerDuty Events v2 provider.
type PagerDuty struct {
	RoutingKey       string            `yaml:"routing_key"`
	OtherRoutingKeys map[string]string `yaml:"other_routing_keys"`
	APIURL           string            `yaml:"api_url"`
}

// ServiceNow is the ServiceNow table API provider.
type ServiceNow struct {
	InstanceURL       string            `yaml:"instance_url"`
	Username          string            `yaml:"username"`
	Password          string            `yaml:"password"`
	Table             string            `yaml:"table"`
	OtherInstanceURLs map[string]string `yaml:"other_instance_urls"`
}

// IncidentIO is the incident.io alert-source provider.
type IncidentIO struct {
	APIKey                    string            `yaml:"api_key"`
	AlertSourceConfigID       string            `yaml:"alert_source_config_id"`
	OtherAlertSourceConfigIDs map[string]string `yaml:"other_alert_source_config_ids"`
	APIURL                    string            `yaml:"api_url"`
}

// Paging configures how tocsin's own on-call reaches people by SMS and
// voice.
type Paging struct {
	// SMS lists the SMS providers in failover order (twilio, sns).
	SMS []string `yaml:"sms"`
	// Voice lists the voice providers in failover order (twilio).
	Voice []string `yaml:"voice"`
	// MaxPerNumberPerHour caps SMS and calls to one number (default 20),
	// so an alert storm cannot run up a bill.
	MaxPerNumberPerHour int    `yaml:"max_per_number_per_hour"`
	Twilio              Twilio `yaml:"twilio"`
	SNS                 SNSSMS `yaml:"sns"`
	// WebhookAllowedNetworks lists networks in CIDR notation that
	// contacts' webhook channels may reach although they are loopback,
	// link-local, private, CGNAT or otherwise internal (none by default:
	// a webhook URL is typed in by API-token holders, and tocsin must not
	// POST into its own network for them). Team channels configured here,
	// such as alert.webhook.url, are not restricted.
	WebhookAllowedNetworks []string `yaml:"webhook_allowed_networks"`
}

// Twilio is the Twilio SMS and voice provider.
type Twilio struct {
	AccountSID string `yaml:"account_sid"`
	AuthToken  string `yaml:"auth_token"`
	// From is the sending number (E.164) or messaging service SID.
	From string `yaml:"from"`
	// APIURL overrides https://api.twilio.com (tests).
	APIURL  string   `yaml:"api_url"`
	Timeout Duration `yaml:"timeout"`
}

// SNSSMS is Amazon SNS as an SMS provider.
type SNSSMS struct {
	Region   string `yaml:"region"`
	Endpoint string `yaml:"endpoint"`
	// SenderID is the alphanumeric sender id where supported.
	SenderID string `yaml:"sender_id"`
	// SMSType is Transactional (default) or Promotional.
	SMSType string   `yaml:"sms_type"`
	Timeout Duration `yaml:"timeout"`
}

// Duration is tocsin.Duration, the one duration type, named here so the
// configuration's structs read as before. In the configuration file a
// number of seconds is a duration too (Versus's form, see durationText).
type Duration = tocsin.Duration

// Metrics configures access to the Prometheus endpoint /metrics, which
// without either key is served to anyone who reaches the listener.
type Metrics struct {
	// Token, when set, is required as a bearer token on /metrics.
	Token string `yaml:"token"`
	// Listen, when set (HOST:PORT), serves /metrics on a listener of its
	// own — e.g. 127.0.0.1:9090 — and no longer on the main one.
	Listen string `yaml:"listen"`
}

// problems checks the metrics block.
func (m Metrics) problems() []string {
	if m.Listen == "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(m.Listen); err != nil || port == "" {
		return []string{fmt.Sprintf("metrics.listen: %q is not HOST:PORT", m.Listen)}
	}
	return nil
}

// Runbooks configures what runbooks' own actions may do (tocsin:http and
// tocsin:script). Both are closed by default: a runbook is typed in by API
// token holders, and must not become a way to reach tocsin's network or
// run code on its host unless an operator says so here.
type Runbooks struct {
	HTTP    RunbookHTTP    `yaml:"http"`
	Scripts RunbookScripts `yaml:"scripts"`
}

// RunbookHTTP configures tocsin:http.
type RunbookHTTP struct {
	// Allow are the URL prefixes tocsin:http may call, such as
	// https://api.example.com/v1/: the scheme and host:port must be equal
	// and the path under the prefix's at a segment boundary. It is checked
	// when a runbook is applied and again on the interpolated URL of each
	// call (and each redirect). None: tocsin:http is refused.
	Allow []string `yaml:"allow"`
	// MaxResponseBytes caps an answer's body (default 1 MiB): a longer
	// one fails the step.
	MaxResponseBytes int64 `yaml:"max_response_bytes"`
}

// RunbookScripts configures tocsin:script, which runs python3 or bash
// scripts on tocsin's host as tocsin's user, in a fresh temporary
// directory with a clean environment.
type RunbookScripts struct {
	// Enabled allows tocsin:script (default false).
	Enabled bool `yaml:"enabled"`
	// Interpreters are the runtimes scripts may use, among python3 and
	// bash (default both); one not found on PATH at start is not offered.
	Interpreters []string `yaml:"interpreters"`
	// MaxOutputBytes caps what a script writes to stdout and stderr
	// together (default 64 KiB): more, and it is killed and fails.
	MaxOutputBytes int64 `yaml:"max_output_bytes"`
	// Workdir is the absolute directory in which each run's temporary
	// directory is made (default: the system's temporary directory).
	Workdir string `yaml:"workdir"`
}

// Defaults of the runbooks block.
const (
	DefaultRunbookMaxResponseBytes = 1 << 20
	DefaultRunbookMaxOutputBytes   = 64 << 10
)

// RunbookInterpreters are the runtimes tocsin:script knows.
var RunbookInterpreters = []string{"python3", "bash"}

// defaultRunbooks is the runbooks block when the file says nothing.
func defaultRunbooks() Runbooks {
	return Runbooks{
		HTTP:    RunbookHTTP{MaxResponseBytes: DefaultRunbookMaxResponseBytes},
		Scripts: RunbookScripts{Interpreters: slices.Clone(RunbookInterpreters), MaxOutputBytes: DefaultRunbookMaxOutputBytes},
	}
}

// problems checks the runbooks block. An allow-list entry is echoed: it
// is a prefix an operator wrote, not a secret, and unlike a webhook URL it
// carries no key (userinfo and queries are refused).
func (r Runbooks) problems() Problems {
	var p Problems
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	for i, a := range r.HTTP.Allow {
		u, err := url.Parse(a)
		switch {
		case err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
			add("runbooks.http.allow[%d]: %q is not an absolute http or https URL", i, a)
		case u.User != nil:
			add("runbooks.http.allow[%d]: %q has a user name or password; put credentials in the step's Headers", i, a)
		case u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(a, "?") || strings.HasSuffix(a, "#"):
			add("runbooks.http.allow[%d]: %q has a query or fragment; a prefix is a scheme, host and path", i, a)
		}
	}
	if r.HTTP.MaxResponseBytes <= 0 {
		add("runbooks.http.max_response_bytes: must be positive")
	}
	for i, in := range r.Scripts.Interpreters {
		if !slices.Contains(RunbookInterpreters, in) {
			add("runbooks.scripts.interpreters[%d]: %q is not python3 or bash", i, in)
		}
	}
	if r.Scripts.Enabled && len(r.Scripts.Interpreters) == 0 {
		add("runbooks.scripts.interpreters: empty while runbooks.scripts.enabled is true")
	}
	if r.Scripts.MaxOutputBytes <= 0 {
		add("runbooks.scripts.max_output_bytes: must be positive")
	}
	if w := r.Scripts.Workdir; w != "" && !filepath.IsAbs(w) {
		add("runbooks.scripts.workdir: %q is not an absolute path", w)
	}
	return p
}
