package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/config"
	"tocsin/engine"
	"tocsin/store/storetest"
)

func TestOptionsValidate(t *testing.T) {
	var o Options
	if err := o.validate(); err != nil {
		t.Fatalf("zero options: %v", err)
	}
	if o.Logger == nil || o.Now == nil || o.Backoff == nil || o.Version != "dev" {
		t.Fatalf("defaults not filled: %+v", o)
	}
	bad := Options{PollInterval: -time.Second}
	err := bad.validate()
	if tocsin.ErrorCode(err) != tocsin.EINVALID || !strings.Contains(err.Error(), "PollInterval") {
		t.Fatalf("negative PollInterval: %v; want EINVALID naming PollInterval", err)
	}
	if _, err := New(t.Context(), config.Default(), bad); tocsin.ErrorCode(err) != tocsin.EINVALID {
		t.Fatalf("New with bad options: %v", err)
	}
}

// TestChannelPluginsNameEveryChannelOnce enables each channel block of
// config.Alert in turn and expects exactly one plugin, under that block's
// key, to be enabled by it: a new channel in the configuration cannot be
// forgotten here, nor listed twice.
func TestChannelPluginsNameEveryChannelOnce(t *testing.T) {
	alert := reflect.TypeFor[config.Alert]()
	seen := map[string]bool{}
	for i := range alert.NumField() {
		f := alert.Field(i)
		if f.Type.Kind() != reflect.Struct {
			continue
		}
		if _, ok := f.Type.FieldByName("Enable"); !ok {
			continue
		}
		key := "alert." + strings.Split(f.Tag.Get("yaml"), ",")[0]
		cfg := config.Default()
		reflect.ValueOf(&cfg.Alert).Elem().Field(i).FieldByName("Enable").SetBool(true)
		var on []string
		for _, c := range channelPlugins {
			if c.enabled(cfg) {
				on = append(on, c.key)
			}
		}
		if len(on) != 1 || on[0] != key {
			t.Errorf("enabling %s enables plugins %v; want exactly [%s]", key, on, key)
		}
		seen[key] = true
	}
	for _, c := range channelPlugins {
		if !seen[c.key] {
			t.Errorf("plugin %s is not a channel block of config.Alert", c.key)
		}
	}
	if len(channelPlugins) != len(seen) {
		t.Errorf("%d channel plugins for %d channel blocks", len(channelPlugins), len(seen))
	}
}

// TestIntegrationsAreKnownProviders checks every integration is an
// oncall.provider the configuration accepts, once.
func TestIntegrationsAreKnownProviders(t *testing.T) {
	names := map[string]bool{}
	for _, in := range integrations {
		if names[in.name] {
			t.Errorf("integration %s listed twice", in.name)
		}
		names[in.name] = true
		cfg := config.Default()
		cfg.OnCall.Provider = in.name
		for _, p := range cfg.Validate() {
			if strings.HasPrefix(p, "oncall.provider") {
				t.Errorf("integration %s: %s", in.name, p)
			}
		}
	}
	cfg := config.Default()
	cfg.OnCall.Provider = "no-such-provider"
	if probs := cfg.Validate(); !strings.Contains(strings.Join(probs, "\n"), "oncall.provider") {
		t.Fatalf("an unknown provider passes config.Validate (%v): this test proves nothing", probs)
	}
}

// TestNewServesAndCloses builds a server on a fresh SQLite file with no
// configuration and no tokens: it generates the credentials file, serves
// the database through Store, and Close releases it.
func TestNewServesAndCloses(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Database = storetest.SQLiteURL(t)
	a, err := New(t.Context(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "credentials")); err != nil {
		t.Errorf("no credentials file for the generated tokens: %v", err)
	}
	if _, _, err := a.Store().Incidents().ListIncidents(context.Background(), tocsin.IncidentFilter{}); err != nil {
		t.Errorf("store: %v", err)
	}
	a.Wake() // never blocks, even before Serve
	a.Wake()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestNewRefusesWhatCheckRefuses: New builds what Check builds, so a
// channel that cannot be built stops it with the same problem.
func TestNewRefusesWhatCheckRefuses(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Database = storetest.SQLiteURL(t)
	cfg.Alert.Slack = config.Slack{Enable: true, Token: "xoxb-1", ChannelID: "C1", TemplatePath: filepath.Join(t.TempDir(), "missing.tmpl")}
	_, err := New(t.Context(), cfg, Options{})
	var probs config.Problems
	if !errors.As(err, &probs) || !strings.HasPrefix(probs[0], "alert.slack") {
		t.Fatalf("New: %v; want a problem of alert.slack", err)
	}
	_, err = checkSetup(t.Context(), cfg, nil)
	if err == nil || err.Error() != probs.Error() {
		t.Fatalf("checkSetup: %v; want the same problems as New (%v)", err, probs)
	}
}

// TestPacerFromConfig: ingest.pace unset is engine's defaults, backlog 0
// turns pacing off, and each key overrides its default.
func TestPacerFromConfig(t *testing.T) {
	w := engine.NewWorker(nil, nil)
	if p := newPacer(config.Pace{}, w, nil, nil); p == nil || p.Backlog != engine.DefaultPaceBacklog || p.MaxWait != engine.DefaultPaceMaxWait {
		t.Fatalf("unset ingest.pace: %+v; want engine's defaults", p)
	}
	zero, n := 0, 40
	if p := newPacer(config.Pace{Backlog: &zero}, w, nil, nil); p != nil {
		t.Fatalf("ingest.pace.backlog 0: a pacer %+v; want none", p)
	}
	p := newPacer(config.Pace{Backlog: &n, MaxWait: tocsin.Duration(time.Second)}, w, nil, nil)
	if p == nil || p.Backlog != 40 || p.MaxWait != time.Second {
		t.Fatalf("ingest.pace {backlog: 40, max_wait: 1s}: %+v", p)
	}
}
