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
	"sync/atomic"
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
	// metrics serves /metrics on metrics.listen when that is set;
	// metricsListen holds the bound address once it listens.
	metrics       http.Handler
	metricsListen atomic.Value // string
	// apiTokenHashes and ingestTokenHashes accept the generated tokens.
	apiTokenHashes, ingestTokenHashes []string
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
		return nil, fmt.Errorf("open database %s: %w", store.RedactURL(dbURL), err)
	}
	if err := a.setup(ctx, channels, provider, o); err != nil {
		a.store.Close()
		return nil, err
	}
	if len(names) == 0 {
		logger.Warn("no notification channel is enabled (alert.slack, alert.email, alert.webhook): incidents are recorded but nobody is told")
	}
	logger.Info("tocsin ready", "version", Version, "database", store.RedactURL(dbURL), "channels", strings.Join(names, ","))
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
		Observe: func(channel, result string) { metrics.Notifications.WithLabelValues(channel, result).Inc() },
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
	overrides := api.Overrides{Channels: map[string]bool{}, ChannelKeys: channelKeys(channels), AllowedDestinations: cfg.Ingest.AllowedDestinations}
	for name := range channels {
		overrides.Channels[name] = true
	}
	if provider != nil {
		h := &escalate.Handler{Source: a.store, Providers: map[string]escalate.Provider{provider.Name(): provider},
			IncidentURL: d.IncidentURL, Backoff: o.Backoff, Now: o.Now, Logger: logger}
		handlers[tocsin.JobEscalate] = engine.HandlerFunc(h.HandleEscalate)
		handlers[tocsin.JobDeescalate] = engine.HandlerFunc(h.HandleDeescalate)
		overrides.OnCall = &api.OnCallSetup{Enable: cfg.OnCall.Enable, Provider: provider.Name(), Wait: cfg.OnCallWait(), HasTarget: provider.HasTarget}
		mode := "every firing incident"
		if !cfg.OnCall.Enable {
			mode = "only requests with oncall_enable=true (initialized_only)"
		}
		logger.Info("on-call ack-or-escalate is on", "provider", provider.Name(), "wait", cfg.OnCallWait().String(), "pages", mode)
	}
	a.worker = engine.NewWorker(a.store, handlers)
	a.worker.Now, a.worker.Logger = o.Now, logger
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
	srv := api.New(a.store, api.Options{
		APITokens: cfg.API.Tokens, IngestTokens: cfg.Ingest.Tokens, IngestOpen: cfg.Ingest.Open,
		APITokenHashes: a.apiTokenHashes, IngestTokenHashes: a.ingestTokenHashes,
		MaxBodyBytes: cfg.Ingest.MaxBodyBytes, Acks: acks, SlackSigningSecret: cfg.Alert.Slack.SigningSecret,
		TwilioAuthToken: twilioToken(cfg), Pages: a.store, PublicHost: publicHost,
		OnCall: onCallStore{a.store}, SendActivation: a.sendActivation, TestPage: a.testPage,
		SNS: sns, SNSTopics: cfg.Ingest.CloudWatch.TopicARNs, SNSPath: snsPath, SNSPathTopics: snsPathTopics, DebugBody: cfg.Alert.DebugBody, Overrides: overrides,
		Now: o.Now, Logger: logger, Metrics: metrics, MetricsToken: cfg.Metrics.Token, MetricsElsewhere: cfg.Metrics.Listen != "",
	})
	a.handler = srv
	if cfg.Metrics.Listen != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", srv.MetricsHandler())
		a.metrics = mux
	}
	return nil
}

// ensureTokens makes sure intake and the API can be used: when no token is
// configured, one is generated once and kept in the database as a hash
// only; the token itself is written to DATA_DIR/credentials (mode 0600)
// when generated — never to the log. The accepted hashes go to the API.
func (a *app) ensureTokens(ctx context.Context) error {
	cfg := a.cfg
	var fresh []string // KEY=value lines for the credentials file
	if len(cfg.API.Tokens) == 0 {
		tok, hash, err := a.store.GeneratedToken(ctx, "api-token")
		if err != nil {
			return fmt.Errorf("generated API token: %w", err)
		}
		a.apiTokenHashes = []string{hash}
		if tok != "" {
			fresh = append(fresh, "TOCSIN_API_TOKEN="+tok)
		}
	}
	if len(cfg.Ingest.Tokens) == 0 && !cfg.Ingest.Open {
		tok, hash, err := a.store.GeneratedToken(ctx, "ingest-token")
		if err != nil {
			return fmt.Errorf("generated integration token: %w", err)
		}
		a.ingestTokenHashes = []string{hash}
		if tok != "" {
			fresh = append(fresh, "TOCSIN_INGEST_TOKEN="+tok)
		}
	}
	if a.apiTokenHashes == nil && a.ingestTokenHashes == nil {
		return nil
	}
	path := credentialsPath(cfg)
	if len(fresh) == 0 {
		if _, err := os.Stat(path); err != nil {
			a.logger.Warn("generated tokens are in use but " + path + " is missing: tocsin keeps only their hashes; configure api.tokens and ingest.tokens to replace them")
		}
		return nil
	}
	if err := writeCredentials(path, fresh); err != nil {
		return err
	}
	a.logger.Warn("no API or integration token configured: generated tokens are in " + path)
	return nil
}

// writeCredentials sets lines (KEY=value) in the credentials file, keeping
// the other keys it already holds (a token generated earlier is there only).
func writeCredentials(path string, lines []string) error {
	set := map[string]bool{}
	for _, l := range lines {
		k, _, _ := strings.Cut(l, "=")
		set[k] = true
	}
	body := "# Generated by tocsin because no tokens are configured. Keep this file secret.\n"
	if old, err := os.ReadFile(path); err == nil {
		for _, l := range strings.Split(string(old), "\n") {
			k, _, ok := strings.Cut(l, "=")
			if ok && !strings.HasPrefix(l, "#") && !set[k] {
				body += l + "\n"
			}
		}
	}
	body += strings.Join(lines, "\n") + "\n"
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return nil
}

func credentialsPath(cfg *config.Config) string {
	dir := cfg.DataDir
	if dir == "" {
		dir = "data"
	}
	return filepath.Join(dir, "credentials")
}

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
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	a.logger.Info("listening", "addr", ln.Addr().String())
	if a.metrics != nil {
		mln, err := net.Listen("tcp", a.cfg.Metrics.Listen)
		if err != nil {
			srv.Close()
			stopWorker()
			<-workerDone
			return fmt.Errorf("metrics.listen: %w", err)
		}
		msrv := &http.Server{Handler: a.metrics, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
			ErrorLog: slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn)}
		defer msrv.Close()
		go func() { errc <- msrv.Serve(mln) }()
		a.metricsListen.Store(mln.Addr().String())
		a.logger.Info("metrics listening", "addr", mln.Addr().String())
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	stopWorker()
	<-workerDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// metricsAddr is the address /metrics listens on when metrics.listen is
// set and the server runs, else "".
func (a *app) metricsAddr() string {
	v, _ := a.metricsListen.Load().(string)
	return v
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

// twilioToken is the auth token verifying Twilio's webhooks, when Twilio pages.
func twilioToken(cfg *config.Config) string {
	for _, p := range append(append([]string{}, cfg.Paging.SMS...), cfg.Paging.Voice...) {
		if p == "twilio" {
			return cfg.Paging.Twilio.AuthToken
		}
	}
	return ""
}
