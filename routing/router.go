package routing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/routing/wal"
	"github.com/waybill-data/waybill/schemas/auth"
)

// Router accepts events, makes them durable in the WAL and delivers them per route.
type Router struct {
	cfg       *Config
	contracts Contracts
	wal       *wal.WAL
	routes    map[string]*route
	ledger    *Ledger
	dead      *DeadLetters
	dedup     *idWindow
	metrics   *Metrics
	log       *slog.Logger
	now       func() time.Time

	freshness ContractFreshness // nil: readiness does not look at the contract cache
	auth      *auth.Authority   // nil: authentication is off (auth.go)
	audit     AuditLog          // nil: erasure requests are only logged (erasure.go)
	pii       *piiStage         // PII handling plans and the hash key (pii.go)
	closing   atomic.Bool       // BeginShutdown or Close was called
	walFull   atomic.Bool       // the last append hit the WAL's disk budget
	erasures  erasureWaiters    // POST /v1/erasure requests waiting for their routes

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// ContractFreshness says how current the contract cache is; readiness reports it.
// *cache.Cache implements it.
type ContractFreshness interface {
	// Stale reports whether the cache may be behind the registry and since how long.
	Stale() (bool, time.Duration)
	// Revision is the registry revision the cache reflects: 0 until its first load.
	Revision() int64
}

// Options are the router's collaborators.
type Options struct {
	Config    *Config         // validated
	Contracts Contracts       // the registry's watch cache
	Sinks     map[string]Sink // opened sinks by name
	Logger    *slog.Logger
	Metrics   *Metrics // nil: a private registry
	// Freshness of the contract cache, for /readyz. Nil: Contracts, when it implements
	// ContractFreshness (the registry's watch cache does); else not checked.
	Freshness ContractFreshness
	// Authority authenticates callers and authorises producers (auth.go). Nil: the
	// router runs open, every caller may do anything.
	Authority *auth.Authority
	// Audit records erasure requests (erasure.go). Nil: they are only logged.
	Audit AuditLog
}

// New opens the WAL and the durable state under cfg.StateDir and prepares one delivery
// loop per route. Call Start to begin delivering.
func New(opts Options) (*Router, error) {
	cfg := opts.Config
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, dir := range []string{"wal", "routes", "deadletters"} {
		if err := os.MkdirAll(filepath.Join(cfg.StateDir, dir), 0o755); err != nil {
			return nil, fmt.Errorf("creating state dir: %w", err)
		}
	}
	metrics := opts.Metrics
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	w, err := wal.Open(wal.Options{
		Dir:          filepath.Join(cfg.StateDir, "wal"),
		SegmentBytes: int64(cfg.WAL.SegmentBytes),
		MaxBytes:     int64(cfg.WAL.MaxBytes),
		ReserveBytes: int64(cfg.WAL.ReserveBytes),
		Logger:       log,
		ObserveSync:  func(d time.Duration) { metrics.walFsync.Observe(d.Seconds()) },
	})
	if err != nil {
		return nil, fmt.Errorf("opening WAL: %w", err)
	}
	rt := &Router{cfg: cfg, contracts: opts.Contracts, wal: w, log: log, now: time.Now, metrics: metrics, routes: map[string]*route{},
		freshness: opts.Freshness, auth: opts.Authority, audit: opts.Audit}
	if rt.freshness == nil {
		rt.freshness, _ = opts.Contracts.(ContractFreshness)
	}
	if rt.pii, err = newPIIStage(cfg.PII, log); err != nil {
		w.Close()
		return nil, err
	}
	if rt.ledger, err = OpenLedger(cfg.StateDir); err != nil {
		w.Close()
		return nil, err
	}
	if rt.dead, err = OpenDeadLetters(filepath.Join(cfg.StateDir, "deadletters")); err != nil {
		w.Close()
		return nil, err
	}
	for name, rc := range cfg.Routes {
		sink, ok := opts.Sinks[rc.Sink]
		if !ok {
			w.Close()
			return nil, fmt.Errorf("route %s: sink %q was not opened", name, rc.Sink)
		}
		r, err := newRoute(rt, name, rc, sink)
		if err != nil {
			w.Close()
			return nil, err
		}
		rt.routes[name] = r
	}
	// Count what was accepted but not yet in the ledger's checkpoint (after a crash).
	if err := rt.ledger.Recover(w, rt.decodeForLedger); err != nil {
		w.Close()
		return nil, err
	}
	rt.dedup = newIDWindow(cfg.Dedup.Window.D(), cfg.Dedup.MaxIDs)
	if err := rt.dedup.refill(w, rt.now()); err != nil {
		w.Close()
		return nil, err
	}
	rt.registerRouteGauges()
	metrics.walBytes.Set(float64(w.Size()))
	return rt, nil
}

func (rt *Router) decodeForLedger(seq uint64, payload []byte) (*Record, error) {
	return DecodeRecord(seq, payload)
}

// Start launches the delivery loops.
func (rt *Router) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	rt.cancel = cancel
	for _, r := range rt.routes {
		if err := r.start(ctx); err != nil {
			cancel()
			return err
		}
	}
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		rt.housekeeping(ctx)
	}()
	return nil
}

// Close stops delivery (finishing the batch in flight where the sink allows), then
// closes the WAL. Everything acknowledged stays in the WAL for the next start.
func (rt *Router) Close() error {
	rt.closing.Store(true)
	if rt.cancel != nil {
		rt.cancel()
	}
	rt.wg.Wait()
	for _, r := range rt.routes {
		r.wait()
	}
	errs := []error{rt.ledger.Checkpoint(rt.wal.LastSeq())}
	errs = append(errs, rt.dead.Close(), rt.wal.Close())
	return errors.Join(errs...)
}

// BeginShutdown makes /readyz answer 503 from now on, so that load balancers stop
// sending new work while the requests in flight are answered. Intake itself keeps
// working until the HTTP server and Close stop it.
func (rt *Router) BeginShutdown() { rt.closing.Store(true) }

// housekeeping checkpoints the ledger and releases WAL segments every route has passed.
// The ledger counts new records every 100ms, in small steps, so that its work does not
// arrive as one burst per checkpoint that delays intake on a small machine.
func (rt *Router) housekeeping(ctx context.Context) {
	count := time.NewTicker(100 * time.Millisecond)
	defer count.Stop()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-count.C:
			if err := rt.ledger.catchUp(); err != nil {
				rt.log.Warn("ledger counting failed", "error", err)
			}
			continue
		case <-t.C:
		}
		last := rt.wal.LastSeq()
		if err := rt.ledger.Checkpoint(last); err != nil {
			rt.log.Warn("ledger checkpoint failed", "error", err)
			continue
		}
		upTo := last + 1
		for _, r := range rt.routes {
			upTo = min(upTo, r.cursor()+1)
		}
		upTo = min(upTo, rt.ledger.CheckpointSeq()+1)
		before := rt.wal.Size()
		if err := rt.wal.Release(upTo); err != nil {
			rt.log.Warn("releasing WAL segments failed", "error", err)
		}
		if rt.wal.Size() < before {
			rt.walFull.Store(false) // space was freed: appends may fit again
		}
		rt.metrics.walBytes.Set(float64(rt.wal.Size()))
	}
}

// schemaSource resolves schema ids for sinks through the contract cache.
type schemaSource struct{ c Contracts }

func (s schemaSource) Avro(id int) (avro.Schema, error) {
	sc, ok := s.c.SchemaByID(id)
	if !ok {
		return nil, fmt.Errorf("schema id %d is not in the registry cache", id)
	}
	return sc.Avro, nil
}
