package routing

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/auth"
)

// Erasure: POST /v1/erasure {"contract":"c","key":"k"} removes the key's derived data
// from the latest-mode routes the contract may take, and records the request in the
// audit trail. Append routes (the lake, HDFS, Cassandra and Elasticsearch append
// tables) keep every event in files and rows that are immutable here: for them the
// request is only recorded, for downstream compaction to act on.
//
// # Ordering
//
// The request is not carried out by the HTTP handler: it becomes an erasure record in
// the WAL (Record.Erasure), addressed to the latest routes, and each of those routes
// carries it out in its own delivery loop, in WAL order. So every event accepted before
// the request (still in a route's backlog, or being retried) reaches the store first
// and is erased with the rest: an event in flight cannot resurrect the key. Events
// accepted after the request are delivered as usual and re-create the key's record, as
// any new event would. The guarantee is per router: events accepted by another router
// of a fleet are ordered by that router's WAL only.
//
// A route carries the erasure out like a delivery: retried with backoff while the store
// fails retryably, dead-lettered (replayable, listed with "erasure": true) when the
// store refuses it or, on a runtime route, when it is older than max_lag. The route's
// own dead letters of that key, dead-lettered before the request, are erased with it
// (their data removed from the dead-letter log) and are never replayed. The route's
// verify sample marks the key erased. A replayed erasure erases what the route holds
// when the replay runs, including data of events accepted after the original request.
//
// The routes are the ones the contract's policy names now (allowed, default, required)
// that this router has: a route the contract was routed to before its policy changed
// is not covered. A latest target shared by several contracts (no {contract} in it)
// holds one record per key for all of them; erasing a key removes that record,
// whichever contract wrote it last.
//
// The answer waits (up to 5s, ?wait=0s..60s) for the routes: 200 when every latest
// route erased the key, 202 while some are still pending (the erasure is durable and
// will happen), 502 when a route gave up on it (dead-lettered). Each route's outcome is
// listed. GET /v1/erasure?contract=c lists the audit records of a contract.

// Eraser is implemented by sinks that can remove an entity key's record from a
// latest-mode route. Erase returns nil when the route holds nothing for the key any
// more, also when it never did; its errors classify themselves as Write's do.
type Eraser interface {
	Erase(ctx context.Context, route Route, contract, key string) error
}

// AuditLog keeps the audit trail of erasure requests. cmd/router gives the router the
// registry's trail in etcd (routing/audit).
type AuditLog interface {
	Record(ctx context.Context, rec AuditRecord) error
	// List returns the records of one subject ("" for all), oldest first.
	List(ctx context.Context, subject string) ([]AuditRecord, error)
}

// AuditRecord is one request in the audit trail.
type AuditRecord struct {
	Time    time.Time `json:"time"`
	Who     AuditWho  `json:"who"`
	Action  string    `json:"action"` // "erasure"
	Subject string    `json:"subject"`
	Key     string    `json:"key"`
	// ID is the erasure request's id (the WAL record's), for the router's log. (Not
	// "id": the registry's records in the same trail use that for schema ids.)
	ID string `json:"request_id,omitempty"`
	// RoutesErased are the latest-mode routes the key is erased from.
	RoutesErased []string `json:"routes_erased"`
	// RoutesRecordedOnly are the other routes the contract may take: their data is
	// immutable here and the record is what downstream compaction acts on.
	RoutesRecordedOnly []string `json:"routes_recorded_only"`
}

// AuditWho is who made a request.
type AuditWho struct {
	Team string `json:"team"`
	Name string `json:"name"`
}

// Erasure outcomes of a route.
const (
	ErasureErased       = "erased"
	ErasurePending      = "pending"
	ErasureDeadLettered = "dead_lettered"
	ErasureRecordedOnly = "recorded_only"
)

// DefaultErasureWait is how long POST /v1/erasure waits for the routes by default.
const DefaultErasureWait = 5 * time.Second

type erasureRequest struct {
	Contract string `json:"contract"`
	Key      string `json:"key"`
}

// routeErasure is one route's part of an erasure answer.
type routeErasure struct {
	Route   string `json:"route"`
	Mode    Mode   `json:"mode"`
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

type erasureAnswer struct {
	ID       string         `json:"id"`
	Contract string         `json:"contract"`
	Key      string         `json:"key"`
	Status   string         `json:"status"` // erased | pending | failed | recorded_only
	Routes   []routeErasure `json:"routes"`
}

func (rt *Router) handleErasure(w http.ResponseWriter, r *http.Request) {
	id, ok := rt.authenticate(w, r)
	if !ok {
		return
	}
	wait := DefaultErasureWait
	if s := r.URL.Query().Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > time.Minute {
			writeProblem(w, http.StatusBadRequest, "wait %q must be a duration from 0s to 60s", s)
			return
		}
		wait = d
	}
	body, ok := rt.readBody(w, r)
	if !ok {
		return
	}
	var req erasureRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeProblem(w, http.StatusBadRequest, `the body must be {"contract":"...","key":"..."}: %v`, err)
		return
	}
	switch {
	case req.Contract == "":
		writeProblem(w, http.StatusBadRequest, "contract is required")
		return
	case req.Key == "":
		writeProblem(w, http.StatusBadRequest, "key is required")
		return
	case len(req.Key) > 512:
		writeProblem(w, http.StatusBadRequest, "key is %d bytes; at most 512", len(req.Key))
		return
	}
	c, ok := rt.contracts.Contract(req.Contract)
	if !ok {
		writeProblem(w, http.StatusNotFound, "contract %q has no governance record on the registry: no route holds its data", req.Contract)
		return
	}
	if !mayAdminister(id, c.Owner) {
		forbid(w, "team %q may not erase keys of contract %q: only its owner team %q or an admin may", id.Team, req.Contract, c.Owner)
		return
	}
	answer, erase, recorded := rt.planErasure(req, c)
	now := rt.now().UTC()
	answer.ID = NewEventID(now)
	audit := AuditRecord{Time: now, Who: identityOf(id), Action: "erasure", Subject: req.Contract,
		Key: req.Key, ID: answer.ID, RoutesErased: erase, RoutesRecordedOnly: recorded}
	// The trail first: a request that could not be recorded is not carried out.
	if rt.audit != nil {
		if err := rt.audit.Record(r.Context(), audit); err != nil {
			rt.log.Error("erasure request not recorded in the audit trail; nothing erased", "contract", req.Contract, "id", answer.ID, "error", err)
			w.Header().Set("Retry-After", "1")
			writeProblem(w, http.StatusServiceUnavailable, "the erasure request could not be recorded in the audit trail, nothing was erased; retry: %v", err)
			return
		}
	}
	rt.log.Info("erasure requested", "contract", req.Contract, "id", answer.ID, "team", id.Team, "credential", id.Name,
		"routes_erased", erase, "routes_recorded_only", recorded) // the key is data: not logged
	if len(erase) > 0 {
		waiter := rt.erasures.add(answer.ID, erase)
		defer rt.erasures.remove(answer.ID)
		rec := &Record{Event: Event{ID: answer.ID, Contract: req.Contract, Key: req.Key, Time: now, Received: now},
			Routes: erase, Erasure: true}
		if _, _, err := rt.wal.Append(r.Context(), [][]byte{AppendRecord(nil, rec)}); err != nil {
			rt.log.Error("erasure request not written to the WAL; nothing erased", "contract", req.Contract, "id", answer.ID, "error", err)
			w.Header().Set("Retry-After", "1")
			writeProblem(w, http.StatusServiceUnavailable, "the erasure request is recorded in the audit trail (id %s) but could not be made durable here, nothing was erased; retry: %v", answer.ID, err)
			return
		}
		timer := time.NewTimer(wait)
		select {
		case <-waiter.done:
		case <-timer.C:
		case <-r.Context().Done():
		}
		timer.Stop()
		outcomes := waiter.snapshot()
		for i, re := range answer.Routes {
			if o, ok := outcomes[re.Route]; ok {
				answer.Routes[i].Outcome, answer.Routes[i].Detail = o.outcome, o.detail
			}
		}
	}
	status := http.StatusOK
	answer.Status = ErasureRecordedOnly
	for _, re := range answer.Routes {
		switch re.Outcome {
		case ErasureErased:
			if answer.Status == ErasureRecordedOnly {
				answer.Status = ErasureErased
			}
		case ErasurePending:
			if status == http.StatusOK {
				answer.Status, status = ErasurePending, http.StatusAccepted
			}
		case ErasureDeadLettered:
			answer.Status, status = "failed", http.StatusBadGateway
		}
	}
	writeJSON(w, status, answer)
}

// planErasure splits the routes contract c may take (allowed, default and required,
// as far as this router has them) into the latest-mode routes whose sink can erase,
// and the rest, where the request is only recorded.
func (rt *Router) planErasure(req erasureRequest, c *schemas.Contract) (answer erasureAnswer, erase, recorded []string) {
	answer = erasureAnswer{Contract: req.Contract, Key: req.Key, Routes: []routeErasure{}}
	var names []string
	for _, list := range [][]string{c.Routes.Allowed, c.Routes.Default, c.Routes.Required} {
		for _, n := range list {
			if rt.routes[n] != nil && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	for _, n := range names {
		r := rt.routes[n]
		re := routeErasure{Route: n, Mode: r.cfg.Mode}
		_, canErase := r.sink.(Eraser)
		switch {
		case r.cfg.Mode == Latest && canErase:
			re.Outcome = ErasurePending
			erase = append(erase, n)
		case r.cfg.Mode == Latest:
			re.Outcome, re.Detail = ErasureRecordedOnly, "this route's sink cannot erase keys: recorded for downstream compaction"
			recorded = append(recorded, n)
		default:
			re.Outcome, re.Detail = ErasureRecordedOnly, "append routes keep immutable files and rows: recorded for downstream compaction"
			recorded = append(recorded, n)
		}
		answer.Routes = append(answer.Routes, re)
	}
	if erase == nil {
		erase = []string{}
	}
	if recorded == nil {
		recorded = []string{}
	}
	return answer, erase, recorded
}

func (rt *Router) handleListErasures(w http.ResponseWriter, r *http.Request) {
	id, ok := rt.authenticate(w, r)
	if !ok {
		return
	}
	subject := r.URL.Query().Get("contract")
	if subject == "" && !id.Admin {
		writeProblem(w, http.StatusBadRequest, "give ?contract=NAME (only admins may list every contract's erasures)")
		return
	}
	if subject != "" && !id.Admin {
		c, ok := rt.contracts.Contract(subject)
		if !ok || !mayAdminister(id, c.Owner) {
			owner := "unknown"
			if ok {
				owner = c.Owner
			}
			forbid(w, "team %q may not read the erasure trail of contract %q (owner %s)", id.Team, subject, owner)
			return
		}
	}
	if rt.audit == nil {
		writeProblem(w, http.StatusNotImplemented, "this router keeps no audit trail")
		return
	}
	recs, err := rt.audit.List(r.Context(), subject)
	if err != nil {
		writeProblem(w, http.StatusServiceUnavailable, "reading the audit trail: %v", err)
		return
	}
	if recs == nil {
		recs = []AuditRecord{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"erasures": recs})
}

// erase carries out an erasure request on this route (see the top of this file): the
// sink's Erase, then the route's dead letters of the key, retried like a delivery. It
// returns an error only when ctx ends.
func (r *route) erase(ctx context.Context, rec *Record) error {
	eraser, ok := r.sink.(Eraser)
	if !ok { // the route's sink changed since the request: nothing here can erase
		r.gaveUp(rec, "this route's sink cannot erase keys")
		return nil
	}
	backoff := r.cfg.Retry.InitialBackoff.D()
	for attempt := 1; ; attempt++ {
		err := r.eraseStored(ctx, eraser, rec) // the key as the store holds it (pii.go)
		if err == nil {
			var n int
			if n, err = r.rt.dead.EraseKey(r.name, rec.Contract, rec.Key, rec.Seq); err == nil {
				r.mu.Lock()
				for _, k := range r.storedKeys(rec.Contract, rec.Key) {
					r.state.sampleErased(rec.Contract + "|" + k)
				}
				r.mu.Unlock()
				r.rt.metrics.erasures.WithLabelValues(r.name, ErasureErased).Inc()
				r.rt.log.Info("key erased", "route", r.name, "contract", rec.Contract, "id", rec.ID, "dead_letters_erased", n)
				r.rt.erasures.done(rec.ID, r.name, ErasureErased, "")
				return nil
			}
			err = fmt.Errorf("erasing the key's dead letters: %w", err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case !Retryable(err):
			r.gaveUp(rec, err.Error())
			return nil
		case r.cfg.Class == Runtime && rec.Received.Before(r.rt.now().Add(-r.cfg.MaxLag.D())):
			r.gaveUp(rec, fmt.Sprintf("max_lag %s exceeded; last error: %v", r.cfg.MaxLag.D(), err))
			return nil
		}
		if attempt == 1 || attempt%10 == 0 {
			r.rt.log.Warn("erasure failed; retrying", "route", r.name, "contract", rec.Contract, "id", rec.ID, "attempt", attempt, "backoff", backoff, "error", err)
		}
		if err := sleep(ctx, jitter(backoff)); err != nil {
			return err
		}
		backoff = min(2*backoff, r.cfg.Retry.MaxBackoff.D())
	}
}

// gaveUp dead-letters an erasure request, so that it is listed and can be replayed.
func (r *route) gaveUp(rec *Record, reason string) {
	letter := &DeadLetter{Route: r.name, Seq: rec.Seq, ID: rec.ID, Contract: rec.Contract, Key: rec.Key, Time: rec.Time,
		Received: rec.Received, Reason: "erasure: " + reason, At: r.rt.now().UTC(), Erasure: true}
	if err := r.rt.dead.add(r.name, letter); err != nil {
		panic(fmt.Sprintf("route %s: storing dead letter: %v", r.name, err)) // as deadLetter does
	}
	r.rt.metrics.erasures.WithLabelValues(r.name, ErasureDeadLettered).Inc()
	r.rt.log.Error("erasure dead-lettered", "route", r.name, "contract", rec.Contract, "id", rec.ID, "reason", reason)
	r.rt.erasures.done(rec.ID, r.name, ErasureDeadLettered, reason)
}

// sampleErased marks a sampled key erased (verify then expects the store to hold
// nothing newer than the erased version). The route's mu is held.
func (st *routeState) sampleErased(contractKey string) {
	if v, ok := st.Latest[contractKey]; ok {
		v.Erased = true
		st.Latest[contractKey] = v
	}
}

// erasureWaiters lets POST /v1/erasure wait for the routes carrying its request out.
type erasureWaiters struct {
	mu sync.Mutex
	m  map[string]*erasureWaiter
}

type erasureWaiter struct {
	mu       sync.Mutex
	left     map[string]bool
	outcomes map[string]erasureOutcome
	done     chan struct{}
}

type erasureOutcome struct{ outcome, detail string }

func (ws *erasureWaiters) add(id string, routes []string) *erasureWaiter {
	w := &erasureWaiter{left: map[string]bool{}, outcomes: map[string]erasureOutcome{}, done: make(chan struct{})}
	for _, r := range routes {
		w.left[r] = true
	}
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.m == nil {
		ws.m = map[string]*erasureWaiter{}
	}
	ws.m[id] = w
	return w
}

func (ws *erasureWaiters) remove(id string) {
	ws.mu.Lock()
	delete(ws.m, id)
	ws.mu.Unlock()
}

// done records a route's outcome of request id (no one may be waiting: after a
// restart, or a replay).
func (ws *erasureWaiters) done(id, route, outcome, detail string) {
	ws.mu.Lock()
	w := ws.m[id]
	ws.mu.Unlock()
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.left[route] {
		return
	}
	delete(w.left, route)
	w.outcomes[route] = erasureOutcome{outcome, detail}
	if len(w.left) == 0 {
		close(w.done)
	}
}

func (w *erasureWaiter) snapshot() map[string]erasureOutcome {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]erasureOutcome, len(w.outcomes))
	for k, v := range w.outcomes {
		out[k] = v
	}
	return out
}

// identityOf is who made a request, for the audit trail.
func identityOf(id *auth.Identity) AuditWho { return AuditWho{Team: id.Team, Name: id.Name} }
