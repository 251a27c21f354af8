package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer the server may write while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var listeningAddr = regexp.MustCompile(`msg=listening addr=(\S+)`)

// verdict is what `config check` and `serve` said about one configuration.
type verdict struct {
	checkOut string
	checkErr error
	serveLog string
	serveErr error // nil: serve started, answered /readyz and stopped cleanly
}

// checkAndServe runs `tocsin config check` and `tocsin serve` (on
// 127.0.0.1:0, with a temp SQLite database) on the file at path, with the
// environment env, as a user would.
func checkAndServe(t *testing.T, path string, env map[string]string) verdict {
	t.Helper()
	var v verdict
	v.checkOut, v.checkErr = runCLI(t, env, "config", "check", "--config", path)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	db := "sqlite://" + filepath.Join(t.TempDir(), "tocsin.db")
	go func() {
		done <- run(ctx, []string{"serve", "--config", path, "--addr", "127.0.0.1:0", "--database", db},
			func(k string) string { return env[k] }, &stdout, &stderr)
	}()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case err := <-done:
			if err == nil {
				t.Fatalf("serve stopped by itself:\n%s", stderr.String())
			}
			v.serveLog, v.serveErr = stderr.String(), err
			return v
		case <-deadline:
			t.Fatalf("serve neither started nor failed:\n%s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if m := listeningAddr.FindStringSubmatch(stderr.String()); m != nil {
			resp, err := http.Get("http://" + m[1] + "/readyz")
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("serve is not ready: %v %v\n%s", resp, err, stderr.String())
			}
			resp.Body.Close()
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("serve: %v", err)
			}
			v.serveLog = stderr.String()
			return v
		}
	}
}

// agree fails unless config check and serve gave the same answer: both
// accept (and every warning check printed, serve logged), or both refuse
// with the same problems.
func (v verdict) agree(t *testing.T) {
	t.Helper()
	switch {
	case v.checkErr == nil && v.serveErr == nil:
		for _, line := range strings.Split(v.checkOut, "\n") {
			if w, ok := strings.CutPrefix(line, "warning: "); ok && !strings.Contains(v.serveLog, w) {
				t.Errorf("config check warns %q, serve does not:\n%s", w, v.serveLog)
			}
		}
	case v.checkErr != nil && v.serveErr != nil:
		if v.checkErr.Error() != v.serveErr.Error() {
			t.Errorf("different problems:\nconfig check: %v\nserve: %v", v.checkErr, v.serveErr)
		}
	default:
		t.Errorf("config check and serve disagree:\nconfig check: %v\n%s\nserve: %v\n%s", v.checkErr, v.checkOut, v.serveErr, v.serveLog)
	}
}

// isolateAWS keeps the machine's AWS settings (region, profile) out of a
// test, so a region counts only when the test sets one.
func isolateAWS(t *testing.T) {
	dir := t.TempDir()
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
}

// versusDir lays a Versus deployment out in a temp directory and makes it
// the working directory, as Versus is run: config/config.yaml (the fixture
// as Versus ships it) beside the config/*_message.tmpl its template_path
// keys name. The templates are small ones of our own.
func versusDir(t *testing.T, fixture string, templates bool) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "config", "testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "config"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "config", "config.yaml"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	if templates {
		for _, ch := range []string{"slack", "telegram", "viber", "email", "msteams", "lark"} {
			os.WriteFile(filepath.Join(dir, "config", ch+"_message.tmpl"), []byte("{{ .Severity }} alert from {{ .ServiceName }}: {{ .Logs }}\n"), 0o600)
		}
	}
	t.Chdir(dir)
	return "config/config.yaml"
}

// versusEnable turns on, through Versus's own environment overrides,
// everything the sample leaves off.
var versusEnable = map[string]string{
	"SLACK_ENABLE": "true", "TELEGRAM_ENABLE": "true", "VIBER_ENABLE": "true", "EMAIL_ENABLE": "true",
	"MSTEAMS_ENABLE": "true", "LARK_ENABLE": "true", "SNS_ENABLE": "true", "ONCALL_ENABLE": "true",
}

// versusVars are the variables Versus's sample and Helm chart read, set
// as a Versus user sets them; the alternates infra, db and the Lark ones
// are left unset, as users who need one alternate do.
var versusVars = map[string]string{
	"GATEWAY_SECRET": "gw-secret", "PROXY_URL": "http://proxy.example.com:8080", "PROXY_USERNAME": "u", "PROXY_PASSWORD": "p",
	"SLACK_TOKEN": "xoxb-versus", "SLACK_CHANNEL_ID": "C0VERSUS",
	"TELEGRAM_BOT_TOKEN": "123456:versus", "TELEGRAM_CHAT_ID": "-100123",
	"VIBER_API_TYPE": "channel", "VIBER_BOT_TOKEN": "viber-token", "VIBER_CHANNEL_ID": "viber-channel",
	"SMTP_HOST": "smtp.example.com", "SMTP_PORT": "587", "SMTP_USERNAME": "alerts@example.com", "SMTP_PASSWORD": "pw",
	"EMAIL_TO": "oncall@example.com", "EMAIL_SUBJECT": "Incident Alert",
	"MSTEAMS_POWER_AUTOMATE_URL": "https://prod.westus.logic.azure.com/workflows/x", "MSTEAMS_OTHER_POWER_URL_QC": "https://qc.westus.logic.azure.com/workflows/y",
	"LARK_WEBHOOK_URL":                                 "https://open.larksuite.com/open-apis/bot/v2/hook/x",
	"SNS_TOPIC_ARN":                                    "arn:aws:sns:us-east-1:123456789012:versus",
	"AWS_INCIDENT_MANAGER_RESPONSE_PLAN_ARN":           "arn:aws:ssm-incidents::123456789012:response-plan/main",
	"AWS_INCIDENT_MANAGER_OTHER_RESPONSE_PLAN_ARN_APP": "arn:aws:ssm-incidents::123456789012:response-plan/app",
	"REDIS_HOST":                                       "redis", "REDIS_PORT": "6379", "REDIS_PASSWORD": "r",
	// What the migration guide adds to start tocsin.
	"TOCSIN_INGEST_TOKEN": "guide-ingest-token",
}

func merge(maps ...map[string]string) map[string]string {
	m := map[string]string{}
	for _, x := range maps {
		for k, v := range x {
			m[k] = v
		}
	}
	return m
}

// TestVersusSampleUnset: Versus's config/config.yaml as shipped, with none
// of its variables set, starts (every channel is off in the sample).
func TestVersusSampleUnset(t *testing.T) {
	isolateAWS(t)
	v := checkAndServe(t, versusDir(t, "versus-sample.yaml", false), nil)
	v.agree(t)
	if v.checkErr != nil || v.serveErr != nil {
		t.Fatalf("config check: %v\nserve: %v", v.checkErr, v.serveErr)
	}
}

// TestVersusSampleEnabledWithoutKeys: the sample with every channel and
// on-call turned on by Versus's *_ENABLE variables but none of their keys
// set: config check and serve refuse it alike, naming every problem.
func TestVersusSampleEnabledWithoutKeys(t *testing.T) {
	isolateAWS(t)
	v := checkAndServe(t, versusDir(t, "versus-sample.yaml", true), versusEnable)
	v.agree(t)
	if v.checkErr == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"alert.slack.token: required", "alert.slack.channel_id: required",
		"alert.telegram.bot_token: required", "alert.telegram.chat_id: required",
		"alert.viber.bot_token: required",
		"alert.email.smtp_host: required", "alert.email.to: required", "alert.email.from: required",
		"alert.msteams.power_automate_url: required", "alert.lark.webhook_url: required",
		"queue.sns.topic_arn: required",
		"oncall.aws_incident_manager.response_plan_arn: required",
		"oncall.aws_incident_manager: region: required",
	} {
		if !strings.Contains(v.checkErr.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, v.checkErr)
		}
	}
}

// TestVersusSampleSet: the sample with its variables set as a Versus user
// sets them (a region from AWS_REGION, only some alternates) starts under
// both commands; the empty alternates are warnings, not errors.
func TestVersusSampleSet(t *testing.T) {
	isolateAWS(t)
	t.Setenv("AWS_REGION", "eu-west-1")
	v := checkAndServe(t, versusDir(t, "versus-sample.yaml", true), merge(versusEnable, versusVars))
	v.agree(t)
	if v.checkErr != nil || v.serveErr != nil {
		t.Fatalf("config check: %v\nserve: %v", v.checkErr, v.serveErr)
	}
	for _, want := range []string{
		"warning: oncall.aws_incident_manager.other_response_plan_arns.db: empty, ignored",
		"warning: oncall.aws_incident_manager.other_response_plan_arns.infra: empty, ignored",
		"warning: alert.lark.other_webhook_urls.dev: empty, ignored",
		"warning: alert.lark.other_webhook_urls.prod: empty, ignored",
	} {
		if !strings.Contains(v.checkOut, want) {
			t.Errorf("missing %q in:\n%s", want, v.checkOut)
		}
	}
	if strings.Contains(v.checkOut, "other_power_urls.qc") || !strings.Contains(v.serveLog, "channels=email,lark,msteams,slack,telegram,viber") {
		t.Errorf("config check:\n%s\nserve:\n%s", v.checkOut, v.serveLog)
	}
}

// TestVersusHelmValues: the config.yaml Versus's Helm chart renders from
// its values.yaml as shipped starts with and without its variables (those
// of the chart's Deployment); with channels turned on, its absolute
// template paths (/app/config/…, in Versus's image) are missing here, and
// both commands say so for every channel.
func TestVersusHelmValues(t *testing.T) {
	isolateAWS(t)
	path := versusDir(t, "versus-helm-values.yaml", false)
	for _, env := range []map[string]string{nil, versusVars} {
		v := checkAndServe(t, path, env)
		v.agree(t)
		if v.checkErr != nil || v.serveErr != nil {
			t.Fatalf("config check: %v\nserve: %v", v.checkErr, v.serveErr)
		}
	}
	v := checkAndServe(t, path, merge(versusVars, versusEnable, map[string]string{"SNS_ENABLE": "false", "ONCALL_ENABLE": "false"}))
	v.agree(t)
	if v.checkErr == nil {
		t.Fatal("missing templates accepted")
	}
	for _, ch := range []string{"slack", "telegram", "viber", "email", "msteams", "lark"} {
		if !strings.Contains(v.checkErr.Error(), "alert."+ch) || !strings.Contains(v.checkErr.Error(), "/app/config/"+ch+"_message.tmpl") {
			t.Errorf("no template problem for %s in:\n%v", ch, v.checkErr)
		}
	}
}

// TestConfigCheckAgreesWithServe: problems only building the server finds
// (a broken template, an alternate that is not a URL, a missing AWS region
// for SNS SMS) are reported by both commands, all at once.
func TestConfigCheckAgreesWithServe(t *testing.T) {
	isolateAWS(t)
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.tmpl")
	os.WriteFile(broken, []byte("{{ .Title "), 0o600)
	path := filepath.Join(dir, "tocsin.yaml")
	os.WriteFile(path, []byte(`
data_dir: `+dir+`
alert:
  slack: {enable: true, token: xoxb-1, channel_id: C1, template_path: `+broken+`}
  lark:
    enable: true
    webhook_url: https://open.larksuite.com/hook/x
    other_webhook_urls: {prod: not-a-url}
  telegram: {enable: true, bot_token: "1:x", chat_id: "1", template_path: `+filepath.Join(dir, "missing.tmpl")+`}
paging:
  sms: [sns]
`), 0o600)
	v := checkAndServe(t, path, nil)
	v.agree(t)
	if v.checkErr == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"alert.slack:", "broken.tmpl", "alert.lark.other_webhook_urls.prod: must be an absolute http or https URL",
		"alert.telegram.template_path:", "missing.tmpl", "paging.sns.region: required"} {
		if !strings.Contains(v.checkErr.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, v.checkErr)
		}
	}

	// A region from the environment counts, as it does for the AWS SDK.
	t.Setenv("AWS_REGION", "us-east-1")
	os.WriteFile(path, []byte("data_dir: "+dir+"\npaging:\n  sms: [sns]\ningest:\n  cloudwatch: {skip_signature: true}\n"), 0o600)
	v = checkAndServe(t, path, nil)
	v.agree(t)
	if v.checkErr != nil || !strings.Contains(v.checkOut, "warning: ingest.cloudwatch.skip_signature is true") {
		t.Fatalf("config check: %v\n%s", v.checkErr, v.checkOut)
	}
}

// config check renders the user's templates against every source's sample
// payload: a template that fails for some sources is reported as a
// warning (serve falls back to the built-in template for those messages).
func TestConfigCheckRendersTemplates(t *testing.T) {
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "versus.tmpl")
	os.WriteFile(tmpl, []byte("*{{ .Logs | upper }}* from {{ .ServiceName }}"), 0o600)
	path := filepath.Join(dir, "tocsin.yaml")
	os.WriteFile(path, []byte("data_dir: "+dir+"\nalert:\n  slack: {enable: true, token: xoxb-1, channel_id: C1, template_path: "+tmpl+"}\n"), 0o600)
	out, err := runCLI(t, nil, "config", "check", "--config", path)
	if err != nil {
		t.Fatalf("config check refused a template serve can fall back from: %v", err)
	}
	if !strings.Contains(out, "warning: alert.slack.template_path:") || !strings.Contains(out, "alertmanager payload") {
		t.Fatalf("no render warning:\n%s", out)
	}
	if strings.Contains(out, "versus payload") {
		t.Fatalf("the template fits Versus's custom JSON, yet was reported for it:\n%s", out)
	}
}
