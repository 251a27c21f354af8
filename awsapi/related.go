package awsapi

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"tocsin"
	"tocsin/api"
)

// itemTypes are AWS's related item types.
var itemTypes = []string{"ANALYSIS", "INCIDENT", "METRIC", "PARENT", "ATTACHMENT", "OTHER", "AUTOMATION", "INVOLVED_RESOURCE", "TASK"}

type itemValue struct {
	Arn              string `json:"arn,omitempty"`
	URL              string `json:"url,omitempty"`
	MetricDefinition string `json:"metricDefinition,omitempty"`
}

type itemIdentifier struct {
	Type  string    `json:"type"`
	Value itemValue `json:"value"`
}

type relatedItem struct {
	Identifier  itemIdentifier `json:"identifier"`
	Title       string         `json:"title,omitempty"`
	GeneratedID string         `json:"generatedId,omitempty"`
}

// item reads one related item of a request; field names it in errors.
// An incident or parent item's ARN becomes the other incident's id.
func item(id itemIdentifier, title, field string) (RelatedItem, error) {
	if !slices.Contains(itemTypes, id.Type) {
		return RelatedItem{}, tocsin.Errorf(tocsin.EINVALID, "%s.identifier.type: %q is not one of %s", field, id.Type, strings.Join(itemTypes, ", "))
	}
	v := id.Value
	n := 0
	for _, s := range []string{v.Arn, v.URL, v.MetricDefinition} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return RelatedItem{}, tocsin.Errorf(tocsin.EINVALID, "%s.identifier.value: give exactly one of arn, url, metricDefinition", field)
	}
	it := RelatedItem{Type: strings.ToLower(id.Type), Title: title, Value: v.Arn + v.URL + v.MetricDefinition}
	if id.Type == "INCIDENT" || id.Type == "PARENT" {
		other, err := incidentID(field+".identifier.value.arn", v.Arn)
		if err != nil {
			return RelatedItem{}, err
		}
		it.Value = other
	}
	if len(it.Value) > 4000 || len(title) > 200 {
		return RelatedItem{}, tocsin.Errorf(tocsin.EINVALID, "%s: value longer than 4000 or title longer than 200 characters", field)
	}
	return it, nil
}

// relatedItems reads a request's items; none needs no backing.
func (s *Server) relatedItems(in []relatedItem, field string) ([]RelatedItem, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > 100 {
		return nil, tocsin.Errorf(tocsin.EINVALID, "%s: more than 100 items", field)
	}
	if s.opts.RelatedItems == nil {
		return nil, notAvailable("related items")
	}
	out := make([]RelatedItem, len(in))
	for i, ri := range in {
		var err error
		if out[i], err = item(ri.Identifier, ri.Title, field+"["+strconv.Itoa(i)+"]"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// wire writes a related item the AWS way.
func (s *Server) wireItem(it RelatedItem) relatedItem {
	t := strings.ToUpper(it.Type)
	var v itemValue
	switch {
	case t == "INCIDENT" || t == "PARENT":
		v.Arn = s.incidentARN(&tocsin.Incident{ID: it.Value})
	case strings.HasPrefix(it.Value, "arn:"):
		v.Arn = it.Value
	case strings.HasPrefix(it.Value, "http://") || strings.HasPrefix(it.Value, "https://"):
		v.URL = it.Value
	default:
		v.MetricDefinition = it.Value
	}
	return relatedItem{Identifier: itemIdentifier{Type: t, Value: v}, Title: it.Title, GeneratedID: it.ID}
}

func (s *Server) updateRelatedItems(w http.ResponseWriter, r *request) error {
	var in struct {
		IncidentRecordArn  string `json:"incidentRecordArn"`
		ClientToken        string `json:"clientToken"`
		RelatedItemsUpdate struct {
			ItemToAdd    *relatedItem    `json:"itemToAdd"`
			ItemToRemove *itemIdentifier `json:"itemToRemove"`
		} `json:"relatedItemsUpdate"`
	}
	if err := r.decode(&in); err != nil {
		return err
	}
	u := in.RelatedItemsUpdate
	if (u.ItemToAdd == nil) == (u.ItemToRemove == nil) {
		return tocsin.Errorf(tocsin.EINVALID, "relatedItemsUpdate: give exactly one of itemToAdd, itemToRemove")
	}
	if s.opts.RelatedItems == nil {
		return notAvailable("related items")
	}
	inc, err := s.find(r, "incidentRecordArn", in.IncidentRecordArn)
	if err != nil {
		return err
	}
	if u.ItemToAdd != nil {
		it, err := item(u.ItemToAdd.Identifier, u.ItemToAdd.Title, "relatedItemsUpdate.itemToAdd")
		if err != nil {
			return err
		}
		err = s.opts.RelatedItems.AddRelatedItem(r.Context(), inc.ID, it, r.actor())
		if err != nil {
			return err
		}
	} else {
		it, err := item(*u.ItemToRemove, "", "relatedItemsUpdate.itemToRemove")
		if err != nil {
			return err
		}
		if err := s.opts.RelatedItems.RemoveRelatedItem(r.Context(), inc.ID, it.Type, it.Value, r.actor()); err != nil {
			return err
		}
	}
	api.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (s *Server) listRelatedItems(w http.ResponseWriter, r *request) error {
	var in struct {
		IncidentRecordArn string `json:"incidentRecordArn"`
		MaxResults        int    `json:"maxResults"`
		NextToken         string `json:"nextToken"`
	}
	if err := r.decode(&in); err != nil {
		return err
	}
	limit, err := pageSize(in.MaxResults)
	if err != nil {
		return err
	}
	if s.opts.RelatedItems == nil {
		return notAvailable("related items")
	}
	inc, err := s.find(r, "incidentRecordArn", in.IncidentRecordArn)
	if err != nil {
		return err
	}
	items, err := s.opts.RelatedItems.ListRelatedItems(r.Context(), inc.ID)
	if err != nil {
		return err
	}
	var all []relatedItem
	for _, it := range items {
		all = append(all, s.wireItem(it))
	}
	out, next, err := page(all, in.NextToken, limit)
	if err != nil {
		return err
	}
	if out == nil {
		out = []relatedItem{}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"relatedItems": out, "nextToken": next})
	return nil
}
