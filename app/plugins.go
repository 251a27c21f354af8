package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"tocsin/config"
	"tocsin/engage"
	"tocsin/integration"
	"tocsin/integration/awsim"
	"tocsin/integration/incidentio"
	"tocsin/integration/pagerduty"
	"tocsin/integration/servicenow"
	"tocsin/notify"
	"tocsin/notify/email"
	"tocsin/notify/lark"
	"tocsin/notify/msteams"
	"tocsin/notify/slack"
	"tocsin/notify/snssms"
	"tocsin/notify/telegram"
	"tocsin/notify/twilio"
	"tocsin/notify/viber"
	"tocsin/notify/webhook"
)

// This file is the one list of what tocsin can talk to: the notification
// channels, the on-call integrations and the SMS/voice providers. Each is
// named once, here; building (New and Check alike), the template check,
// the worker's lanes and the intake's overrides all read these tables.
// Adding a channel or an integration is one entry here plus its
// configuration block and its package.

// deps are what a plugin is built with besides the configuration.
type deps struct {
	logger *slog.Logger
}

// channelPlugin is one notification channel under alert.*.
type channelPlugin struct {
	// key is the channel's configuration block ("alert.slack"); the part
	// after "alert." is the name its templates are checked under.
	key     string
	enabled func(*config.Config) bool
	// templatePath is the user's template file, "" for the built-in one;
	// nil when the channel has no templates.
	templatePath func(*config.Config) string
	build        func(*config.Config, deps) (notify.Channel, error)
	// warnings are further checks of the channel's settings that are
	// worth a warning, not a refusal.
	warnings func(*config.Config) []string
}

// channelPlugins are the notification channels, in the order they are built.
var channelPlugins = []channelPlugin{
	{
		key:          "alert.slack",
		enabled:      func(c *config.Config) bool { return c.Alert.Slack.Enable },
		templatePath: func(c *config.Config) string { return c.Alert.Slack.TemplatePath },
		build: func(c *config.Config, d deps) (notify.Channel, error) {
			return slack.New(c.Alert.Slack, slack.Options{Logger: d.logger})
		},
	},
	{
		key:          "alert.email",
		enabled:      func(c *config.Config) bool { return c.Alert.Email.Enable },
		templatePath: func(c *config.Config) string { return c.Alert.Email.TemplatePath },
		build: func(c *config.Config, d deps) (notify.Channel, error) {
			return email.New(c.Alert.Email, email.Options{Logger: d.logger})
		},
		warnings: emailSubjectWarnings,
	},
	{
		key:     "alert.webhook",
		enabled: func(c *config.Config) bool { return c.Alert.Webhook.Enable },
		build: func(c *config.Config, d deps) (notify.Channel, error) {
			return webhook.New(c.Alert.Webhook, webhook.Options{Proxy: &c.Proxy, Logger: d.logger})
		},
	},
	{
		key:          "alert.telegram",
		enabled:      func(c *config.Config) bool { return c.Alert.Telegram.Enable },
		templatePath: func(c *config.Config) string { return c.Alert.Telegram.TemplatePath },
		build: func(c *config.Config, d deps) (notify.Channel, error) {
			return telegram.New(c.Alert.Telegram, telegram.Options{Proxy: &c.Proxy, Logger: d.logger})
		},
	},
	{
		key:          "alert.viber",
		enabled:      func(c *config.Config) bool { return c.Alert.Viber.Enable },
		templatePath: func(c *config.Config) string { return c.Alert.Viber.TemplatePath },
		build: func(c *config.Config, d deps) (notify.Channel, error) {
			return viber.New(c.Alert.Viber, viber.Options{Proxy: &c.Proxy, Logger: d.logger})
		},
	},
	{
		key:          "alert.msteams",
		enabled:      func(c *config.Config) bool { return c.Alert.MSTeams.Enable },
		templatePath: func(c *config.Config) string { return c.Alert.MSTeams.TemplatePath },
		build: func(c *config.Config, d deps) (notify.Channel, error) {
			return msteams.New(c.Alert.MSTeams, msteams.Options{Proxy: &c.Proxy, Logger: d.logger})
		},
	},
	{
		key:          "alert.lark",
		enabled:      func(c *config.Config) bool { return c.Alert.Lark.Enable },
		templatePath: func(c *config.Config) string { return c.Alert.Lark.TemplatePath },
		build: func(c *config.Config, d deps) (notify.Channel, error) {
			return lark.New(c.Alert.Lark, lark.Options{Proxy: &c.Proxy, Logger: d.logger})
		},
	},
}

// integrationPlugin is one on-call provider under oncall.* (oncall.provider
// names it): another incident system tocsin forwards escalations to.
type integrationPlugin struct {
	// name is the oncall.provider value and the key under oncall.
	name string
	// region is the AWS region the integration will use, when it is an
	// AWS one ("" lets the SDK find it); nil otherwise.
	region func(*config.Config) string
	// build constructs the provider; nil for tocsin's own escalation
	// plans, which are wired with the paging engine.
	build func(context.Context, *config.Config, deps) (integration.Provider, error)
}

// integrations are the on-call providers.
var integrations = []integrationPlugin{
	{
		name: "aws_incident_manager",
		region: func(c *config.Config) string {
			// The constructor stops at its first problem (often the ARN):
			// whether the SDK finds a region is said either way.
			im := c.OnCall.AWSIncidentManager
			if a, err := arn.Parse(im.ResponsePlanARN); im.Region == "" && err == nil {
				return a.Region
			}
			return im.Region
		},
		build: func(ctx context.Context, c *config.Config, d deps) (integration.Provider, error) {
			return awsim.New(ctx, c.OnCall.AWSIncidentManager, awsim.Options{Logger: d.logger})
		},
	},
	{
		name: "pagerduty",
		build: func(_ context.Context, c *config.Config, d deps) (integration.Provider, error) {
			return pagerduty.New(c.OnCall.PagerDuty, pagerduty.Options{Logger: d.logger})
		},
	},
	{
		name: "servicenow",
		build: func(_ context.Context, c *config.Config, d deps) (integration.Provider, error) {
			return servicenow.New(c.OnCall.ServiceNow, servicenow.Options{Logger: d.logger})
		},
	},
	{
		name: "incident_io",
		build: func(_ context.Context, c *config.Config, d deps) (integration.Provider, error) {
			return incidentio.New(c.OnCall.IncidentIO, incidentio.Options{Logger: d.logger})
		},
	},
	// tocsin's own escalation plans forward nothing: wireOnCall has the
	// ack-or-escalate timer engage them. Listed so every oncall.provider
	// value is named here once.
	{name: engage.OnCallProvider},
}

// pagingProvider is one SMS or voice provider named in paging.sms or
// paging.voice. A provider in both lists is built once.
type pagingProvider struct {
	name string
	// key is its configuration block ("paging.twilio").
	key string
	// sms and voice say which lists may name it.
	sms, voice bool
	// region is the AWS region it will use; nil when it is not AWS.
	region func(*config.Config) string
	// build returns a notify.SMSSender, a notify.Caller, or both.
	build func(context.Context, *config.Config, deps) (any, error)
}

// pagingProviders are the SMS and voice providers.
var pagingProviders = []pagingProvider{
	{
		name: "twilio", key: "paging.twilio", sms: true, voice: true,
		build: func(_ context.Context, c *config.Config, d deps) (any, error) {
			return twilio.New(c.Paging.Twilio, twilio.Options{Logger: d.logger})
		},
	},
	{
		name: "sns", key: "paging.sns", sms: true,
		region: func(c *config.Config) string { return c.Paging.SNS.Region },
		build: func(ctx context.Context, c *config.Config, d deps) (any, error) {
			return snssms.New(ctx, c.Paging.SNS, snssms.Options{Logger: d.logger})
		},
	},
}

// parts are what a server is built from before it opens its database.
type parts struct {
	channels map[string]notify.Channel
	provider integration.Provider
	sms      []notify.SMSSender
	voice    []notify.Caller
}

// buildParts constructs every enabled channel, the on-call provider and
// the paging providers, without touching the network, and reports every
// problem, each naming its key. A component whose key skip reports is not
// built: Check passes the keys the file itself has problems with, which
// building would only repeat. New and Check both call it, so `serve` and
// `config check` refuse the same configurations.
func buildParts(ctx context.Context, cfg *config.Config, logger *slog.Logger, skip func(key string) bool) (*parts, config.Problems) {
	if skip == nil {
		skip = func(string) bool { return false }
	}
	d := deps{logger: logger}
	p := &parts{}
	var probs, more config.Problems
	p.channels, probs = buildChannels(cfg, d, skip)
	p.provider, more = buildProvider(ctx, cfg, d, skip)
	probs = append(probs, more...)
	p.sms, p.voice, more = buildPaging(ctx, cfg, d, skip)
	probs = append(probs, more...)
	return p, unique(probs)
}

// problem names the key of a constructor's error, unless the error does.
func problem(key string, err error) string {
	if msg := err.Error(); strings.HasPrefix(msg, key) {
		return msg
	}
	return key + ": " + err.Error()
}

// unique drops repeated problems (the region check beside a constructor
// that found the same), keeping the order.
func unique(probs config.Problems) config.Problems {
	seen := map[string]bool{}
	out := probs[:0]
	for _, p := range probs {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// buildChannels constructs every enabled channel of channelPlugins.
func buildChannels(cfg *config.Config, d deps, skip func(string) bool) (map[string]notify.Channel, config.Problems) {
	chans := map[string]notify.Channel{}
	var probs config.Problems
	for _, c := range channelPlugins {
		if !c.enabled(cfg) || skip(c.key) {
			continue
		}
		ch, err := c.build(cfg, d)
		if err != nil {
			probs = append(probs, problem(c.key, err))
			continue
		}
		chans[ch.Name()] = ch
	}
	return chans, probs
}

// channelKeys lists the channels whose alternates a request may pick by key.
func channelKeys(chans map[string]notify.Channel) map[string]func(string) bool {
	keys := map[string]func(string) bool{}
	for name, ch := range chans {
		if k, ok := ch.(interface{ HasKey(string) bool }); ok {
			keys[name] = k.HasKey
		}
	}
	return keys
}

// buildPaging constructs the SMS and voice providers in failover order.
func buildPaging(ctx context.Context, cfg *config.Config, d deps, skip func(string) bool) ([]notify.SMSSender, []notify.Caller, config.Problems) {
	var probs config.Problems
	built := map[string]any{}
	tried := map[string]bool{}
	// get builds p once, reporting its problems.
	get := func(p *pagingProvider) any {
		if p.region != nil {
			probs = append(probs, awsRegionProblems(ctx, p.key+".region: ", p.region(cfg))...)
		}
		if tried[p.name] || skip(p.key) || (p.sms && skip("paging.sms")) || (p.voice && skip("paging.voice")) {
			return built[p.name]
		}
		tried[p.name] = true
		v, err := p.build(ctx, cfg, d)
		if err != nil {
			probs = append(probs, problem(p.key, err))
			return nil
		}
		built[p.name] = v
		return v
	}
	var sms []notify.SMSSender
	var voice []notify.Caller
	for _, name := range cfg.Paging.SMS {
		if p := findPagingProvider(name); p != nil && p.sms {
			if s, ok := get(p).(notify.SMSSender); ok {
				sms = append(sms, s)
			}
		}
	}
	for _, name := range cfg.Paging.Voice {
		if p := findPagingProvider(name); p != nil && p.voice {
			if c, ok := get(p).(notify.Caller); ok {
				voice = append(voice, c)
			}
		}
	}
	return sms, voice, probs
}

// findPagingProvider is the provider called name, or nil (config.Validate
// refuses unknown names).
func findPagingProvider(name string) *pagingProvider {
	for i := range pagingProviders {
		if pagingProviders[i].name == name {
			return &pagingProviders[i]
		}
	}
	return nil
}

// buildProvider constructs the configured on-call integration, or nil when
// on-call is off (neither oncall.enable nor oncall.initialized_only) or
// the provider is tocsin's own.
func buildProvider(ctx context.Context, cfg *config.Config, d deps, skip func(string) bool) (integration.Provider, config.Problems) {
	if !cfg.OnCall.Enable && !cfg.OnCall.InitializedOnly {
		return nil, nil
	}
	name := cfg.OnCallProvider()
	key := "oncall." + name
	for _, in := range integrations {
		if in.name != name {
			continue
		}
		var probs config.Problems
		if in.region != nil {
			probs = awsRegionProblems(ctx, key+": region: ", in.region(cfg))
		}
		if in.build == nil || skip(key) || skip("oncall.provider") {
			return nil, probs
		}
		p, err := in.build(ctx, cfg, d)
		if err != nil {
			return nil, append(probs, problem(key, err))
		}
		return p, probs
	}
	return nil, nil // config.Validate has refused an unknown provider
}

// awsRegionProblems reports when no region is configured and the AWS SDK
// finds none either (AWS_REGION, AWS_DEFAULT_REGION, the profile's): it
// asks the SDK's own resolution, so what counts when serving counts here.
// prefix starts the problem, in the words of the constructors that need
// the region, so the two say it once.
func awsRegionProblems(ctx context.Context, prefix, region string) config.Problems {
	if region != "" {
		return nil
	}
	c, err := awsconfig.LoadDefaultConfig(ctx)
	switch {
	case err != nil:
		return config.Problems{prefix + "cannot be found: " + fmt.Errorf("load AWS configuration: %w", err).Error()}
	case c.Region == "":
		return config.Problems{prefix + "required (set region, AWS_REGION or a profile's region)"}
	}
	return nil
}

// twilioToken is the auth token verifying Twilio's webhooks, when Twilio pages.
func twilioToken(cfg *config.Config) string {
	for _, p := range append(append([]string{}, cfg.Paging.SMS...), cfg.Paging.Voice...) {
		if p == "twilio" {
			return cfg.Paging.Twilio.AuthToken
		}
	}
	return ""
}
