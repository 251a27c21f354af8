package notifytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"tocsin"
	"tocsin/notify"
)

// refChannel is a minimal HTTP channel used to test the checks themselves.
// Its flaws are switched on one at a time to prove each check can fail.
type refChannel struct {
	url    string
	client *http.Client
	flaw   string
}

const secret = "s3cret-token"

func (c *refChannel) Name() string { return "ref" }

func (c *refChannel) Send(ctx context.Context, msg *notify.Message) (string, error) {
	// The text a chat channel would send, within a 2000-character limit.
	text := msg.Incident.Title + "\n" + tocsin.Truncate(msg.Alert.Description, 1000) + "\n" + msg.AckURL
	if c.flaw == "cut-text" {
		text = tocsin.Truncate(msg.Incident.Title+"\n"+msg.Alert.Description+"\n"+msg.AckURL, 2000)
	}
	body, _ := json.Marshal(map[string]string{"text": text})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		if c.flaw == "leak" || c.flaw == "permanent-network" {
			if c.flaw == "permanent-network" {
				return "", notify.Permanent(notify.Redact(err, c.url))
			}
			return "", err
		}
		return "", notify.Redact(err, c.url)
	}
	defer resp.Body.Close()
	err = notify.CheckResponse(resp)
	switch c.flaw {
	case "ignore-status":
		return "ok", nil
	case "all-permanent":
		if err != nil {
			return "", notify.Permanent(err)
		}
	case "all-retryable":
		if err != nil {
			return "", errors.New(err.Error())
		}
	case "leak":
		if err != nil {
			return "", fmt.Errorf("post %s: %w", c.url, err)
		}
	case "ref-leak":
		return "ref-" + secret, err
	}
	return "", err
}

func harness(flaw string, timeout time.Duration) Harness {
	return Harness{
		New: func(t *testing.T, baseURL string) notify.Channel {
			client := &http.Client{Timeout: timeout}
			if flaw == "no-timeout" {
				client = &http.Client{}
			}
			return &refChannel{url: baseURL + "/hook?token=" + secret, client: client, flaw: flaw}
		},
		Timeout: timeout,
		Secrets: []string{secret},
	}
}

func TestRunPassesACorrectChannel(t *testing.T) {
	Run(t, harness("", 200*time.Millisecond))
}

// TestChecksCanFail runs each check against a channel with one flaw and
// expects that check to report it.
func TestChecksCanFail(t *testing.T) {
	old := outerGrace
	outerGrace = 3 * time.Second
	t.Cleanup(func() { outerGrace = old })

	byName := map[string]func(*testing.T, Harness) error{}
	for _, c := range checks {
		byName[c.name] = c.run
	}
	tests := []struct {
		flaw, check, want string
	}{
		{"ignore-status", "server_error_500_is_retryable", "returned nil error"},
		{"ignore-status", "unauthorized_401_is_permanent", "returned nil error"},
		{"all-permanent", "server_error_500_is_retryable", "permanent = true, want false"},
		{"all-permanent", "rate_limited_429_honours_retry_after", "RetryAfter = 0s, want 7s"},
		{"all-retryable", "forbidden_403_is_permanent", "permanent = false, want true"},
		{"all-retryable", "rate_limited_429_honours_retry_after", "RetryAfter = 0s, want 7s"},
		{"leak", "bad_request_400_is_permanent", "leaks secret"},
		{"leak", "unreachable_server_is_retryable", "leaks secret"},
		{"permanent-network", "unreachable_server_is_retryable", "network error classified permanent"},
		{"ref-leak", "ok", "returned ref leaks secret"},
		{"no-timeout", "hanging_server_times_out_retryable", "want at most"},
		{"cut-text", "long_description_keeps_ack_link", "cost the ack link"},
	}
	for _, tt := range tests {
		t.Run(tt.flaw+"/"+tt.check, func(t *testing.T) {
			run := byName[tt.check]
			if run == nil {
				t.Fatalf("no check %q", tt.check)
			}
			err := run(t, harness(tt.flaw, 200*time.Millisecond))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("check %s on a channel with flaw %q: got %v, want an error containing %q", tt.check, tt.flaw, err, tt.want)
			}
		})
	}
}

func TestSampleMessage(t *testing.T) {
	for _, ev := range []string{notify.EventOpened, notify.EventRenotify, notify.EventAcknowledged, notify.EventResolved} {
		msg := SampleMessage(ev)
		triggered := ev == notify.EventOpened || ev == notify.EventRenotify
		if (msg.AckURL != "") != triggered {
			t.Errorf("%s: AckURL = %q", ev, msg.AckURL)
		}
		if (msg.Incident.Status == "triggered") != triggered {
			t.Errorf("%s: incident status %q", ev, msg.Incident.Status)
		}
	}
}
