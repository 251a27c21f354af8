package tocsinproc

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildTocsin builds the real binary once per test run.
func buildTocsin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds tocsin")
	}
	bin := filepath.Join(t.TempDir(), "tocsin")
	cmd := exec.Command("go", "build", "-o", bin, "tocsin/cmd/tocsin")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestStartStop(t *testing.T) {
	bin := buildTocsin(t)
	dir := t.TempDir()
	s, err := Start(context.Background(), Options{Bin: bin, Dir: dir, Database: "sqlite://" + filepath.Join(dir, "t.db"),
		Config: "log: {level: warn}\ningest: {tokens: [\"i\"]}\napi: {tokens: [\"a\"]}\n"})
	if err != nil {
		t.Fatal(err)
	}
	if s.StartUp() <= 0 || s.StartUp() > time.Minute || s.PID <= 0 {
		t.Fatalf("start-up %v, pid %d", s.StartUp(), s.PID)
	}
	resp, err := http.Get(s.URL + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	s.Stop()
	if !s.Exited() {
		t.Fatal("still running after Stop")
	}
	if _, err := http.Get(s.URL + "/healthz"); err == nil {
		t.Fatal("still answering after Stop")
	}
}

func TestStartFails(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "fake-tocsin")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho 'configuration: boom' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Start(context.Background(), Options{Bin: bin, Dir: dir, Database: "x", ReadyTimeout: 5 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "configuration: boom") {
		t.Fatalf("err = %v", err)
	}
}
