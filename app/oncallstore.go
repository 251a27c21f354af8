package app

import (
	"context"
	"time"

	"tocsin/api"
	"tocsin/store"
)

// onCallStore adapts the store to api.OnCallStore. The api package does not
// import the store, so the one method whose result is a store type is
// converted here.
type onCallStore struct{ *store.DB }

// ListOverrides lists stored overrides as the API shows them.
func (s onCallStore) ListOverrides(ctx context.Context, rotation string, from, to time.Time) ([]api.StoredOverride, error) {
	got, err := s.DB.ListOverrides(ctx, rotation, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]api.StoredOverride, len(got))
	for i, o := range got {
		out[i] = api.StoredOverride{ID: o.ID, Override: o.Override}
	}
	return out, nil
}
