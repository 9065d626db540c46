package routing

import (
	"fmt"
	"sync"
	"time"

	"github.com/waybill-data/waybill/routing/wal"
)

// Deduplication of resent events. A producer that does not get its answer (a timeout,
// a router killed before answering) sends the same events again, with the same ids.
// The router remembers the ids it accepted in a window — the last dedup.window of
// receipt time, at most dedup.max_ids ids — and answers a resent event "accepted",
// "duplicate": true, without writing it again: file stores would otherwise hold it
// twice, and the ledger would count it twice. Ids the router generated are not
// remembered (nobody can resend them).
//
// The window survives restarts: at start it is refilled from the WAL's retained
// records (Router.New), so it covers a retry after a crash as far back as the WAL
// still holds, and never more than the window. An id being written by one request
// when another brings it is refused with duplicate_in_flight (retry): answering
// "accepted" before the first write is durable could acknowledge an event that is
// then lost.
type idWindow struct {
	window time.Duration
	max    int

	mu    sync.Mutex
	ids   map[string]bool // id → committed (false: a request is writing it)
	order []idAt          // committed ids, oldest first (a queue: head is order[head])
	head  int
}

type idAt struct {
	id string
	at time.Time
}

func newIDWindow(window time.Duration, max int) *idWindow {
	return &idWindow{window: window, max: max, ids: map[string]bool{}}
}

// claimResult is what claim found.
type claimResult int

const (
	claimNew       claimResult = iota // not seen: now claimed by the caller
	claimDuplicate                    // accepted before
	claimInFlight                     // another request is writing it
)

// claim marks id as being written, unless it is known.
func (w *idWindow) claim(id string) claimResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	committed, ok := w.ids[id]
	switch {
	case !ok:
		w.ids[id] = false
		return claimNew
	case committed:
		return claimDuplicate
	default:
		return claimInFlight
	}
}

// commit records claimed ids as accepted at now; release forgets claims whose write
// failed.
func (w *idWindow) commit(ids []string, now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		w.ids[id] = true
		w.order = append(w.order, idAt{id, now})
	}
	w.evict(now)
}

func (w *idWindow) release(ids []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		if !w.ids[id] {
			delete(w.ids, id)
		}
	}
}

// evict drops ids past the window or the bound. w.mu is held.
func (w *idWindow) evict(now time.Time) {
	cutoff := now.Add(-w.window)
	for w.head < len(w.order) && (len(w.order)-w.head > w.max || w.order[w.head].at.Before(cutoff)) {
		delete(w.ids, w.order[w.head].id)
		w.order[w.head] = idAt{}
		w.head++
	}
	if w.head > 1024 && w.head > len(w.order)/2 { // compact the queue's dead front
		w.order = append(w.order[:0:0], w.order[w.head:]...)
		w.head = 0
	}
}

// size is how many ids are remembered.
func (w *idWindow) size() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ids)
}

// refill reads the WAL's retained records and remembers the ids received within the
// window of now (replays of dead letters are not new events and are skipped).
func (w *idWindow) refill(l *wal.WAL, now time.Time) error {
	rd, err := l.NewReader(l.FirstSeq())
	if err != nil {
		return fmt.Errorf("dedup: %w", err)
	}
	defer rd.Close()
	cutoff := now.Add(-w.window)
	for {
		rec, ok, err := rd.TryNext()
		if err != nil {
			return fmt.Errorf("dedup: reading the WAL: %w", err)
		}
		if !ok {
			break
		}
		r, err := DecodeRecord(rec.Seq, rec.Payload)
		if err != nil || r.Replay || r.Erasure || r.Received.Before(cutoff) || !r.producerID {
			continue // undecodable records are the routes' to dead-letter
		}
		w.mu.Lock()
		if !w.ids[r.ID] {
			w.ids[r.ID] = true
			w.order = append(w.order, idAt{r.ID, r.Received})
		}
		w.mu.Unlock()
	}
	w.mu.Lock()
	w.evict(now)
	w.mu.Unlock()
	return nil
}
