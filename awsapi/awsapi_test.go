package awsapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssmincidents"
	"github.com/aws/aws-sdk-go-v2/service/ssmincidents/types"
	"github.com/aws/smithy-go"

	"tocsin"
	"tocsin/awsapi"
	"tocsin/store"
	"tocsin/store/storetest"
)

const (
	keyID  = "AKIATOCSINTEST0001"
	secret = "tocsin-test-secret-access-key"
)

// plans is a response plan store in memory.
type plans map[string]*tocsin.ResponsePlan

func (p plans) FindResponsePlan(_ context.Context, name string) (*tocsin.ResponsePlan, error) {
	if rp, ok := p[name]; ok {
		return rp, nil
	}
	return nil, tocsin.Errorf(tocsin.ENOTFOUND, "response plan %q not found", name)
}

func (p plans) ListResponsePlans(context.Context) ([]*tocsin.ResponsePlan, error) {
	return []*tocsin.ResponsePlan{p["EC2HighCPU"]}, nil
}

var ec2HighCPU = &tocsin.ResponsePlan{Name: "EC2HighCPU", DisplayName: "EC2 high CPU",
	IncidentTemplate: tocsin.IncidentTemplate{Title: "cpu-incident-1", Impact: tocsin.ImpactMedium, Summary: "CPU is high"},
	Engagements:      []tocsin.ResponseEngagement{{EscalationPlan: "app-escalation-plan"}},
	Runbook: &tocsin.RunbookRef{Name: "ec2-cpu-util-runbook", Parameters: map[string][]string{"Region": {"eu-west-1"}},
		DynamicParameters: map[string]string{"IncidentArn": "INCIDENT_RECORD_ARN"}}}

// face serves the AWS face over a real store at dbURL and returns the
// prefix URL and the store.
func face(t *testing.T, dbURL string) (string, *store.DB) {
	t.Helper()
	db, err := store.Open(context.Background(), dbURL, store.Options{Policy: tocsin.Policy{Impacts: tocsin.DefaultImpacts()}, Wake: func() {}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mux := http.NewServeMux()
	awsapi.New(db.Incidents(), awsapi.Options{Credentials: []awsapi.Credential{{AccessKeyID: keyID, SecretAccessKey: secret}},
		Plans: plans{"EC2HighCPU": ec2HighCPU}}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + awsapi.DefaultPathPrefix, db
}

// client is the real AWS SDK pointed at endpoint with the given secret.
func client(endpoint, key, sec string) *ssmincidents.Client {
	cfg := aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider(key, sec, ""),
		Retryer: func() aws.Retryer { return aws.NopRetryer{} }}
	return ssmincidents.NewFromConfig(cfg, func(o *ssmincidents.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

func count(t *testing.T, db *store.DB) int {
	t.Helper()
	incs, _, err := db.Incidents().ListIncidents(context.Background(), tocsin.IncidentFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(incs)
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestAWSSDKDrivesTheFace(t *testing.T) {
	for _, kind := range storetest.Kinds() {
		t.Run(kind.Name, func(t *testing.T) {
			ctx := context.Background()
			endpoint, db := face(t, kind.URL(t))
			c := client(endpoint, keyID, secret)
			planArn := "arn:aws:ssm-incidents::000000000000:response-plan/EC2HighCPU"

			var arn string
			t.Run("start", func(t *testing.T) {
				start := &ssmincidents.StartIncidentInput{ResponsePlanArn: aws.String(planArn), ClientToken: aws.String("token-1"),
					TriggerDetails: &types.TriggerDetails{Source: aws.String("my-monitor"), Timestamp: aws.Time(time.Now())}}
				out, err := c.StartIncident(ctx, start)
				if err != nil {
					t.Fatal(err)
				}
				arn = *out.IncidentRecordArn
				if !strings.HasPrefix(arn, "arn:aws:ssm-incidents::000000000000:incident-record/EC2HighCPU/") {
					t.Fatalf("arn %q", arn)
				}
				// A retry with the same clientToken opens nothing.
				again, err := c.StartIncident(ctx, start)
				if err != nil || *again.IncidentRecordArn != arn || count(t, db) != 1 {
					t.Fatalf("retried start: %v %v, %d incidents", err, again, count(t, db))
				}
				other, err := c.StartIncident(ctx, &ssmincidents.StartIncidentInput{ResponsePlanArn: aws.String(planArn),
					Title: aws.String("disk full"), Impact: aws.Int32(2)})
				if err != nil || *other.IncidentRecordArn == arn {
					t.Fatalf("second start: %v %v", err, other)
				}
				if _, err := c.StartIncident(ctx, &ssmincidents.StartIncidentInput{ResponsePlanArn: aws.String(planArn + "-missing")}); apiCode(err) != "ResourceNotFoundException" {
					t.Fatalf("missing plan: %v", err)
				}
			})
			if arn == "" {
				t.FailNow()
			}
			// An incident opened by an alert is a record too.
			if _, err := db.Incidents().Ingest(ctx, []*tocsin.Alert{storetest.NewAlert("g", "a", tocsin.AlertFiring, "critical")}, tocsin.IngestOptions{}); err != nil {
				t.Fatal(err)
			}

			t.Run("get", func(t *testing.T) {
				out, err := c.GetIncidentRecord(ctx, &ssmincidents.GetIncidentRecordInput{Arn: aws.String(arn)})
				if err != nil {
					t.Fatal(err)
				}
				r := out.IncidentRecord
				if *r.Title != "cpu-incident-1" || *r.Impact != 3 || r.Status != types.IncidentRecordStatusOpen || *r.Summary != "CPU is high" ||
					*r.IncidentRecordSource.Source != "my-monitor" || r.CreationTime.IsZero() || *r.Arn != arn {
					t.Fatalf("record: %+v %+v", r, r.IncidentRecordSource)
				}
				_, err = c.GetIncidentRecord(ctx, &ssmincidents.GetIncidentRecordInput{Arn: aws.String("arn:aws:ssm-incidents::000000000000:incident-record/x/nope")})
				if apiCode(err) != "ResourceNotFoundException" {
					t.Fatalf("missing incident: %v", err)
				}
			})

			t.Run("list with filters", func(t *testing.T) {
				list := func(fs ...types.Filter) []types.IncidentRecordSummary {
					t.Helper()
					out, err := c.ListIncidentRecords(ctx, &ssmincidents.ListIncidentRecordsInput{Filters: fs})
					if err != nil {
						t.Fatal(err)
					}
					return out.IncidentRecordSummaries
				}
				strs := func(key string, v ...string) types.Filter {
					return types.Filter{Key: aws.String(key), Condition: &types.ConditionMemberEquals{Value: &types.AttributeValueListMemberStringValues{Value: v}}}
				}
				if n := len(list()); n != 3 {
					t.Fatalf("all: %d", n)
				}
				if got := list(strs("createdBy", "my-monitor")); len(got) != 1 || *got[0].Arn != arn {
					t.Fatalf("createdBy: %+v", got)
				}
				if n := len(list(strs("createdBy", "my-monitor", tocsin.SourceAlertmanager))); n != 2 {
					t.Fatalf("createdBy, values ORed: %d", n)
				}
				impact := types.Filter{Key: aws.String("impact"), Condition: &types.ConditionMemberEquals{Value: &types.AttributeValueListMemberIntegerValues{Value: []int32{1, 2}}}}
				if n := len(list(impact)); n != 2 {
					t.Fatalf("impact 1 or 2: %d", n)
				}
				if n := len(list(impact, strs("createdBy", tocsin.SourceAlertmanager))); n != 1 {
					t.Fatalf("filters ANDed: %d", n)
				}
				after := types.Filter{Key: aws.String("creationTime"), Condition: &types.ConditionMemberAfter{Value: time.Now().Add(time.Hour)}}
				before := types.Filter{Key: aws.String("creationTime"), Condition: &types.ConditionMemberBefore{Value: time.Now().Add(time.Hour)}}
				if len(list(after)) != 0 || len(list(before)) != 3 {
					t.Fatal("creationTime filters")
				}
				out, err := c.ListIncidentRecords(ctx, &ssmincidents.ListIncidentRecordsInput{MaxResults: aws.Int32(2)})
				if err != nil || len(out.IncidentRecordSummaries) != 2 || out.NextToken == nil {
					t.Fatalf("page 1: %v %+v", err, out)
				}
				out, err = c.ListIncidentRecords(ctx, &ssmincidents.ListIncidentRecordsInput{MaxResults: aws.Int32(2), NextToken: out.NextToken})
				if err != nil || len(out.IncidentRecordSummaries) != 1 || out.NextToken != nil {
					t.Fatalf("page 2: %v %+v", err, out)
				}
				_, err = c.ListIncidentRecords(ctx, &ssmincidents.ListIncidentRecordsInput{Filters: []types.Filter{strs("owner", "x")}})
				if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "filters[0].key") {
					t.Fatalf("unknown filter key: %v", err)
				}
			})

			t.Run("timeline", func(t *testing.T) {
				ev, err := c.CreateTimelineEvent(ctx, &ssmincidents.CreateTimelineEventInput{IncidentRecordArn: aws.String(arn),
					EventType: aws.String("Note"), EventData: aws.String("rolled back the deploy"), EventTime: aws.Time(time.Now()),
					EventReferences: []types.EventReference{&types.EventReferenceMemberResource{Value: arn}}})
				if err != nil {
					t.Fatal(err)
				}
				out, err := c.ListTimelineEvents(ctx, &ssmincidents.ListTimelineEventsInput{IncidentRecordArn: aws.String(arn),
					Filters: []types.Filter{{Key: aws.String("eventType"), Condition: &types.ConditionMemberEquals{Value: &types.AttributeValueListMemberStringValues{Value: []string{"Note"}}}}}})
				if err != nil || len(out.EventSummaries) != 1 || *out.EventSummaries[0].EventId != *ev.EventId {
					t.Fatalf("notes: %v %+v", err, out)
				}
				all, err := c.ListTimelineEvents(ctx, &ssmincidents.ListTimelineEventsInput{IncidentRecordArn: aws.String(arn), SortOrder: types.SortOrderDescending})
				if err != nil || len(all.EventSummaries) < 2 || *all.EventSummaries[0].EventId != *ev.EventId {
					t.Fatalf("all events, newest first: %v %+v", err, all)
				}
				got, err := c.GetTimelineEvent(ctx, &ssmincidents.GetTimelineEventInput{IncidentRecordArn: aws.String(arn), EventId: ev.EventId})
				if err != nil || *got.Event.EventData != "rolled back the deploy" {
					t.Fatalf("get event: %v %+v", err, got)
				}
				_, err = c.CreateTimelineEvent(ctx, &ssmincidents.CreateTimelineEventInput{IncidentRecordArn: aws.String(arn),
					EventType: aws.String("Deploy"), EventData: aws.String("x"), EventTime: aws.Time(time.Now())})
				if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "eventType") {
					t.Fatalf("bad event type: %v", err)
				}
			})

			t.Run("update", func(t *testing.T) {
				_, err := c.UpdateIncidentRecord(ctx, &ssmincidents.UpdateIncidentRecordInput{Arn: aws.String(arn), Impact: aws.Int32(1)})
				if apiCode(err) != "ValidationException" || !strings.Contains(err.Error(), "impact") {
					t.Fatalf("impact without a backing: %v", err)
				}
				if _, err := c.UpdateIncidentRecord(ctx, &ssmincidents.UpdateIncidentRecordInput{Arn: aws.String(arn), Status: types.IncidentRecordStatusResolved}); err != nil {
					t.Fatal(err)
				}
				out, err := c.GetIncidentRecord(ctx, &ssmincidents.GetIncidentRecordInput{Arn: aws.String(arn)})
				if err != nil || out.IncidentRecord.Status != types.IncidentRecordStatusResolved || out.IncidentRecord.ResolvedTime == nil ||
					*out.IncidentRecord.Impact != 3 || *out.IncidentRecord.LastModifiedBy != keyID+" via aws-api" {
					t.Fatalf("resolved: %v %+v", err, out.IncidentRecord)
				}
				_, err = c.UpdateIncidentRecord(ctx, &ssmincidents.UpdateIncidentRecordInput{Arn: aws.String(arn), Status: types.IncidentRecordStatusOpen})
				if apiCode(err) != "ValidationException" {
					t.Fatalf("re-open: %v", err)
				}
			})

			t.Run("response plans and related items", func(t *testing.T) {
				lp, err := c.ListResponsePlans(ctx, &ssmincidents.ListResponsePlansInput{})
				if err != nil || len(lp.ResponsePlanSummaries) != 1 || *lp.ResponsePlanSummaries[0].Arn != planArn {
					t.Fatalf("list plans: %v %+v", err, lp)
				}
				gp, err := c.GetResponsePlan(ctx, &ssmincidents.GetResponsePlanInput{Arn: aws.String(planArn)})
				if err != nil || *gp.IncidentTemplate.Title != "cpu-incident-1" || *gp.IncidentTemplate.Impact != 3 || len(gp.Engagements) != 1 {
					t.Fatalf("get plan: %v %+v", err, gp)
				}
				// The plan's runbook is AWS's SsmAutomation action, dynamic
				// parameters as the incident's variables.
				act, ok := gp.Actions[0].(*types.ActionMemberSsmAutomation)
				if len(gp.Actions) != 1 || !ok || *act.Value.DocumentName != "ec2-cpu-util-runbook" ||
					act.Value.Parameters["Region"][0] != "eu-west-1" {
					t.Fatalf("plan actions: %+v", gp.Actions)
				}
				dyn, ok := act.Value.DynamicParameters["IncidentArn"].(*types.DynamicSsmParameterValueMemberVariable)
				if !ok || dyn.Value != types.VariableTypeIncidentRecordArn {
					t.Fatalf("dynamic parameters: %+v", act.Value.DynamicParameters)
				}
				_, err = c.ListRelatedItems(ctx, &ssmincidents.ListRelatedItemsInput{IncidentRecordArn: aws.String(arn)})
				if apiCode(err) != "NotImplementedException" || !strings.Contains(err.Error(), "related items are not available") {
					t.Fatalf("related items without a backing: %v", err)
				}
			})

			t.Run("refused signatures write nothing", func(t *testing.T) {
				before := count(t, db)
				start := &ssmincidents.StartIncidentInput{ResponsePlanArn: aws.String(planArn)}
				var denied *types.AccessDeniedException
				if _, err := client(endpoint, keyID, "wrong-secret-wrong-secret").StartIncident(ctx, start); !errors.As(err, &denied) {
					t.Fatalf("wrong secret: %v", err)
				}
				if _, err := client(endpoint, "AKIAUNKNOWNKEY0001", secret).StartIncident(ctx, start); !errors.As(err, &denied) {
					t.Fatalf("unknown key: %v", err)
				}
				if n := count(t, db); n != before {
					t.Fatalf("a refused call wrote: %d incidents, was %d", n, before)
				}
			})

			t.Run("stale date refused", func(t *testing.T) {
				before := count(t, db)
				body := []byte(`{"responsePlanArn":"` + planArn + `"}`)
				for _, tc := range []struct {
					name string
					at   time.Time
					want int
				}{{"stale", time.Now().Add(-20 * time.Minute), http.StatusForbidden}, {"fresh", time.Now(), http.StatusOK}} {
					req, _ := http.NewRequest("POST", endpoint+"/startIncident", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					sum := sha256.Sum256(body)
					creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}
					if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "ssm-incidents", "us-east-1", tc.at); err != nil {
						t.Fatal(err)
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					if resp.StatusCode != tc.want {
						t.Fatalf("%s: status %d", tc.name, resp.StatusCode)
					}
					if tc.want == http.StatusForbidden && resp.Header.Get("X-Amzn-Errortype") != "AccessDeniedException" {
						t.Fatalf("%s: error type %q", tc.name, resp.Header.Get("X-Amzn-Errortype"))
					}
				}
				if n := count(t, db); n != before+1 {
					t.Fatalf("only the fresh call writes: %d incidents, was %d", n, before)
				}
				resp, err := http.Post(endpoint+"/startIncident", "application/json", bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusForbidden {
					t.Fatalf("unsigned: %d", resp.StatusCode)
				}
			})
		})
	}
}
