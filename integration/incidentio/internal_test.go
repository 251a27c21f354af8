package incidentio

import (
	"testing"

	"tocsin/config"
)

func TestDefaults(t *testing.T) {
	p, err := New(config.IncidentIO{APIKey: "k", AlertSourceConfigID: "x"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.client.Timeout != DefaultTimeout || p.timeout != DefaultTimeout || p.base != DefaultAPIURL {
		t.Errorf("client timeout %v, timeout %v, base %q", p.client.Timeout, p.timeout, p.base)
	}
}
