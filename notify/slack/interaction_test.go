package slack_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"tocsin"
	"tocsin/notify/slack"
)

func sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

func TestVerifyRequest(t *testing.T) {
	body := []byte("payload=%7B%7D")
	now := time.Unix(1531420618, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	header := func(ts, sig string) http.Header {
		h := http.Header{}
		h.Set("X-Slack-Request-Timestamp", ts)
		h.Set("X-Slack-Signature", sig)
		return h
	}
	good := sign(signingSecret, ts, body)
	tests := []struct {
		name    string
		secret  string
		header  http.Header
		body    []byte
		now     time.Time
		wantErr bool
	}{
		{"valid", signingSecret, header(ts, good), body, now, false},
		{"valid, 4 minutes old", signingSecret, header(ts, good), body, now.Add(4 * time.Minute), false},
		{"older than 5 minutes", signingSecret, header(ts, good), body, now.Add(5*time.Minute + time.Second), true},
		{"from the future", signingSecret, header(ts, good), body, now.Add(-6 * time.Minute), true},
		{"tampered body", signingSecret, header(ts, good), []byte("payload=%7B%7D%20"), now, true},
		{"timestamp swapped", signingSecret, header(strconv.FormatInt(now.Unix()+1, 10), good), body, now, true},
		{"wrong secret", "other", header(ts, good), body, now, true},
		{"no v0 prefix", signingSecret, header(ts, good[3:]), body, now, true},
		{"missing timestamp", signingSecret, header("", good), body, now, true},
		{"missing signature", signingSecret, header(ts, ""), body, now, true},
		{"no secret configured", "", header(ts, sign("", ts, body)), body, now, true},
	}
	for _, tt := range tests {
		err := slack.VerifyRequest(tt.secret, tt.header, tt.body, tt.now)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: err = %v, wantErr %v", tt.name, err, tt.wantErr)
		}
		if err != nil && tocsin.ErrorCode(err) != tocsin.EUNAUTHORIZED {
			t.Errorf("%s: code = %s", tt.name, tocsin.ErrorCode(err))
		}
	}
}

func form(payload string) []byte {
	return []byte(url.Values{"payload": {payload}}.Encode())
}

const ackPayload = `{
  "type": "block_actions",
  "user": {"id": "U123", "username": "alice", "name": "alice", "team_id": "T1"},
  "api_app_id": "A1",
  "container": {"type": "message", "message_ts": "123.456", "attachment_id": 1, "channel_id": "C1", "is_ephemeral": false},
  "channel": {"id": "C1", "name": "alerts"},
  "message": {"ts": "123.456", "text": ""},
  "response_url": "https://hooks.slack.com/actions/T1/1/abc",
  "actions": [{"action_id": "tocsin_ack", "block_id": "tocsin_actions", "text": {"type": "plain_text", "text": "Acknowledge"}, "value": "inc_01", "type": "button", "action_ts": "1"}]
}`

func TestParseInteraction(t *testing.T) {
	in, ok, err := slack.ParseInteraction(form(ackPayload))
	if err != nil || !ok {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	want := slack.Interaction{IncidentID: "inc_01", UserID: "U123", UserName: "alice", ResponseURL: "https://hooks.slack.com/actions/T1/1/abc", ChannelID: "C1", MessageTS: "123.456"}
	if *in != want {
		t.Errorf("got %+v, want %+v", *in, want)
	}

	notAck := []string{
		`{"type":"block_actions","actions":[{"action_id":"tocsin_ack_link","value":"inc_01"}]}`,
		`{"type":"block_actions","actions":[]}`,
		`{"type":"view_submission"}`,
		`{"type":"interactive_message","actions":[{"action_id":"tocsin_ack","value":"inc_01"}]}`,
	}
	for _, p := range notAck {
		if in, ok, err := slack.ParseInteraction(form(p)); ok || err != nil || in != nil {
			t.Errorf("%s: got %v %v %v, want not ok", p, in, ok, err)
		}
	}

	invalid := [][]byte{
		[]byte("%zz"),
		[]byte("other=1"),
		form("not json"),
		form(`{"type":"block_actions","actions":[{"action_id":"tocsin_ack","value":""}]}`),
	}
	for _, b := range invalid {
		_, ok, err := slack.ParseInteraction(b)
		if ok || tocsin.ErrorCode(err) != tocsin.EINVALID {
			t.Errorf("%q: ok=%v err=%v, want EINVALID", b, ok, err)
		}
	}
}

func FuzzParseInteraction(f *testing.F) {
	f.Add(form(ackPayload))
	f.Add(form(`{"type":"block_actions","actions":[{"action_id":"tocsin_ack"}]}`))
	f.Add([]byte("payload=%7B"))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, ok, err := slack.ParseInteraction(body)
		if ok && (in == nil || in.IncidentID == "" || err != nil) {
			t.Fatalf("ok with %+v, %v", in, err)
		}
		if !ok && in != nil {
			t.Fatalf("not ok but interaction %+v", in)
		}
	})
}
