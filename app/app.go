package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
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
	"tocsin/inbound"
	"tocsin/ingest"
	"tocsin/netguard"
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
	"tocsin/web"
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
			// The same check as `config check`: every problem at once.
			res, err := checkConfig(cmd.Context(), path, getenv)
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
			for _, w := range res.Warnings {
				logger.Warn(w)
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
	built, probs := buildParts(ctx, cfg, logger, nil)
	if len(probs) > 0 {
		return nil, probs
	}
	names := make([]string, 0, len(built.channels))
	for n := range built.channels {
		names = append(names, n)
	}
	sort.Strings(names)

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
	var err error
	a.store, err = store.Open(ctx, dbURL, store.Options{Now: o.Now, Policy: policy, Wake: wake})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", store.RedactURL(dbURL), err)
	}
	if err := a.setup(ctx, built, o); err != nil {
		a.store.Close()
		return nil, err
	}
	logger.Info("tocsin ready", "version", Version, "database", store.RedactURL(dbURL), "channels", strings.Join(names, ","))
	return a, nil
}

func (a *app) setup(ctx context.Context, built *parts, o appOptions) error {
	cfg, logger := a.cfg, a.logger
	channels, provider := built.channels, built.provider
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
	acks := &web.AckSigner{Key: []byte(key), PublicHost: publicHost, TTL: ttl, Now: o.Now}
	metrics := api.NewMetrics(a.store, o.Now)

	d := &notify.Dispatcher{
		Source: a.store, Channels: channels, AckURL: acks.URL,
		Backoff: o.Backoff, RenotifyAfter: cfg.Incidents.RenotifyAfter.Std(), Now: o.Now, Logger: logger,
		// A signed, read-only page: readable by whoever got the message,
		// without an API token (until the web console exists).
		IncidentURL: acks.ViewURL,
		Observe: func(channel, result string) {
			metrics.Notifications.WithLabelValues(channel, result).Inc()
			if result == "failed" {
				metrics.DeliveryFailures.WithLabelValues(channel).Inc()
			}
		},
	}
	pager := &paging.Engine{
		Store: a.store, SMS: built.sms, Voice: built.voice, Channels: channels, PublicHost: publicHost, AckURL: acks.URL,
		MaxPerNumberPerHour: cfg.Paging.MaxPerNumberPerHour, Backoff: o.Backoff, Now: o.Now, Logger: logger,
		Observe: func(channel, result string) {
			if result == "failed" {
				metrics.DeliveryFailures.WithLabelValues(channel).Inc()
			}
		},
		Webhook: func(u string) (notify.Channel, error) {
			return webhook.New(config.Webhook{Enable: true, URL: u}, webhook.Options{HTTPClient: a.pageClient, Logger: logger})
		},
	}
	// Contacts' webhook URLs come from API-token holders: their client
	// refuses internal addresses at connect time (config.Validate has
	// checked the operator's allow-list already).
	webhookGuard, err := netguard.New(cfg.Paging.WebhookAllowedNetworks)
	if err != nil {
		return fmt.Errorf("paging.webhook_allowed_networks%w", err)
	}
	a.pageClient = notify.GuardedHTTPClient(10*time.Second, webhookGuard)
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
	overrides := inbound.Overrides{Channels: map[string]bool{}, ChannelKeys: channelKeys(channels), AllowedDestinations: cfg.Ingest.AllowedDestinations}
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
		overrides.OnCall = &inbound.OnCallSetup{Enable: cfg.OnCall.Enable, Provider: provider.Name(), Wait: cfg.OnCallWait(), HasTarget: provider.HasTarget}
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

	sns := inbound.SNS{Verifier: o.SNS, Topics: cfg.Ingest.CloudWatch.TopicARNs}
	if sns.Verifier == nil && !cfg.Ingest.CloudWatch.SkipSignature {
		sns.Verifier = &ingest.SNSVerifier{Now: o.Now}
	}
	if cfg.Queue.SNS.Enable {
		sns.Path = cmp.Or(cfg.Queue.SNS.HTTPSEndpointSubscriptionPath, "/sns")
		sns.PathTopics = []string{cfg.Queue.SNS.TopicARN}
	}
	// One mux, one room per audience: the JSON API (and health), the
	// webhooks of senders and providers, and the pages behind signed links.
	mux := http.NewServeMux()
	api.New(a.store, api.Options{
		Tokens: api.Tokens{Clear: cfg.API.Tokens, Hashes: a.apiTokenHashes}, MaxBodyBytes: cfg.Ingest.MaxBodyBytes,
		Channels: overrides.Channels, OnCall: onCallStore{a.store}, WebhookGuard: webhookGuard,
		SendActivation: a.sendActivation, TestPage: a.testPage, PublicHost: publicHost, Now: o.Now, Logger: logger,
	}).Register(mux)
	inbound.New(a.store, inbound.Options{
		Tokens: api.Tokens{Clear: cfg.Ingest.Tokens, Hashes: a.ingestTokenHashes}, Open: cfg.Ingest.Open,
		MaxBodyBytes: cfg.Ingest.MaxBodyBytes, Overrides: overrides, SNS: sns, DebugBody: cfg.Alert.DebugBody,
		SlackSigningSecret: cfg.Alert.Slack.SigningSecret, TwilioAuthToken: twilioToken(cfg), PublicHost: publicHost,
		Metrics: metrics, Now: o.Now, Logger: logger,
	}).Register(mux)
	web.New(a.store, web.Options{Acks: acks, Logger: logger}).Register(mux)
	// /metrics is on the main listener, or alone on its own (metrics.listen).
	metricsMux := mux
	if cfg.Metrics.Listen != "" {
		metricsMux = http.NewServeMux()
		a.metrics = metricsMux
	}
	metricsMux.Handle("GET /metrics", api.MetricsHandler(metrics, cfg.Metrics.Token))
	a.handler = api.NoSniff(mux)
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

// parts are what a server is built from before it opens its database.
type parts struct {
	channels map[string]notify.Channel
	provider escalate.Provider
	sms      []notify.SMSSender
	voice    []notify.Caller
}

// buildParts constructs every enabled channel, the on-call provider and
// the paging providers, without touching the network, and reports every
// problem, each naming its key. A component whose key skip reports is not
// built: `config check` passes the keys the file itself has problems with,
// which building would only repeat. newApp and checkSetup both call it, so
// `serve` and `config check` refuse the same configurations.
func buildParts(ctx context.Context, cfg *config.Config, logger *slog.Logger, skip func(key string) bool) (*parts, config.Problems) {
	if skip == nil {
		skip = func(string) bool { return false }
	}
	p := &parts{}
	var probs, more config.Problems
	p.channels, probs = buildChannels(cfg, logger, skip)
	p.provider, more = buildProvider(ctx, cfg, logger, skip)
	probs = append(probs, more...)
	p.sms, p.voice, more = buildPaging(ctx, cfg, logger, skip)
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

// buildChannels constructs every enabled channel, listed explicitly.
func buildChannels(cfg *config.Config, logger *slog.Logger, skip func(string) bool) (map[string]notify.Channel, config.Problems) {
	chans := map[string]notify.Channel{}
	var probs config.Problems
	add := func(key string, ch notify.Channel, err error) {
		if err != nil {
			probs = append(probs, problem(key, err))
			return
		}
		chans[ch.Name()] = ch
	}
	if c := cfg.Alert.Slack; c.Enable && !skip("alert.slack") {
		ch, err := slack.New(c, slack.Options{Logger: logger})
		add("alert.slack", ch, err)
	}
	if c := cfg.Alert.Email; c.Enable && !skip("alert.email") {
		ch, err := email.New(c, email.Options{Logger: logger})
		add("alert.email", ch, err)
	}
	if c := cfg.Alert.Webhook; c.Enable && !skip("alert.webhook") {
		ch, err := webhook.New(c, webhook.Options{Proxy: &cfg.Proxy, Logger: logger})
		add("alert.webhook", ch, err)
	}
	if c := cfg.Alert.Telegram; c.Enable && !skip("alert.telegram") {
		ch, err := telegram.New(c, telegram.Options{Proxy: &cfg.Proxy, Logger: logger})
		add("alert.telegram", ch, err)
	}
	if c := cfg.Alert.Viber; c.Enable && !skip("alert.viber") {
		ch, err := viber.New(c, viber.Options{Proxy: &cfg.Proxy, Logger: logger})
		add("alert.viber", ch, err)
	}
	if c := cfg.Alert.MSTeams; c.Enable && !skip("alert.msteams") {
		ch, err := msteams.New(c, msteams.Options{Proxy: &cfg.Proxy, Logger: logger})
		add("alert.msteams", ch, err)
	}
	if c := cfg.Alert.Lark; c.Enable && !skip("alert.lark") {
		ch, err := lark.New(c, lark.Options{Proxy: &cfg.Proxy, Logger: logger})
		add("alert.lark", ch, err)
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
func buildPaging(ctx context.Context, cfg *config.Config, logger *slog.Logger, skip func(string) bool) ([]notify.SMSSender, []notify.Caller, config.Problems) {
	var probs config.Problems
	var tw *twilio.Provider
	twilioDone := skip("paging.twilio") || skip("paging.sms") || skip("paging.voice")
	getTwilio := func() *twilio.Provider {
		if !twilioDone {
			twilioDone = true
			var err error
			if tw, err = twilio.New(cfg.Paging.Twilio, twilio.Options{Logger: logger}); err != nil {
				probs = append(probs, problem("paging.twilio", err))
			}
		}
		return tw
	}
	var sms []notify.SMSSender
	var voice []notify.Caller
	for _, name := range cfg.Paging.SMS {
		switch name {
		case "twilio":
			if p := getTwilio(); p != nil {
				sms = append(sms, p)
			}
		case "sns":
			const key = "paging.sns"
			probs = append(probs, awsRegionProblems(ctx, key+".region: ", cfg.Paging.SNS.Region)...)
			if skip(key) || skip("paging.sms") {
				continue
			}
			p, err := snssms.New(ctx, cfg.Paging.SNS, snssms.Options{Logger: logger})
			if err != nil {
				probs = append(probs, problem(key, err))
				continue
			}
			sms = append(sms, p)
		}
	}
	for _, name := range cfg.Paging.Voice {
		if name == "twilio" {
			if p := getTwilio(); p != nil {
				voice = append(voice, p)
			}
		}
	}
	return sms, voice, probs
}

// buildProvider constructs the configured on-call provider, or nil when
// on-call is off (neither oncall.enable nor oncall.initialized_only).
func buildProvider(ctx context.Context, cfg *config.Config, logger *slog.Logger, skip func(string) bool) (escalate.Provider, config.Problems) {
	if !cfg.OnCall.Enable && !cfg.OnCall.InitializedOnly {
		return nil, nil
	}
	oc := cfg.OnCall
	key := "oncall." + cfg.OnCallProvider()
	var probs config.Problems
	if cfg.OnCallProvider() == "aws_incident_manager" {
		// The constructor stops at its first problem (often the ARN):
		// whether the SDK finds a region is said either way.
		region := oc.AWSIncidentManager.Region
		if a, err := arn.Parse(oc.AWSIncidentManager.ResponsePlanARN); region == "" && err == nil {
			region = a.Region
		}
		probs = append(probs, awsRegionProblems(ctx, key+": region: ", region)...)
	}
	if skip(key) || skip("oncall.provider") {
		return nil, probs
	}
	var p escalate.Provider
	var err error
	switch cfg.OnCallProvider() {
	case "tocsin":
		// tocsin's own escalation plans: wired with the paging engine.
		return nil, probs
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
		return nil, append(probs, problem(key, err))
	}
	return p, probs
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
