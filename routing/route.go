package routing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/waybill-data/waybill/routing/wal"
)

// route is one route's delivery loop: it reads the WAL from its own durable cursor,
// batches the events routed to it, writes them to its sink and advances the cursor
// only after the sink confirmed (or the events were dead-lettered).
type route struct {
	rt   *Router
	name string
	cfg  RouteConfig
	sink Sink

	statePath string
	mu        sync.Mutex // guards state
	state     routeState

	cursorSeq     atomic.Uint64
	backlogEvents atomic.Int64
	backlogBytes  atomic.Int64
	oldestPending atomic.Int64 // unix nanos of the oldest undelivered event's receipt; 0 = none
	done          chan struct{}

	// erasure is an erasure request collect stopped at (erasure.go): the loop carries
	// it out after the events before it, before the cursor passes it.
	erasure *Record
}

// routeState is persisted atomically (temp, fsync, rename) at routes/{name}.json: the
// cursor and the delivered counts as of that cursor, so the two never disagree.
type routeState struct {
	Cursor    uint64           `json:"cursor"` // last WAL sequence fully handled
	Delivered map[string]int64 `json:"delivered"`
	// Latest, on latest-mode routes, is the newest delivered version of a sample of
	// entity keys (see sample.go), by "contract|key": what verify expects the store to
	// hold for them.
	Latest map[string]Version `json:"latest,omitempty"`

	// The sample's bound and the key holding it (sample.go), kept from the first
	// sampling on so that an event costs one hash.
	bound      uint64
	largest    string
	boundKnown bool
}

func newRoute(rt *Router, name string, cfg RouteConfig, sink Sink) (*route, error) {
	r := &route{rt: rt, name: name, cfg: cfg, sink: sink, done: make(chan struct{}),
		statePath: filepath.Join(rt.cfg.StateDir, "routes", name+".json")}
	r.state.Delivered = map[string]int64{}
	raw, err := os.ReadFile(r.statePath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// A new route starts at the oldest event still in the WAL.
		if first := rt.wal.FirstSeq(); first > 0 {
			r.state.Cursor = first - 1
		}
	case err != nil:
		return nil, fmt.Errorf("route %s: reading state: %w", name, err)
	default:
		if err := json.Unmarshal(raw, &r.state); err != nil {
			return nil, fmt.Errorf("route %s: state file %s is corrupt: %w", name, r.statePath, err)
		}
		if r.state.Delivered == nil {
			r.state.Delivered = map[string]int64{}
		}
	}
	r.cursorSeq.Store(r.state.Cursor)
	return r, nil
}

func (r *route) cursor() uint64 { return r.cursorSeq.Load() }

// start measures the backlog left from a previous run and starts the loop.
func (r *route) start(ctx context.Context) error {
	from := r.cursor() + 1
	rd, err := r.rt.wal.NewReader(from)
	if err != nil {
		return fmt.Errorf("route %s: reading WAL from %d: %w", r.name, from, err)
	}
	for {
		rec, ok, err := rd.TryNext()
		if err != nil {
			rd.Close()
			return fmt.Errorf("route %s: scanning backlog: %w", r.name, err)
		}
		if !ok {
			break
		}
		if ev, err := DecodeRecord(rec.Seq, rec.Payload); err == nil && !ev.Erasure && ev.HasRoute(r.name) {
			r.addBacklog(1, len(ev.Data), ev.Received)
		}
	}
	rd.Close()
	if rd, err = r.rt.wal.NewReader(from); err != nil {
		return fmt.Errorf("route %s: reading WAL from %d: %w", r.name, from, err)
	}
	go func() {
		defer close(r.done)
		defer rd.Close()
		r.loop(ctx, rd)
	}()
	return nil
}

func (r *route) wait() { <-r.done }

// addBacklog is called by intake for each accepted event routed here.
func (r *route) addBacklog(events, bytes int, received time.Time) {
	r.backlogEvents.Add(int64(events))
	r.backlogBytes.Add(int64(bytes))
	r.oldestPending.CompareAndSwap(0, received.UnixNano())
}

// overBudget reports whether an analytic route's backlog exceeds its budget.
func (r *route) overBudget() bool {
	return r.cfg.Class == Analytic &&
		(r.backlogEvents.Load() >= r.cfg.Backlog.MaxEvents || r.backlogBytes.Load() >= int64(r.cfg.Backlog.MaxBytes))
}

func (r *route) loop(ctx context.Context, rd *wal.Reader) {
	for {
		events, last, err := r.collect(ctx, rd)
		if err != nil {
			if ctx.Err() == nil {
				r.rt.log.Error("route stopped: reading the WAL failed", "route", r.name, "error", err)
			}
			return
		}
		if len(events) > 0 {
			if err := r.deliver(ctx, events); err != nil {
				return // shutting down: the cursor stays before this batch
			}
		}
		if e := r.erasure; e != nil {
			r.erasure = nil
			if err := r.erase(ctx, e); err != nil {
				return // shutting down: the next start erases again (erasure is idempotent)
			}
		}
		if err := r.advanceRetrying(ctx, last); err != nil {
			return // shutting down: the next start re-delivers from the saved cursor
		}
	}
}

// advanceRetrying saves the cursor, retrying with backoff while it fails (a full or
// failing disk): the route waits rather than stops, and moves on once the state
// directory takes writes again. It returns an error only when ctx ends.
func (r *route) advanceRetrying(ctx context.Context, last uint64) error {
	backoff := r.cfg.Retry.InitialBackoff.D()
	for attempt := 1; ; attempt++ {
		err := r.advance(last)
		if err == nil {
			if attempt > 1 {
				r.rt.log.Info("cursor saved again", "route", r.name, "attempts", attempt)
			}
			return nil
		}
		if attempt == 1 || attempt%10 == 0 {
			r.rt.log.Error("saving the cursor failed; delivery waits and retries", "route", r.name, "attempt", attempt, "error", err)
		}
		if err := sleep(ctx, jitter(backoff)); err != nil {
			return err
		}
		backoff = min(2*backoff, r.cfg.Retry.MaxBackoff.D())
	}
}

// collect reads the next batch: events routed here, up to the batch limits, waiting at
// most max_wait after the first one. Records for other routes are passed over; last is
// the highest sequence read, so the cursor can move past them too. An erasure request
// for this route ends the batch (r.erasure), so that it is carried out after the
// events accepted before it and before those after it.
func (r *route) collect(ctx context.Context, rd *wal.Reader) (events []Event, last uint64, err error) {
	waitCtx := ctx
	var size int64
	scanned := 0
	for {
		rec, ok, err := rd.TryNext()
		if err != nil {
			return nil, 0, err
		}
		if !ok {
			if len(events) == 0 && scanned > 0 {
				return nil, last, nil // caught up past records of other routes
			}
			rec, err = rd.Next(waitCtx)
			if err != nil {
				if waitCtx != ctx && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
					return events, last, nil
				}
				return nil, 0, err
			}
		}
		scanned++
		last = rec.Seq
		dr, err := DecodeRecord(rec.Seq, rec.Payload)
		if err != nil {
			// The WAL's CRC passed, so this is a payload this version cannot read: keep it
			// as a dead letter rather than dropping it.
			r.deadLetterRaw(rec, err)
			continue
		}
		if dr.Erasure && dr.HasRoute(r.name) {
			r.erasure = dr
			return events, last, nil
		}
		if !dr.HasRoute(r.name) {
			if len(events) == 0 && scanned >= 8192 {
				return nil, last, nil // let the cursor move on a long run of foreign records
			}
			continue
		}
		events = append(events, dr.Event)
		size += int64(len(dr.Data))
		if len(events) == 1 {
			var cancel context.CancelFunc
			waitCtx, cancel = context.WithTimeout(ctx, r.cfg.Batch.MaxWait.D())
			defer cancel() // runs once: only the first event starts the wait
		}
		if len(events) >= r.cfg.Batch.MaxEvents || size >= int64(r.cfg.Batch.MaxBytes) {
			return events, last, nil
		}
	}
}

// deliver writes a batch until every event is stored or dead-lettered, after applying
// the route's PII handling (pii.go), which may split it into runs written in order.
// It returns an error only when ctx ends.
func (r *route) deliver(ctx context.Context, events []Event) error {
	for _, run := range r.protect(events) {
		if err := r.deliverRun(ctx, run); err != nil {
			return err
		}
	}
	return nil
}

// deliverRun writes a run until every event is stored or dead-lettered. Analytic
// routes retry retryable failures forever; runtime routes dead-letter what is older
// than max_lag. The sink gets run.sent; dead letters and counts use run.events, as the
// router accepted them.
func (r *route) deliverRun(ctx context.Context, run piiRun) error {
	pending, sent := run.events, run.sent
	backoff := r.cfg.Retry.InitialBackoff.D()
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		start := r.rt.now()
		err := r.sink.Write(ctx, &Batch{Route: r.info(), Events: sent, Schemas: run.schemas})
		r.rt.metrics.deliveryLatency.WithLabelValues(r.name).Observe(time.Since(start).Seconds())
		if err == nil {
			r.deliveredSent(pending, sent)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var retry, retrySent []Event
		var be *BatchError
		switch {
		case errors.As(err, &be):
			failed := make(map[int]bool, len(be.Items))
			for _, it := range be.Items {
				if it.Index < 0 || it.Index >= len(pending) || failed[it.Index] {
					continue
				}
				failed[it.Index] = true
				if Retryable(it.Err) {
					retry, retrySent = append(retry, pending[it.Index]), append(retrySent, sent[it.Index])
				} else {
					r.deadLetter(pending[it.Index], it.Err.Error())
				}
			}
			var ok, okSent []Event
			for i, ev := range pending {
				if !failed[i] {
					ok, okSent = append(ok, ev), append(okSent, sent[i])
				}
			}
			r.deliveredSent(ok, okSent)
		case !Retryable(err):
			for _, ev := range pending {
				r.deadLetter(ev, err.Error())
			}
		default:
			retry, retrySent = pending, sent
		}
		if len(retry) == 0 {
			return nil
		}
		r.rt.metrics.failed.WithLabelValues(r.name).Add(float64(len(retry)))
		if r.cfg.Class == Runtime {
			retry, retrySent = r.expireSent(retry, retrySent, err)
			if len(retry) == 0 {
				return nil
			}
		}
		if attempt == 1 || attempt%10 == 0 {
			r.rt.log.Warn("delivery failed; retrying", "route", r.name, "events", len(retry), "attempt", attempt, "backoff", backoff, "error", err)
		}
		pending, sent = retry, retrySent
		if err := sleep(ctx, jitter(backoff)); err != nil {
			return err
		}
		backoff = min(2*backoff, r.cfg.Retry.MaxBackoff.D())
	}
}

// expire dead-letters runtime events received longer than max_lag ago.
func (r *route) expire(events []Event, cause error) []Event {
	keep, _ := r.expireSent(events, events, cause)
	return keep
}

// expireSent is expire for events and, index by index, the form the sink gets them in
// (pii.go); it returns what is kept of both.
func (r *route) expireSent(events, sent []Event, cause error) (keep, keepSent []Event) {
	cutoff := r.rt.now().Add(-r.cfg.MaxLag.D())
	for i, ev := range events {
		if ev.Received.Before(cutoff) {
			r.deadLetter(ev, fmt.Sprintf("max_lag %s exceeded; last error: %v", r.cfg.MaxLag.D(), cause))
		} else {
			keep, keepSent = append(keep, ev), append(keepSent, sent[i])
		}
	}
	return keep, keepSent
}

func (r *route) info() Route {
	return Route{Name: r.name, Class: r.cfg.Class, Mode: r.cfg.Mode, Target: r.cfg.Target}
}

func (r *route) delivered(events []Event) { r.deliveredSent(events, events) }

// deliveredSent counts events delivered in the form sent (pii.go): a latest route
// samples the keys the store holds, which PII handling may have hashed.
func (r *route) deliveredSent(events, sent []Event) {
	if len(events) == 0 {
		return
	}
	var keys ledgerKeys
	r.mu.Lock()
	for _, ev := range sent {
		r.state.Delivered[keys.of(ev.Contract, ev.Time)]++
		if r.cfg.Mode == Latest && ev.Key != "" {
			r.state.sampleDelivered(ev)
		}
	}
	r.mu.Unlock()
	r.settled(events)
	r.rt.metrics.delivered.WithLabelValues(r.name).Add(float64(len(events)))
	lag := r.rt.metrics.deliveryLag.WithLabelValues(r.name)
	now := r.rt.now()
	for _, ev := range events {
		lag.Observe(now.Sub(ev.Received).Seconds())
	}
}

func (r *route) deadLetter(ev Event, reason string) {
	if err := r.rt.dead.Add(r.name, ev, reason, r.rt.now()); err != nil {
		// Losing a dead letter would lose the event, and moving the cursor past it would
		// too: crash the router instead, so a restart resumes from the saved cursor.
		panic(fmt.Sprintf("route %s: storing dead letter: %v", r.name, err))
	}
	r.settled([]Event{ev})
	r.rt.metrics.deadLettered.WithLabelValues(r.name).Inc()
}

func (r *route) deadLetterRaw(rec wal.Record, cause error) {
	ev := Event{Seq: rec.Seq, ID: fmt.Sprintf("undecodable-%d", rec.Seq), Data: rec.Payload, Received: r.rt.now()}
	r.rt.log.Error("WAL record does not decode; dead-lettered", "route", r.name, "seq", rec.Seq, "error", cause)
	if err := r.rt.dead.Add(r.name, ev, "undecodable WAL record: "+cause.Error(), r.rt.now()); err != nil {
		panic(fmt.Sprintf("route %s: storing dead letter: %v", r.name, err))
	}
}

// settled removes events from the backlog gauges.
func (r *route) settled(events []Event) {
	var bytes int64
	for _, ev := range events {
		bytes += int64(len(ev.Data))
	}
	r.backlogEvents.Add(-int64(len(events)))
	r.backlogBytes.Add(-bytes)
	if r.backlogEvents.Load() <= 0 {
		r.oldestPending.Store(0)
	} else {
		r.oldestPending.Store(events[len(events)-1].Received.UnixNano())
	}
}

// advance persists the cursor (and the delivered counts as of it).
func (r *route) advance(last uint64) error {
	if last <= r.cursor() {
		return nil
	}
	if err := r.rt.dead.Sync(); err != nil {
		return err // dead letters must be durable before the cursor passes them
	}
	r.mu.Lock()
	r.state.Cursor = last
	raw, err := json.Marshal(r.state)
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if err := writeFileAtomic(r.statePath, raw); err != nil {
		return err
	}
	r.cursorSeq.Store(last)
	return nil
}

// deliveredCounts returns a copy of the delivered counts by ledger key.
func (r *route) deliveredCounts() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(r.state.Delivered))
	for k, v := range r.state.Delivered {
		out[k] = v
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// jitter spreads retries of many routes over [d/2, d).
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)))
}

// writeFileAtomic replaces path with data: temp file, fsync, rename, fsync directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
