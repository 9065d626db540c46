package routing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/waybill-data/waybill/routing/wal"
	"github.com/waybill-data/waybill/schemas/auth"
)

// eventResult is one event's fate in an intake answer.
type eventResult struct {
	Index  int      `json:"index"`
	Status string   `json:"status"` // accepted | rejected
	ID     string   `json:"id,omitempty"`
	Routes []string `json:"routes,omitempty"`
	// Duplicate: an event with this id was accepted before (dedup.go); nothing new
	// was written.
	Duplicate bool   `json:"duplicate,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Field     string `json:"field,omitempty"`
	Error     string `json:"error,omitempty"`
}

type intakeAnswer struct {
	Accepted int           `json:"accepted"`
	Rejected int           `json:"rejected"`
	Events   []eventResult `json:"events"`
}

// Handler returns the router's HTTP API.
func (rt *Router) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/events", rt.handleJSONEvents)
	mux.HandleFunc("POST /v1/events/{subject}", rt.handleAvroEvent)
	mux.HandleFunc("GET /v1/deadletters", rt.handleListDeadLetters)
	mux.HandleFunc("POST /v1/deadletters/replay", rt.handleReplay)
	mux.HandleFunc("GET /v1/ledger", rt.handleLedger)
	mux.HandleFunc("POST /v1/erasure", rt.handleErasure)
	mux.HandleFunc("GET /v1/erasure", rt.handleListErasures)
	mux.Handle("GET /metrics", promhttp.HandlerFor(rt.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", rt.handleReady)
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// readBody reads a bounded body; it answers 413 itself and returns ok=false.
func (rt *Router) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	var buf bytes.Buffer
	if r.ContentLength > 0 && r.ContentLength <= int64(rt.cfg.MaxBodyBytes) {
		buf.Grow(int(r.ContentLength) + bytes.MinRead) // one allocation, no regrowth copies
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, int64(rt.cfg.MaxBodyBytes)))
	body := buf.Bytes()
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeProblem(w, http.StatusRequestEntityTooLarge, "request body is larger than the %d-byte limit", rt.cfg.MaxBodyBytes)
			return nil, false
		}
		writeProblem(w, http.StatusBadRequest, "reading request body: %v", err)
		return nil, false
	}
	return body, true
}

func (rt *Router) handleJSONEvents(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { rt.metrics.intakeLatency.Observe(time.Since(start).Seconds()) }()
	id, ok := rt.authenticate(w, r)
	if !ok {
		return
	}
	body, ok := rt.readBody(w, r)
	if !ok {
		return
	}
	raws, err := splitEvents(body)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "%v", err)
		return
	}
	if len(raws) > rt.cfg.MaxEvents {
		writeProblem(w, http.StatusRequestEntityTooLarge, "%d events in one request; at most %d", len(raws), rt.cfg.MaxEvents)
		return
	}
	received := rt.now().UTC()
	records := make([]*Record, len(raws))
	rejections := make([]*rejection, len(raws))
	payloads := make([][]byte, len(raws))
	rt.prepareAll(id, raws, received, records, rejections, payloads)
	rt.commit(r.Context(), w, records, rejections, payloads)
}

// parallelPrepareMin is the batch size from which a request's events are validated
// on every core at once: a large batch is then answered sooner when the machine has
// idle cores, and nothing changes under full load.
const parallelPrepareMin = 128

// prepareAll validates raws into records (or rejections) and encodes each record's
// WAL payload, index by index.
func (rt *Router) prepareAll(id *auth.Identity, raws []rawEvent, received time.Time, records []*Record, rejections []*rejection, payloads [][]byte) {
	prepare := func(i int) {
		records[i], rejections[i] = rt.prepareJSON(id, raws[i], received)
		if records[i] != nil {
			payloads[i] = AppendRecord(nil, records[i])
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(raws)/(parallelPrepareMin/2))
	if workers < 2 {
		for i := range raws {
			prepare(i)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (len(raws) + workers - 1) / workers
	for lo := 0; lo < len(raws); lo += chunk {
		hi := min(lo+chunk, len(raws))
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				prepare(i)
			}
		})
	}
	wg.Wait()
}

func (rt *Router) handleAvroEvent(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { rt.metrics.intakeLatency.Observe(time.Since(start).Seconds()) }()
	id, ok := rt.authenticate(w, r)
	if !ok {
		return
	}
	body, ok := rt.readBody(w, r)
	if !ok {
		return
	}
	d := directions{id: r.Header.Get("Waybill-Event-Id"), time: r.Header.Get("Waybill-Time")}
	if k, ok := r.Header["Waybill-Key"]; ok && len(k) > 0 {
		d.key = &k[0]
	}
	for _, part := range strings.Split(r.Header.Get("Waybill-Routes"), ",") {
		if part = strings.TrimSpace(part); part != "" {
			d.routes = append(d.routes, part)
		}
	}
	rec, rej := rt.prepareAvro(id, r.PathValue("subject"), body, d, rt.now().UTC())
	rt.commit(r.Context(), w, []*Record{rec}, []*rejection{rej}, nil)
}

// commit applies backpressure, appends the accepted records to the WAL in one group,
// and answers only after the fsync that covers them. encoded holds records' payloads
// already encoded (nil, or nil entries: encoded here).
func (rt *Router) commit(ctx context.Context, w http.ResponseWriter, records []*Record, rejections []*rejection, encoded [][]byte) {
	answer := intakeAnswer{Events: make([]eventResult, len(records))}
	var payloads [][]byte
	var accepted, duplicates []int
	var claimed []string
	firstOf := map[string]int{} // a producer id → its first index in this request
	saturated := false
	notAuthorized := 0
	for i, rec := range records {
		if rec != nil {
			if full := rt.saturatedRoutes(rec.Routes); len(full) > 0 {
				rejections[i] = reject(ReasonBackpressure, "routes", "route(s) %s have more undelivered events than their budget; retry later", strings.Join(full, ", "))
				records[i] = nil
				saturated = true
			}
		}
		if rec := records[i]; rec != nil && rec.producerID {
			if _, again := firstOf[rec.ID]; again {
				duplicates = append(duplicates, i) // the same event twice in one request
				continue
			}
			switch rt.dedup.claim(rec.ID) {
			case claimDuplicate:
				duplicates = append(duplicates, i)
				continue
			case claimInFlight:
				rejections[i] = reject(ReasonDuplicateInFlight, "id", "an event with id %q is being written by another request right now; retry", rec.ID)
				records[i] = nil
			case claimNew:
				firstOf[rec.ID] = i
				claimed = append(claimed, rec.ID)
			}
		}
		if rej := rejections[i]; rej != nil {
			answer.Events[i] = eventResult{Index: i, Status: "rejected", Reason: rej.Reason, Field: rej.Field, Error: rej.Message}
			answer.Rejected++
			if rej.Reason == ReasonNotAuthorized {
				notAuthorized++
			}
			rt.metrics.rejected.WithLabelValues(rej.Reason).Inc()
			continue
		}
		if encoded != nil && encoded[i] != nil {
			payloads = append(payloads, encoded[i])
		} else {
			payloads = append(payloads, AppendRecord(nil, records[i]))
		}
		accepted = append(accepted, i)
	}
	if len(payloads) > 0 {
		if _, _, err := rt.wal.Append(ctx, payloads); err != nil {
			rt.dedup.release(claimed)
			status := http.StatusServiceUnavailable
			if errors.Is(err, wal.ErrFull) {
				status = http.StatusInsufficientStorage
				rt.walFull.Store(true)
			}
			rt.log.Error("WAL append failed; events not accepted", "events", len(payloads), "error", err)
			w.Header().Set("Retry-After", "1")
			writeProblem(w, status, "events could not be made durable, none was accepted: %v", err)
			return
		}
		rt.dedup.commit(claimed, rt.now())
		rt.walFull.Store(false)
		for _, i := range accepted {
			rec := records[i]
			answer.Events[i] = eventResult{Index: i, Status: "accepted", ID: rec.ID, Routes: rec.Routes}
			answer.Accepted++
			for _, name := range rec.Routes {
				rt.routes[name].addBacklog(1, len(rec.Data), rec.Received)
				rt.metrics.accepted.WithLabelValues(name).Inc()
			}
		}
	}
	for _, i := range duplicates {
		answer.Events[i] = eventResult{Index: i, Status: "accepted", ID: records[i].ID, Duplicate: true}
		answer.Accepted++
		rt.metrics.duplicates.Inc()
	}
	status := http.StatusOK
	switch {
	case answer.Rejected == 0:
	case answer.Accepted > 0:
		status = http.StatusMultiStatus
	case saturated:
		status = http.StatusServiceUnavailable
	case notAuthorized == answer.Rejected:
		status = http.StatusForbidden // every event was refused for the caller's team
	default:
		status = http.StatusUnprocessableEntity
	}
	if saturated {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, answer)
}

// saturatedRoutes lists the analytic routes among names whose backlog is over budget.
func (rt *Router) saturatedRoutes(names []string) []string {
	var full []string
	for _, n := range names {
		if r := rt.routes[n]; r != nil && r.overBudget() {
			full = append(full, n)
		}
	}
	return full
}

func (rt *Router) handleListDeadLetters(w http.ResponseWriter, r *http.Request) {
	id, ok := rt.authenticate(w, r)
	if !ok {
		return
	}
	route := r.URL.Query().Get("route")
	if route != "" && rt.routes[route] == nil {
		writeProblem(w, http.StatusNotFound, "unknown route %q", route)
		return
	}
	limit := 1000
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100000 {
			writeProblem(w, http.StatusBadRequest, "limit %q must be an integer from 1 to 100000", s)
			return
		}
		limit = n
	}
	var letters []DeadLetter
	if id.Admin {
		letters = rt.dead.List(route, limit)
	} else {
		// A team sees the dead letters of the contracts it owns.
		for _, l := range rt.dead.List(route, 0) {
			if c, ok := rt.contracts.Contract(l.Contract); ok && c.Owner == id.Team {
				letters = append(letters, l)
				if len(letters) == limit {
					break
				}
			}
		}
	}
	if letters == nil {
		letters = []DeadLetter{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"dead_letters": letters})
}

func (rt *Router) handleReplay(w http.ResponseWriter, r *http.Request) {
	id, ok := rt.authenticate(w, r)
	if !ok {
		return
	}
	if !id.Admin {
		forbid(w, "team %q may not replay dead letters: a route's dead letters span the contracts of many teams, so replay is for admins", id.Team)
		return
	}
	route := r.URL.Query().Get("route")
	if rt.routes[route] == nil {
		writeProblem(w, http.StatusNotFound, "unknown route %q: give ?route=NAME", route)
		return
	}
	n, events, size, err := rt.dead.Replay(r.Context(), route, rt.wal)
	if err != nil {
		writeProblem(w, http.StatusServiceUnavailable, "%v", err)
		return
	}
	if events > 0 {
		rt.routes[route].addBacklog(events, size, rt.now())
	}
	rt.log.Info("dead letters replayed", "route", route, "events", events, "erasures", n-events)
	writeJSON(w, http.StatusOK, map[string]any{"route": route, "replayed": n, "erasures": n - events})
}

func (rt *Router) handleLedger(w http.ResponseWriter, r *http.Request) {
	if _, ok := rt.authenticate(w, r); !ok {
		return
	}
	rows, err := rt.LedgerRows()
	if err != nil {
		writeProblem(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ledger": rows})
}

// readyState is the /readyz answer.
type readyState struct {
	Status    string          `json:"status"` // ready | not_ready
	Reasons   []string        `json:"reasons,omitempty"`
	Contracts *contractsState `json:"contracts,omitempty"`
	WALSeq    uint64          `json:"wal_last_seq"`
}

type contractsState struct {
	Revision        int64   `json:"revision"`
	Stale           bool    `json:"stale"`
	StaleForSeconds float64 `json:"stale_for_seconds,omitempty"`
	MaxStaleSeconds float64 `json:"max_staleness_seconds"`
}

// handleReady answers 200 when the router should get traffic, else 503 with every
// reason: shutting down, the WAL refusing appends (failed, or out of its disk budget),
// or the contract cache never loaded or stale for longer than contracts_max_staleness.
// A stale cache does not stop intake — events are still checked against the last
// known contracts, so producers are not stopped by a registry outage — readiness only
// tells operators and load balancers that contract changes may not be seen here.
func (rt *Router) handleReady(w http.ResponseWriter, _ *http.Request) {
	writeReadiness(w, rt.ready())
}

// ready reports the router's readiness, as /readyz answers it.
func (rt *Router) ready() readyState {
	r := readyState{Status: "ready", WALSeq: rt.wal.LastSeq()}
	if rt.closing.Load() {
		r.Reasons = append(r.Reasons, "shutting down")
	}
	if err := rt.wal.Failed(); err != nil {
		r.Reasons = append(r.Reasons, fmt.Sprintf("the WAL refuses appends: %v", err))
	}
	if rt.walFull.Load() {
		r.Reasons = append(r.Reasons, fmt.Sprintf("the WAL is at its disk budget (wal.max_bytes %d, %d bytes in use): a route is not draining", rt.cfg.WAL.MaxBytes, rt.wal.Size()))
	}
	if f := rt.freshness; f != nil {
		max := rt.cfg.ContractsMaxStaleness.D()
		stale, since := f.Stale()
		c := &contractsState{Revision: f.Revision(), Stale: stale, MaxStaleSeconds: max.Seconds()}
		if stale {
			c.StaleForSeconds = since.Seconds()
		}
		r.Contracts = c
		switch {
		case c.Revision == 0:
			r.Reasons = append(r.Reasons, "the contract cache has never loaded from the registry's etcd")
		case stale && since > max:
			r.Reasons = append(r.Reasons, fmt.Sprintf("the contract cache has not heard from the registry's etcd for %s (contracts_max_staleness %s); intake goes on with the last known contracts", since.Round(time.Millisecond), max))
		}
	}
	if len(r.Reasons) > 0 {
		r.Status = "not_ready"
	}
	return r
}

func writeReadiness(w http.ResponseWriter, r readyState) {
	status := http.StatusOK
	if r.Status != "ready" {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, r)
}
