package oncall

import (
	"slices"
	"time"
)

// Shift is a stretch of time during which the same members are on call.
type Shift struct {
	// Start is when the shift starts; JSON gives it in RFC 3339.
	Start time.Time `json:"start" yaml:"start"`
	// End is when it ends (exclusive).
	End time.Time `json:"end" yaml:"end"`
	// Members are on call for the whole shift, in rotation order. Never nil.
	Members []string `json:"members" yaml:"members"`
	// Type is Regular or Overridden.
	Type string `json:"type" yaml:"type"`
	// Replaced are, for an overridden shift, the regular members the override
	// displaced (empty where the override reaches outside coverage, or
	// before the rotation's start, where nobody was on call).
	Replaced []string `json:"replaced,omitempty" yaml:"replaced,omitempty"`
}

// Shifts returns the shifts of r that intersect [from, to), clipped to it, in
// order, with overrides applied (overrides for other rotations are ignored).
// Times are in r's time zone. Shifts are contiguous except where coverage
// leaves a gap or before r.Start; see the package documentation for where a
// shift is split. The cost depends on the number of shifts returned, not on
// how long ago r.Start is.
func Shifts(r *Rotation, overrides []Override, from, to time.Time) ([]Shift, error) {
	p, err := compileRotation(r)
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
	return toShifts(p.pieces(overrides, lo, hi), p.loc), nil
}

// OnCall returns the members of r on call at instant at, with overrides
// applied, or nil when nobody is: before r.Start, outside coverage, or
// during an override without members.
func OnCall(r *Rotation, overrides []Override, at time.Time) ([]string, error) {
	p, err := compileRotation(r)
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
	return p.onCall(overrides, t), nil
}

// bounds converts a [from, to) window to Unix nanoseconds.
func bounds(from, to time.Time) (lo, hi int64, err error) {
	if lo, err = nanos("from", from); err != nil {
		return 0, 0, err
	}
	if hi, err = nanos("to", to); err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, invalidf("to: must not be before from")
	}
	return lo, hi, nil
}

func (p *plan) onCall(overrides []Override, t int64) []string {
	// The last matching override wins, so search from the end.
	for i := len(overrides) - 1; i >= 0; i-- {
		o := &overrides[i]
		if o.Rotation == p.r.Name && o.Start.UnixNano() <= t && t < o.End.UnixNano() {
			if len(o.Members) == 0 {
				return nil
			}
			return slices.Clone(o.Members)
		}
	}
	if t < p.start || !p.coveredAt(t) {
		return nil
	}
	return p.membersOf(p.seek(t).s)
}

// piece is a Shift in Unix nanoseconds, before conversion to time.Time.
type piece struct {
	start, end int64
	members    []string
	typ        string
	replaced   []string
}

func toShifts(pieces []piece, loc *time.Location) []Shift {
	out := make([]Shift, len(pieces))
	for i, pc := range pieces {
		out[i] = Shift{
			Start:    time.Unix(0, pc.start).In(loc),
			End:      time.Unix(0, pc.end).In(loc),
			Members:  pc.members,
			Type:     pc.typ,
			Replaced: pc.replaced,
		}
	}
	return out
}

// regularPiece is the covered part of regular shift s.
type regularPiece struct {
	span
	s int64
}

// regular returns the covered parts of the regular shifts within [lo, hi).
func (p *plan) regular(lo, hi int64) []regularPiece {
	lo = max(lo, p.start)
	if lo >= hi {
		return nil
	}
	var cov []span
	if p.hasCover {
		if cov = p.coverage(lo, hi); len(cov) == 0 {
			return nil
		}
	}
	var out []regularPiece
	ci := 0
	for it := p.seek(lo); it.start < hi; it.next() {
		a, b := max(it.start, lo), min(it.end, hi)
		if a >= b {
			continue // two hand-offs at one instant: an empty shift
		}
		if !p.hasCover {
			out = append(out, regularPiece{span{a, b}, it.s})
			continue
		}
		for ci < len(cov) && cov[ci].end <= a {
			ci++
		}
		for j := ci; j < len(cov) && cov[j].start < b; j++ {
			out = append(out, regularPiece{span{max(a, cov[j].start), min(b, cov[j].end)}, it.s})
		}
	}
	return out
}

// overridePiece is a stretch of [lo, hi) during which override o is the
// one in force.
type overridePiece struct {
	span
	o *Override
}

// overrideSegments flattens the overrides of one rotation within [lo, hi)
// into disjoint pieces, the later override in the list winning where they
// overlap. Overrides are few, so the quadratic search is fine.
func overrideSegments(overrides []Override, name string, lo, hi int64) []overridePiece {
	var idx []int
	var points []int64
	for i := range overrides {
		o := &overrides[i]
		if o.Rotation != name {
			continue
		}
		a, b := max(o.Start.UnixNano(), lo), min(o.End.UnixNano(), hi)
		if a < b {
			idx = append(idx, i)
			points = append(points, a, b)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	slices.Sort(points)
	points = slices.Compact(points)
	var out []overridePiece
	for i := 0; i+1 < len(points); i++ {
		a, b := points[i], points[i+1]
		var win *Override
		for j := len(idx) - 1; j >= 0; j-- {
			if o := &overrides[idx[j]]; o.Start.UnixNano() <= a && a < o.End.UnixNano() {
				win = o
				break
			}
		}
		if win == nil {
			continue
		}
		if n := len(out); n > 0 && out[n-1].o == win && out[n-1].end == a {
			out[n-1].end = b
			continue
		}
		out = append(out, overridePiece{span{a, b}, win})
	}
	return out
}

// pieces returns the rotation's shifts within [lo, hi): the regular pieces
// with the override pieces laid over them. A piece ends wherever a regular
// piece or an override piece starts or ends, so nothing is merged across a
// hand-off, a coverage edge or an override edge.
func (p *plan) pieces(overrides []Override, lo, hi int64) []piece {
	reg := p.regular(lo, hi)
	ovr := overrideSegments(overrides, p.r.Name, lo, hi)
	out := make([]piece, 0, len(reg)+2*len(ovr))
	ri, oi := 0, 0
	for t := lo; t < hi; {
		for ri < len(reg) && reg[ri].end <= t {
			ri++
		}
		for oi < len(ovr) && ovr[oi].end <= t {
			oi++
		}
		inR := ri < len(reg) && reg[ri].start <= t
		inO := oi < len(ovr) && ovr[oi].start <= t
		next := hi
		if ri < len(reg) {
			next = min(next, edge(reg[ri].span, inR))
		}
		if oi < len(ovr) {
			next = min(next, edge(ovr[oi].span, inO))
		}
		switch {
		case inO:
			pc := piece{start: t, end: next, typ: Overridden, members: append([]string{}, ovr[oi].o.Members...)}
			if inR {
				pc.replaced = p.membersOf(reg[ri].s)
			}
			out = append(out, pc)
		case inR:
			out = append(out, piece{start: t, end: next, typ: Regular, members: p.membersOf(reg[ri].s)})
		}
		t = next
	}
	return out
}

// edge returns the next edge of s: its end when inside it, else its start.
func edge(s span, inside bool) int64 {
	if inside {
		return s.end
	}
	return s.start
}
