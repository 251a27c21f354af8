package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tocsin/apptest"
	"tocsin/config"
	"tocsin/store/storetest"
)

// credentials reads DATA_DIR/credentials into a map.
func credentials(t *testing.T, dir string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "credentials"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			m[k] = v
		}
	}
	return m
}

// Generated tokens reach the operator through DATA_DIR/credentials, the
// database keeps only their hashes, and the API and intake accept them —
// after a restart too, and after an older database's clear tokens were
// migrated to hashes.
func TestGeneratedTokensHashed(t *testing.T) {
	dbURL, dir := storetest.SQLiteURL(t), t.TempDir()
	noTokens := func(c *config.Config) { c.API.Tokens, c.Ingest.Tokens, c.DataDir = nil, nil, dir }
	check := func(ts *apptest.Server, creds map[string]string) {
		t.Helper()
		apiTok, ingTok := creds["TOCSIN_API_TOKEN"], creds["TOCSIN_INGEST_TOKEN"]
		if len(apiTok) == 0 || len(ingTok) == 0 {
			t.Fatalf("credentials: %v", creds)
		}
		if status, body := ts.Post(t, "/api/v1/alerts/generic", ingTok, `{"title":"x"}`); status >= 300 {
			t.Fatalf("intake with the generated token: %d %v", status, body)
		}
		// A PagerDuty sender authenticates with the generated token as its routing_key.
		pd := `{"routing_key":"` + ingTok + `","event_action":"trigger","payload":{"summary":"disk full","source":"srv01","severity":"critical"}}`
		if status, body := ts.Post(t, "/v2/enqueue", "", pd); status != http.StatusAccepted {
			t.Fatalf("PagerDuty event with the generated token as routing_key: %d %v", status, body)
		}
		req, _ := http.NewRequest("GET", ts.URL+"/api/v1/incidents", nil)
		req.Header.Set("Authorization", "Bearer "+apiTok)
		if status, body := apptest.Do(t, req); status != 200 {
			t.Fatalf("API with the generated token: %d %v", status, body)
		}
		if status, _ := ts.Post(t, "/api/v1/alerts/generic", "wrong", `{"title":"x"}`); status != http.StatusUnauthorized {
			t.Fatalf("intake with a wrong token: %d", status)
		}
		rows, err := ts.App.Store().SQL().Query(`SELECT name, value FROM settings`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var name, value string
			rows.Scan(&name, &value)
			if value == apiTok || value == ingTok || name == "api-token" || name == "ingest-token" {
				t.Errorf("settings hold a clear token: %s", name)
			}
		}
	}

	ts := apptest.Start(t, dbURL, noTokens)
	creds := credentials(t, dir)
	check(ts, creds)
	ts.App.Close()

	ts = apptest.Start(t, dbURL, noTokens)
	if again := credentials(t, dir); again["TOCSIN_API_TOKEN"] != creds["TOCSIN_API_TOKEN"] {
		t.Fatalf("credentials changed on restart: %v", again)
	}
	check(ts, creds)

	// An older version kept the tokens in clear.
	ts.App.Close()
	old := storetest.SQLiteURL(t)
	ts = apptest.Start(t, old, func(c *config.Config) { c.DataDir = t.TempDir() })
	db := ts.App.Store().SQL()
	db.Exec(`INSERT INTO settings (name, value) VALUES ('api-token', 'old-api-token'), ('ingest-token', 'old-ingest-token')`)
	ts.App.Close()
	os.Remove(filepath.Join(dir, "credentials"))
	ts = apptest.Start(t, old, noTokens)
	check(ts, map[string]string{"TOCSIN_API_TOKEN": "old-api-token", "TOCSIN_INGEST_TOKEN": "old-ingest-token"})
	if c := credentials(t, dir); c["TOCSIN_API_TOKEN"] != "old-api-token" {
		t.Fatalf("migrated credentials: %v", c)
	}
}
