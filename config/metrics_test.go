package config

import (
	"fmt"
	"strings"
	"testing"
)

// metrics.listen must be HOST:PORT; the error names the key.
func TestMetricsListenValidated(t *testing.T) {
	c := Default()
	c.Metrics.Listen = "9090"
	if p := c.Validate(); !strings.Contains(fmt.Sprint(p), "metrics.listen") {
		t.Fatalf("problems = %v", p)
	}
	c.Metrics.Listen = "127.0.0.1:9090"
	if p := c.Validate(); len(p) != 0 {
		t.Fatalf("problems = %v", p)
	}
	res, err := Parse([]byte("metrics: {token: t, listen: \"127.0.0.1:9090\"}\n"), func(string) string { return "" })
	if err != nil || res.Config.Metrics.Token != "t" || res.Config.Metrics.Listen != "127.0.0.1:9090" {
		t.Fatalf("parse: %v %+v", err, res)
	}
}
