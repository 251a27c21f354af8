package tocsin

import (
	"strings"
	"testing"
	"time"
)

func TestContactValidateRetryInterval(t *testing.T) {
	for _, tc := range []struct {
		step EngagementStep
		want string // "" for valid
	}{
		{EngagementStep{Channel: "m", RetryInterval: Duration(5 * time.Minute)}, ""},
		{EngagementStep{Channel: "m", RetryInterval: Duration(5 * time.Minute), Retries: 10}, ""},
		{EngagementStep{Channel: "m", RetryInterval: Duration(30 * time.Second)}, "engagement_plan[0].retry_interval: 30s is not between 1m and 1h0m0s"},
		{EngagementStep{Channel: "m", RetryInterval: Duration(2 * time.Hour)}, "engagement_plan[0].retry_interval"},
		{EngagementStep{Channel: "m", RetryInterval: Duration(time.Minute), Retries: 11}, "engagement_plan[0].retries: 11 is not between 0 and 10"},
		{EngagementStep{Channel: "m", Retries: 2}, "engagement_plan[0].retries: needs a retry_interval"},
	} {
		c := &Contact{Alias: "a", Channels: []ContactChannel{{Name: "m", Type: ChannelSMS, Address: "+15550000001"}}, EngagementPlan: []EngagementStep{tc.step}}
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.step, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: got %v, want %q", tc.step, err, tc.want)
		}
	}
	if n := (EngagementStep{RetryInterval: Duration(time.Minute)}).Repages(); n != DefaultRetries {
		t.Errorf("default re-pages: %d", n)
	}
}

func TestEscalationLoop(t *testing.T) {
	plan := func(name string, engages ...string) *EscalationPlan {
		p := &EscalationPlan{Name: name, Stages: []Stage{{Targets: []Target{{Contact: "x"}}}}}
		for _, e := range engages {
			p.Stages = append(p.Stages, Stage{Targets: []Target{{EscalationPlan: e}}})
		}
		return p
	}
	set := func(ps ...*EscalationPlan) map[string]*EscalationPlan {
		m := map[string]*EscalationPlan{}
		for _, p := range ps {
			m[p.Name] = p
		}
		return m
	}
	for _, tc := range []struct {
		plans map[string]*EscalationPlan
		want  string
	}{
		{set(plan("la", "lb"), plan("lb", "la")), "la → lb → la"},
		{set(plan("a", "b"), plan("b", "c"), plan("c", "b")), "b → c → b"},
		{set(plan("a", "b", "c"), plan("b", "c"), plan("c")), ""}, // a diamond is no loop
		{set(plan("a", "gone")), ""},
	} {
		err := CheckEscalationLoops(tc.plans)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.want, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), "loop: "+tc.want) || ErrorCode(err) != EINVALID):
			t.Errorf("got %v, want loop %q", err, tc.want)
		}
	}
}
