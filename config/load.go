package config

import (
	"fmt"
	"math"
	"net/url"
	"os"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"tocsin/netguard"
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
	c := &Config{Name: "tocsin", Host: "0.0.0.0", Port: 3000, DataDir: "data"}
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
			keyProbs := checkKeys(doc, reflect.TypeOf(*cfg), "")
			probs = append(probs, keyProbs...)
			if err := decodeNode(doc, cfg); err != nil && len(keyProbs) == 0 {
				probs = append(probs, typeProblems(err)...)
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

// decodeNode decodes doc into v. yaml.v3 panics on some inputs instead of
// returning an error (a merge key whose value is a mapping used as a key,
// found by FuzzParse); a configuration file must never crash tocsin, so
// such a panic is reported as the file's problem.
func decodeNode(doc *yaml.Node, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the YAML cannot be decoded (check merge keys `<<` and anchors): %v", r)
		}
	}()
	return doc.Decode(v)
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
			// and checkScalar gives it its field's type.
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

// checkKeys reports keys that match no field and values that do not fit
// their field's type, with their paths, in one walk of the node tree beside
// the struct type. It also gives every scalar its field's type, as Versus
// (viper) does: a quoted or ${VAR}-expanded "587" in an integer field is the
// number 587, and an empty value in a field that is not a string (an unset
// variable) is absent, so the field keeps its default.
func checkKeys(n *yaml.Node, t reflect.Type, path string) Problems {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var probs Problems
	if msg := checkScalar(n, t); msg != "" {
		return Problems{fmt.Sprintf("%s: %s (line %d)", strings.TrimPrefix(path, "."), msg, n.Line)}
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return probs
		}
		fields := map[string]reflect.StructField{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag != "" && tag != "-" {
				fields[tag] = f
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			p := path + "." + key
			f, ok := fields[key]
			if !ok {
				probs = append(probs, fmt.Sprintf("%s: unknown key (line %d)%s", strings.TrimPrefix(p, "."), n.Content[i].Line, suggest(key, fields)))
				continue
			}
			probs = append(probs, checkKeys(n.Content[i+1], f.Type, p)...)
		}
		dropEmpty(n, func(i int) reflect.Type { return fields[n.Content[i].Value].Type })
	case reflect.Map:
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				probs = append(probs, checkKeys(n.Content[i+1], t.Elem(), path+"."+n.Content[i].Value)...)
			}
			dropEmpty(n, func(int) reflect.Type { return t.Elem() })
		}
	case reflect.Slice:
		if n.Kind == yaml.SequenceNode {
			for i, c := range n.Content {
				probs = append(probs, checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	return probs
}

// dropEmpty removes the pairs of mapping n whose value is empty (an unset
// ${VAR}, "" or null) where the field's type is not a string: such a key is
// absent, so a default stays and a map gets no zero entry. typeOf gives
// the field type of the pair whose key is at index i (nil: unknown key).
func dropEmpty(n *yaml.Node, typeOf func(i int) reflect.Type) {
	kept := n.Content[:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		v := n.Content[i+1]
		if t := typeOf(i); t != nil && v.Kind == yaml.ScalarNode && v.Value == "" && !isString(t) {
			continue
		}
		kept = append(kept, n.Content[i], v)
	}
	n.Content = kept
}

// isString reports whether t (under its pointers) holds text, so an empty
// value is a value and not an absent one.
func isString(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.String || t.Kind() == reflect.Interface
}

var durationType = reflect.TypeOf(Duration(0))

// checkScalar checks a scalar value against its field's type, so type
// problems are reported with their key path, and rewrites a value that
// parses as the type in that type's canonical form and tag, so the decoder
// takes it whether it was quoted, expanded from ${VAR} or plain.
func checkScalar(n *yaml.Node, t reflect.Type) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return ""
	}
	v := strings.TrimSpace(n.Value)
	if v == "" && !isString(t) {
		// An unset variable inside a list: absent, like in a mapping.
		n.Tag, n.Style, n.Value = "!!null", 0, ""
		return ""
	}
	set := func(tag, value string) { n.Tag, n.Style, n.Value = tag, 0, value }
	switch {
	case t == durationType:
		if _, err := time.ParseDuration(v); err != nil {
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				return fmt.Sprintf("%q is not a valid duration (like 30s, 5m)", n.Value)
			}
		}
		n.Value = v // UnmarshalYAML reads the text whatever its tag
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		i, err := strconv.ParseInt(strings.ReplaceAll(v, "_", ""), 0, t.Bits())
		if err != nil {
			return fmt.Sprintf("%q is not a valid integer", n.Value)
		}
		set("!!int", strconv.FormatInt(i, 10))
	case t.Kind() == reflect.Float64 || t.Kind() == reflect.Float32:
		f, err := strconv.ParseFloat(strings.ReplaceAll(v, "_", ""), t.Bits())
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Sprintf("%q is not a valid number", n.Value)
		}
		set("!!float", strconv.FormatFloat(f, 'g', -1, 64))
	case t.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Sprintf("%q is not a valid boolean (true or false)", n.Value)
		}
		set("!!bool", strconv.FormatBool(b))
	case t.Kind() == reflect.Struct || t.Kind() == reflect.Map:
		return "must be a mapping"
	case t.Kind() == reflect.Slice:
		return "must be a list"
	}
	return ""
}

// suggest names a known key that differs only slightly.
func suggest(key string, fields map[string]reflect.StructField) string {
	var names []string
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if strings.EqualFold(strings.ReplaceAll(name, "_", ""), strings.ReplaceAll(key, "_", "")) || levenshtein(name, key) <= 2 {
			return fmt.Sprintf("; did you mean %q?", name)
		}
	}
	return ""
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

var typeErrLine = regexp.MustCompile(`^line (\d+): cannot unmarshal !!(\w+) ` + "`" + `(.*)` + "`" + ` into (.+)$`)

// typeProblems turns yaml's type errors into readable problems.
func typeProblems(err error) Problems {
	te, ok := err.(*yaml.TypeError)
	if !ok {
		return Problems{strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var probs Problems
	for _, e := range te.Errors {
		if m := typeErrLine.FindStringSubmatch(e); m != nil {
			probs = append(probs, fmt.Sprintf("line %s: %q is not a valid %s", m[1], m[3], friendlyType(m[4])))
			continue
		}
		probs = append(probs, e)
	}
	return probs
}

func friendlyType(goType string) string {
	switch {
	case strings.Contains(goType, "Duration"):
		return "duration (like 30s, 5m)"
	case strings.HasPrefix(goType, "int"):
		return "integer"
	case strings.HasPrefix(goType, "float"):
		return "number"
	case goType == "bool":
		return "boolean (true or false)"
	case strings.HasPrefix(goType, "map"):
		return "mapping"
	case strings.HasPrefix(goType, "[]"):
		return "list"
	}
	return goType
}

// UnmarshalYAML reads a Go duration string ("90s", "5m", "1h30m") or a
// number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Value == "" {
		*d = 0
		return nil
	}
	if v, err := time.ParseDuration(n.Value); err == nil {
		*d = Duration(v)
		return nil
	}
	if secs, err := strconv.ParseFloat(n.Value, 64); err == nil {
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	// A TypeError lets the decoder carry on and report every problem.
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a valid duration (like 30s, 5m)", n.Line, n.Value)}}
}

// MarshalYAML writes the duration as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

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
