package ingest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"tocsin"
)

// genericKeys are the keys of tocsin's generic format (see the package
// documentation).
var genericKeys = []string{"title", "description", "severity", "status", "dedup_key", "fingerprint", "labels", "links"}

// Generic decodes tocsin's own documented alert format (see the package
// documentation): one object or an array of objects. Since the format is
// ours it is decoded strictly: an unknown key, a value of the wrong type,
// a missing title, a status other than firing or resolved, or a link that
// is not an http(s) URL is an EINVALID error naming the key. Each alert's
// Raw is the object it was decoded from.
func Generic(body []byte, now time.Time) ([]*tocsin.Alert, error) {
	const source = tocsin.SourceGeneric
	body, err := trimBody(body)
	if err != nil {
		return nil, err
	}
	if jsonKind(body) != "array" {
		a, err := genericAlert(body, "", now)
		if err != nil {
			return nil, err
		}
		return []*tocsin.Alert{a}, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		return nil, jsonError(source, "", err)
	}
	switch n := len(items); {
	case n == 0:
		return nil, tocsin.Errorf(tocsin.EINVALID, "%s: empty array", source)
	case n > MaxAlertsPerRequest:
		return nil, tooMany(source, n)
	}
	alerts := make([]*tocsin.Alert, 0, len(items))
	for i, item := range items {
		a, err := genericAlert(item, fmt.Sprintf("element %d: ", i), now)
		if err != nil {
			return nil, err
		}
		alerts = append(alerts, a)
	}
	return alerts, nil
}

// genericAlert decodes one object of the generic format. where prefixes
// error messages to say which element of an array was wrong.
func genericAlert(raw []byte, where string, now time.Time) (*tocsin.Alert, error) {
	invalid := func(format string, args ...any) error {
		return tocsin.Errorf(tocsin.EINVALID, "generic: "+where+format, args...)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		if jsonKind(raw) != "object" && json.Valid(raw) {
			return nil, invalid("alert must be a JSON object")
		}
		return nil, jsonError(tocsin.SourceGeneric, "", err)
	}
	if fields == nil {
		return nil, invalid("alert must be a JSON object")
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		if !slices.Contains(genericKeys, k) {
			return nil, invalid("unknown field %q", k)
		}
	}
	str := func(key string) (string, error) {
		v, ok := fields[key]
		if !ok || jsonKind(v) == "null" {
			return "", nil
		}
		var s string
		if jsonKind(v) != "string" || json.Unmarshal(v, &s) != nil {
			return "", invalid("%q must be a string", key)
		}
		return strings.TrimSpace(s), nil
	}
	var title, description, severity, status, dedup, fingerprint string
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"title", &title}, {"description", &description}, {"severity", &severity},
		{"status", &status}, {"dedup_key", &dedup}, {"fingerprint", &fingerprint},
	} {
		s, err := str(f.key)
		if err != nil {
			return nil, err
		}
		*f.dst = s
	}
	if title == "" {
		return nil, invalid("%q is required", "title")
	}
	switch strings.ToLower(status) {
	case "", tocsin.AlertFiring:
		status = tocsin.AlertFiring
	case tocsin.AlertResolved:
		status = tocsin.AlertResolved
	default:
		return nil, invalid("%q must be %q or %q", "status", tocsin.AlertFiring, tocsin.AlertResolved)
	}
	if dedup == "" {
		dedup = hashKey(title)
	}
	a := &tocsin.Alert{
		Source:      tocsin.SourceGeneric,
		DedupKey:    dedup,
		Fingerprint: firstOf(fingerprint, dedup),
		Status:      status,
		Severity:    severityOf(severity),
		Title:       title,
		Description: description,
		ReceivedAt:  now,
		Raw:         raw,
	}
	if v, ok := fields["labels"]; ok && jsonKind(v) != "null" {
		var labels map[string]string
		if jsonKind(v) != "object" || json.Unmarshal(v, &labels) != nil {
			return nil, invalid("%q must be an object of strings", "labels")
		}
		a.Labels = copyMap(labels)
	}
	if v, ok := fields["links"]; ok && jsonKind(v) != "null" {
		links, err := genericLinks(v, invalid)
		if err != nil {
			return nil, err
		}
		a.Links = links
	}
	return a, nil
}

// genericLinks decodes the "links" array of the generic format.
func genericLinks(v json.RawMessage, invalid func(string, ...any) error) ([]tocsin.Link, error) {
	var items []json.RawMessage
	if jsonKind(v) != "array" || json.Unmarshal(v, &items) != nil {
		return nil, invalid("%q must be an array of objects", "links")
	}
	var links []tocsin.Link
	for i, item := range items {
		var link map[string]json.RawMessage
		if jsonKind(item) != "object" || json.Unmarshal(item, &link) != nil {
			return nil, invalid("%q must be an object", fmt.Sprintf("links[%d]", i))
		}
		var l tocsin.Link
		for _, k := range slices.Sorted(maps.Keys(link)) {
			var dst *string
			switch k {
			case "text":
				dst = &l.Text
			case "url":
				dst = &l.URL
			default:
				return nil, invalid("unknown field %q", fmt.Sprintf("links[%d].%s", i, k))
			}
			if jsonKind(link[k]) == "null" {
				continue
			}
			if jsonKind(link[k]) != "string" || json.Unmarshal(link[k], dst) != nil {
				return nil, invalid("%q must be a string", fmt.Sprintf("links[%d].%s", i, k))
			}
			*dst = strings.TrimSpace(*dst)
		}
		switch {
		case l.URL == "":
			return nil, invalid("%q is required", fmt.Sprintf("links[%d].url", i))
		case !isWebURL(l.URL):
			return nil, invalid("%q must be an http or https URL", fmt.Sprintf("links[%d].url", i))
		}
		links = append(links, l)
	}
	return links, nil
}
