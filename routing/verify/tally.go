package verify

import "time"

// HourLayout is how hours are written: event time in UTC, to the hour.
const HourLayout = "2006-01-02T15"

// Tally counts records by event hour for Inventory.Count, with the distinct event ids
// of each hour. It keeps every id it is given: a recount of N events holds N ids in
// memory.
type Tally struct {
	since, until time.Time
	counts       map[string]HourCount
	ids          map[string]map[string]struct{}
}

// NewTally counts records whose event time is in [since, until) (zero bounds are open).
func NewTally(since, until time.Time) *Tally {
	return &Tally{since: since, until: until, counts: map[string]HourCount{}, ids: map[string]map[string]struct{}{}}
}

// Add counts one stored record of event id with event time at; records outside the
// range are ignored. It reports whether the record was counted.
func (t *Tally) Add(at time.Time, id string) bool {
	if !t.since.IsZero() && at.Before(t.since) || !t.until.IsZero() && !at.Before(t.until) {
		return false
	}
	h := at.UTC().Format(HourLayout)
	c := t.counts[h]
	c.Records++
	seen := t.ids[h]
	if seen == nil {
		seen = map[string]struct{}{}
		t.ids[h] = seen
	}
	if _, dup := seen[id]; !dup {
		seen[id] = struct{}{}
		c.Distinct++
	}
	t.counts[h] = c
	return true
}

// Counts returns the counts by hour.
func (t *Tally) Counts() map[string]HourCount { return t.counts }
