package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"tocsin/app"
	"tocsin/config"
	"tocsin/store/storetest"
)

// A password given as ?password= (or in the user info) never reaches
// `config check` output nor the "tocsin ready" line.
func TestDatabasePasswordRedacted(t *testing.T) {
	for _, u := range []string{"postgres://tocsin@db.example/tocsin?password=hunter2&sslmode=require", "postgres://tocsin:hunter2@db.example/tocsin"} {
		out, err := runCLI(t, map[string]string{"TOCSIN_DATABASE_URL": u}, "config", "check")
		if err != nil || !strings.Contains(out, "db.example/tocsin") || strings.Contains(out, "hunter2") {
			t.Errorf("config check with %s: %v\n%s", u, err, out)
		}
	}

	dbURL := storetest.PostgresURL(t) + "&password=hunter2"
	var logs bytes.Buffer
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Database = dbURL
	a, err := app.New(context.Background(), cfg, app.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if !strings.Contains(logs.String(), "tocsin ready") || strings.Contains(logs.String(), "hunter2") {
		t.Errorf("logs:\n%s", logs.String())
	}
}
