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
