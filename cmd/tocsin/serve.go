package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"tocsin"
	"tocsin/api"
	"tocsin/config"
	"tocsin/engine"
	"tocsin/escalate"
	"tocsin/escalate/awsim"
	"tocsin/escalate/incidentio"
	"tocsin/escalate/pagerduty"
	"tocsin/escalate/servicenow"
	"tocsin/ingest"
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
	"tocsin/paging"
	"tocsin/store"
)

func serveCommand(getenv func(string) string, stderr io.Writer) *cobra.Command {
	var path, addr, database string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the tocsin server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if path == "" {
				path = getenv("TOCSIN_CONFIG")
			}
			res, err := config.Load(path, getenv)
			if err != nil {
				return err
			}
			cfg := res.Config
			if addr != "" {
				host, port, err := net.SplitHostPort(addr)
				if err != nil {
					return fmt.Errorf("--addr: %q is not HOST:PORT", addr)
				}
				cfg.Host = host
				if cfg.Port, err = strconv.Atoi(port); err != nil {
					return fmt.Errorf("--addr: %q is not HOST:PORT", addr)
				}
			}
			if database != "" {
				cfg.Database = database
			}
			logger := newLogger(cfg.Log, stderr)
			for _, u := range res.Unused {
				logger.Warn("configuration key is not used by tocsin", "key", u)
			}
			a, err := newApp(cmd.Context(), cfg, appOptions{Logger: logger})
			if err != nil {
				return err
			}
			defer a.Close()
			ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
			if err != nil {
				return err
			}
			return a.serve(cmd.Context(), ln)
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "configuration file (default $TOCSIN_CONFIG; none needed)")
	cmd.Flags().StringVar(&addr, "addr", "", "listen address HOST:PORT (default $TOCSIN_ADDR, else host:port from the file, 0.0.0.0:3000)")
	cmd.Flags().StringVar(&database, "database", "", "SQLite path, sqlite://PATH or postgres://URL (default $TOCSIN_DATABASE_URL, else data/tocsin.db)")
	return cmd
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(c.Level)))
	if c.Level == "" {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// appOptions are the parts tests replace.
type appOptions struct {
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SNS replaces the SNS signature verifier (tests pin their own CA).
	SNS *ingest.SNSVerifier
	// PollInterval overrides the worker's poll interval.
	PollInterval time.Duration
	// Backoff overrides the retry backoff (tests make it short).
	Backoff func(attempt int, retryAfter time.Duration, rnd float64) time.Duration
}

// app is a wired tocsin server.
type app struct {
	cfg        *config.Config
	pager      *paging.Engine
	now        func() time.Time
	pageClient *http.Client
	store      *store.DB
	worker     *engine.Worker
	handler    http.Handler
	logger     *slog.Logger
}

func newApp(ctx context.Context, cfg *config.Config, o appOptions) (*app, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Backoff == nil {
		o.Backoff = engine.Backoff
	}
	logger := o.Logger
	channels, err := buildChannels(cfg, logger)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(channels))
	for n := range channels {
		names = append(names, n)
	}
	sort.Strings(names)

	provider, err := buildProvider(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, logger: logger}
	wake := func() {
		if a.worker != nil {
			a.worker.Wake()
		}
	}
	policy := tocsin.Policy{
		Channels:      names,
		AutoResolve:   cfg.Incidents.AutoResolve == nil || *cfg.Incidents.AutoResolve,
		Impacts:       tocsin.DefaultImpacts(),
		DefaultImpact: cfg.Incidents.DefaultImpact,
		RenotifyAfter: cfg.Incidents.RenotifyAfter.Std(),
	}
	for k, v := range cfg.Incidents.Impact {
		policy.Impacts[strings.ToLower(k)] = v
	}
	dbURL := cfg.DatabaseURL()
	a.store, err = store.Open(ctx, dbURL, store.Options{Now: o.Now, Policy: policy, Wake: wake})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", redactURL(dbURL), err)
	}
	if err := a.setup(ctx, channels, provider, o); err != nil {
		a.store.Close()
		return nil, err
	}
	if len(names) == 0 {
		logger.Warn("no notification channel is enabled (alert.slack, alert.email, alert.webhook): incidents are recorded but nobody is told")
	}
	logger.Info("tocsin ready", "version", Version, "database", redactURL(dbURL), "channels", strings.Join(names, ","))
	return a, nil
}

func (a *app) setup(ctx context.Context, channels map[string]notify.Channel, provider escalate.Provider, o appOptions) error {
	cfg, logger := a.cfg, a.logger
	if err := a.ensureTokens(ctx); err != nil {
		return err
	}
	key, err := a.store.Secret(ctx, "ack-signing-key")
	if err != nil {
		return fmt.Errorf("ack signing key: %w", err)
	}
	publicHost := cfg.PublicHost
	if publicHost == "" {
		host := cfg.Host
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		publicHost = "http://" + net.JoinHostPort(host, strconv.Itoa(cfg.Port))
		logger.Warn("public_host is not set; acknowledgement links point at " + publicHost)
	}
	ttl := cfg.Incidents.AckLinkTTL.Std()
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	acks := &api.AckSigner{Key: []byte(key), PublicHost: publicHost, TTL: ttl, Now: o.Now}
	metrics := api.NewMetrics(a.store, o.Now)

	d := &notify.Dispatcher{
		Source: a.store, Channels: channels, AckURL: acks.URL,
		IncidentURL: func(id string) string {
			return strings.TrimRight(publicHost, "/") + "/api/v1/incidents/" + url.PathEscape(id)
		},
		Backoff: o.Backoff, RenotifyAfter: cfg.Incidents.RenotifyAfter.Std(), Now: o.Now, Logger: logger,
		Observe: func(channel, result string) {
			metrics.Notifications.WithLabelValues(channel, result).Inc()
			if result == "failed" {
				metrics.DeliveryFailures.WithLabelValues(channel).Inc()
			}
		},
	}
	sms, voice, err := buildPaging(ctx, cfg, logger)
	if err != nil {
		return err
	}
	pager := &paging.Engine{
		Store: a.store, SMS: sms, Voice: voice, Channels: channels, PublicHost: publicHost, AckURL: acks.URL,
		MaxPerNumberPerHour: cfg.Paging.MaxPerNumberPerHour, Backoff: o.Backoff, Now: o.Now, Logger: logger,
		Webhook: func(u string) (notify.Channel, error) {
			return webhook.New(config.Webhook{Enable: true, URL: u}, webhook.Options{HTTPClient: a.pageClient, Logger: logger})
		},
	}
	if a.pageClient, err = notify.HTTPClient(10*time.Second, nil); err != nil {
		return err
	}
	a.pager, a.now = pager, o.Now
	handlers := map[string]engine.Handler{
		tocsin.JobNotify:     engine.HandlerFunc(d.HandleNotify),
		tocsin.JobRenotify:   engine.HandlerFunc(d.HandleRenotify),
		tocsin.JobStage:      engine.HandlerFunc(pager.HandleStage),
		tocsin.JobPage:       engine.HandlerFunc(pager.HandlePage),
		tocsin.JobActivation: engine.HandlerFunc(pager.HandleActivation),
		tocsin.JobHandOff:    engine.HandlerFunc(pager.HandleHandOff),
	}
	if err := a.store.ArmHandOffs(ctx); err != nil {
		return fmt.Errorf("arm hand-off notifications: %w", err)
	}
	if provider == nil && cfg.OnCallProvider() == "tocsin" && (cfg.OnCall.Enable || cfg.OnCall.InitializedOnly) {
		provider = &paging.Provider{Engine: pager, DefaultPlan: cfg.OnCall.EscalationPlan}
	}
	// Each instance claims only the work it can run: notifications for
	// the channels it has, escalations for its provider. Instances that
	// briefly differ (a rolling upgrade) leave each other's jobs queued.
	channelNames := make([]string, 0, len(channels))
	for name := range channels {
		channelNames = append(channelNames, name)
	}
	sort.Strings(channelNames)
	lanes := map[string][]string{tocsin.JobNotify: {}}
	for _, name := range channelNames {
		lanes[tocsin.JobNotify] = append(lanes[tocsin.JobNotify], tocsin.NotifyLane(name))
	}
	overrides := api.Overrides{Channels: map[string]bool{}, ChannelKeys: channelKeys(channels), AllowedDestinations: cfg.Ingest.AllowedDestinations}
	for name := range channels {
		overrides.Channels[name] = true
	}
	if provider != nil {
		h := &escalate.Handler{Source: a.store, Providers: map[string]escalate.Provider{provider.Name(): provider},
			IncidentURL: d.IncidentURL, Backoff: o.Backoff, Now: o.Now, Logger: logger, Channels: channelNames,
			Observe: func(provider, result string) {
				if result == "failed" {
					metrics.DeliveryFailures.WithLabelValues(provider).Inc()
				}
			}}
		handlers[tocsin.JobEscalate] = engine.HandlerFunc(h.HandleEscalate)
		handlers[tocsin.JobDeescalate] = engine.HandlerFunc(h.HandleDeescalate)
		lanes[tocsin.JobEscalate] = []string{tocsin.EscalateLane(provider.Name())}
		lanes[tocsin.JobDeescalate] = lanes[tocsin.JobEscalate]
		overrides.OnCall = &api.OnCallSetup{Enable: cfg.OnCall.Enable, Provider: provider.Name(), Wait: cfg.OnCallWait(), HasTarget: provider.HasTarget}
		mode := "every firing incident"
		if !cfg.OnCall.Enable {
			mode = "only requests with oncall_enable=true (initialized_only)"
		}
		logger.Info("on-call ack-or-escalate is on", "provider", provider.Name(), "wait", cfg.OnCallWait().String(), "pages", mode)
	}
	a.worker = engine.NewWorker(a.store, handlers)
	a.worker.Now, a.worker.Logger, a.worker.Lanes = o.Now, logger, lanes
	if o.PollInterval > 0 {
		a.worker.PollInterval = o.PollInterval
	}

	sns := o.SNS
	if sns == nil && !cfg.Ingest.CloudWatch.SkipSignature {
		sns = &ingest.SNSVerifier{Now: o.Now}
	}
	snsPath := ""
	var snsPathTopics []string
	if cfg.Queue.SNS.Enable {
		snsPath = cfg.Queue.SNS.HTTPSEndpointSubscriptionPath
		if snsPath == "" {
			snsPath = "/sns"
		}
		snsPathTopics = []string{cfg.Queue.SNS.TopicARN}
	}
	if cfg.Ingest.Open {
		logger.Warn("ingest.open is true: anyone who can reach this server can create incidents (Versus's behaviour); set integration tokens instead")
	}
	a.handler = api.New(a.store, api.Options{
		APITokens: cfg.API.Tokens, IngestTokens: cfg.Ingest.Tokens, IngestOpen: cfg.Ingest.Open,
		MaxBodyBytes: cfg.Ingest.MaxBodyBytes, Acks: acks, SlackSigningSecret: cfg.Alert.Slack.SigningSecret,
		TwilioAuthToken: twilioToken(cfg), Pages: a.store, PublicHost: publicHost,
		OnCall: onCallStore{a.store}, SendActivation: a.sendActivation, TestPage: a.testPage,
		SNS: sns, SNSTopics: cfg.Ingest.CloudWatch.TopicARNs, SNSPath: snsPath, SNSPathTopics: snsPathTopics, DebugBody: cfg.Alert.DebugBody, Overrides: overrides,
		Now: o.Now, Logger: logger, Metrics: metrics,
	})
	return nil
}

// ensureTokens makes sure intake and the API can be used: when no token is
// configured, one of each is generated once, kept in the database and
// written to DATA_DIR/credentials (mode 0600) — never to the log.
func (a *app) ensureTokens(ctx context.Context) error {
	cfg := a.cfg
	if len(cfg.API.Tokens) > 0 && (len(cfg.Ingest.Tokens) > 0 || cfg.Ingest.Open) {
		return nil
	}
	apiTok, err := a.store.Secret(ctx, "api-token")
	if err != nil {
		return err
	}
	ingTok, err := a.store.Secret(ctx, "ingest-token")
	if err != nil {
		return err
	}
	body := "# Generated by tocsin because no tokens are configured. Keep this file secret.\n"
	if len(cfg.API.Tokens) == 0 {
		cfg.API.Tokens = []string{apiTok}
		body += "TOCSIN_API_TOKEN=" + apiTok + "\n"
	}
	if len(cfg.Ingest.Tokens) == 0 && !cfg.Ingest.Open {
		cfg.Ingest.Tokens = []string{ingTok}
		body += "TOCSIN_INGEST_TOKEN=" + ingTok + "\n"
	}
	path := credentialsPath(cfg)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	a.logger.Warn("no API or integration token configured: generated tokens are in " + path)
	return nil
}

func credentialsPath(cfg *config.Config) string {
	dir := cfg.DataDir
	if dir == "" {
		dir = "data"
	}
	return filepath.Join(dir, "credentials")
}

// httpShutdownGrace bounds how long requests in progress may finish once
// a shutdown starts.
const httpShutdownGrace = 5 * time.Second

// serve runs the HTTP server and the job worker until ctx ends.
func (a *app) serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
	workerCtx, stopWorker := context.WithCancel(context.Background())
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		a.worker.Run(workerCtx)
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	a.logger.Info("listening", "addr", ln.Addr().String())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	// The server and the worker stop side by side, each within its own
	// bound (the worker's ShutdownGrace, then its jobs are handed back),
	// so a shutdown stays inside a container's kill grace.
	stopWorker()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), httpShutdownGrace)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	<-workerDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// sendActivation creates a contact channel's activation code and queues
// its delivery through the channel.
func (a *app) sendActivation(ctx context.Context, alias, channel string) error {
	code, err := a.store.StartActivation(ctx, alias, channel)
	if err != nil {
		return err
	}
	args, _ := json.Marshal(tocsin.ActivationArgs{Contact: alias, Channel: channel, Code: code})
	return a.store.ScheduleJob(ctx, &tocsin.Job{Kind: tocsin.JobActivation, Lane: tocsin.JobActivation, Args: args, DueAt: a.now()})
}

// testPage pages a contact or runs an escalation plan for real, on a quiet
// incident of its own marked as a test.
func (a *app) testPage(ctx context.Context, kind, name string) (string, error) {
	open := func(ctx context.Context, title string) (string, error) {
		res, err := a.store.Ingest(ctx, []*tocsin.Alert{{
			Source: tocsin.SourceGeneric, DedupKey: "test-page:" + uuid.NewString(), Fingerprint: "test-page", Status: tocsin.AlertFiring,
			Severity: "info", Title: "TEST: " + title, Description: "A test page started from the API; acknowledge or resolve it freely.",
			Labels: map[string]string{"test": "true"},
		}}, tocsin.IngestOptions{Quiet: true})
		if err != nil {
			return "", err
		}
		return res[0].IncidentID, nil
	}
	return a.pager.TestPage(ctx, open, kind, name)
}

// Close releases the database.
func (a *app) Close() error { return a.store.Close() }

// buildChannels constructs every enabled channel, listed explicitly.
func buildChannels(cfg *config.Config, logger *slog.Logger) (map[string]notify.Channel, error) {
	chans := map[string]notify.Channel{}
	add := func(ch notify.Channel, err error) error {
		if err != nil {
			return err
		}
		chans[ch.Name()] = ch
		return nil
	}
	if c := cfg.Alert.Slack; c.Enable {
		if err := add(slack.New(c, slack.Options{Logger: logger})); err != nil {
			return nil, fmt.Errorf("alert.slack: %w", err)
		}
	}
	if c := cfg.Alert.Email; c.Enable {
		if err := add(email.New(c, email.Options{Logger: logger})); err != nil {
			return nil, fmt.Errorf("alert.email: %w", err)
		}
	}
	if c := cfg.Alert.Webhook; c.Enable {
		if err := add(webhook.New(c, webhook.Options{Proxy: &cfg.Proxy, Logger: logger})); err != nil {
			return nil, fmt.Errorf("alert.webhook: %w", err)
		}
	}
	if c := cfg.Alert.Telegram; c.Enable {
		if err := add(telegram.New(c, telegram.Options{Proxy: &cfg.Proxy, Logger: logger})); err != nil {
			return nil, fmt.Errorf("alert.telegram: %w", err)
		}
	}
	if c := cfg.Alert.Viber; c.Enable {
		if err := add(viber.New(c, viber.Options{Proxy: &cfg.Proxy, Logger: logger})); err != nil {
			return nil, fmt.Errorf("alert.viber: %w", err)
		}
	}
	if c := cfg.Alert.MSTeams; c.Enable {
		if err := add(msteams.New(c, msteams.Options{Proxy: &cfg.Proxy, Logger: logger})); err != nil {
			return nil, fmt.Errorf("alert.msteams: %w", err)
		}
	}
	if c := cfg.Alert.Lark; c.Enable {
		if err := add(lark.New(c, lark.Options{Proxy: &cfg.Proxy, Logger: logger})); err != nil {
			return nil, fmt.Errorf("alert.lark: %w", err)
		}
	}
	return chans, nil
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
func buildPaging(ctx context.Context, cfg *config.Config, logger *slog.Logger) ([]notify.SMSSender, []notify.Caller, error) {
	var tw *twilio.Provider
	getTwilio := func() (*twilio.Provider, error) {
		if tw != nil {
			return tw, nil
		}
		var err error
		tw, err = twilio.New(cfg.Paging.Twilio, twilio.Options{Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("paging.twilio: %w", err)
		}
		return tw, nil
	}
	var sms []notify.SMSSender
	var voice []notify.Caller
	for _, name := range cfg.Paging.SMS {
		switch name {
		case "twilio":
			p, err := getTwilio()
			if err != nil {
				return nil, nil, err
			}
			sms = append(sms, p)
		case "sns":
			p, err := snssms.New(ctx, cfg.Paging.SNS, snssms.Options{Logger: logger})
			if err != nil {
				return nil, nil, fmt.Errorf("paging.sns: %w", err)
			}
			sms = append(sms, p)
		}
	}
	for _, name := range cfg.Paging.Voice {
		if name == "twilio" {
			p, err := getTwilio()
			if err != nil {
				return nil, nil, err
			}
			voice = append(voice, p)
		}
	}
	return sms, voice, nil
}

// buildProvider constructs the configured on-call provider, or nil when
// on-call is off (neither oncall.enable nor oncall.initialized_only).
func buildProvider(ctx context.Context, cfg *config.Config, logger *slog.Logger) (escalate.Provider, error) {
	if !cfg.OnCall.Enable && !cfg.OnCall.InitializedOnly {
		return nil, nil
	}
	oc := cfg.OnCall
	var p escalate.Provider
	var err error
	switch cfg.OnCallProvider() {
	case "tocsin":
		// tocsin's own escalation plans: wired with the paging engine.
		return nil, nil
	case "aws_incident_manager":
		p, err = awsim.New(ctx, oc.AWSIncidentManager, awsim.Options{Logger: logger})
	case "pagerduty":
		p, err = pagerduty.New(oc.PagerDuty, pagerduty.Options{Logger: logger})
	case "servicenow":
		p, err = servicenow.New(oc.ServiceNow, servicenow.Options{Logger: logger})
	case "incident_io":
		p, err = incidentio.New(oc.IncidentIO, incidentio.Options{Logger: logger})
	}
	if err != nil {
		return nil, fmt.Errorf("oncall.%s: %w", cfg.OnCallProvider(), err)
	}
	return p, nil
}

// redactURL hides a database URL's password.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
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
