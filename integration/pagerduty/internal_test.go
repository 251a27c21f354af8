package pagerduty

import (
	"testing"

	"tocsin/config"
)

func TestDefaultClientHasTimeout(t *testing.T) {
	p, err := New(config.PagerDuty{RoutingKey: "k"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.client.Timeout != DefaultTimeout || p.timeout != DefaultTimeout || p.endpoint != DefaultAPIURL+"/v2/enqueue" {
		t.Errorf("client timeout %v, timeout %v, endpoint %q", p.client.Timeout, p.timeout, p.endpoint)
	}
}
