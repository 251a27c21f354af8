package store_test

import (
	"context"
	"strings"
	"testing"

	"tocsin/store"
)

// Every form a database URL can carry a password in is redacted, and what
// is not secret stays readable.
func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, keep string }{
		{"postgres://tocsin:hunter2@db:5432/tocsin?sslmode=require", "postgres://tocsin:xxxxx@db:5432/tocsin?sslmode=require"},
		{"postgres://tocsin@db/tocsin?password=hunter2&sslmode=disable", "sslmode=disable"},
		{"postgresql://db/tocsin?sslpassword=hunter2&sslkey=/k.pem", "sslkey="},
		{"postgres://tocsin@db/tocsin?PassWord=hunter2", "postgres://tocsin@db/tocsin"},
		{"host=db user=tocsin password=hunter2 dbname=tocsin", "host=db user=tocsin password=xxxxx dbname=tocsin"},
		{"host=db password='hunter2 with spaces' sslpassword = hunter2", "host=db"},
		{"postgres://tocsin:hun%zzter2@db/tocsin", "@db/tocsin"}, // not a parseable URL
		{"data/tocsin.db", "data/tocsin.db"},
		{"sqlite:///var/lib/tocsin/tocsin.db?_pragma=busy_timeout(5000)", "sqlite:///var/lib/tocsin/tocsin.db?_pragma=busy_timeout(5000)"},
	} {
		got := store.RedactURL(tc.in)
		if strings.Contains(got, "hunter2") || strings.Contains(got, "hun%zz") || !strings.Contains(got, tc.keep) {
			t.Errorf("RedactURL(%q) = %q, want it to keep %q and hide the password", tc.in, got, tc.keep)
		}
	}
}

// The open error never echoes the URL's password, whatever its form.
func TestOpenErrorRedacted(t *testing.T) {
	for _, u := range []string{
		"postgres://postgres:hunter2@127.0.0.1:1/test?sslmode=disable&connect_timeout=2",
		"postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2&password=hunter2",
		"postgres://postgres@127.0.0.1:1/test?sslmode=bogus&password=hunter2",
	} {
		_, err := store.Open(context.Background(), u, store.Options{})
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q): %v", store.RedactURL(u), err)
		}
	}
}
