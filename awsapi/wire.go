package awsapi

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"tocsin"
)

// epoch is a timestamp on the wire: seconds since 1970 as a JSON number,
// fractions allowed (the REST-JSON protocol's default format).
type epoch struct{ time.Time }

// UnmarshalJSON reads seconds since the epoch.
func (e *epoch) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return &json.UnmarshalTypeError{Value: string(b), Type: typeOfEpoch}
	}
	sec, frac := math.Modf(f)
	e.Time = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return nil
}

// at writes t as seconds since the epoch, to the millisecond.
func at(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// atPtr is at for an optional time.
func atPtr(t *time.Time) *float64 {
	if t == nil {
		return nil
	}
	v := at(*t)
	return &v
}

// typeOfEpoch is what decoding errors say a timestamp must be.
var typeOfEpoch = reflect.TypeOf(float64(0))

// ARNs.

// incidentARN is the ARN of an incident: the plan it was started from
// (label response_plan), or "tocsin" for incidents opened by alerts.
func (s *Server) incidentARN(inc *tocsin.Incident) string {
	plan := inc.Labels[planLabel]
	if plan == "" {
		plan = "tocsin"
	}
	return "arn:aws:ssm-incidents::" + s.opts.AccountID + ":incident-record/" + plan + "/" + inc.ID
}

// planARN is the ARN of a response plan.
func (s *Server) planARN(name string) string {
	return "arn:aws:ssm-incidents::" + s.opts.AccountID + ":response-plan/" + name
}

// planLabel is the incident label naming the response plan an incident
// was started from through this face.
const planLabel = "response_plan"

// incidentID reads the incident id out of an incident record ARN; field
// names the parameter in errors.
func incidentID(field, arn string) (string, error) {
	_, rest, ok := strings.Cut(arn, ":incident-record/")
	if !strings.HasPrefix(arn, "arn:") || !ok {
		return "", tocsin.Errorf(tocsin.EINVALID, "%s: %q is not an incident record ARN (arn:aws:ssm-incidents::ACCOUNT:incident-record/PLAN/ID)", field, arn)
	}
	id := rest[strings.LastIndex(rest, "/")+1:]
	if id == "" {
		return "", tocsin.Errorf(tocsin.EINVALID, "%s: %q has no incident id", field, arn)
	}
	return id, nil
}

// planName reads a response plan's name out of its ARN (a bare name is
// taken as it is); field names the parameter in errors.
func planName(field, arn string) (string, error) {
	name := arn
	if strings.HasPrefix(arn, "arn:") {
		_, rest, ok := strings.Cut(arn, ":response-plan/")
		if !ok {
			return "", tocsin.Errorf(tocsin.EINVALID, "%s: %q is not a response plan ARN (arn:aws:ssm-incidents::ACCOUNT:response-plan/NAME)", field, arn)
		}
		name = rest
	}
	if !tocsin.ValidPlanName(name) {
		return "", tocsin.Errorf(tocsin.EINVALID, "%s: %q does not name a response plan (1-200 letters, digits, '-' or '_')", field, name)
	}
	return name, nil
}

// Filters and pages.

// filter is ListIncidentRecords' and ListTimelineEvents' Filter.
type filter struct {
	Key       string `json:"key"`
	Condition struct {
		Before *epoch `json:"before"`
		After  *epoch `json:"after"`
		Equals *struct {
			StringValues  []string `json:"stringValues"`
			IntegerValues []int    `json:"integerValues"`
		} `json:"equals"`
	} `json:"condition"`
}

// timeRange ANDs a filter's before/after into [from, until).
func (f *filter) timeRange(field string, from, until **time.Time) error {
	c := f.Condition
	switch {
	case c.After != nil && c.Before == nil && c.Equals == nil:
		if *from == nil || c.After.After(**from) {
			t := c.After.Time
			*from = &t
		}
	case c.Before != nil && c.After == nil && c.Equals == nil:
		if *until == nil || c.Before.Before(**until) {
			t := c.Before.Time
			*until = &t
		}
	default:
		return tocsin.Errorf(tocsin.EINVALID, "%s.condition: %s takes exactly one of before, after", field, f.Key)
	}
	return nil
}

// strings returns an equals condition's string values.
func (f *filter) strings(field string) ([]string, error) {
	c := f.Condition
	if c.Equals == nil || c.Before != nil || c.After != nil || len(c.Equals.StringValues) == 0 {
		return nil, tocsin.Errorf(tocsin.EINVALID, "%s.condition: %s takes equals with stringValues", field, f.Key)
	}
	return c.Equals.StringValues, nil
}

// intersect ANDs two filters' values: nil is "any".
func intersect[T comparable](have, next []T) []T {
	if have == nil {
		return next
	}
	out := []T{}
	for _, v := range have {
		for _, w := range next {
			if v == w {
				out = append(out, v)
				break
			}
		}
	}
	return out
}

// pageSize checks maxResults (1–100; 0 is 100).
func pageSize(n int) (int, error) {
	switch {
	case n == 0:
		return 100, nil
	case n < 1 || n > 100:
		return 0, tocsin.Errorf(tocsin.EINVALID, "maxResults: %d is not between 1 and 100", n)
	}
	return n, nil
}

// offsetToken and readOffset page lists that tocsin builds in memory.
func offsetToken(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(n)))
}

func readOffset(token string) (int, error) {
	if token == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err == nil && strings.HasPrefix(string(b), "o:") {
		if n, err := strconv.Atoi(string(b[2:])); err == nil && n >= 0 {
			return n, nil
		}
	}
	return 0, tocsin.Errorf(tocsin.EINVALID, "nextToken: not a token returned by this API")
}

// page cuts items at offset token, n per page.
func page[T any](items []T, token string, n int) ([]T, *string, error) {
	off, err := readOffset(token)
	if err != nil {
		return nil, nil, err
	}
	if off > len(items) {
		off = len(items)
	}
	end := min(off+n, len(items))
	var next *string
	if end < len(items) {
		t := offsetToken(end)
		next = &t
	}
	return items[off:end], next, nil
}
