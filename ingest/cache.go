package ingest

import (
	"bytes"
	"hash/maphash"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"tocsin"
)

// DecodeCache remembers the alerts of bodies that were received more than
// once, so that an identical body (Alertmanager's repeat_interval re-sends
// a firing group byte for byte) is not decoded again: a hit costs a hash,
// a comparison of the body with the one cached and a copy of the alerts.
//
// A body is cached at its second sighting, and only when its decoding
// does not depend on the time it was received (beyond ReceivedAt, which
// is set to the new time on every hit): it is decoded twice, at two
// instants, and cached if both give the same alerts. A body seen once
// costs only its hash, so a sender whose every body differs pays almost
// nothing. Decoders take the body and the time only, so the cache key is
// the source and the exact body. The zero value is ready to use.
type DecodeCache struct {
	mu    sync.Mutex
	seed  maphash.Seed
	seen  map[cacheKey]struct{}
	hits  map[cacheKey]*cached
	bytes int // body bytes held by hits
}

// cacheKey is a source and the hash of a body.
type cacheKey struct {
	source string
	hash   uint64
}

// cached is a body (the cache's own copy) and its alerts, never modified
// once stored.
type cached struct {
	body   []byte
	alerts []*tocsin.Alert
}

// Bounds of the cache: past them a map starts over, which only costs the
// next repeats a decode.
const (
	maxCachedBody   = 64 << 10 // larger bodies are decoded every time
	maxCachedBytes  = 8 << 20  // bodies held, in all
	maxCachedBodies = 1024
	maxSeenBodies   = 8192
	// timeProbe is how far apart the two decodings of a body are made to
	// tell whether it depends on the time.
	timeProbe = 97 * time.Hour
)

// Decode returns decode(body, now), from the cache when the same source
// sent this body before. The alerts returned are the caller's to modify;
// their Raw fields must not be modified in place (they may be shared).
func (c *DecodeCache) Decode(source string, decode Decoder, body []byte, now time.Time) ([]*tocsin.Alert, error) {
	if len(body) > maxCachedBody {
		return decode(body, now)
	}
	key, hit, seen := c.lookup(source, body)
	if hit != nil && bytes.Equal(hit.body, body) {
		return cloneAlerts(hit.alerts, now), nil
	}
	if !seen {
		return decode(body, now)
	}
	own := bytes.Clone(body)
	alerts, err := decode(own, now)
	if err != nil {
		return nil, err
	}
	if timeless(decode, own, alerts, now) {
		c.store(key, &cached{body: own, alerts: cloneAlerts(alerts, time.Time{})})
	}
	return alerts, nil
}

// lookup returns body's key, its cached entry if any, and whether it was
// seen before (marking it seen).
func (c *DecodeCache) lookup(source string, body []byte) (cacheKey, *cached, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seed = maphash.MakeSeed()
		c.seen = make(map[cacheKey]struct{})
	}
	key := cacheKey{source, maphash.Bytes(c.seed, body)}
	if hit := c.hits[key]; hit != nil {
		return key, hit, true
	}
	_, seen := c.seen[key]
	if !seen {
		if len(c.seen) >= maxSeenBodies {
			clear(c.seen)
		}
		c.seen[key] = struct{}{}
	}
	return key, nil, seen
}

func (c *DecodeCache) store(key cacheKey, e *cached) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hits == nil || len(c.hits) >= maxCachedBodies || c.bytes+len(e.body) > maxCachedBytes {
		c.hits, c.bytes = make(map[cacheKey]*cached), 0
	}
	if old := c.hits[key]; old != nil {
		c.bytes -= len(old.body)
	}
	c.hits[key] = e
	c.bytes += len(e.body)
}

// timeless reports whether decoding body at another time gives the same
// alerts, ReceivedAt apart.
func timeless(decode Decoder, body []byte, alerts []*tocsin.Alert, now time.Time) bool {
	other, err := decode(body, now.Add(timeProbe))
	if err != nil || len(other) != len(alerts) {
		return false
	}
	for i := range alerts {
		a, b := *alerts[i], *other[i]
		a.ReceivedAt, b.ReceivedAt = time.Time{}, time.Time{}
		if !reflect.DeepEqual(a, b) {
			return false
		}
	}
	return true
}

// cloneAlerts copies alerts (their maps and links too) with ReceivedAt
// now; Raw is shared.
func cloneAlerts(alerts []*tocsin.Alert, now time.Time) []*tocsin.Alert {
	out := make([]*tocsin.Alert, len(alerts))
	for i, a := range alerts {
		c := *a
		c.Labels, c.Annotations, c.Links = maps.Clone(a.Labels), maps.Clone(a.Annotations), slices.Clone(a.Links)
		c.ReceivedAt = now
		out[i] = &c
	}
	return out
}
