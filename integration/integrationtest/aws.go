package integrationtest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Test credentials and identity of the AWS fake. The fake accepts any
// SigV4-signed request; these are what SetEnv and Credentials hand out.
const (
	AWSAccessKeyID     = "AKIDTOCSINTEST"
	AWSSecretAccessKey = "tocsin-test-secret-access-key"
	AWSRegion          = "us-east-1"
	AWSAccountID       = "123456789012"
)

// AWS is a fake of the AWS Incident Manager (ssm-incidents) REST-JSON API:
// POST /startIncident and POST /updateIncidentRecord. It requires a SigV4
// Authorization header for service ssm-incidents, validates the fields as
// AWS does (400 ValidationException), honours clientToken (the same token
// returns the same incident record ARN, as AWS does), and answers 404
// ResourceNotFoundException for an unknown ARN. It is safe for concurrent
// use.
type AWS struct {
	// URL is the endpoint to configure (aws_incident_manager.endpoint).
	URL string

	base
	mu        sync.Mutex
	starts    []StartIncidentCall
	updates   []UpdateCall
	incidents []*AWSIncident
	byToken   map[string]*AWSIncident
	byARN     map[string]*AWSIncident
}

// StartIncidentCall is one accepted StartIncident request.
type StartIncidentCall struct {
	ResponsePlanArn string
	Title           string
	// Impact is 0 when the request left it to the response plan.
	Impact         int
	ClientToken    string
	TriggerDetails AWSTriggerDetails
	RelatedItems   []AWSRelatedItem
	// Region and AccessKeyID are read from the SigV4 credential scope.
	Region      string
	AccessKeyID string
	// IncidentRecordArn is what the fake answered.
	IncidentRecordArn string
}

// AWSTriggerDetails is StartIncident's triggerDetails.
type AWSTriggerDetails struct {
	Source string
	// Timestamp is in epoch seconds, as the REST-JSON protocol sends it.
	Timestamp  float64
	TriggerArn string
	RawData    string
}

// AWSRelatedItem is one of StartIncident's relatedItems; URL or ARN is set.
type AWSRelatedItem struct {
	Type  string
	Title string
	URL   string
	ARN   string
}

// UpdateCall is one accepted UpdateIncidentRecord request.
type UpdateCall struct {
	Arn    string
	Status string
	// Title, Summary and Impact are set only when the request changed them.
	Title       string
	Summary     string
	Impact      int
	ClientToken string
}

// AWSIncident is an incident record as the fake holds it.
type AWSIncident struct {
	Arn             string
	ResponsePlanArn string
	Title           string
	Impact          int
	// Status is OPEN or RESOLVED.
	Status      string
	ClientToken string
}

// NewAWS starts an AWS Incident Manager fake that lives until t ends.
func NewAWS(t testing.TB) *AWS {
	t.Helper()
	a := &AWS{byToken: map[string]*AWSIncident{}, byARN: map[string]*AWSIncident{}}
	a.start(t, a.serve, writeAWSError)
	a.URL = a.srv.URL
	return a
}

// SetEnv points the AWS SDK's default credential chain at the fake's test
// credentials for the rest of t: static keys, region AWSRegion, empty
// shared config files, no instance metadata, no CA bundle or endpoint
// overrides from the environment. Scenario tests that build the
// provider from config use it. Like t.Setenv it cannot be used in
// parallel tests.
func (a *AWS) SetEnv(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"config", "credentials"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("AWS_ACCESS_KEY_ID", AWSAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", AWSSecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", AWSRegion)
	t.Setenv("AWS_DEFAULT_REGION", AWSRegion)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CA_BUNDLE", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_SSM_INCIDENTS", "")
}

// Credentials returns a static provider of the fake's test credentials.
func (a *AWS) Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(AWSAccessKeyID, AWSSecretAccessKey, "")
}

// ResponsePlanARN returns a well-formed response plan ARN named name.
func ResponsePlanARN(name string) string {
	return "arn:aws:ssm-incidents::" + AWSAccountID + ":response-plan/" + name
}

// Starts returns the accepted StartIncident calls, in order. A repeated
// clientToken is recorded again (and answered with the first ARN).
func (a *AWS) Starts() []StartIncidentCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]StartIncidentCall(nil), a.starts...)
}

// Updates returns the accepted UpdateIncidentRecord calls, in order.
func (a *AWS) Updates() []UpdateCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]UpdateCall(nil), a.updates...)
}

// Incidents returns the distinct incident records, in creation order, as
// they are now.
func (a *AWS) Incidents() []AWSIncident {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]AWSIncident, len(a.incidents))
	for i, inc := range a.incidents {
		out[i] = *inc
	}
	return out
}

// FailNext makes the next n requests fail with f.
func (a *AWS) FailNext(n int, f Fault) { a.failNext(n, f) }

// ClearFaults drops faults not yet used.
func (a *AWS) ClearFaults() { a.clearFaults() }

// Requests counts every request received, faults included.
func (a *AWS) Requests() int { return a.count() }

func (a *AWS) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeAWSError(w, Fault{Status: http.StatusMethodNotAllowed, Code: "UnknownOperationException", Message: r.Method + " " + r.URL.Path})
		return
	}
	region, akid, ok := parseSigV4(r.Header.Get("Authorization"))
	if !ok {
		writeAWSError(w, Fault{Status: http.StatusForbidden, Code: "AccessDeniedException", Message: "missing or malformed SigV4 signature for ssm-incidents"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return
	}
	switch r.URL.Path {
	case "/startIncident":
		a.startIncident(w, body, region, akid)
	case "/updateIncidentRecord":
		a.updateIncidentRecord(w, body)
	default:
		writeAWSError(w, Fault{Status: http.StatusNotFound, Code: "UnknownOperationException", Message: "no operation at " + r.URL.Path})
	}
}

type awsStartBody struct {
	ResponsePlanArn string `json:"responsePlanArn"`
	Title           *string
	Impact          *int
	ClientToken     string `json:"clientToken"`
	TriggerDetails  *struct {
		Source     string   `json:"source"`
		Timestamp  *float64 `json:"timestamp"`
		TriggerArn string   `json:"triggerArn"`
		RawData    string   `json:"rawData"`
	} `json:"triggerDetails"`
	RelatedItems []struct {
		Identifier struct {
			Type  string `json:"type"`
			Value struct {
				URL string `json:"url"`
				ARN string `json:"arn"`
			} `json:"value"`
		} `json:"identifier"`
		Title string `json:"title"`
	} `json:"relatedItems"`
}

func (a *AWS) startIncident(w http.ResponseWriter, body []byte, region, akid string) {
	var in awsStartBody
	if err := json.Unmarshal(body, &in); err != nil {
		writeAWSError(w, Fault{Status: 400, Code: "SerializationException", Message: err.Error()})
		return
	}
	if msg := validateStart(&in); msg != "" {
		writeAWSError(w, Fault{Status: 400, Code: "ValidationException", Message: msg})
		return
	}
	call := StartIncidentCall{ResponsePlanArn: in.ResponsePlanArn, ClientToken: in.ClientToken, Region: region, AccessKeyID: akid}
	if in.Title != nil {
		call.Title = *in.Title
	}
	if in.Impact != nil {
		call.Impact = *in.Impact
	}
	if td := in.TriggerDetails; td != nil {
		call.TriggerDetails = AWSTriggerDetails{Source: td.Source, Timestamp: *td.Timestamp, TriggerArn: td.TriggerArn, RawData: td.RawData}
	}
	for _, it := range in.RelatedItems {
		call.RelatedItems = append(call.RelatedItems, AWSRelatedItem{Type: it.Identifier.Type, Title: it.Title, URL: it.Identifier.Value.URL, ARN: it.Identifier.Value.ARN})
	}

	a.mu.Lock()
	inc := a.byToken[in.ClientToken]
	if inc == nil || in.ClientToken == "" {
		plan := in.ResponsePlanArn[strings.LastIndex(in.ResponsePlanArn, "/")+1:]
		seed := in.ClientToken
		if seed == "" {
			seed = fmt.Sprintf("#%d", len(a.incidents))
		}
		sum := sha256.Sum256([]byte(seed))
		inc = &AWSIncident{
			Arn:             fmt.Sprintf("arn:aws:ssm-incidents::%s:incident-record/%s/%s", AWSAccountID, plan, hex.EncodeToString(sum[:16])),
			ResponsePlanArn: in.ResponsePlanArn, Title: call.Title, Impact: call.Impact, Status: "OPEN", ClientToken: in.ClientToken,
		}
		if inc.Title == "" {
			inc.Title = "Incident from " + plan
		}
		if inc.Impact == 0 {
			inc.Impact = 3
		}
		a.incidents = append(a.incidents, inc)
		a.byARN[inc.Arn] = inc
		if in.ClientToken != "" {
			a.byToken[in.ClientToken] = inc
		}
	}
	call.IncidentRecordArn = inc.Arn
	a.starts = append(a.starts, call)
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"incidentRecordArn": inc.Arn})
}

// validateStart checks a StartIncident body against the service model's
// constraints and returns a ValidationException message, or "".
func validateStart(in *awsStartBody) string {
	switch {
	case !strings.HasPrefix(in.ResponsePlanArn, "arn:") || !strings.Contains(in.ResponsePlanArn, ":response-plan/"):
		return "responsePlanArn: not a response plan ARN"
	case in.Title != nil && (len([]rune(*in.Title)) > 200 || *in.Title == ""):
		return "title: length must be 1 to 200"
	case in.Impact != nil && (*in.Impact < 1 || *in.Impact > 5):
		return "impact: must be 1 to 5"
	case len(in.ClientToken) > 128:
		return "clientToken: longer than 128"
	case len(in.RelatedItems) > 100:
		return "relatedItems: more than 100"
	}
	if td := in.TriggerDetails; td != nil {
		switch {
		case td.Source == "" || td.Timestamp == nil:
			return "triggerDetails: source and timestamp are required"
		case strings.HasPrefix(td.Source, "aws."):
			return "triggerDetails.source: custom sources must not start with aws."
		case len([]rune(td.RawData)) > 10000:
			return "triggerDetails.rawData: longer than 10000"
		}
	}
	for _, it := range in.RelatedItems {
		switch it.Identifier.Type {
		case "ANALYSIS", "INCIDENT", "METRIC", "PARENT", "ATTACHMENT", "OTHER", "AUTOMATION", "INVOLVED_RESOURCE", "TASK":
		default:
			return "relatedItems.identifier.type: " + it.Identifier.Type + " is not a valid item type"
		}
		if (it.Identifier.Value.URL == "") == (it.Identifier.Value.ARN == "") {
			return "relatedItems.identifier.value: exactly one of url or arn is required"
		}
		if len([]rune(it.Title)) > 200 {
			return "relatedItems.title: longer than 200"
		}
	}
	return ""
}

func (a *AWS) updateIncidentRecord(w http.ResponseWriter, body []byte) {
	var in struct {
		Arn         string `json:"arn"`
		Status      string `json:"status"`
		Title       string `json:"title"`
		Summary     string `json:"summary"`
		Impact      int    `json:"impact"`
		ClientToken string `json:"clientToken"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		writeAWSError(w, Fault{Status: 400, Code: "SerializationException", Message: err.Error()})
		return
	}
	switch {
	case in.Arn == "":
		writeAWSError(w, Fault{Status: 400, Code: "ValidationException", Message: "arn: required"})
		return
	case in.Status != "" && in.Status != "OPEN" && in.Status != "RESOLVED":
		writeAWSError(w, Fault{Status: 400, Code: "ValidationException", Message: "status: must be OPEN or RESOLVED"})
		return
	case in.Impact != 0 && (in.Impact < 1 || in.Impact > 5):
		writeAWSError(w, Fault{Status: 400, Code: "ValidationException", Message: "impact: must be 1 to 5"})
		return
	}
	a.mu.Lock()
	inc := a.byARN[in.Arn]
	if inc == nil {
		a.mu.Unlock()
		writeAWSError(w, Fault{Status: 404, Code: "ResourceNotFoundException", Message: "incident record not found"})
		return
	}
	if in.Status != "" {
		inc.Status = in.Status
	}
	if in.Title != "" {
		inc.Title = in.Title
	}
	if in.Impact != 0 {
		inc.Impact = in.Impact
	}
	a.updates = append(a.updates, UpdateCall{Arn: in.Arn, Status: in.Status, Title: in.Title, Summary: in.Summary, Impact: in.Impact, ClientToken: in.ClientToken})
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, struct{}{})
}

// parseSigV4 reads the credential scope of a SigV4 Authorization header:
// "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ssm-incidents/aws4_request, SignedHeaders=…, Signature=…".
func parseSigV4(h string) (region, akid string, ok bool) {
	rest, found := strings.CutPrefix(h, "AWS4-HMAC-SHA256 ")
	if !found || !strings.Contains(rest, "Signature=") || !strings.Contains(rest, "SignedHeaders=") {
		return "", "", false
	}
	for part := range strings.SplitSeq(rest, ",") {
		cred, found := strings.CutPrefix(strings.TrimSpace(part), "Credential=")
		if !found {
			continue
		}
		f := strings.Split(cred, "/")
		if len(f) != 5 || f[3] != "ssm-incidents" || f[4] != "aws4_request" || f[0] == "" || f[2] == "" {
			return "", "", false
		}
		return f[2], f[0], true
	}
	return "", "", false
}

// writeAWSError answers in the REST-JSON error dialect.
func writeAWSError(w http.ResponseWriter, f Fault) {
	code := f.Code
	if code == "" {
		switch {
		case f.Status == http.StatusTooManyRequests:
			code = "ThrottlingException"
		case f.Status >= 500:
			code = "InternalServerException"
		case f.Status == http.StatusForbidden:
			code = "AccessDeniedException"
		case f.Status == http.StatusNotFound:
			code = "ResourceNotFoundException"
		case f.Status == http.StatusConflict:
			code = "ConflictException"
		default:
			code = "ValidationException"
		}
	}
	w.Header().Set("X-Amzn-ErrorType", code)
	writeJSON(w, f.Status, map[string]string{"__type": code, "message": f.Message})
}
