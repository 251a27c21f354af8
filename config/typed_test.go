package config

import (
	"strings"
	"testing"
	"time"
)

// typedDoc uses ${VAR} and quoted values in fields of every non-string
// type, as Versus's sample and Helm chart do (smtp_port: ${SMTP_PORT}).
const typedDoc = `
port: ${MYPORT}
alert:
  email:
    enable: ${EMAIL_ON:-false}
    smtp_host: mail.example.com
    smtp_port: ${SMTP_PORT}
    to: oncall@example.com
    from: tocsin@example.com
    insecure_skip_verify: "${SKIP}"
oncall:
  wait_minutes: ${WAIT}
incidents:
  auto_resolve: ${AUTO}
  renotify_after: ${RN}
  default_impact: "2"
  impact:
    critical: "${CRIT}"
ingest:
  max_body_bytes: ${MAXB}
`

func TestVariablesTakeTheFieldsType(t *testing.T) {
	res, err := Parse([]byte(typedDoc), env(map[string]string{
		"MYPORT": "3001", "EMAIL_ON": "true", "SMTP_PORT": "587", "SKIP": "True", "WAIT": "1.5",
		"AUTO": "false", "RN": "15m", "CRIT": "1", "MAXB": "2_048",
	}))
	if err != nil {
		t.Fatal(err)
	}
	c := res.Config
	if c.Port != 3001 || !c.Alert.Email.Enable || c.Alert.Email.SMTPPort != 587 || !c.Alert.Email.InsecureSkipVerify {
		t.Fatalf("typed values: port %d email %+v", c.Port, c.Alert.Email)
	}
	if c.OnCall.WaitMinutes == nil || *c.OnCall.WaitMinutes != 1.5 || c.Incidents.AutoResolve == nil || *c.Incidents.AutoResolve {
		t.Fatalf("pointers: %+v %+v", c.OnCall, c.Incidents)
	}
	if c.Incidents.RenotifyAfter.Std() != 15*time.Minute || c.Incidents.DefaultImpact != 2 || c.Incidents.Impact["critical"] != 1 || c.Ingest.MaxBodyBytes != 2048 {
		t.Fatalf("incidents/ingest: %+v %+v", c.Incidents, c.Ingest)
	}
}

func TestUnsetVariablesAreAbsent(t *testing.T) {
	res, err := Parse([]byte(typedDoc), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := res.Config
	if c.Port != 3000 || c.Alert.Email.Enable || c.Alert.Email.SMTPPort != 0 || c.Alert.Email.InsecureSkipVerify {
		t.Fatalf("unset: port %d email %+v", c.Port, c.Alert.Email)
	}
	if c.OnCall.WaitMinutes != nil || c.OnCallWait() != 3*time.Minute || c.Incidents.AutoResolve != nil || c.Incidents.RenotifyAfter != 0 || c.Ingest.MaxBodyBytes != 0 {
		t.Fatalf("unset pointers: %+v %+v", c.OnCall, c.Incidents)
	}
	if _, ok := c.Incidents.Impact["critical"]; ok {
		t.Fatalf("an unset impact was kept: %v", c.Incidents.Impact)
	}
}

func TestVariablesThatDoNotParseNameTheirKey(t *testing.T) {
	_, err := Parse([]byte(typedDoc), env(map[string]string{
		"MYPORT": "abc", "EMAIL_ON": "maybe", "SMTP_PORT": "99999999999999999999", "WAIT": "NaN", "RN": "soon", "CRIT": "x",
	}))
	if err == nil {
		t.Fatal("bad values accepted")
	}
	for _, want := range []string{
		`port: "abc" is not a valid integer (line 2)`,
		`alert.email.enable: "maybe" is not a valid boolean`,
		`alert.email.smtp_port: "99999999999999999999" is not a valid integer`,
		`oncall.wait_minutes: "NaN" is not a valid number`,
		`incidents.renotify_after: "soon" is not a valid duration`,
		`incidents.impact.critical: "x" is not a valid integer`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
