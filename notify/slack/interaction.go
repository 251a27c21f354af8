package slack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"tocsin"
)

// MaxRequestAge is how far a request's X-Slack-Request-Timestamp may be from
// now, in either direction, before VerifyRequest rejects it as a replay.
const MaxRequestAge = 5 * time.Minute

// VerifyRequest checks Slack's request signature: X-Slack-Signature must be
// "v0=" + hex(HMAC-SHA256(signingSecret, "v0:" + timestamp + ":" + body)),
// compared in constant time, and X-Slack-Request-Timestamp must be within
// MaxRequestAge of now. Errors have code tocsin.EUNAUTHORIZED.
func VerifyRequest(signingSecret string, header http.Header, body []byte, now time.Time) error {
	if signingSecret == "" {
		return tocsin.Errorf(tocsin.EUNAUTHORIZED, "slack signing secret is not configured")
	}
	ts := header.Get("X-Slack-Request-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return tocsin.Errorf(tocsin.EUNAUTHORIZED, "missing or invalid X-Slack-Request-Timestamp")
	}
	if age := now.Sub(time.Unix(sec, 0)); age > MaxRequestAge || age < -MaxRequestAge {
		return tocsin.Errorf(tocsin.EUNAUTHORIZED, "slack request timestamp is too far from now")
	}
	got := header.Get("X-Slack-Signature")
	if !strings.HasPrefix(got, "v0=") {
		return tocsin.Errorf(tocsin.EUNAUTHORIZED, "missing or invalid X-Slack-Signature")
	}
	mac := hmac.New(sha256.New, []byte(signingSecret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	want := "v0=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(got), []byte(want)) {
		return tocsin.Errorf(tocsin.EUNAUTHORIZED, "slack signature mismatch")
	}
	return nil
}

// Interaction is a click on a message's Acknowledge button.
type Interaction struct {
	IncidentID  string
	UserID      string
	UserName    string
	ResponseURL string
	ChannelID   string
	MessageTS   string
}

// interactionPayload is the part of Slack's block_actions payload tocsin reads.
type interactionPayload struct {
	Type string `json:"type"`
	User struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Name     string `json:"name"`
	} `json:"user"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	Container struct {
		ChannelID string `json:"channel_id"`
		MessageTS string `json:"message_ts"`
	} `json:"container"`
	Message struct {
		TS string `json:"ts"`
	} `json:"message"`
	ResponseURL string `json:"response_url"`
	Actions     []struct {
		ActionID string `json:"action_id"`
		Value    string `json:"value"`
	} `json:"actions"`
}

// ParseInteraction parses the form-encoded body of a Slack interactivity
// request (its `payload` field) and returns the acknowledge action. ok is
// false, with a nil error, for any other interaction, including a click on
// the "Open ack link" URL button. Malformed bodies give an error with code
// tocsin.EINVALID. Call VerifyRequest first.
func ParseInteraction(body []byte) (*Interaction, bool, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, false, tocsin.Errorf(tocsin.EINVALID, "slack interaction: invalid form body")
	}
	raw := form.Get("payload")
	if raw == "" {
		return nil, false, tocsin.Errorf(tocsin.EINVALID, "slack interaction: missing payload")
	}
	var p interactionPayload
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return nil, false, tocsin.Errorf(tocsin.EINVALID, "slack interaction: invalid payload JSON")
	}
	if p.Type != "block_actions" {
		return nil, false, nil
	}
	for _, a := range p.Actions {
		if a.ActionID != AckActionID {
			continue
		}
		if a.Value == "" {
			return nil, false, tocsin.Errorf(tocsin.EINVALID, "slack interaction: acknowledge action without an incident ID")
		}
		in := &Interaction{
			IncidentID:  a.Value,
			UserID:      p.User.ID,
			UserName:    firstNonEmpty(p.User.Username, p.User.Name, p.User.ID),
			ResponseURL: p.ResponseURL,
			ChannelID:   firstNonEmpty(p.Container.ChannelID, p.Channel.ID),
			MessageTS:   firstNonEmpty(p.Container.MessageTS, p.Message.TS),
		}
		return in, true, nil
	}
	return nil, false, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
