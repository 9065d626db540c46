package routing

import (
	"hash/fnv"
	"time"
)

// Version identifies one event as latest mode orders them: event time, then id.
type Version struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// Erased, in a route's sample: the key was erased on the route (erasure.go) after
	// this version was delivered, and nothing newer was delivered since.
	Erased bool `json:"erased,omitempty"`
}

// Newer reports whether v comes after w in latest-mode order (time to the
// microsecond, as stores keep it, then id).
func (v Version) Newer(w Version) bool {
	a, b := v.Time.UnixMicro(), w.Time.UnixMicro()
	return a > b || a == b && v.ID > w.ID
}

// A latest-mode route remembers, for a sample of its keys, the newest version it
// delivered, so that verify can check the store holds it. The sample is a bottom-k
// sketch: the MaxSampledKeys keys (per route, "contract|key") with the smallest
// SampleHash. While it is not full every key is in it; once full, a key enters only by
// pushing out the one with the largest hash, so the bound Below only ever falls and a
// key pushed out never returns. What this buys: a key whose hash is below a route's
// Below has every delivered version recorded by that route. verify takes the smallest
// Below over all routers and checks only keys under it, so no router's deliveries of
// a checked key are missing from the expectation, whichever router delivered them.

// MaxSampledKeys bounds a route's sample (and so its state file).
const MaxSampledKeys = 512

// NoBound is Below while a sample is not full: every key is sampled.
const NoBound = uint64(1) << 32

// SampleHash orders keys for sampling: FNV-1a (32 bits) of "contract|key".
func SampleHash(contractKey string) uint64 {
	h := fnv.New32a()
	h.Write([]byte(contractKey))
	return uint64(h.Sum32())
}

// LatestSample is one route's sample as the router publishes it.
type LatestSample struct {
	Versions map[string]Version `json:"versions"` // by "contract|key"
	Below    uint64             `json:"below"`    // keys with SampleHash < Below are all in Versions
}

// below is the sample's bound: NoBound until it is full, then its largest hash.
func sampleBelow(versions map[string]Version) (bound uint64, largest string) {
	if len(versions) < MaxSampledKeys {
		return NoBound, ""
	}
	bound = 0
	for k := range versions {
		if h := SampleHash(k); h >= bound {
			bound, largest = h, k
		}
	}
	return bound, largest
}

// sampleDelivered records ev if its key belongs in the sample and ev is newer than
// what is recorded for it. The route's mu is held.
func (st *routeState) sampleDelivered(ev Event) {
	k := ev.Contract + "|" + ev.Key
	v := Version{ID: ev.ID, Time: ev.Time.UTC()}
	if old, ok := st.Latest[k]; ok {
		if v.Newer(old) {
			st.Latest[k] = v
		}
		return
	}
	if st.Latest == nil {
		st.Latest = map[string]Version{}
	}
	if !st.boundKnown { // after a start: computed once, then kept up to date below
		st.bound, st.largest = sampleBelow(st.Latest)
		st.boundKnown = true
	}
	if SampleHash(k) >= st.bound {
		return
	}
	if st.largest != "" {
		delete(st.Latest, st.largest) // its hash was the largest: it stops being sampled
	}
	st.Latest[k] = v
	if len(st.Latest) >= MaxSampledKeys {
		st.bound, st.largest = sampleBelow(st.Latest) // a key entered a full sample: rare once it is full
	}
}

// latestSample returns a copy of the route's sample with its bound.
func (r *route) latestSample() LatestSample {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := LatestSample{Versions: make(map[string]Version, len(r.state.Latest))}
	for k, v := range r.state.Latest {
		out.Versions[k] = v
	}
	out.Below, _ = sampleBelow(r.state.Latest)
	return out
}
