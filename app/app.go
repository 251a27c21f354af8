// Package app wires a tocsin server: from a checked configuration it
// builds the channels, integrations and paging providers (plugins.go, the
// one list of them), opens the store, and composes the job worker and the
// HTTP rooms (api, inbound, web) on one mux. It is the one package, with
// the tests, that imports everything; cmd/tocsin holds only commands.
package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"tocsin/runbook"
	"tocsin/runbook/action"
	"tocsin/runbook/run"

	"github.com/google/uuid"

	"tocsin"
	"tocsin/api"
	"tocsin/awsapi"
	"tocsin/config"
	"tocsin/engage"
	"tocsin/engine"
	"tocsin/inbound"
	"tocsin/ingest"
	"tocsin/integration"
	"tocsin/netguard"
	"tocsin/notify"
	"tocsin/notify/webhook"
	"tocsin/store"
	"tocsin/web"
)

// Options are what New takes besides the configuration; the zero value
// serves (tests replace the clock, the SNS verifier and the worker's
// pace).
type Options struct {
	// Logger receives the server's logs (default: discarded).
	Logger *slog.Logger
	// Version is logged when the server is ready (default "dev").
	Version string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SNS replaces the SNS signature verifier (tests pin their own CA).
	SNS *ingest.SNSVerifier
	// PollInterval overrides the worker's poll interval (0: the engine's
	// default).
	PollInterval time.Duration
	// Backoff overrides the retry backoff (default engine.Backoff; tests
	// make it short).
	Backoff func(attempt int, retryAfter time.Duration, rnd float64) time.Duration
}

// validate fills in the defaults and refuses options that cannot serve.
func (o *Options) validate() error {
	if o.PollInterval < 0 {
		return tocsin.Errorf(tocsin.EINVALID, "app options: PollInterval %s is negative", o.PollInterval)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Backoff == nil {
		o.Backoff = engine.Backoff
	}
	return nil
}

// App is a wired tocsin server: New builds it, Serve runs it, Close
// releases its database.
type App struct {
	cfg    *config.Config
	opts   Options
	logger *slog.Logger
	store  *store.DB
	signal *engine.Signal
	worker *engine.Worker
	// pacer holds intake's answers while deliveries are behind; nil when
	// ingest.pace.backlog is 0.
	pacer   *engine.Pacer
	pager   *engage.Engine
	handler http.Handler
	// metrics serves /metrics on metrics.listen when that is set;
	// metricsListen holds the bound address once it listens.
	metrics       http.Handler
	metricsListen atomic.Value // string
	// apiTokenHashes and ingestTokenHashes accept the generated tokens.
	apiTokenHashes, ingestTokenHashes []string
}

// New builds a server from cfg (already loaded and checked, see Check):
// it constructs every plugin, opens the database and wires the worker and
// the HTTP handlers. It does not listen; Serve does.
func New(ctx context.Context, cfg *config.Config, opts Options) (*App, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	built, probs := buildParts(ctx, cfg, opts.Logger, nil)
	if len(probs) > 0 {
		return nil, probs
	}
	names := slices.Sorted(maps.Keys(built.channels))
	// The worker's wake-up exists before the store that rings it and the
	// worker that hears it, so no commit can find it missing.
	a := &App{cfg: cfg, opts: opts, logger: opts.Logger, signal: engine.NewSignal()}
	dbURL := cfg.DatabaseURL()
	var err error
	a.store, err = store.Open(ctx, dbURL, store.Options{Now: opts.Now, Policy: policy(cfg, names), Wake: a.signal.Wake,
		AttachmentMaxBytes: cfg.Incidents.AttachmentMaxBytes, FindingsWindow: cfg.Incidents.FindingsWindow.Std()})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", store.RedactURL(dbURL), err)
	}
	if err := a.setup(ctx, built); err != nil {
		a.store.Close()
		return nil, err
	}
	a.logger.Info("tocsin ready", "version", opts.Version, "database", store.RedactURL(dbURL), "channels", strings.Join(names, ","))
	return a, nil
}

// policy is what the store needs to know of the configuration.
func policy(cfg *config.Config, channels []string) tocsin.Policy {
	p := tocsin.Policy{
		Channels:      channels,
		AutoResolve:   cfg.Incidents.AutoResolve == nil || *cfg.Incidents.AutoResolve,
		Impacts:       tocsin.DefaultImpacts(),
		DefaultImpact: cfg.Incidents.DefaultImpact,
		RenotifyAfter: cfg.Incidents.RenotifyAfter.Std(),
	}
	for k, v := range cfg.Incidents.Impact {
		p.Impacts[strings.ToLower(k)] = v
	}
	return p
}

// wiring is what setup's steps share: built before the handlers and
// routes that capture it.
type wiring struct {
	built        *parts
	channelNames []string
	publicHost   string
	acks         *web.AckSigner
	metrics      *api.Metrics
	webhookGuard *netguard.Guard
	dispatcher   *notify.Dispatcher
	onCall       *onCall
	overrides    inbound.Overrides
	// runbookPolicy is what the configuration lets runbooks do, checked
	// when a runbook is applied.
	runbookPolicy runbook.Policy
}

// onCall is ack-or-escalate as configured: who its timer escalates to
// (an integration, or tocsin's own plans), how a request's alternate is
// checked, and the handlers of its timer and of resolves synced there.
type onCall struct {
	name                 string
	hasTarget            func(key string) bool
	escalate, deescalate engine.Handler
}

// setup wires what needs the open store: tokens, the signing key, the
// job handlers and their worker, and the HTTP rooms.
func (a *App) setup(ctx context.Context, built *parts) error {
	if err := a.ensureTokens(ctx); err != nil {
		return err
	}
	w := &wiring{built: built, channelNames: slices.Sorted(maps.Keys(built.channels))}
	w.publicHost = a.publicHost()
	key, err := a.store.Secrets().Secret(ctx, "ack-signing-key")
	if err != nil {
		return fmt.Errorf("ack signing key: %w", err)
	}
	ttl := a.cfg.Incidents.AckLinkTTL.Std()
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	w.acks = &web.AckSigner{Key: []byte(key), PublicHost: w.publicHost, TTL: ttl, Now: a.opts.Now}
	w.metrics = api.NewMetrics(a.store.Jobs(), a.opts.Now)
	// Contacts' webhook URLs come from API-token holders: their client
	// refuses internal addresses at connect time (config.Validate has
	// checked the operator's allow-list already).
	if w.webhookGuard, err = netguard.New(a.cfg.Paging.WebhookAllowedNetworks); err != nil {
		return fmt.Errorf("paging.webhook_allowed_networks%w", err)
	}
	if err := a.store.OnCall().ArmHandOffs(ctx); err != nil {
		return fmt.Errorf("arm hand-off notifications: %w", err)
	}
	a.setupWorker(w)
	a.handler = a.routes(w)
	return nil
}

// publicHost is where messages' links point: public_host, else the
// listen address.
func (a *App) publicHost() string {
	if a.cfg.PublicHost != "" {
		return a.cfg.PublicHost
	}
	host := a.cfg.Host
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	h := "http://" + net.JoinHostPort(host, strconv.Itoa(a.cfg.Port))
	a.logger.Warn("public_host is not set; acknowledgement links point at " + h)
	return h
}

// setupWorker builds the job handlers (notifications, tocsin's own
// paging, the on-call integration) and the worker that runs them.
func (a *App) setupWorker(w *wiring) {
	cfg, o, logger := a.cfg, a.opts, a.logger
	channels := w.built.channels
	failed := func(name, result string) {
		if result == "failed" {
			w.metrics.DeliveryFailures.WithLabelValues(name).Inc()
		}
	}
	w.dispatcher = &notify.Dispatcher{
		Source: a.store.Incidents(), Channels: channels, AckURL: w.acks.URL,
		Backoff: o.Backoff, RenotifyAfter: cfg.Incidents.RenotifyAfter.Std(), Now: o.Now, Logger: logger,
		// A signed, read-only page: readable by whoever got the message,
		// without an API token (until the web console exists).
		IncidentURL: w.acks.ViewURL, Runbooks: a.store.Runbooks(),
		Observe: func(channel, result string) {
			w.metrics.Notifications.WithLabelValues(channel, result).Inc()
			failed(channel, result)
		},
	}
	pageClient := notify.GuardedHTTPClient(10*time.Second, w.webhookGuard)
	a.pager = &engage.Engine{
		Store: engageStore{a.store.Incidents(), a.store.Engagements(), a.store.OnCall()}, SMS: w.built.sms, Voice: w.built.voice, Channels: channels, PublicHost: w.publicHost, AckURL: w.acks.URL,
		MaxPerNumberPerHour: cfg.Paging.MaxPerNumberPerHour, DefaultPlan: cfg.OnCall.EscalationPlan, Backoff: o.Backoff, Now: o.Now, Logger: logger,
		Observe: failed,
		Webhook: func(u string) (notify.Channel, error) {
			return webhook.New(config.Webhook{Enable: true, URL: u}, webhook.Options{HTTPClient: pageClient, Logger: logger})
		},
	}
	// Response plans' notification targets: signed webhooks on a lane of
	// their own, through the client that refuses internal addresses.
	targets := &notify.TargetNotifier{Source: a.store.Incidents(), Plans: a.store.ResponsePlans(), IncidentURL: w.acks.ViewURL,
		Backoff: o.Backoff, Now: o.Now, Logger: logger,
		Webhook: func(u, secret string) (notify.Channel, error) {
			return webhook.New(config.Webhook{Enable: true, URL: u, Secret: secret}, webhook.Options{HTTPClient: pageClient, Now: o.Now, Logger: logger})
		},
	}
	d, pager := w.dispatcher, a.pager
	handlers := map[string]engine.Handler{
		// A claim's notifications read their incidents in one query.
		tocsin.JobNotify:      engine.WithPreload(engine.HandlerFunc(d.HandleNotify), d.Preload),
		tocsin.JobRenotify:    engine.HandlerFunc(d.HandleRenotify),
		tocsin.JobStage:       engine.HandlerFunc(pager.HandleStage),
		tocsin.JobPage:        engine.HandlerFunc(pager.HandlePage),
		tocsin.JobActivation:  engine.HandlerFunc(pager.HandleActivation),
		tocsin.JobHandOff:     engine.HandlerFunc(pager.HandleHandOff),
		tocsin.JobHandOffNote: engine.HandlerFunc(pager.HandleHandOffNote),
		tocsin.JobEngage:      engine.HandlerFunc(pager.HandleEngage),
		tocsin.JobPlanNotify:  engine.HandlerFunc(targets.HandlePlanNotify),
	}
	a.wireRunbooks(w, handlers, pager)
	w.onCall = a.wireOnCall(w, pager, failed)
	// Each instance claims only the work it can run: notifications for
	// the channels it has, escalations for its provider. Instances that
	// briefly differ (a rolling upgrade) leave each other's jobs queued.
	lanes := map[string][]string{tocsin.JobNotify: {}, tocsin.JobPlanNotify: {tocsin.PlanNotifyLane},
		tocsin.JobRunbookStep: {tocsin.RunbookLane}, tocsin.JobRunbookNotice: {tocsin.RunbookLane}, tocsin.JobRunbookWait: {tocsin.RunbookLane}}
	if w.runbookPolicy.HTTPAllow != nil {
		lanes[tocsin.JobRunbookStep] = append(lanes[tocsin.JobRunbookStep], tocsin.RunbookHTTPLane)
	}
	if w.runbookPolicy.Scripts {
		lanes[tocsin.JobRunbookStep] = append(lanes[tocsin.JobRunbookStep], tocsin.RunbookScriptLane)
	}
	for _, name := range w.channelNames {
		lanes[tocsin.JobNotify] = append(lanes[tocsin.JobNotify], tocsin.NotifyLane(name))
	}
	if oc := w.onCall; oc != nil {
		handlers[tocsin.JobEscalate], handlers[tocsin.JobDeescalate] = oc.escalate, oc.deescalate
		lanes[tocsin.JobEscalate] = []string{tocsin.EscalateLane(oc.name)}
		lanes[tocsin.JobDeescalate] = lanes[tocsin.JobEscalate]
		mode := "every firing incident"
		if !cfg.OnCall.Enable {
			mode = "only requests with oncall_enable=true (initialized_only)"
		}
		logger.Info("on-call ack-or-escalate is on", "provider", oc.name, "wait", cfg.OnCallWait().String(), "pages", mode)
	}
	a.worker = engine.NewWorker(a.store.Jobs(), handlers)
	a.worker.Now, a.worker.Logger, a.worker.Lanes, a.worker.Signal = o.Now, logger, lanes, a.signal
	a.worker.KindTimeouts = map[string]time.Duration{tocsin.JobRunbookStep: run.JobTimeout}
	if oc := w.onCall; oc != nil {
		// A provider finds the incident it already opened by its dedup key
		// (integration.Provider.Trigger): escalations run four lanes wide,
		// since one repeated after a crash opens nothing twice.
		a.worker.LaneLimits = map[string]int{tocsin.EscalateLane(oc.name): 4 * a.worker.LaneWorkers}
	}
	// A busy lane's next jobs are claimed while its workers run, so none
	// waits for a claim (BenchmarkDeliverDrain, 5,000 webhooks: SQLite
	// 3,658–5,864/s without, 6,075–7,135/s with; PostgreSQL 1,602–1,622/s
	// without, 2,955–2,964/s with): at most four lanes' worth, and only what
	// the lane starts within 20 ms at its pace — a job held here is one
	// another instance could run, and a slow lane holds none.
	a.worker.Ahead, a.worker.AheadWithin = 4*a.worker.LaneWorkers, aheadWithin
	if a.store.Dialect() == store.Postgres {
		// Outcomes in batches: a transaction and commit for many jobs. One
		// batch at a time: the outcomes that finish while it commits are
		// the next batch, so batches grow with the load (BenchmarkDeliverDrain
		// on PostgreSQL, interleaved: 1,819–2,296/s with one, 1,404–1,679/s
		// with two, 1,234–1,260/s with four; two batches in flight halve
		// each and run two commits on the same cores).
		a.worker.Completers = 1
	}
	if o.PollInterval > 0 {
		a.worker.PollInterval = o.PollInterval
	}
	a.pacer = newPacer(a.cfg.Ingest.Pace, a.worker, a.store.Jobs(), logger)
}

// newPacer builds intake's pacer from ingest.pace (engine's defaults for
// what is unset); nil when pacing is off.
func newPacer(c config.Pace, w *engine.Worker, jobs engine.DueCounter, logger *slog.Logger) *engine.Pacer {
	p := engine.NewPacer(w, jobs)
	if c.Backlog != nil {
		p.Backlog = *c.Backlog
	}
	if c.MaxWait > 0 {
		p.MaxWait = c.MaxWait.Std()
	}
	if p.Backlog <= 0 {
		return nil
	}
	if logger != nil {
		p.Logger = logger
	}
	return p
}

// aheadWithin is how soon a job claimed ahead must be expected to start
// (engine.Worker.AheadWithin): well inside the 100 ms in which an idle
// instance would have taken it.
const aheadWithin = 20 * time.Millisecond

// wireRunbooks adds the handlers of runbook steps and approvers' notices.
// tocsin:http runs only when runbooks.http.allow lists URLs and
// tocsin:script only when runbooks.scripts.enabled; an interpreter that
// is enabled but not installed is left out, with a warning.
func (a *App) wireRunbooks(w *wiring, handlers map[string]engine.Handler, pager *engage.Engine) {
	cfg, o := a.cfg, a.opts
	h := action.NewHTTP(cfg.Runbooks.HTTP, nil)
	s, missing := action.NewScript(cfg.Runbooks.Scripts)
	for _, m := range missing {
		a.logger.Warn("runbooks.scripts.interpreters names an interpreter that is not installed: its scripts are refused", "interpreter", m)
	}
	w.runbookPolicy = action.Policy(h, s)
	r := &run.Runner{Store: a.store.Runbooks(), HTTP: h, Script: s, Notify: pager.NotifyContact,
		IncidentURL: w.acks.ViewURL, Now: o.Now, Log: a.logger}
	handlers[tocsin.JobRunbookStep] = engine.HandlerFunc(r.HandleStep)
	handlers[tocsin.JobRunbookNotice] = engine.HandlerFunc(r.HandleNotice)
	handlers[tocsin.JobRunbookWait] = engine.HandlerFunc(w.dispatcher.HandleRunbookWait)
}

// slackReplies is the Slack channel that answers clicks on runbook
// buttons, nil without one.
func slackReplies(channels map[string]notify.Channel) inbound.SlackReplies {
	r, _ := channels["slack"].(inbound.SlackReplies)
	return r
}

// wireOnCall wires ack-or-escalate: its timer forwards to the configured
// integration, or, with oncall.provider tocsin, engages tocsin's own
// escalation plans itself. Nil when on-call is off.
func (a *App) wireOnCall(w *wiring, pager *engage.Engine, failed func(name, result string)) *onCall {
	cfg, o := a.cfg, a.opts
	if p := w.built.provider; p != nil {
		h := &integration.Handler{Source: a.store.Incidents(), Providers: map[string]integration.Provider{p.Name(): p},
			IncidentURL: w.dispatcher.IncidentURL, Backoff: o.Backoff, Now: o.Now, Logger: a.logger, Channels: w.channelNames,
			Observe: failed}
		return &onCall{name: p.Name(), hasTarget: p.HasTarget,
			escalate:   engine.WithPreload(engine.HandlerFunc(h.HandleEscalate), h.Preload),
			deescalate: engine.WithPreload(engine.HandlerFunc(h.HandleDeescalate), h.Preload)}
	}
	if cfg.OnCallProvider() == engage.OnCallProvider && (cfg.OnCall.Enable || cfg.OnCall.InitializedOnly) {
		return &onCall{name: engage.OnCallProvider, hasTarget: pager.HasPlan,
			escalate: engine.HandlerFunc(pager.HandleEscalate), deescalate: engine.HandlerFunc(pager.HandleDeescalate)}
	}
	return nil
}

// routes composes one mux with one room per audience: the JSON API (and
// health), the webhooks of senders and providers, and the pages behind
// signed links.
func (a *App) routes(w *wiring) http.Handler {
	cfg, o, logger := a.cfg, a.opts, a.logger
	channels := w.built.channels
	overrides := inbound.Overrides{Channels: map[string]bool{}, ChannelKeys: channelKeys(channels), AllowedDestinations: cfg.Ingest.AllowedDestinations}
	for name := range channels {
		overrides.Channels[name] = true
	}
	if oc := w.onCall; oc != nil {
		overrides.OnCall = &inbound.OnCallSetup{Enable: cfg.OnCall.Enable, Provider: oc.name, Wait: cfg.OnCallWait(), HasTarget: oc.hasTarget}
	}
	overrides.ResponsePlan = func(name string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := a.store.ResponsePlans().FindResponsePlan(ctx, name)
		return err == nil
	}
	sns := inbound.SNS{Verifier: o.SNS, Topics: cfg.Ingest.CloudWatch.TopicARNs}
	if sns.Verifier == nil && !cfg.Ingest.CloudWatch.SkipSignature {
		sns.Verifier = &ingest.SNSVerifier{Now: o.Now}
	}
	if cfg.Queue.SNS.Enable {
		sns.Path = cmp.Or(cfg.Queue.SNS.HTTPSEndpointSubscriptionPath, "/sns")
		sns.PathTopics = []string{cfg.Queue.SNS.TopicARN}
	}
	mux := http.NewServeMux()
	api.New(a.store.Incidents(), api.Options{
		Tokens: api.Tokens{Clear: cfg.API.Tokens, Hashes: a.apiTokenHashes}, MaxBodyBytes: cfg.Ingest.MaxBodyBytes,
		Health: a.store, Engagements: a.store.Engagements(), OnCall: a.store.OnCall(), Keys: a.store.Secrets(),
		ResponsePlans: a.store.ResponsePlans(),
		Channels:      overrides.Channels, ChannelKeys: overrides.ChannelKeys, WebhookGuard: w.webhookGuard,
		SendActivation: a.sendActivation, TestPage: a.testPage, PublicHost: w.publicHost, Now: o.Now, Logger: logger,
		Record: a.store.Incidents(), AttachmentMaxBytes: attachmentLimit(cfg),
		Runbooks: a.store.Runbooks(), RunbookPolicy: w.runbookPolicy,
	}).Register(mux)
	var pacer inbound.Pacer // not a nil *engine.Pacer in an interface
	if a.pacer != nil {
		pacer = a.pacer
	}
	inbound.New(a.store.Incidents(), inbound.Options{
		Tokens: api.Tokens{Clear: cfg.Ingest.Tokens, Hashes: a.ingestTokenHashes}, Open: cfg.Ingest.Open,
		MaxBodyBytes: cfg.Ingest.MaxBodyBytes, Overrides: overrides, SNS: sns, DebugBody: cfg.Alert.DebugBody,
		SlackSigningSecret: cfg.Alert.Slack.SigningSecret, TwilioAuthToken: twilioToken(cfg), Pages: a.store.Engagements(), PublicHost: w.publicHost,
		Metrics: w.metrics, Changes: a.store.Incidents(), Now: o.Now, Logger: logger,
		Runbooks: a.store.Runbooks(), Contacts: a.store.OnCall(), Slack: slackReplies(channels),
		Pacer: pacer,
	}).Register(mux)
	web.New(a.store.Incidents(), web.Options{Acks: w.acks, Runbooks: a.store.Runbooks(), Logger: logger}).Register(mux)
	if aws := cfg.AWSAPI; len(aws.Credentials) > 0 {
		creds := make([]awsapi.Credential, len(aws.Credentials))
		for i, c := range aws.Credentials {
			creds[i] = awsapi.Credential{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}
		}
		awsapi.New(a.store.Incidents(), awsapi.Options{
			Plans: a.store.ResponsePlans(), Records: awsRecords{a.store.Incidents()}, RelatedItems: awsRelated{a.store.Incidents()},
			PathPrefix: aws.PathPrefix, AccountID: aws.AccountID, Credentials: creds,
			MaxBodyBytes: cfg.Ingest.MaxBodyBytes, Now: o.Now, Logger: logger,
		}).Register(mux)
	}
	// /metrics is on the main listener, or alone on its own (metrics.listen).
	metricsMux := mux
	if cfg.Metrics.Listen != "" {
		metricsMux = http.NewServeMux()
		a.metrics = metricsMux
	}
	metricsMux.Handle("GET /metrics", api.MetricsHandler(w.metrics, cfg.Metrics.Token))
	return api.NoSniff(mux)
}

// httpShutdownGrace bounds how long requests in progress may finish once
// a shutdown starts.
const httpShutdownGrace = 5 * time.Second

// Serve runs the HTTP server on ln and the job worker until ctx ends.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
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
	pacerDone := make(chan struct{})
	go func() {
		defer close(pacerDone)
		if a.pacer != nil {
			a.pacer.Run(workerCtx)
		}
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
			<-pacerDone
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
	<-pacerDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// MetricsAddr is the address /metrics listens on when metrics.listen is
// set and the server runs, else "".
func (a *App) MetricsAddr() string {
	v, _ := a.metricsListen.Load().(string)
	return v
}

// Store is the server's database, for tests that seed or inspect state
// the API does not reach.
func (a *App) Store() *store.DB { return a.store }

// Wake makes the job worker look for due jobs now, as a commit does: tests
// that move the clock call it so the worker sees what became due.
func (a *App) Wake() { a.signal.Wake() }

// Close releases the database.
func (a *App) Close() error { return a.store.Close() }

// sendActivation creates a contact channel's activation code and queues
// its delivery through the channel.
func (a *App) sendActivation(ctx context.Context, alias, channel string) error {
	code, err := a.store.OnCall().StartActivation(ctx, alias, channel)
	if err != nil {
		return err
	}
	args, _ := json.Marshal(tocsin.ActivationArgs{Contact: alias, Channel: channel, Code: code})
	return a.store.Jobs().ScheduleJob(ctx, &tocsin.Job{Kind: tocsin.JobActivation, Lane: tocsin.JobActivation, Args: args, DueAt: a.opts.Now()})
}

// testPage pages a contact or runs an escalation plan for real, on a quiet
// incident of its own marked as a test.
func (a *App) testPage(ctx context.Context, kind, name string) (string, error) {
	open := func(ctx context.Context, title string) (string, error) {
		res, err := a.store.Incidents().Ingest(ctx, []*tocsin.Alert{{
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

// engageStore is what tocsin's own engagements read, from three aggregates:
// deliveries from the incidents, engagements and their pages, and the
// contacts and plans they page.
type engageStore struct {
	*store.Incidents
	*store.Engagements
	*store.OnCall
}

// attachmentLimit is the configured attachment limit, or the default.
func attachmentLimit(cfg *config.Config) int64 {
	if n := cfg.Incidents.AttachmentMaxBytes; n > 0 {
		return n
	}
	return tocsin.DefaultAttachmentBytes
}
