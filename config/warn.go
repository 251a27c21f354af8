package config

import (
	"fmt"
	"sort"
)

// alternate is one map of alternates (other_…) a request may pick by key.
type alternate struct {
	key   string             // its key path
	urls  *map[string]string // the map
	inUse bool               // its channel or provider is enabled
}

func (c *Config) alternates() []alternate {
	onCall := c.OnCall.Enable || c.OnCall.InitializedOnly
	provider := c.OnCallProvider()
	return []alternate{
		{"alert.msteams.other_power_urls", &c.Alert.MSTeams.OtherPowerURLs, c.Alert.MSTeams.Enable},
		{"alert.lark.other_webhook_urls", &c.Alert.Lark.OtherWebhookURLs, c.Alert.Lark.Enable},
		{"oncall.aws_incident_manager.other_response_plan_arns", &c.OnCall.AWSIncidentManager.OtherResponsePlanARNs, onCall && provider == "aws_incident_manager"},
		{"oncall.pagerduty.other_routing_keys", &c.OnCall.PagerDuty.OtherRoutingKeys, onCall && provider == "pagerduty"},
		{"oncall.servicenow.other_instance_urls", &c.OnCall.ServiceNow.OtherInstanceURLs, onCall && provider == "servicenow"},
		{"oncall.incident_io.other_alert_source_config_ids", &c.OnCall.IncidentIO.OtherAlertSourceConfigIDs, onCall && provider == "incident_io"},
	}
}

// dropEmptyAlternates removes alternates left empty and says so for the
// channels and providers in use. Versus's sample lists alternates as
// ${VAR}s its users leave unset (other_response_plan_arns.db: ""): they
// are absent, as in Versus, not an error.
func (c *Config) dropEmptyAlternates() []string {
	var warnings []string
	for _, a := range c.alternates() {
		var empty []string
		for k, v := range *a.urls {
			if v == "" {
				empty = append(empty, k)
				delete(*a.urls, k)
			}
		}
		if !a.inUse {
			continue
		}
		sort.Strings(empty)
		for _, k := range empty {
			warnings = append(warnings, fmt.Sprintf("%s.%s: empty, ignored as if not set", a.key, k))
		}
	}
	return warnings
}

// warnings are what a server started from c should say at start.
func (c *Config) warnings() []string {
	var w []string
	if c.Ingest.Open {
		w = append(w, "ingest.open is true: anyone who can reach this server can create incidents (Versus's behaviour); set integration tokens instead")
	}
	if c.Ingest.CloudWatch.SkipSignature {
		w = append(w, "ingest.cloudwatch.skip_signature is true: SNS signatures are not verified, so anyone who can reach the CloudWatch and SNS endpoints can post as Amazon SNS (only for tests)")
	}
	return w
}
