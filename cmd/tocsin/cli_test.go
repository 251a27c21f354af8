package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tocsin/apptest"
	"tocsin/store/storetest"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, &out, &errOut)
	return out.String() + errOut.String(), err
}

func TestCLIIncidentCommands(t *testing.T) {
	ts := apptest.Start(t, storetest.SQLiteURL(t), nil)
	_, body := ts.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"payments down","severity":"critical","dedup_key":"pay"}`)
	id := apptest.FirstID(t, body)
	env := map[string]string{"TOCSIN_API_TOKEN": apptest.APIToken, "TOCSIN_SERVER": ts.URL, "USER": "dana"}

	out, err := runCLI(t, env, "incident", "list")
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "payments down") || !strings.Contains(out, "triggered") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err = runCLI(t, env, "incident", "ack", id); err != nil || !strings.Contains(out, "acknowledged") {
		t.Fatalf("ack: %v\n%s", err, out)
	}
	if out, err = runCLI(t, env, "incident", "ack", id); err != nil || !strings.Contains(out, "already acknowledged") {
		t.Fatalf("second ack: %v\n%s", err, out)
	}
	if out, err = runCLI(t, env, "incident", "note", id, "rolled back"); err != nil {
		t.Fatalf("note: %v\n%s", err, out)
	}
	if out, err = runCLI(t, env, "incident", "resolve", id); err != nil || !strings.Contains(out, "resolved") {
		t.Fatalf("resolve: %v\n%s", err, out)
	}
	out, err = runCLI(t, env, "incident", "show", id)
	if err != nil || !strings.Contains(out, "dana via api") || !strings.Contains(out, "rolled back") || !strings.Contains(out, "resolved") {
		t.Fatalf("show: %v\n%s", err, out)
	}
	if out, err = runCLI(t, env, "incident", "list", "--status", "open", "--json"); err != nil || !strings.Contains(out, `"incidents": []`) {
		t.Fatalf("list open json: %v\n%s", err, out)
	}
	if _, err = runCLI(t, map[string]string{"TOCSIN_SERVER": ts.URL, "TOCSIN_API_TOKEN": "wrong"}, "incident", "list"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("bad token: %v", err)
	}
	if _, err = runCLI(t, env, "incident", "show", "nope"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("unknown incident: %v", err)
	}
}

func TestCLIConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("port: 3001\nredis: {host: x}\n"), 0o600)
	out, err := runCLI(t, nil, "config", "check", "--config", good)
	if err != nil || !strings.Contains(out, "OK") || !strings.Contains(out, "unused: redis") {
		t.Fatalf("good config: %v\n%s", err, out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("alert:\n  slack:\n    enable: true\n    chanel_id: C1\n"), 0o600)
	_, err = runCLI(t, nil, "config", "check", "--config", bad)
	if err == nil || !strings.Contains(err.Error(), "alert.slack.chanel_id: unknown key") || !strings.Contains(err.Error(), "alert.slack.token: required") {
		t.Fatalf("bad config: %v", err)
	}
	if _, err = runCLI(t, map[string]string{"TOCSIN_CONFIG": filepath.Join(dir, "missing.yaml")}, "config", "check"); err == nil {
		t.Fatal("missing file accepted")
	}
	if out, err = runCLI(t, nil, "version"); err != nil || !strings.HasPrefix(out, "tocsin ") {
		t.Fatalf("version: %v %s", err, out)
	}
}
