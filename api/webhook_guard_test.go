package api

import (
	"strings"
	"testing"

	"tocsin/netguard"
)

// webhookContact is a contact whose second channel is a webhook to url.
func webhookContact(url string) string {
	return `{"name":"Alice","channels":[{"name":"work","type":"email","address":"alice@example.com"},
		{"name":"hook","type":"webhook","address":"` + url + `"}]}`
}

func TestContactWebhookPrivateAddressRefused(t *testing.T) {
	e := newOnCallEnv(t)
	for _, url := range []string{
		"http://127.0.0.1:8080/hook", "http://[::1]/hook", "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/latest/meta-data/",
		"http://0.0.0.0/", "http://[::]/", "http://10.1.2.3/?token=s3cret", "http://192.168.1.1/", "http://100.64.0.1/",
		"http://[fd00::1]/", "http://localhost:9000/hook", "http://LOCALHOST./hook",
	} {
		e.fails(400, "PUT", "/api/v1/contacts/alice", webhookContact(url), "channels[1].address", "paging.webhook_allowed_networks")
		if _, out := e.call("PUT", "/api/v1/contacts/alice", webhookContact(url)); strings.Contains(out, "s3cret") {
			t.Fatalf("the error echoes the URL's secret: %s", out)
		}
		// Nothing was stored.
		e.fails(404, "GET", "/api/v1/contacts/alice", "", "not found")
	}
	// Public addresses and names are saved; a name is judged when dialled.
	e.must(201, "PUT", "/api/v1/contacts/alice", webhookContact("https://hooks.example.com/tocsin"))
	e.must(200, "PUT", "/api/v1/contacts/alice", webhookContact("https://93.184.216.34/tocsin"))
	// An update to an internal address is refused and keeps the old one.
	e.fails(400, "PUT", "/api/v1/contacts/alice", webhookContact("http://127.0.0.1/"), "channels[1].address")
	got := e.must(200, "GET", "/api/v1/contacts/alice", "")
	if ch := got["contact"].(map[string]any)["channels"].([]any)[1].(map[string]any); ch["address"] != "https://93.184.216.34/tocsin" {
		t.Fatalf("stored webhook after a refused update: %v", ch)
	}
}

func TestContactWebhookPrivateAllowedByOperator(t *testing.T) {
	guard, err := netguard.New([]string{"127.0.0.0/8", "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	e := newOnCallEnv(t, func(o *Options) { o.WebhookGuard = guard })
	e.must(201, "PUT", "/api/v1/contacts/alice", webhookContact("http://127.0.0.1:8080/hook"))
	e.must(200, "PUT", "/api/v1/contacts/alice", webhookContact("http://localhost:8080/hook"))
	e.must(200, "PUT", "/api/v1/contacts/alice", webhookContact("http://10.1.2.3/hook"))
	e.fails(400, "PUT", "/api/v1/contacts/alice", webhookContact("http://169.254.169.254/"), "channels[1].address", "link-local")
}
