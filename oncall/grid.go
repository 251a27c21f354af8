package oncall

// A grid enumerates a recurrence's hand-off occurrences: every wall-clock
// time the recurrence names, on every day, week or month, numbered by an
// integer k counted from the 1970 calendar (not from the rotation's start),
// so that the occurrence at any instant is found by arithmetic instead of by
// walking from the start.
//
// boundary(k) is the instant of occurrence k. It is the resolved instant of
// its wall time, except that it never moves back in time: when DST (a wall
// time in the gap is pushed forward past a later one) or month-end clamping
// (days 30 and 31 both become 28 February) would put occurrence k before an
// earlier one, it takes the latest earlier instant instead. boundary is thus
// non-decreasing in k, which is what makes binary-search-free location and
// contiguous shifts possible.
type grid struct {
	z    *zone
	kind string
	// n is the number of occurrences per period (per day, week or month).
	// Inversions only ever involve occurrences less than one period apart,
	// so looking back n occurrences finds every earlier instant that can be
	// later than the current one.
	n int64
	// Daily and weekly: period length in seconds, the wall time at which
	// period 0 starts, and the sorted offsets of the occurrences within a
	// period. Hourly uses period and base as elapsed seconds (see hourly).
	period, base int64
	offs         []int64
	// Monthly: the sorted (day of month, seconds into the day) pairs.
	days []int
	secs []int64
}

// hourly grids live in elapsed time: occurrence k is the instant
// base + k·period, with no wall clock involved.
func (g *grid) hourly() bool { return g.kind == Hourly }

// wallAt returns the wall time of occurrence k.
func (g *grid) wallAt(k int64) int64 {
	q, i := floorDiv(k, g.n), floorMod(k, g.n)
	if g.kind == Monthly {
		y, m := 1970+floorDiv(q, 12), int(floorMod(q, 12))+1
		d := min(g.days[i], daysIn(y, m))
		return daysFromCivil(y, m, d)*secondsPerDay + g.secs[i]
	}
	return g.base + q*g.period + g.offs[i]
}

// resolved returns the instant of occurrence k's wall time, before the
// never-back-in-time rule.
func (g *grid) resolved(k int64) int64 {
	if g.hourly() {
		return g.base + k*g.period
	}
	return g.z.resolve(g.wallAt(k))
}

// boundary returns the instant (Unix seconds) of occurrence k.
func (g *grid) boundary(k int64) int64 {
	b := g.resolved(k)
	if g.hourly() {
		return b
	}
	for j := k - g.n; j < k; j++ {
		b = max(b, g.resolved(j))
	}
	return b
}

// guess returns a k close to the last occurrence at or before instant u,
// exact away from DST transitions and month-end clamping; locate corrects it.
func (g *grid) guess(u int64) int64 {
	if g.hourly() {
		return floorDiv(u-g.base, g.period)
	}
	w := g.z.wall(u)
	if g.kind == Monthly {
		day := floorDiv(w, secondsPerDay)
		sec := w - day*secondsPerDay
		y, m, d := civilFromDays(day)
		q := (y-1970)*12 + int64(m-1)
		k := q*g.n - 1
		for i := range g.days {
			if dd := min(g.days[i], daysIn(y, m)); dd < d || dd == d && g.secs[i] <= sec {
				k++
			}
		}
		return k
	}
	q := floorDiv(w-g.base, g.period)
	r := w - g.base - q*g.period
	k := q*g.n - 1
	for _, off := range g.offs {
		if off <= r {
			k++
		}
	}
	return k
}

// locate returns the last occurrence k with boundary(k) <= u.
func (g *grid) locate(u int64) int64 {
	k := g.guess(u)
	for g.boundary(k) > u {
		k--
	}
	for g.boundary(k+1) <= u {
		k++
	}
	return k
}

// cursor walks occurrences forward, carrying the running maximum so that
// each occurrence is resolved once.
type cursor struct {
	g *grid
	k int64
	b int64 // boundary(k)
}

func (g *grid) cursorAt(k int64) cursor { return cursor{g: g, k: k, b: g.boundary(k)} }

// advance moves the cursor steps occurrences forward.
func (c *cursor) advance(steps int64) {
	if c.g.hourly() {
		c.k += steps
		c.b = c.g.resolved(c.k)
		return
	}
	for range steps {
		c.k++
		c.b = max(c.b, c.g.resolved(c.k))
	}
}
