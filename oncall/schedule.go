package oncall

import (
	"fmt"
	"slices"
	"time"
)

// ResolvedSchedule is a schedule with its rotations in hand, the form the
// computations here take. tocsin.Schedule, the stored and configured form,
// names its rotations instead, so that a rotation is defined once and shared
// by schedules; the store resolves one into the other.
//
// A schedule layers rotations: whoever any of its rotations has on call is on
// call for the schedule. Layers are typically follow-the-sun rotations with
// disjoint coverage, or a primary and a secondary.
type ResolvedSchedule struct {
	// Name identifies the schedule.
	Name string `json:"name" yaml:"name"`
	// Rotations are the layers, in order; their names must be distinct
	// because overrides refer to rotations by name.
	Rotations []*Rotation `json:"rotations" yaml:"rotations"`
}

// HandOff is an instant at which a schedule's on-call set changes.
type HandOff struct {
	// At is when the change happens.
	At time.Time `json:"at" yaml:"at"`
	// Outgoing are the members who stop being on call. Never nil.
	Outgoing []string `json:"outgoing" yaml:"outgoing"`
	// Incoming are the members who start being on call. Never nil.
	Incoming []string `json:"incoming" yaml:"incoming"`
}

// Validate reports every problem with the schedule and its rotations in one
// error with code tocsin.EINVALID, naming the fields (for example
// `rotations[1].time_zone: "Mars/Olympus" is not a known IANA time zone`).
func (s *ResolvedSchedule) Validate() error {
	_, err := s.compile()
	return err
}

func (s *ResolvedSchedule) compile() ([]*plan, error) {
	var p, sub problems
	if s.Name == "" {
		p.addf("name: is required")
	}
	if len(s.Rotations) == 0 {
		p.addf("rotations: must list at least one rotation")
	}
	plans := make([]*plan, len(s.Rotations))
	for i, r := range s.Rotations {
		if r == nil {
			p.addf("rotations[%d]: is required", i)
			continue
		}
		sub = sub[:0]
		plans[i] = compile(r, &sub)
		if len(sub) > 0 {
			p.nest(fmt.Sprintf("rotations[%d].", i), sub)
		}
		if r.Name == "" {
			continue
		}
		for j := range i {
			if s.Rotations[j] != nil && s.Rotations[j].Name == r.Name {
				p.addf("rotations[%d].name: %q is also the name of rotations[%d]", i, r.Name, j)
				break
			}
		}
	}
	return plans, p.err()
}

// OnCall returns the members on call at instant at in any of the schedule's
// rotations, with overrides applied: layer by layer, each in its rotation's
// order, without repeats. It returns nil when nobody is on call.
func (s *ResolvedSchedule) OnCall(overrides []Override, at time.Time) ([]string, error) {
	plans, err := s.compile()
	if err != nil {
		return nil, err
	}
	if err := validateOverrides(overrides); err != nil {
		return nil, err
	}
	t, err := nanos("at", at)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range plans {
		out = appendNew(out, p.onCall(overrides, t)...)
	}
	return out, nil
}

// Shifts returns the schedule's on-call timeline within [from, to), in UTC:
// at every instant the members are the union OnCall gives, and each shift
// is a maximal stretch with the same members, type and replaced members, so
// adjacent shifts always differ. Times when nobody is on call are gaps. A
// shift is Overridden when any layer's is; its Replaced lists the members
// overrides displaced who are not on call through another layer.
func (s *ResolvedSchedule) Shifts(overrides []Override, from, to time.Time) ([]Shift, error) {
	plans, err := s.compile()
	if err != nil {
		return nil, err
	}
	if err := validateOverrides(overrides); err != nil {
		return nil, err
	}
	lo, hi, err := bounds(from, to)
	if err != nil {
		return nil, err
	}
	return toShifts(timeline(plans, overrides, lo, hi), time.UTC), nil
}

// HandOffs returns, in order, the instants within [from, to) at which the
// set of members on call for s changes, with who leaves and who joins, in
// UTC. A change at from itself is included (compared with the instant just
// before from). A change of shift type alone, or a hand-off from a member to
// the same member, is no hand-off.
func HandOffs(s *ResolvedSchedule, overrides []Override, from, to time.Time) ([]HandOff, error) {
	plans, err := s.compile()
	if err != nil {
		return nil, err
	}
	if err := validateOverrides(overrides); err != nil {
		return nil, err
	}
	lo, hi, err := bounds(from, to)
	if err != nil {
		return nil, err
	}
	// One nanosecond before from gives the set on call as the window opens.
	tl := timeline(plans, overrides, lo-1, hi)
	var out []HandOff
	var prev []string
	change := func(at int64, next []string) {
		if at >= lo && at < hi {
			outgoing, incoming := without(prev, next), without(next, prev)
			if len(outgoing) > 0 || len(incoming) > 0 {
				out = append(out, HandOff{At: time.Unix(0, at).UTC(), Outgoing: outgoing, Incoming: incoming})
			}
		}
		prev = next
	}
	for i, pc := range tl {
		change(pc.start, pc.members)
		if i+1 == len(tl) || tl[i+1].start != pc.end {
			change(pc.end, nil)
		}
	}
	return out, nil
}

// timeline merges the layers' pieces within [lo, hi) into the schedule's
// timeline, cutting at every edge of every layer and merging neighbours
// that turn out equal.
func timeline(plans []*plan, overrides []Override, lo, hi int64) []piece {
	layers := make([][]piece, len(plans))
	var points []int64
	for i, p := range plans {
		layers[i] = p.pieces(overrides, lo, hi)
		for _, pc := range layers[i] {
			points = append(points, pc.start, pc.end)
		}
	}
	slices.Sort(points)
	points = slices.Compact(points)
	next := make([]int, len(layers))
	var out []piece
	for i := 0; i+1 < len(points); i++ {
		a, b := points[i], points[i+1]
		var members, replaced []string
		typ := Regular
		for l, pcs := range layers {
			for next[l] < len(pcs) && pcs[next[l]].end <= a {
				next[l]++
			}
			if next[l] == len(pcs) || pcs[next[l]].start > a {
				continue
			}
			pc := &pcs[next[l]]
			members = appendNew(members, pc.members...)
			if pc.typ == Overridden {
				typ = Overridden
				replaced = appendNew(replaced, pc.replaced...)
			}
		}
		if len(members) == 0 {
			continue
		}
		replaced = without(replaced, members)
		if len(replaced) == 0 {
			replaced = nil
		}
		if n := len(out); n > 0 && out[n-1].end == a && out[n-1].typ == typ &&
			slices.Equal(out[n-1].members, members) && slices.Equal(out[n-1].replaced, replaced) {
			out[n-1].end = b
			continue
		}
		out = append(out, piece{start: a, end: b, members: members, typ: typ, replaced: replaced})
	}
	return out
}

// appendNew appends the members not already in list.
func appendNew(list []string, members ...string) []string {
	for _, m := range members {
		if !slices.Contains(list, m) {
			list = append(list, m)
		}
	}
	return list
}

// without returns the members of a that are not in b, never nil.
func without(a, b []string) []string {
	out := []string{}
	for _, m := range a {
		if !slices.Contains(b, m) {
			out = append(out, m)
		}
	}
	return out
}

// LayerOnCall is who one of a schedule's rotations has on call.
type LayerOnCall struct {
	// Rotation names the rotation (the layer).
	Rotation string `json:"rotation" yaml:"rotation"`
	// OnCall are its members on call, overrides applied. Never nil.
	OnCall []string `json:"on_call" yaml:"on_call"`
}

// OnCallByRotation returns, for each of the schedule's rotations in layer
// order, whom it has on call at instant at, overrides applied: in a
// follow-the-sun schedule it says which rotation (which region) covers the
// instant. A rotation with nobody on call has an empty list.
func (s *ResolvedSchedule) OnCallByRotation(overrides []Override, at time.Time) ([]LayerOnCall, error) {
	plans, err := s.compile()
	if err != nil {
		return nil, err
	}
	if err := validateOverrides(overrides); err != nil {
		return nil, err
	}
	t, err := nanos("at", at)
	if err != nil {
		return nil, err
	}
	out := make([]LayerOnCall, len(plans))
	for i, p := range plans {
		out[i] = LayerOnCall{Rotation: p.r.Name, OnCall: appendNew([]string{}, p.onCall(overrides, t)...)}
	}
	return out, nil
}
