// Package awsapi serves tocsin's AWS-compatible face: the operations of
// AWS Incident Manager (ssm-incidents, REST-JSON) that tooling already
// calls — StartIncident, GetIncidentRecord, ListIncidentRecords,
// UpdateIncidentRecord, CreateTimelineEvent, ListTimelineEvents,
// GetTimelineEvent, UpdateRelatedItems, ListRelatedItems,
// ListResponsePlans, GetResponsePlan — under a path prefix, each request's
// SigV4 signature verified against access keys configured in tocsin. The
// AWS SDKs and the aws CLI, given the prefix as their endpoint URL, work
// unchanged.
//
// Incident ARNs read arn:aws:ssm-incidents::ACCOUNT:incident-record/PLAN/ID,
// where ID is tocsin's incident id; response plan ARNs
// (…:response-plan/NAME) map to tocsin's response plans by name.
package awsapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"tocsin"
	"tocsin/api"
)

// DefaultPathPrefix is where the face is served unless configured.
const DefaultPathPrefix = "/aws/ssm-incidents"

// DefaultAccountID is the account in the ARNs tocsin answers with.
const DefaultAccountID = "000000000000"

// Store is what the face needs of incidents (store.Incidents).
type Store interface {
	Ingest(ctx context.Context, alerts []*tocsin.Alert, opts tocsin.IngestOptions) ([]tocsin.IngestResult, error)
	FindIncident(ctx context.Context, id string) (*tocsin.Incident, error)
	ListIncidents(ctx context.Context, f tocsin.IncidentFilter) (incidents []*tocsin.Incident, next string, err error)
	Resolve(ctx context.Context, id string, by tocsin.Actor) (inc *tocsin.Incident, changed bool, err error)
	AddNote(ctx context.Context, id string, by tocsin.Actor, text string) (*tocsin.TimelineEvent, error)
}

// Plans finds response plans by name (store.ResponsePlans).
type Plans interface {
	FindResponsePlan(ctx context.Context, name string) (*tocsin.ResponsePlan, error)
	ListResponsePlans(ctx context.Context) ([]*tocsin.ResponsePlan, error)
}

// Changes are the triage fields UpdateIncidentRecord may change; nil
// fields stay as they are.
type Changes struct {
	Title   *string
	Summary *string
	Impact  *int
}

// Records changes an incident's title, summary and impact, each change
// on the timeline with who made it.
type Records interface {
	UpdateIncident(ctx context.Context, id string, changes Changes, by tocsin.Actor) (*tocsin.Incident, error)
}

// RelatedItem is one thing an incident refers to, as the face sees it:
// Type is AWS's item type lower-cased (metric, url, incident, parent,
// attachment, analysis, task, other, automation, involved_resource) and
// Value a URL, a metric definition, an ARN or, for incident and parent, the
// other incident's id.
type RelatedItem struct {
	ID    string
	Type  string
	Title string
	Value string
}

// RelatedItems keeps incidents' related items.
type RelatedItems interface {
	AddRelatedItem(ctx context.Context, incidentID string, item RelatedItem, by tocsin.Actor) error
	RemoveRelatedItem(ctx context.Context, incidentID, itemType, value string, by tocsin.Actor) error
	ListRelatedItems(ctx context.Context, incidentID string) ([]RelatedItem, error)
}

// Options configure a Server.
type Options struct {
	// PathPrefix is where the operations live (DefaultPathPrefix).
	PathPrefix string
	// AccountID is the account of the ARNs answered (DefaultAccountID).
	AccountID string
	// Credentials may sign requests; with none every request is refused.
	Credentials []Credential
	// Plans backs StartIncident, ListResponsePlans and GetResponsePlan;
	// nil answers them NotImplementedException.
	Plans Plans
	// Records backs UpdateIncidentRecord's title, summary and impact; nil
	// refuses those fields with a ValidationException (status still works).
	Records Records
	// RelatedItems backs UpdateRelatedItems, ListRelatedItems and
	// StartIncident's relatedItems; nil answers NotImplementedException.
	RelatedItems RelatedItems
	// MaxBodyBytes limits request bodies (api.DefaultMaxBodyBytes).
	MaxBodyBytes int64
	Now          func() time.Time
	Logger       *slog.Logger
}

// Server serves the ssm-incidents operations.
type Server struct {
	store Store
	opts  Options
	sig   verifier
}

// New returns the face over store; Register puts it on a mux.
func New(store Store, opts Options) *Server {
	if opts.PathPrefix == "" {
		opts.PathPrefix = DefaultPathPrefix
	}
	opts.PathPrefix = strings.TrimRight(opts.PathPrefix, "/")
	if opts.AccountID == "" {
		opts.AccountID = DefaultAccountID
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = api.DefaultMaxBodyBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{store: store, opts: opts, sig: verifier{secrets: map[string]string{}, now: opts.Now}}
	for _, c := range opts.Credentials {
		s.sig.secrets[c.AccessKeyID] = c.SecretAccessKey
	}
	return s
}

// request is one verified call: who signed it and its body.
type request struct {
	*http.Request
	body  []byte
	keyID string
}

// actor is who a call acts as on timelines: the access key that signed it.
func (r *request) actor() tocsin.Actor { return tocsin.Actor{Name: r.keyID, Via: "aws-api"} }

// decode reads the JSON body into v. Unknown keys are ignored, as AWS's
// own service does for fields newer SDKs add; a wrong type is refused.
func (r *request) decode(v any) error {
	if len(r.body) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return tocsin.Errorf(tocsin.EINVALID, "%s: must be %s, not %s", te.Field, te.Type, te.Value)
		}
		return tocsin.Errorf(tocsin.EINVALID, "request body is not JSON: %v", err)
	}
	return nil
}

type handler func(w http.ResponseWriter, r *request) error

// Register adds the operations to m under the prefix.
func (s *Server) Register(m *http.ServeMux) {
	p := s.opts.PathPrefix
	for route, h := range map[string]handler{
		"POST /startIncident":        s.startIncident,
		"GET /getIncidentRecord":     s.getIncidentRecord,
		"POST /listIncidentRecords":  s.listIncidentRecords,
		"POST /updateIncidentRecord": s.updateIncidentRecord,
		"POST /createTimelineEvent":  s.createTimelineEvent,
		"POST /listTimelineEvents":   s.listTimelineEvents,
		"GET /getTimelineEvent":      s.getTimelineEvent,
		"POST /updateRelatedItems":   s.updateRelatedItems,
		"POST /listRelatedItems":     s.listRelatedItems,
		"POST /listResponsePlans":    s.listResponsePlans,
		"GET /getResponsePlan":       s.getResponsePlan,
	} {
		method, path, _ := strings.Cut(route, " ")
		m.Handle(method+" "+p+path, s.serve(h))
	}
	m.Handle(p+"/", s.serve(func(w http.ResponseWriter, r *request) error {
		return &awsError{status: http.StatusNotFound, kind: "UnknownOperationException",
			msg: "tocsin does not implement " + r.Method + " " + strings.TrimPrefix(r.URL.Path, p)}
	}))
}

// serve verifies the signature, then runs h; every refusal is written in
// AWS's error shape before anything is read or written.
func (s *Server) serve(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := api.ReadBody(w, r, s.opts.MaxBodyBytes)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		keyID, err := s.sig.verify(r, body)
		if err != nil {
			s.opts.Logger.Info("aws api: request refused", "path", r.URL.Path, "reason", tocsin.ErrorMessage(err))
			s.fail(w, r, err)
			return
		}
		if err := h(w, &request{Request: r, body: body, keyID: keyID}); err != nil {
			s.fail(w, r, err)
		}
	})
}

// awsError is an answer in AWS's error shape with its own type, for what
// tocsin's error codes do not say (an unknown operation, a resource type).
type awsError struct {
	status       int
	kind, msg    string
	resourceType string
	resourceID   string
}

func (e *awsError) Error() string { return e.kind + ": " + e.msg }

// notFound reports a missing resource the AWS way when err is ENOTFOUND.
func notFound(err error, resourceType, id string) error {
	if tocsin.ErrorCode(err) != tocsin.ENOTFOUND {
		return err
	}
	return &awsError{status: http.StatusNotFound, kind: "ResourceNotFoundException", msg: tocsin.ErrorMessage(err),
		resourceType: resourceType, resourceID: id}
}

// kinds names the AWS error type of each tocsin error code; the status
// comes from api's one table.
var kinds = map[string]string{
	tocsin.EINVALID:        "ValidationException",
	tocsin.ETOOLARGE:       "ValidationException",
	tocsin.ENOTFOUND:       "ResourceNotFoundException",
	tocsin.ECONFLICT:       "ConflictException",
	tocsin.EFORBIDDEN:      "AccessDeniedException",
	tocsin.EUNAUTHORIZED:   "AccessDeniedException",
	tocsin.ENOTIMPLEMENTED: "NotImplementedException",
	tocsin.EUNAVAILABLE:    "ThrottlingException",
}

// fail writes err as {"message": …} with X-Amzn-Errortype, logging the
// server's own faults once.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *awsError
	if !errors.As(err, &ae) {
		code := tocsin.ErrorCode(err)
		api.LogError(s.opts.Logger, r, err)
		ae = &awsError{status: api.StatusCode(code), kind: kinds[code], msg: tocsin.ErrorMessage(err)}
		if ae.kind == "" {
			ae.kind = "InternalServerException"
		}
	}
	body := map[string]any{"message": ae.msg}
	if ae.resourceType != "" {
		body["resourceType"], body["resourceIdentifier"] = ae.resourceType, ae.resourceID
	}
	w.Header().Set("X-Amzn-Errortype", ae.kind)
	api.WriteJSON(w, ae.status, body)
}

// notAvailable is the answer of an operation whose backing this tocsin
// does not have.
func notAvailable(what string) error {
	return tocsin.Errorf(tocsin.ENOTIMPLEMENTED, "%s are not available in this tocsin", what)
}
