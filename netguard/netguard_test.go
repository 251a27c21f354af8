package netguard

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestReasonSSRFAddresses(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		blocked string // a word of the reason; "" when allowed
	}{
		{"127.0.0.1", "loopback"},
		{"127.8.9.10", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"0.1.2.3", "this network"},
		{"169.254.169.254", "link-local"},
		{"::ffff:169.254.169.254", "link-local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"10.0.0.1", "private"},
		{"172.16.5.4", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"::ffff:10.1.2.3", "private"},
		{"fd00::1", "private"},
		{"fc00::1", "private"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.254", "carrier-grade NAT"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"ff02::1", "multicast"},
		{"ff05::2", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"240.0.0.1", "reserved"},
		{"198.18.0.1", "benchmarking"},
		{"::127.0.0.1", "IPv4-compatible"},
		{"64:ff9b::a9fe:a9fe", "NAT64"},
		{"fec0::1", "site-local"},
		// Public addresses may be reached.
		{"1.1.1.1", ""},
		{"8.8.8.8", ""},
		{"93.184.216.34", ""},
		{"100.63.255.255", ""},
		{"100.128.0.1", ""},
		{"172.15.0.1", ""},
		{"172.32.0.1", ""},
		{"::ffff:8.8.8.8", ""},
		{"2606:4700:4700::1111", ""},
		{"2001:4860:4860::8888", ""},
	} {
		got := Reason(netip.MustParseAddr(tc.addr))
		if tc.blocked == "" && got != "" {
			t.Errorf("%s: refused as %q, want allowed", tc.addr, got)
		}
		if tc.blocked != "" && !strings.Contains(got, tc.blocked) {
			t.Errorf("%s: reason %q, want one naming %q", tc.addr, got, tc.blocked)
		}
	}
	if Reason(netip.Addr{}) == "" {
		t.Error("the zero address is allowed")
	}
}

func TestGuardAllowedNetworksPrivate(t *testing.T) {
	g, err := New([]string{"10.0.0.0/8", " 127.0.0.1/32 ", "::ffff:192.168.0.0/112", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"10.9.8.7": true, "::ffff:10.9.8.7": true, "127.0.0.1": true, "127.0.0.2": false,
		"192.168.3.4": true, "fd12::1": true, "fc00::1": false, "169.254.169.254": false, "::1": false,
		"8.8.8.8": true,
	} {
		err := g.Check(netip.MustParseAddr(addr))
		if (err == nil) != want {
			t.Errorf("%s: allowed %v, want %v (%v)", addr, err == nil, want, err)
		}
		var be *BlockedError
		if err != nil && (!errors.As(err, &be) || !strings.Contains(err.Error(), "paging.webhook_allowed_networks")) {
			t.Errorf("%s: error %v is not a BlockedError naming the key", addr, err)
		}
	}
	// The zero Guard and a nil one allow public addresses only.
	for _, g := range []*Guard{{}, nil} {
		if g.Check(netip.MustParseAddr("127.0.0.1")) == nil || g.Check(netip.MustParseAddr("8.8.8.8")) != nil {
			t.Errorf("guard %v: wrong default", g)
		}
	}
	for _, bad := range []string{"10.0.0.0", "10.0.0.0/33", "localhost", ""} {
		if _, err := New([]string{"8.8.8.0/24", bad}); err == nil || !strings.HasPrefix(err.Error(), "[1]: ") {
			t.Errorf("New(%q): %v, want an error naming index 1", bad, err)
		}
	}
}

func TestGuardControlSSRF(t *testing.T) {
	g := &Guard{}
	for address, ok := range map[string]bool{
		"127.0.0.1:80": false, "[::1]:443": false, "[::ffff:127.0.0.1]:80": false, "169.254.169.254:80": false,
		"0.0.0.0:8080": false, "[::]:80": false, "93.184.216.34:443": true, "[2606:4700:4700::1111]:443": true,
		"not-an-address:80": false,
	} {
		if err := g.Control("tcp", address, nil); (err == nil) != ok {
			t.Errorf("Control(%s): %v, want allowed %v", address, err, ok)
		}
	}
}

func TestGuardCheckURLWebhook(t *testing.T) {
	g := &Guard{}
	for raw, ok := range map[string]bool{
		"http://127.0.0.1/hook":            false,
		"http://127.0.0.1:8080/hook":       false,
		"http://[::1]/hook":                false,
		"http://[::ffff:127.0.0.1]/":       false,
		"http://169.254.169.254/latest/":   false,
		"http://0.0.0.0:9000/":             false,
		"http://[::]/":                     false,
		"http://100.64.0.1/":               false,
		"http://[fd00::1]/":                false,
		"http://10.0.0.5/?token=s3cret":    false,
		"http://localhost:9000/hook":       false,
		"http://LocalHost./hook":           false,
		"http://api.localhost/hook":        false,
		"https://hooks.example.com/x":      true,
		"https://93.184.216.34/x":          true,
		"https://[2606:4700:4700::1111]/x": true,
		// Names are judged when the connection is made.
		"https://internal.example.com/x": true,
	} {
		err := g.CheckURL(raw)
		if (err == nil) != ok {
			t.Errorf("CheckURL(%s): %v, want allowed %v", raw, err, ok)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("CheckURL(%s): error leaks the query: %v", raw, err)
		}
	}
	lo, _ := New([]string{"127.0.0.0/8"})
	if err := lo.CheckURL("http://localhost:9000/hook"); err != nil {
		t.Errorf("localhost with loopback allowed: %v", err)
	}
	if err := lo.CheckURL("http://127.0.0.1:9000/hook"); err != nil {
		t.Errorf("127.0.0.1 with loopback allowed: %v", err)
	}
}
