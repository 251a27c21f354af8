package app

import (
	"context"

	"tocsin"
	"tocsin/awsapi"
	"tocsin/store"
)

// awsRecords backs the AWS face's UpdateIncidentRecord title, summary and
// impact with the incident record's triage (each change on the timeline).
type awsRecords struct{ incidents *store.Incidents }

func (r awsRecords) UpdateIncident(ctx context.Context, id string, c awsapi.Changes, by tocsin.Actor) (*tocsin.Incident, error) {
	return r.incidents.UpdateIncident(ctx, id, &tocsin.IncidentUpdate{Title: c.Title, Summary: c.Summary, Impact: c.Impact, By: by})
}

// awsRelated backs UpdateRelatedItems and ListRelatedItems with the
// incident record's related items. AWS removes an item by its type and
// value, tocsin by id: the item is looked up first.
type awsRelated struct{ incidents *store.Incidents }

func (r awsRelated) AddRelatedItem(ctx context.Context, incidentID string, it awsapi.RelatedItem, by tocsin.Actor) error {
	_, err := r.incidents.AddRelatedItem(ctx, incidentID, &tocsin.RelatedItem{Type: it.Type, Title: it.Title, Value: it.Value}, by)
	return err
}

func (r awsRelated) RemoveRelatedItem(ctx context.Context, incidentID, itemType, value string, by tocsin.Actor) error {
	items, err := r.incidents.RelatedItems(ctx, incidentID)
	if err != nil {
		return err
	}
	for _, it := range items {
		if it.Type == itemType && it.Value == value {
			return r.incidents.RemoveRelatedItem(ctx, incidentID, it.ID, by)
		}
	}
	return tocsin.Errorf(tocsin.ENOTFOUND, "incident %s has no %s related item %q", incidentID, itemType, value)
}

func (r awsRelated) ListRelatedItems(ctx context.Context, incidentID string) ([]awsapi.RelatedItem, error) {
	items, err := r.incidents.RelatedItems(ctx, incidentID)
	if err != nil {
		return nil, err
	}
	out := make([]awsapi.RelatedItem, 0, len(items))
	for _, it := range items {
		out = append(out, awsapi.RelatedItem{ID: it.ID, Type: it.Type, Title: it.Title, Value: it.Value})
	}
	return out, nil
}
