package servicenow

import (
	"testing"

	"tocsin/config"
)

func TestDefaults(t *testing.T) {
	p, err := New(config.ServiceNow{InstanceURL: "https://dev1.service-now.com/", Username: "u", Password: "p"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.client.Timeout != DefaultTimeout || p.timeout != DefaultTimeout || p.table != DefaultTable || p.instances[""] != "https://dev1.service-now.com" {
		t.Errorf("client timeout %v, timeout %v, table %q, instance %q", p.client.Timeout, p.timeout, p.table, p.instances[""])
	}
}
