package config

import (
	"fmt"
	"math"
	"net/url"
	"os"
	"path"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"tocsin/netguard"
	"tocsin/strict"
)

// Problems is a list of configuration problems, each naming its key path.
type Problems []string

func (p Problems) Error() string {
	if len(p) == 1 {
		return "config: " + p[0]
	}
	return "config: " + strconv.Itoa(len(p)) + " problems:\n  " + strings.Join(p, "\n  ")
}

// Result is a loaded configuration with what loading noticed.
type Result struct {
	Config *Config
	// Unused lists keys tocsin accepts but does not use (Versus's redis,
	// agent, …), to report once at start.
	Unused []string
	// Warnings are what is allowed but worth saying at start: alternates
	// left empty (ignored), ingest.open, ingest.cloudwatch.skip_signature.
	// `config check` prints them and serve logs them.
	Warnings []string
}

// Default returns the configuration used when there is no file.
func Default() *Config {
	c := &Config{Name: "tocsin", Host: "0.0.0.0", Port: 3000, DataDir: "data", Runbooks: defaultRunbooks()}
	return c
}

// Load reads the YAML file at path (none when path is ""), expands ${VAR}
// in every value (the value then takes its field's type: "587" from a
// variable is the integer 587; an unset variable in a number, boolean or
// duration field leaves the field absent), applies environment overrides, fills defaults and
// validates. Every problem is reported, each with its key path, as
// Problems. With problems, the Result is still returned when the file could
// be decoded (nil only when it could not be read or is not YAML), so the
// caller can check what it builds from it and report everything at once.
func Load(path string, getenv func(string) string) (*Result, error) {
	var data []byte
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
	}
	return Parse(data, getenv)
}

// Parse is Load on the file's contents.
func Parse(data []byte, getenv func(string) string) (*Result, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	cfg := Default()
	res := &Result{Config: cfg}
	var probs Problems
	if len(strings.TrimSpace(string(data))) > 0 {
		var root yaml.Node
		if err := yaml.Unmarshal(data, &root); err != nil {
			return nil, Problems{"invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
		}
		if len(root.Content) > 0 {
			doc := root.Content[0]
			if doc.Kind != yaml.MappingNode {
				return nil, Problems{"the file must be a mapping of keys (like `port: 3000`)"}
			}
			expand(doc, getenv)
			// Values take their field's type, as Versus (viper) does: a
			// quoted or ${VAR}-expanded "587" in an integer field is 587.
			for _, p := range strict.YAML(doc, cfg, strict.Options{Coerce: true, Text: durationText}) {
				probs = append(probs, p.Error())
			}
			if cfg.Redis != nil {
				res.Unused = append(res.Unused, "redis (tocsin keeps its state in its database)")
			}
			if cfg.Agent != nil {
				res.Unused = append(res.Unused, "agent (the Versus AI agent is not part of tocsin)")
			}
		}
	}
	probs = append(probs, applyEnv(cfg, getenv)...)
	res.Warnings = append(cfg.dropEmptyAlternates(), cfg.warnings()...)
	probs = append(probs, cfg.Validate()...)
	if len(probs) > 0 {
		return res, probs
	}
	return res, nil
}

var varPattern = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// expand replaces ${VAR} (and ${VAR:-default}) in every scalar value.
// Keys are not expanded. A plain $ is left alone, so passwords with $ work.
func expand(n *yaml.Node, getenv func(string) string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if strings.Contains(n.Value, "${") {
			n.Value = varPattern.ReplaceAllStringFunc(n.Value, func(m string) string {
				sub := varPattern.FindStringSubmatch(m)
				if v := getenv(sub[1]); v != "" || sub[2] == "" {
					return v
				}
				return sub[3]
			})
			// An expanded value is a value, not YAML: it stays text here
			// and strict.YAML gives it its field's type.
			if n.Tag == "!!null" {
				n.Tag = ""
			}
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			expand(n.Content[i], getenv)
		}
	default:
		for _, c := range n.Content {
			expand(c, getenv)
		}
	}
}

// durationText reads a duration field's text as Versus does: a Go
// duration ("90s", "5m", "1h30m") or a number of seconds ("10", "1.5").
var durationText = map[reflect.Type]func(string) (string, error){
	reflect.TypeFor[Duration](): func(s string) (string, error) {
		if _, err := time.ParseDuration(s); err == nil {
			return s, nil
		}
		if secs, err := strconv.ParseFloat(s, 64); err == nil {
			return time.Duration(secs * float64(time.Second)).String(), nil
		}
		return "", fmt.Errorf("%q is not a valid duration (like 30s, 5m)", s)
	},
}

// applyEnv applies tocsin's and Versus's environment overrides.
func applyEnv(c *Config, getenv func(string) string) Problems {
	var probs Problems
	str := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	boolean := func(name string, dst *bool) {
		if v := getenv(name); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				probs = append(probs, fmt.Sprintf("environment %s: %q is not a boolean", name, v))
				return
			}
			*dst = b
		}
	}
	if v := getenv("TOCSIN_ADDR"); v != "" {
		host, port, ok := strings.Cut(v, ":")
		p, err := strconv.Atoi(port)
		if !ok || err != nil {
			probs = append(probs, fmt.Sprintf("environment TOCSIN_ADDR: %q is not HOST:PORT", v))
		} else {
			c.Host, c.Port = host, p
		}
	}
	str("TOCSIN_DATABASE_URL", &c.Database)
	str("TOCSIN_PUBLIC_HOST", &c.PublicHost)
	if v := getenv("TOCSIN_API_TOKEN"); v != "" {
		c.API.Tokens = append(c.API.Tokens, v)
	}
	if v := getenv("TOCSIN_INGEST_TOKEN"); v != "" {
		c.Ingest.Tokens = append(c.Ingest.Tokens, v)
	}
	// Versus Incident's overrides.
	boolean("DEBUG_BODY", &c.Alert.DebugBody)
	boolean("SLACK_ENABLE", &c.Alert.Slack.Enable)
	boolean("TELEGRAM_ENABLE", &c.Alert.Telegram.Enable)
	boolean("TELEGRAM_USE_PROXY", &c.Alert.Telegram.UseProxy)
	boolean("VIBER_ENABLE", &c.Alert.Viber.Enable)
	boolean("VIBER_USE_PROXY", &c.Alert.Viber.UseProxy)
	boolean("EMAIL_ENABLE", &c.Alert.Email.Enable)
	boolean("MSTEAMS_ENABLE", &c.Alert.MSTeams.Enable)
	boolean("LARK_ENABLE", &c.Alert.Lark.Enable)
	boolean("LARK_USE_PROXY", &c.Alert.Lark.UseProxy)
	boolean("SNS_ENABLE", &c.Queue.SNS.Enable)
	boolean("ONCALL_ENABLE", &c.OnCall.Enable)
	boolean("ONCALL_INITIALIZED_ONLY", &c.OnCall.InitializedOnly)
	if v := getenv("ONCALL_WAIT_MINUTES"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			probs = append(probs, fmt.Sprintf("environment ONCALL_WAIT_MINUTES: %q is not a number", v))
		} else {
			c.OnCall.WaitMinutes = &f
		}
	}
	str("ONCALL_PROVIDER", &c.OnCall.Provider)
	str("STORAGE_TYPE", &c.Storage.Type)
	str("POSTGRES_DSN", &c.Storage.Postgres.DSN)
	str("GATEWAY_SECRET", &c.GatewaySecret)
	return probs
}

// DatabaseURL is the database to use: `database` (or TOCSIN_DATABASE_URL),
// else Versus's storage block, else a SQLite file in data_dir.
func (c *Config) DatabaseURL() string {
	switch {
	case c.Database != "":
		return c.Database
	case c.Storage.Type == "postgres" && c.Storage.Postgres.DSN != "":
		return c.Storage.Postgres.DSN
	case c.Storage.Type == "file" && c.Storage.File.Path != "":
		return "sqlite://" + c.Storage.File.Path
	}
	return "sqlite://" + strings.TrimRight(c.DataDir, "/") + "/tocsin.db"
}

// OnCallProvider is the configured on-call provider; Versus's default
// (also when empty) is aws_incident_manager.
func (c *Config) OnCallProvider() string {
	if c.OnCall.Provider == "" {
		return "aws_incident_manager"
	}
	return c.OnCall.Provider
}

// OnCallWait is the on-call wait before escalating (Versus default 3 minutes).
func (c *Config) OnCallWait() time.Duration {
	if c.OnCall.WaitMinutes == nil {
		return 3 * time.Minute
	}
	return time.Duration(*c.OnCall.WaitMinutes * float64(time.Minute))
}

// Validate checks values; each problem names its key path.
func (c *Config) Validate() Problems {
	var p Problems
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	p = append(p, c.Metrics.problems()...)
	p = append(p, c.Runbooks.problems()...)
	if c.Port < 0 || c.Port > 65535 {
		add("port: %d is not a TCP port (0–65535)", c.Port)
	}
	if c.PublicHost != "" {
		if u, err := url.Parse(c.PublicHost); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("public_host: %q is not an http(s) URL", c.PublicHost)
		}
	}
	if c.Proxy.URL != "" {
		if u, err := url.Parse(c.Proxy.URL); err != nil || u.Host == "" {
			add("proxy.url: not a URL")
		}
	}
	switch c.Storage.Type {
	case "", "file":
	case "postgres":
		if c.Database == "" && c.Storage.Postgres.DSN == "" {
			add("storage.postgres.dsn: required when storage.type is postgres")
		}
	default:
		add("storage.type: %q is not supported (file or postgres)", c.Storage.Type)
	}
	for k, pats := range c.Ingest.AllowedDestinations {
		switch k {
		case "email_to", "slack_channel_id", "telegram_chat_id", "viber_channel_id", "viber_user_id":
		default:
			add("ingest.allowed_destinations.%s: not a destination parameter (email_to, slack_channel_id, telegram_chat_id, viber_channel_id, viber_user_id)", k)
		}
		for i, pat := range pats {
			if _, err := path.Match(pat, ""); err != nil {
				add("ingest.allowed_destinations.%s[%d]: %q is not a valid pattern", k, i, pat)
			}
		}
	}
	p = append(p, c.AWSAPI.problems()...)
	if c.Queue.SNS.Enable && c.Queue.SNS.TopicARN == "" {
		add("queue.sns.topic_arn: required when queue.sns.enable is true (messages from other topics are refused)")
	}
	if w := c.OnCall.WaitMinutes; w != nil && *w < 0 {
		add("oncall.wait_minutes: must not be negative")
	}
	switch c.OnCall.Provider {
	case "", "aws_incident_manager", "pagerduty", "servicenow", "incident_io", "tocsin":
	default:
		add("oncall.provider: %q is not aws_incident_manager, pagerduty, servicenow, incident_io or tocsin", c.OnCall.Provider)
	}
	for i, p := range c.Paging.SMS {
		if p != "twilio" && p != "sns" {
			add("paging.sms[%d]: %q is not twilio or sns", i, p)
		}
	}
	for i, p := range c.Paging.Voice {
		if p != "twilio" {
			add("paging.voice[%d]: %q is not twilio", i, p)
		}
	}
	if (contains(c.Paging.SMS, "twilio") || contains(c.Paging.Voice, "twilio")) && (c.Paging.Twilio.AccountSID == "" || c.Paging.Twilio.AuthToken == "" || c.Paging.Twilio.From == "") {
		add("paging.twilio: account_sid, auth_token and from are required when twilio is a paging provider")
	}
	if c.Paging.MaxPerNumberPerHour < 0 {
		add("paging.max_per_number_per_hour: must not be negative")
	}
	for i, n := range c.Paging.WebhookAllowedNetworks {
		if _, err := netguard.New([]string{n}); err != nil {
			add("paging.webhook_allowed_networks[%d]: %q is not a network in CIDR notation like 10.0.0.0/8 or fd00::/8", i, n)
		}
	}
	if c.OnCall.Enable || c.OnCall.InitializedOnly {
		switch c.OnCallProvider() {
		case "aws_incident_manager":
			if c.OnCall.AWSIncidentManager.ResponsePlanARN == "" {
				add("oncall.aws_incident_manager.response_plan_arn: required when on-call uses aws_incident_manager")
			}
		case "pagerduty":
			if c.OnCall.PagerDuty.RoutingKey == "" {
				add("oncall.pagerduty.routing_key: required when on-call uses pagerduty")
			}
		case "servicenow":
			if c.OnCall.ServiceNow.InstanceURL == "" {
				add("oncall.servicenow.instance_url: required when on-call uses servicenow")
			}
		case "incident_io":
			if c.OnCall.IncidentIO.APIKey == "" {
				add("oncall.incident_io.api_key: required when on-call uses incident_io")
			}
			if c.OnCall.IncidentIO.AlertSourceConfigID == "" {
				add("oncall.incident_io.alert_source_config_id: required when on-call uses incident_io")
			}
		}
	}
	if c.Ingest.MaxBodyBytes < 0 {
		add("ingest.max_body_bytes: must not be negative")
	}
	if b := c.Ingest.Pace.Backlog; b != nil && *b < 0 {
		add("ingest.pace.backlog: %d must not be negative (0 turns pacing off)", *b)
	}
	if d := c.Ingest.Pace.MaxWait.Std(); d < 0 || d > 10*time.Second {
		add("ingest.pace.max_wait: %s must be between 0 and 10s", d)
	}
	for k, v := range c.Incidents.Impact {
		if v < 1 || v > 5 {
			add("incidents.impact.%s: %d is not an impact from 1 to 5", k, v)
		}
	}
	if d := c.Incidents.DefaultImpact; d != 0 && (d < 1 || d > 5) {
		add("incidents.default_impact: %d is not an impact from 1 to 5", d)
	}
	if c.Incidents.RenotifyAfter < 0 {
		add("incidents.renotify_after: must not be negative")
	} else if d := c.Incidents.RenotifyAfter.Std(); d > 0 && d < time.Minute {
		add("incidents.renotify_after: %s is shorter than one minute", d)
	}
	if c.Incidents.AckLinkTTL < 0 {
		add("incidents.ack_link_ttl: must not be negative")
	}
	if c.Incidents.AttachmentMaxBytes < 0 {
		add("incidents.attachment_max_bytes: must not be negative")
	}
	if c.Incidents.FindingsWindow < 0 {
		add("incidents.findings_window: must not be negative")
	}
	switch c.Log.Level {
	case "", "debug", "info", "warn", "error":
	default:
		add("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		add("log.format: %q is not text or json", c.Log.Format)
	}
	a := c.Alert
	if a.Slack.Enable {
		if a.Slack.Token == "" {
			add("alert.slack.token: required when alert.slack.enable is true")
		}
		if a.Slack.ChannelID == "" {
			add("alert.slack.channel_id: required when alert.slack.enable is true")
		}
		checkURL(&p, "alert.slack.api_url", a.Slack.APIURL)
		switch a.Slack.MessageProperties.ButtonStyle {
		case "", "primary", "danger":
		default:
			add("alert.slack.message_properties.button_style: %q is not primary, danger or empty", a.Slack.MessageProperties.ButtonStyle)
		}
	}
	if a.Telegram.Enable {
		if a.Telegram.BotToken == "" {
			add("alert.telegram.bot_token: required when alert.telegram.enable is true")
		}
		if a.Telegram.ChatID == "" {
			add("alert.telegram.chat_id: required when alert.telegram.enable is true")
		}
		checkURL(&p, "alert.telegram.api_url", a.Telegram.APIURL)
	}
	if a.Viber.Enable {
		if a.Viber.BotToken == "" {
			add("alert.viber.bot_token: required when alert.viber.enable is true")
		}
		switch a.Viber.APIType {
		case "", "channel":
			// Without channel_id, Viber posts as the channel's super admin.
		case "bot":
			if a.Viber.UserID == "" {
				add("alert.viber.user_id: required when alert.viber.api_type is bot")
			}
		default:
			add("alert.viber.api_type: %q is not channel or bot", a.Viber.APIType)
		}
		checkURL(&p, "alert.viber.api_url", a.Viber.APIURL)
	}
	if a.MSTeams.Enable && a.MSTeams.PowerAutomateURL == "" {
		add("alert.msteams.power_automate_url: required when alert.msteams.enable is true")
	}
	if a.Lark.Enable && a.Lark.WebhookURL == "" {
		add("alert.lark.webhook_url: required when alert.lark.enable is true")
	}
	if a.Email.Enable {
		if a.Email.SMTPHost == "" {
			add("alert.email.smtp_host: required when alert.email.enable is true")
		}
		if a.Email.SMTPPort < 0 || a.Email.SMTPPort > 65535 {
			add("alert.email.smtp_port: %d is not a TCP port", a.Email.SMTPPort)
		}
		if a.Email.To == "" {
			add("alert.email.to: required when alert.email.enable is true")
		}
		if a.Email.From == "" && a.Email.Username == "" {
			add("alert.email.from: required when there is no username")
		}
		switch a.Email.TLS {
		case "", "starttls", "implicit", "none":
		default:
			add("alert.email.tls: %q is not starttls, implicit or none", a.Email.TLS)
		}
	}
	if a.Webhook.Enable {
		if a.Webhook.URL == "" {
			add("alert.webhook.url: required when alert.webhook.enable is true")
		} else {
			checkURL(&p, "alert.webhook.url", a.Webhook.URL)
		}
	}
	return p
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func checkURL(p *Problems, key, v string) {
	if v == "" {
		return
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The value may carry a secret (a webhook key): do not echo it.
		*p = append(*p, key+": not an http(s) URL")
	}
}

// awsKeyID is the shape of an AWS access key id: 16-128 letters and digits.
var (
	awsKeyID   = regexp.MustCompile(`^[A-Za-z0-9]{16,128}$`)
	awsAccount = regexp.MustCompile(`^[0-9]{12}$`)
)

// problems checks the AWS face's block; secrets are never echoed.
func (a *AWSAPI) problems() Problems {
	var p Problems
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if pp := a.PathPrefix; pp != "" {
		if !strings.HasPrefix(pp, "/") || strings.HasSuffix(pp, "/") || strings.ContainsAny(pp, " ?#{}") || strings.HasPrefix(pp, "/api/") {
			add("aws_api.path_prefix: %q must start with '/', not end with '/', have no spaces, '?', '#' or braces, and not be under /api/", pp)
		}
	}
	if a.AccountID != "" && !awsAccount.MatchString(a.AccountID) {
		add("aws_api.account_id: %q is not 12 digits", a.AccountID)
	}
	seen := map[string]bool{}
	for i, c := range a.Credentials {
		switch {
		case !awsKeyID.MatchString(c.AccessKeyID):
			add("aws_api.credentials[%d].access_key_id: %q is not 16-128 letters and digits", i, c.AccessKeyID)
		case seen[c.AccessKeyID]:
			add("aws_api.credentials[%d].access_key_id: %q is listed twice", i, c.AccessKeyID)
		}
		seen[c.AccessKeyID] = true
		if len(c.SecretAccessKey) < 16 {
			add("aws_api.credentials[%d].secret_access_key: required, at least 16 characters", i)
		}
	}
	return p
}
