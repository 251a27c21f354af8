package runbook

import (
	"slices"
	"strconv"
	"strings"

	"tocsin"
)

// involvedLabels are the incident labels whose values name the resources
// an incident involves (AWS's INVOLVED_RESOURCES), in the order listed.
var involvedLabels = []string{"resource", "instance", "arn"}

// Dynamic resolves one of a response plan's dynamic parameters
// (tocsin.RunbookRef.DynamicParameters) against the incident the runbook
// starts with, as values in text for Params: INCIDENT_RECORD_ARN (an
// ARN-like name of the incident record,
// arn:tocsin:ssm-incidents::incident-record/<plan>/<id>),
// INVOLVED_RESOURCES (the values of its labels resource, instance and
// arn), INCIDENT_ID, INCIDENT_TITLE, INCIDENT_SUMMARY, INCIDENT_IMPACT and
// LABEL:<name>. A label the incident does not have is ENOTFOUND, so the
// caller may leave the parameter to its default; an unknown variable is
// EINVALID.
func Dynamic(variable string, inc *tocsin.Incident) ([]string, error) {
	if inc == nil {
		return nil, tocsin.Errorf(tocsin.EINVALID, "dynamic parameter %s needs an incident", variable)
	}
	switch variable {
	case "INCIDENT_RECORD_ARN":
		return []string{"arn:tocsin:ssm-incidents::incident-record/" + planOf(inc) + "/" + inc.ID}, nil
	case "INVOLVED_RESOURCES":
		out := []string{}
		for _, k := range involvedLabels {
			if v := inc.Labels[k]; v != "" && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
		return out, nil
	case "INCIDENT_ID":
		return []string{inc.ID}, nil
	case "INCIDENT_TITLE":
		return []string{inc.Title}, nil
	case "INCIDENT_SUMMARY":
		return []string{inc.Summary}, nil
	case "INCIDENT_IMPACT":
		return []string{strconv.Itoa(inc.Impact)}, nil
	}
	if label, ok := strings.CutPrefix(variable, "LABEL:"); ok && label != "" {
		v, ok := inc.Labels[label]
		if !ok {
			return nil, tocsin.Errorf(tocsin.ENOTFOUND, "dynamic parameter %s: the incident has no label %q", variable, label)
		}
		return []string{v}, nil
	}
	return nil, tocsin.Errorf(tocsin.EINVALID, "dynamic parameter %q is not INCIDENT_RECORD_ARN, INVOLVED_RESOURCES, INCIDENT_ID, INCIDENT_TITLE, INCIDENT_SUMMARY, INCIDENT_IMPACT or LABEL:<name>", variable)
}

// planOf is the response plan an incident was opened from, as AWS's
// incident record ARN names it: the plan, its response_plan label (an
// incident started through the AWS face), or "tocsin".
func planOf(inc *tocsin.Incident) string {
	switch {
	case inc.ResponsePlan != "":
		return inc.ResponsePlan
	case inc.Labels["response_plan"] != "":
		return inc.Labels["response_plan"]
	}
	return "tocsin"
}
