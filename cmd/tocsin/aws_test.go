package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssmincidents"
	"github.com/aws/aws-sdk-go-v2/service/ssmincidents/types"
	"github.com/aws/smithy-go"

	"tocsin/apptest"
	"tocsin/config"
	"tocsin/store/storetest"
)

const (
	awsKeyID  = "AKIATOCSINCLI00001"
	awsSecret = "tocsin-cli-test-secret-access-key"
)

// startAWS runs the server with the AWS face on and one firing alert
// (an incident opened by Alertmanager), and returns the face's URL.
func startAWS(t *testing.T, dbURL string) (*apptest.Server, string) {
	ts := apptest.Start(t, dbURL, func(c *config.Config) {
		c.AWSAPI.Credentials = []config.AWSCredential{{AccessKeyID: awsKeyID, SecretAccessKey: awsSecret}}
	})
	if st, _ := ts.Post(t, "/api/v1/alerts/alertmanager", apptest.IngestToken, `{"receiver":"r","status":"firing","alerts":[{"status":"firing",
		"labels":{"alertname":"HighCPU","instance":"i-0abc","severity":"critical"},"annotations":{"summary":"CPU at 99%"},"startsAt":"2024-01-01T00:00:00Z"}]}`); st/100 != 2 {
		t.Fatalf("alert: %d", st)
	}
	return ts, ts.URL + "/aws/ssm-incidents"
}

// TestAWSSDKThroughTheServer drives the face as app wires it over the
// store, with the real AWS SDK for Go.
func TestAWSSDKThroughTheServer(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			ctx := context.Background()
			ts, endpoint := startAWS(t, kind.URL(t))
			if st, body := ts.Put(t, "/api/v1/response-plans/EC2HighCPU", `{"display_name":"EC2 high CPU","incident_template":{"title":"cpu-incident-1","impact":3},"chat_channels":[{"channel":"slack","destination":"C0AWSPLAN"}]}`); st/100 != 2 {
				t.Fatalf("response plan: %d %v", st, body)
			}
			newClient := func(secret string) *ssmincidents.Client {
				cfg := aws.Config{Region: "us-east-1", Credentials: awscreds.NewStaticCredentialsProvider(awsKeyID, secret, ""),
					Retryer: func() aws.Retryer { return aws.NopRetryer{} }}
				return ssmincidents.NewFromConfig(cfg, func(o *ssmincidents.Options) { o.BaseEndpoint = aws.String(endpoint) })
			}
			c := newClient(awsSecret)
			t.Run("start from a plan", func(t *testing.T) {
				out, err := c.StartIncident(ctx, &ssmincidents.StartIncidentInput{ResponsePlanArn: aws.String("arn:aws:ssm-incidents::000000000000:response-plan/EC2HighCPU")})
				var ae smithy.APIError
				if errors.As(err, &ae) {
					t.Fatalf("start: %s: %s", ae.ErrorCode(), ae.ErrorMessage())
				}
				if err != nil {
					t.Fatal(err)
				}
				got, err := c.GetIncidentRecord(ctx, &ssmincidents.GetIncidentRecordInput{Arn: out.IncidentRecordArn})
				if err != nil || *got.IncidentRecord.Title != "cpu-incident-1" || *got.IncidentRecord.Impact != 3 {
					t.Fatalf("started incident: %v %+v", err, got)
				}
				// The plan shapes it as it does a routed alert: its chat channel hears of it.
				apptest.Eventually(t, "slack post to the plan's channel", func() bool {
					for _, p := range ts.Slack.Posts() {
						if p.Get("channel") == "C0AWSPLAN" {
							return true
						}
					}
					return false
				})
				// StartIncident's title and impact win over the template.
				over, err := c.StartIncident(ctx, &ssmincidents.StartIncidentInput{ResponsePlanArn: aws.String("arn:aws:ssm-incidents::000000000000:response-plan/EC2HighCPU"),
					Title: aws.String("cpu on i-0def"), Impact: aws.Int32(4)})
				if err != nil {
					t.Fatal(err)
				}
				got, err = c.GetIncidentRecord(ctx, &ssmincidents.GetIncidentRecordInput{Arn: over.IncidentRecordArn})
				if err != nil || *got.IncidentRecord.Title != "cpu on i-0def" || *got.IncidentRecord.Impact != 4 {
					t.Fatalf("overridden start: %v %+v", err, got)
				}
			})
			// The Alertmanager incident: open, impact 1 (the started one is impact 3).
			list, err := c.ListIncidentRecords(ctx, &ssmincidents.ListIncidentRecordsInput{Filters: []types.Filter{{Key: aws.String("status"),
				Condition: &types.ConditionMemberEquals{Value: &types.AttributeValueListMemberStringValues{Value: []string{"OPEN"}}}},
				{Key: aws.String("impact"), Condition: &types.ConditionMemberEquals{Value: &types.AttributeValueListMemberIntegerValues{Value: []int32{1}}}}}})
			if err != nil || len(list.IncidentRecordSummaries) != 1 {
				t.Fatalf("list: %v %+v", err, list)
			}
			arn := list.IncidentRecordSummaries[0].Arn
			got, err := c.GetIncidentRecord(ctx, &ssmincidents.GetIncidentRecordInput{Arn: arn})
			if err != nil || *got.IncidentRecord.Impact != 1 || *got.IncidentRecord.IncidentRecordSource.CreatedBy != "alertmanager" {
				t.Fatalf("get: %v %+v", err, got)
			}
			if _, err := c.CreateTimelineEvent(ctx, &ssmincidents.CreateTimelineEventInput{IncidentRecordArn: arn, EventType: aws.String("Note"),
				EventData: aws.String("looking"), EventTime: aws.Time(time.Now())}); err != nil {
				t.Fatal(err)
			}
			// Triage and related items through the incident record.
			if _, err := c.UpdateIncidentRecord(ctx, &ssmincidents.UpdateIncidentRecordInput{Arn: arn, Title: aws.String("CPU pegged on i-0abc"), Impact: aws.Int32(2)}); err != nil {
				t.Fatalf("update title and impact: %v", err)
			}
			if got, err := c.GetIncidentRecord(ctx, &ssmincidents.GetIncidentRecordInput{Arn: arn}); err != nil || *got.IncidentRecord.Title != "CPU pegged on i-0abc" || *got.IncidentRecord.Impact != 2 {
				t.Fatalf("after update: %v %+v", err, got)
			}
			dash := "https://grafana.example.com/d/cpu"
			if _, err := c.UpdateRelatedItems(ctx, &ssmincidents.UpdateRelatedItemsInput{IncidentRecordArn: arn, RelatedItemsUpdate: &types.RelatedItemsUpdateMemberItemToAdd{
				Value: types.RelatedItem{Title: aws.String("CPU dashboard"), Identifier: &types.ItemIdentifier{Type: types.ItemTypeMetric, Value: &types.ItemValueMemberUrl{Value: dash}}}}}); err != nil {
				t.Fatalf("add related item: %v", err)
			}
			items, err := c.ListRelatedItems(ctx, &ssmincidents.ListRelatedItemsInput{IncidentRecordArn: arn})
			if err != nil || len(items.RelatedItems) != 1 || *items.RelatedItems[0].Title != "CPU dashboard" {
				t.Fatalf("list related items: %v %+v", err, items)
			}
			if _, err := c.UpdateRelatedItems(ctx, &ssmincidents.UpdateRelatedItemsInput{IncidentRecordArn: arn, RelatedItemsUpdate: &types.RelatedItemsUpdateMemberItemToRemove{
				Value: types.ItemIdentifier{Type: types.ItemTypeMetric, Value: &types.ItemValueMemberUrl{Value: dash}}}}); err != nil {
				t.Fatalf("remove related item: %v", err)
			}
			if items, err := c.ListRelatedItems(ctx, &ssmincidents.ListRelatedItemsInput{IncidentRecordArn: arn}); err != nil || len(items.RelatedItems) != 0 {
				t.Fatalf("after remove: %v %+v", err, items)
			}
			if _, err := c.UpdateIncidentRecord(ctx, &ssmincidents.UpdateIncidentRecordInput{Arn: arn, Status: types.IncidentRecordStatusResolved}); err != nil {
				t.Fatal(err)
			}
			var denied *types.AccessDeniedException
			if _, err := newClient("not-the-secret-at-all").UpdateIncidentRecord(ctx, &ssmincidents.UpdateIncidentRecordInput{Arn: arn, Title: aws.String("x")}); !errors.As(err, &denied) {
				t.Fatalf("wrong secret: %v", err)
			}
			ev, err := c.ListTimelineEvents(ctx, &ssmincidents.ListTimelineEventsInput{IncidentRecordArn: arn})
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, e := range ev.EventSummaries {
				types = append(types, *e.EventType)
			}
			// Resolved notifications may still be landing on the timeline
			// after the resolve: look for it, not at the end.
			if s := strings.Join(types, ","); !strings.Contains(s, "Note") || !strings.Contains(s, "tocsin:resolved") {
				t.Fatalf("timeline: %s", s)
			}
		})
	}
}

// TestAWSCLIThroughTheServer runs the aws CLI (Debian's awscli) against
// the face with --endpoint-url, as an Incident Manager user's scripts do.
func TestAWSCLIThroughTheServer(t *testing.T) {
	bin, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the aws CLI is not installed; .ci/run installs awscli in CI")
		}
		t.Skip("the aws CLI is not installed (apt-get install awscli)")
	}
	if testing.Short() {
		t.Skip("runs the aws CLI")
	}
	_, endpoint := startAWS(t, storetest.SQLiteURL(t))
	home := t.TempDir()
	run := func(secret string, args ...string) (map[string]any, string, error) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"ssm-incidents", "--endpoint-url", endpoint, "--region", "eu-west-1", "--output", "json"}, args...)...)
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "AWS_ACCESS_KEY_ID=" + awsKeyID, "AWS_SECRET_ACCESS_KEY=" + secret,
			"AWS_CONFIG_FILE=" + home + "/none", "AWS_SHARED_CREDENTIALS_FILE=" + home + "/none", "AWS_EC2_METADATA_DISABLED=true",
			"AWS_PAGER=", "AWS_MAX_ATTEMPTS=1"}
		if v := os.Getenv("PYENV_ROOT"); v != "" {
			cmd.Env = append(cmd.Env, "PYENV_ROOT="+v)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		var v map[string]any
		if len(out) > 0 {
			if jerr := json.Unmarshal(out, &v); jerr != nil {
				t.Fatalf("aws %s: not JSON: %s", args[0], out)
			}
		}
		return v, stderr.String(), err
	}
	out, stderr, err := run(awsSecret, "list-incident-records")
	if err != nil {
		t.Fatalf("list-incident-records: %v\n%s", err, stderr)
	}
	recs, _ := out["incidentRecordSummaries"].([]any)
	if len(recs) != 1 {
		t.Fatalf("list-incident-records: %v", out)
	}
	arn := recs[0].(map[string]any)["arn"].(string)
	if out, stderr, err = run(awsSecret, "get-incident-record", "--arn", arn); err != nil {
		t.Fatalf("get-incident-record: %v\n%s", err, stderr)
	}
	if rec := out["incidentRecord"].(map[string]any); rec["status"] != "OPEN" || rec["title"] == "" {
		t.Fatalf("get-incident-record: %v", out)
	}
	if _, stderr, err = run(awsSecret, "create-timeline-event", "--incident-record-arn", arn, "--event-type", "Note",
		"--event-data", "from the CLI", "--event-time", time.Now().UTC().Format(time.RFC3339)); err != nil {
		t.Fatalf("create-timeline-event: %v\n%s", err, stderr)
	}
	if _, stderr, err = run(awsSecret, "update-incident-record", "--arn", arn, "--status", "RESOLVED"); err != nil {
		t.Fatalf("update-incident-record: %v\n%s", err, stderr)
	}
	if out, _, _ = run(awsSecret, "get-incident-record", "--arn", arn); out["incidentRecord"].(map[string]any)["status"] != "RESOLVED" {
		t.Fatalf("not resolved: %v", out)
	}
	if _, stderr, err = run("the-wrong-secret-key", "list-incident-records"); err == nil || !strings.Contains(stderr, "AccessDenied") {
		t.Fatalf("wrong secret: %v\n%s", err, stderr)
	}
	// Without response plans in the store, start-incident says so.
	if _, stderr, err = run(awsSecret, "start-incident", "--response-plan-arn", "arn:aws:ssm-incidents::000000000000:response-plan/EC2HighCPU"); err == nil {
		t.Log("start-incident succeeded: the store has response plans")
	} else if !strings.Contains(stderr, "NotImplementedException") && !strings.Contains(stderr, "ResourceNotFound") {
		t.Fatalf("start-incident: %v\n%s", err, stderr)
	}
}

// TestAWSIncidentManagerProviderAgainstTheFace points a tocsin configured
// as a Versus user has it — oncall.provider aws_incident_manager, whose
// StartIncident and UpdateIncidentRecord go through the AWS SDK — at another
// tocsin's AWS-compatible face instead of AWS: the escalation opens an
// incident there from the named response plan, and the resolve resolves it.
func TestAWSIncidentManagerProviderAgainstTheFace(t *testing.T) {
	im, endpoint := startAWS(t, storetest.SQLiteURL(t))
	if st, body := im.Put(t, "/api/v1/response-plans/PlatformCriticalPlan", `{"incident_template":{"title":"platform critical","impact":1}}`); st/100 != 2 {
		t.Fatalf("response plan: %d %v", st, body)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", awsKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", awsSecret)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	versus := apptest.Start(t, storetest.SQLiteURL(t), func(c *config.Config) {
		zero := 0.0
		c.OnCall = config.OnCall{Enable: true, Provider: "aws_incident_manager", WaitMinutes: &zero, AWSIncidentManager: config.AWSIncidentManager{
			ResponsePlanARN: "arn:aws:ssm-incidents::000000000000:response-plan/PlatformCriticalPlan", Endpoint: endpoint}}
	})
	before := im.IncidentCount(t)
	_, body := versus.Post(t, "/api/v1/alerts/generic", apptest.IngestToken, `{"title":"db down","severity":"critical"}`)
	id := apptest.FirstID(t, body)
	apptest.Eventually(t, "incident opened at the face", func() bool { return im.IncidentCount(t) == before+1 })
	if st, _ := versus.Post(t, "/api/v1/incidents/"+id+"/resolve", apptest.APIToken, ``); st != 200 {
		t.Fatalf("resolve: %d", st)
	}
	apptest.Eventually(t, "resolved at the face", func() bool {
		_, list := im.Get(t, "/api/v1/incidents?status=resolved")
		incs, _ := list["incidents"].([]any)
		return len(incs) == 1
	})
}
