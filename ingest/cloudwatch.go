package ingest

import (
	"net/url"
	"regexp"
	"strings"
	"time"

	"tocsin"
)

// cloudWatchAlarm is the alarm state change CloudWatch publishes to SNS.
type cloudWatchAlarm struct {
	AlarmName        text  `json:"AlarmName"`
	AlarmDescription text  `json:"AlarmDescription"`
	AWSAccountID     text  `json:"AWSAccountId"`
	NewStateValue    text  `json:"NewStateValue"`
	NewStateReason   text  `json:"NewStateReason"`
	StateChangeTime  stamp `json:"StateChangeTime"`
	Region           text  `json:"Region"`
	AlarmArn         text  `json:"AlarmArn"`
	OldStateValue    text  `json:"OldStateValue"`
	Trigger          struct {
		MetricName text `json:"MetricName"`
		Namespace  text `json:"Namespace"`
		Dimensions objects[struct {
			Name  text `json:"name"`
			Value text `json:"value"`
		}] `json:"Dimensions"`
	} `json:"Trigger"`
}

// CloudWatch alarm states.
const (
	stateAlarm            = "ALARM"
	stateOK               = "OK"
	stateInsufficientData = "INSUFFICIENT_DATA"
)

// CloudWatchAlarm decodes a CloudWatch alarm state change: the JSON
// object in the Message of the SNS notification an alarm action publishes.
//
// The dedup key and fingerprint are the AlarmArn (or, without one,
// "<account>/<region>/<AlarmName>"): one alarm is one alert and one
// incident while it is open. NewStateValue OK resolves; ALARM fires with no
// severity, since CloudWatch alarms have none; INSUFFICIENT_DATA fires with
// severity "warning", so an alarm that lost its data is seen but ranks
// below one that tripped. StateChangeTime is StartsAt of a firing alert and
// EndsAt of a resolved one. The trigger's dimensions become labels, next to
// "alarm_name", "account_id", "region", "namespace" and "metric_name", and
// the alert links to the alarm in the CloudWatch console (the region comes
// from the AlarmArn when Region holds a display name such as
// "US East (N. Virginia)"). AlarmName is required.
func CloudWatchAlarm(message []byte, now time.Time) ([]*tocsin.Alert, error) {
	const source = tocsin.SourceCloudWatch
	message, err := trimBody(message)
	if err != nil {
		return nil, err
	}
	var cw cloudWatchAlarm
	if err := decode(source, "", message, &cw); err != nil {
		return nil, err
	}
	name := cw.AlarmName.String()
	if name == "" {
		return nil, tocsin.Errorf(tocsin.EINVALID, "%s: %q is required", source, "AlarmName")
	}
	arn := cw.AlarmArn.String()
	region := awsRegion(cw.Region.String(), arn)
	dedup := arn
	if dedup == "" {
		dedup = cw.AWSAccountID.String() + "/" + firstOf(region, cw.Region.String()) + "/" + name
	}
	state := strings.ToUpper(cw.NewStateValue.String())
	a := &tocsin.Alert{
		Source:      source,
		DedupKey:    dedup,
		Fingerprint: dedup,
		Status:      tocsin.AlertFiring,
		Title:       name,
		Description: firstOf(cw.AlarmDescription.String(), cw.NewStateReason.String()),
		Labels:      map[string]string{"alarm_name": name},
		Annotations: map[string]string{},
		ReceivedAt:  now,
		Raw:         message,
	}
	switch state {
	case stateOK:
		a.Status = tocsin.AlertResolved
		a.EndsAt = cw.StateChangeTime.Time()
	case stateInsufficientData:
		a.Severity = "warning"
		a.StartsAt = cw.StateChangeTime.Time()
	default:
		a.StartsAt = cw.StateChangeTime.Time()
	}
	setNonEmpty(a.Labels, "account_id", cw.AWSAccountID.String())
	setNonEmpty(a.Labels, "region", region)
	setNonEmpty(a.Labels, "namespace", cw.Trigger.Namespace.String())
	setNonEmpty(a.Labels, "metric_name", cw.Trigger.MetricName.String())
	for _, d := range cw.Trigger.Dimensions {
		if k := d.Name.String(); k != "" {
			a.Labels[k] = d.Value.String()
		}
	}
	setNonEmpty(a.Annotations, "new_state", state)
	setNonEmpty(a.Annotations, "old_state", strings.ToUpper(cw.OldStateValue.String()))
	setNonEmpty(a.Annotations, "state_reason", cw.NewStateReason.String())
	if region != "" {
		a.Links = addLink(a.Links, "CloudWatch", consoleURL(arn, region, name))
	}
	if len(a.Annotations) == 0 {
		a.Annotations = nil
	}
	return []*tocsin.Alert{a}, nil
}

func setNonEmpty(m map[string]string, k, v string) {
	if v != "" {
		m[k] = v
	}
}

// regionCode matches AWS region codes such as us-east-1 or us-gov-west-1.
var regionCode = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// awsRegion returns the region code: Region when it is one, else the
// region field of the alarm's ARN (arn:aws:cloudwatch:<region>:…), else "".
func awsRegion(region, arn string) string {
	if regionCode.MatchString(region) {
		return region
	}
	if parts := strings.Split(arn, ":"); len(parts) > 3 && regionCode.MatchString(parts[3]) {
		return parts[3]
	}
	return ""
}

// consoleURL links to the alarm in the CloudWatch console of the ARN's
// partition (aws, aws-cn or aws-us-gov).
func consoleURL(arn, region, name string) string {
	host := "console.aws.amazon.com"
	switch {
	case strings.HasPrefix(arn, "arn:aws-cn:"):
		host = "console.amazonaws.cn"
	case strings.HasPrefix(arn, "arn:aws-us-gov:"):
		host = "console.amazonaws-us-gov.com"
	}
	return "https://" + host + "/cloudwatch/home?region=" + url.QueryEscape(region) +
		"#alarmsV2:alarm/" + url.PathEscape(name)
}
