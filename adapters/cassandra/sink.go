package cassandra

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/adapters/avrovalue"
	"github.com/waybill-data/waybill/adapters/tlsopt"
	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/target"
)

// timePlaceholders are the target placeholders that depend on the event time.
var timePlaceholders = []string{"date", "hour", "yyyy", "MM", "dd", "yyyy.MM"}

// Sink writes batches to Cassandra with prepared statements, several rows of one
// partition per unlogged batch. It is safe for concurrent use by several routes.
type Sink struct {
	cfg  Config
	log  *slog.Logger
	tls  *tls.Config  // loaded from cfg.TLS by New; nil: plain connections
	life sync.RWMutex // Write holds it shared, Close exclusively

	connecting sync.Mutex // one session creation at a time

	mu      sync.Mutex // guards the fields below
	closed  bool
	session *gocql.Session
	tmpls   map[string]*target.Template
	names   map[string]string // rendered target → table name
	defs    map[defKey]*tableDef
	ready   map[defKey]bool // tables created or checked (create_tables)
}

type defKey struct {
	table    string
	schemaID int
	mode     routing.Mode
	// schema is the schema the batch resolved the id to: the router may give one id a
	// schema derived for a route (its PII handling) that changes with the contract.
	schema avro.Schema
}

// New validates cfg and returns a sink for the cluster it names. It does not contact
// the cluster: the session is opened by the first Write, so an unreachable cluster is
// a retryable failure of that Write, not of the router's startup.
func New(cfg Config, logger *slog.Logger) (*Sink, error) {
	if errs := cfg.Validate(""); len(errs) > 0 {
		return nil, fmt.Errorf("cassandra: invalid configuration: %w", errors.Join(errs...))
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("sink", "cassandra")
	tlsConfig, err := cfg.TLS.Load()
	if err != nil {
		return nil, fmt.Errorf("cassandra: %w", err)
	}
	if cfg.TLS != nil && cfg.TLS.InsecureSkipVerify {
		logger.Warn("cassandra: " + tlsopt.ErrInsecure.Error())
	}
	logger.Debug("cassandra sink created", "config", cfg)
	return &Sink{cfg: cfg, log: logger, tls: tlsConfig,
		tmpls: map[string]*target.Template{}, names: map[string]string{}, defs: map[defKey]*tableDef{}, ready: map[defKey]bool{}}, nil
}

// Close closes the session, after the Writes in progress; later Writes fail with
// ErrClosed.
func (s *Sink) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.session != nil {
		s.session.Close()
		s.session = nil
	}
	return nil
}

// String describes the sink, secrets redacted.
func (s *Sink) String() string { return s.cfg.String() }

// connect returns the session, opening it on first use.
func (s *Sink) connect() (*gocql.Session, error) {
	s.connecting.Lock()
	defer s.connecting.Unlock()
	s.mu.Lock()
	session, closed := s.session, s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return nil, ErrClosed
	case session != nil && !session.Closed():
		return session, nil
	}
	session, err := s.cfg.cluster(s.log, s.tls).CreateSession()
	if err != nil {
		return nil, &WriteError{Op: "connecting to " + strings.Join(s.cfg.Hosts, ","), Err: err}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed { // closed meanwhile (a recount does not hold Write's share of life)
		session.Close()
		return nil, ErrClosed
	}
	s.session = session
	return session, nil
}

// cluster is the driver's configuration; tlsConfig (from c.TLS) turns encryption on.
func (c Config) cluster(log *slog.Logger, tlsConfig *tls.Config) *gocql.ClusterConfig {
	cl := gocql.NewCluster(c.Hosts...)
	cl.Port = c.port()
	cl.ProtoVersion = 4
	cl.Timeout = c.timeout()
	cl.ConnectTimeout = orDefault(c.ConnectTimeout, DefaultConnectTimeout)
	cl.ReconnectInterval = orDefault(c.ReconnectInterval, DefaultReconnectInterval)
	cl.Consistency = c.consistency(routing.Analytic)
	// The router retries, with backoff, exactly the events that failed; a retry inside
	// the driver would only spend the Write's deadline.
	cl.RetryPolicy = &gocql.SimpleRetryPolicy{NumRetries: 0}
	if c.LocalDC != "" {
		cl.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.DCAwareRoundRobinPolicy(c.LocalDC))
	} else {
		cl.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(gocql.RoundRobinHostPolicy())
	}
	if c.Username != "" {
		cl.Authenticator = gocql.PasswordAuthenticator{Username: c.Username, Password: c.Password}
	}
	if tlsConfig != nil {
		// The tls.Config decides verification; EnableHostVerification would override
		// insecure_skip_verify (the driver's SslOptions table).
		cl.SslOpts = &gocql.SslOptions{Config: tlsConfig, EnableHostVerification: !tlsConfig.InsecureSkipVerify}
	}
	cl.Logger = driverLogger{log}
	return cl
}

// driverLogger passes the driver's messages to the sink's logger. The driver reports
// every failed connection attempt, which an outage repeats; they are warnings here,
// since the Writes report the outage to the router.
type driverLogger struct{ log *slog.Logger }

func (l driverLogger) Error(msg string, f ...gocql.LogField)   { l.emit(slog.LevelWarn, msg, f) }
func (l driverLogger) Warning(msg string, f ...gocql.LogField) { l.emit(slog.LevelWarn, msg, f) }
func (l driverLogger) Info(msg string, f ...gocql.LogField)    { l.emit(slog.LevelDebug, msg, f) }
func (l driverLogger) Debug(msg string, f ...gocql.LogField)   { l.emit(slog.LevelDebug, msg, f) }

func (l driverLogger) emit(level slog.Level, msg string, fields []gocql.LogField) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]any, 0, 2*len(fields))
	for _, f := range fields {
		attrs = append(attrs, f.Name, f.Value.Any())
	}
	l.log.Log(context.Background(), level, "gocql: "+msg, attrs...)
}

// template parses and checks a route's target template once.
func (s *Sink) template(r routing.Route) (*target.Template, error) {
	s.mu.Lock()
	t, ok := s.tmpls[r.Target]
	s.mu.Unlock()
	if !ok {
		var err error
		if t, err = target.Parse(r.Target); err != nil {
			return nil, routing.Permanent(fmt.Errorf("cassandra: route %s: %w", r.Name, err))
		}
		s.mu.Lock()
		s.tmpls[r.Target] = t
		s.mu.Unlock()
	}
	if r.Mode == routing.Latest && usesTime(t) {
		for _, p := range timePlaceholders {
			if t.Uses(p) {
				return nil, routing.Permanent(fmt.Errorf("cassandra: route %s: latest mode needs one table per contract, but target %q uses the time placeholder {%s}", r.Name, r.Target, p))
			}
		}
	}
	return t, nil
}

// usesTime reports whether a target renders differently for different event times.
func usesTime(t *target.Template) bool {
	for _, p := range timePlaceholders {
		if t.Uses(p) {
			return true
		}
	}
	return false
}

// tableDef returns the layout of a table for a schema, building it on first use.
func (s *Sink) tableDef(b *routing.Batch, table string, schemaID int) (*tableDef, error) {
	schema, err := b.Schemas.Avro(schemaID)
	if err != nil {
		return nil, err
	}
	k := defKey{table, schemaID, b.Route.Mode, schema}
	s.mu.Lock()
	d, ok := s.defs[k]
	s.mu.Unlock()
	if ok {
		return d, nil
	}
	d, err = newTableDef(s.cfg.Keyspace, table, b.Route.Mode, schema)
	if err != nil {
		return nil, &EncodeError{Err: fmt.Errorf("schema %d: %w", schemaID, err)}
	}
	s.mu.Lock()
	s.defs[k] = d
	s.mu.Unlock()
	return d, nil
}

// row is one event to write: its table, and the INSERT's values once encoded.
type row struct {
	index  int // in Batch.Events
	event  *routing.Event
	def    *tableDef
	values []any // nil until encode
	size   int   // estimated bytes on the wire
}

// outcomes collects the per-event failures of one Write; it is safe for concurrent
// use.
type outcomes struct {
	mu     sync.Mutex
	failed map[int]error
}

func (o *outcomes) fail(err error, rows ...*row) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failed == nil {
		o.failed = map[int]error{}
	}
	for _, r := range rows {
		o.failed[r.index] = err
	}
}

// result is Write's answer: nil, or a *routing.BatchError listing every failed
// event with its own error, in batch order.
func (o *outcomes) result() error {
	if len(o.failed) == 0 {
		return nil
	}
	be := &routing.BatchError{Items: make([]routing.ItemError, 0, len(o.failed))}
	for i, err := range o.failed {
		be.Items = append(be.Items, routing.ItemError{Index: i, Err: err})
	}
	slices.SortFunc(be.Items, func(a, b routing.ItemError) int { return a.Index - b.Index })
	return be
}

// Write stores the batch's events; see the package documentation for the tables and
// the write semantics.
func (s *Sink) Write(ctx context.Context, b *routing.Batch) error {
	s.life.RLock()
	defer s.life.RUnlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if len(b.Events) == 0 {
		return nil
	}
	if b.Route.Mode != routing.Append && b.Route.Mode != routing.Latest {
		return routing.Permanent(fmt.Errorf("cassandra: route %s: unknown mode %q", b.Route.Name, b.Route.Mode))
	}
	tmpl, err := s.template(b.Route)
	if err != nil {
		return err
	}
	session, err := s.connect()
	if err != nil {
		return err
	}
	var out outcomes
	rows := s.rows(b, tmpl, &out)
	rows = s.ensureTables(ctx, session, rows, &out)
	cl := s.cfg.consistency(b.Route.Class)
	var jobs []func()
	if b.Route.Mode == routing.Append {
		for _, group := range s.partitionBatches(rows) {
			jobs = append(jobs, func() { s.writeAppend(ctx, session, cl, group, &out) })
		}
	} else {
		for _, candidates := range byKey(rows) {
			jobs = append(jobs, func() { s.writeLatest(ctx, session, cl, candidates, &out) })
		}
	}
	run(jobs, s.cfg.concurrency())
	return out.result()
}

// rows maps each event to its table and layout, from the envelope alone; an event
// whose table cannot be determined fails alone. Decoding the data waits for the
// request that sends it (encode), so it runs on the concurrent writers, overlapped
// with the requests in flight.
func (s *Sink) rows(b *routing.Batch, tmpl *target.Template, out *outcomes) []*row {
	rows := make([]*row, 0, len(b.Events))
	// A table depends on the contract and the schema only, unless the target uses the
	// event time: then each event renders its own.
	var memo map[memoKey]*tableDef
	if !usesTime(tmpl) {
		memo = map[memoKey]*tableDef{}
	}
	for i := range b.Events {
		r, err := s.row(b, tmpl, i, memo)
		if err != nil {
			out.fail(err, r)
			continue
		}
		rows = append(rows, r)
	}
	return rows
}

// memoKey identifies the table of an event whose target does not use its time.
type memoKey struct {
	contract string
	schemaID int
}

// row is event i's row before encoding; on error it names the event only. memo, when
// not nil, remembers tables by contract and schema.
func (s *Sink) row(b *routing.Batch, tmpl *target.Template, i int, memo map[memoKey]*tableDef) (*row, error) {
	ev := &b.Events[i]
	r := &row{index: i, event: ev}
	if b.Route.Mode == routing.Latest && ev.Key == "" {
		return r, &EncodeError{EventID: ev.ID, Err: errors.New("latest mode needs an entity key and the event has none")}
	}
	k := memoKey{ev.Contract, ev.SchemaID}
	d, err := memo[k], error(nil)
	if d == nil {
		d, err = s.tableDef(b, s.tableName(tmpl.Render(ev.Contract, b.Route.Name, ev.Time)), ev.SchemaID)
		if err == nil && memo != nil {
			memo[k] = d
		}
	}
	var ee *EncodeError
	switch {
	case errors.As(err, &ee):
		return r, &EncodeError{EventID: ev.ID, Err: ee.Err}
	case err != nil:
		// The router resolved this id when it accepted the event; failing to now is a
		// registry or cache condition, not the event's fault.
		return r, fmt.Errorf("cassandra: event %s: resolving schema %d: %w", ev.ID, ev.SchemaID, err)
	}
	r.def = d
	r.size = len(ev.Data) + len(ev.ID) + len(ev.Key) + len(ev.Contract) + 48
	return r, nil
}

// encode decodes a row's event and builds the INSERT's values (once).
func (r *row) encode() error {
	if r.values != nil {
		return nil
	}
	value, err := avrovalue.Decode(r.def.record, r.event.Data)
	if err != nil {
		return &EncodeError{EventID: r.event.ID, Err: err}
	}
	if r.values, err = r.def.rowValues(r.event, value); err != nil {
		return &EncodeError{EventID: r.event.ID, Err: err}
	}
	return nil
}

// tableName is TableName of a rendered target, remembered.
func (s *Sink) tableName(rendered string) string {
	s.mu.Lock()
	name, ok := s.names[rendered]
	s.mu.Unlock()
	if ok {
		return name
	}
	name = TableName(rendered)
	s.mu.Lock()
	if len(s.names) >= maxNames {
		clear(s.names) // targets with {date} or {hour} keep rendering new names
	}
	s.names[rendered] = name
	s.mu.Unlock()
	return name
}

// maxNames bounds the table names Sink.tableName remembers.
const maxNames = 4096

// ensureTables creates or evolves each table the rows go to (create_tables), once
// per table and schema; rows of a table that failed are reported and dropped.
func (s *Sink) ensureTables(ctx context.Context, session *gocql.Session, rows []*row, out *outcomes) []*row {
	if !s.cfg.CreateTables {
		return rows
	}
	checked := map[*tableDef]error{}
	kept := rows[:0]
	for _, r := range rows {
		err, seen := checked[r.def]
		if !seen {
			err = s.ensureTable(ctx, session, r.def, r.event.SchemaID)
			checked[r.def] = err
		}
		if err != nil {
			var ce *ConflictError
			if errors.As(err, &ce) {
				err = &EncodeError{EventID: r.event.ID, Err: ce}
			}
			out.fail(err, r)
			continue
		}
		kept = append(kept, r)
	}
	return kept
}

// run runs jobs on up to n goroutines and waits for them.
func run(jobs []func(), n int) {
	if len(jobs) == 1 {
		jobs[0]()
		return
	}
	work := make(chan func())
	var wg sync.WaitGroup
	for range min(n, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				j()
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
}

// partitionBatches groups append rows by table and partition, in WAL order, and cuts
// each group into batches within the statement and size limits.
func (s *Sink) partitionBatches(rows []*row) [][]*row {
	type partition struct {
		table, key string
		day        int32
	}
	groups := groupBy(rows, func(r *row) partition { return partition{r.def.table, partitionOf(r.event), dayOf(r.event.Time)} })
	var batches [][]*row
	maxRows, maxBytes := s.cfg.maxBatchStatements(), s.cfg.maxBatchBytes()
	for _, g := range groups {
		var cur []*row
		size := 0
		for _, r := range g {
			if len(cur) > 0 && (len(cur) >= maxRows || size+r.size > maxBytes) {
				batches = append(batches, cur)
				cur, size = nil, 0
			}
			cur = append(cur, r)
			size += r.size
		}
		batches = append(batches, cur)
	}
	return batches
}

// writeAppend writes rows of one partition: a single row as one prepared INSERT,
// several in one unlogged batch of prepared INSERTs (applied atomically by the
// partition's replicas; no batch log, since one partition needs none). A batch that
// fails permanently is written again row by row, so only the rows at fault fail
// permanently; a retryable failure fails every row of the batch, retryably.
func (s *Sink) writeAppend(ctx context.Context, session *gocql.Session, cl gocql.Consistency, rows []*row, out *outcomes) {
	encoded := rows[:0:0]
	for _, r := range rows {
		if err := r.encode(); err != nil {
			out.fail(err, r)
			continue
		}
		encoded = append(encoded, r)
	}
	if rows = encoded; len(rows) == 0 {
		return
	}
	d := rows[0].def
	var err error
	if len(rows) == 1 {
		err = session.Query(d.insert, rows[0].values...).Consistency(cl).Idempotent(true).ExecContext(ctx)
		if err != nil {
			out.fail(&WriteError{Op: "insert into " + d.keyspace + "." + d.table, Err: err}, rows[0])
		}
		return
	}
	batch := session.Batch(gocql.UnloggedBatch).Consistency(cl)
	for _, r := range rows {
		batch.Query(r.def.insert, r.values...)
	}
	if err = batch.ExecContext(ctx); err == nil {
		return
	}
	werr := &WriteError{Op: fmt.Sprintf("unlogged batch of %d into %s.%s", len(rows), d.keyspace, d.table), Err: err}
	if werr.Retryable() {
		out.fail(werr, rows...)
		return
	}
	for _, r := range rows {
		s.writeAppend(ctx, session, cl, []*row{r}, out)
	}
}

// groupBy groups rows by key, groups in order of first appearance, rows in order.
func groupBy[K comparable](rows []*row, key func(*row) K) [][]*row {
	at := map[K]int{}
	var groups [][]*row
	for _, r := range rows {
		k := key(r)
		i, ok := at[k]
		if !ok {
			i = len(groups)
			at[k] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], r)
	}
	return groups
}

// byKey groups latest rows by table and key, in order of first appearance; each
// group's rows are sorted newest first.
func byKey(rows []*row) [][]*row {
	type key struct{ table, key string }
	groups := groupBy(rows, func(r *row) key { return key{r.def.table, r.event.Key} })
	for _, g := range groups {
		slices.SortStableFunc(g, func(a, b *row) int { return -compareVersion(a.event, b.event) })
	}
	return groups
}

// compareVersion orders events of one key: by event time (to the microsecond, as
// stored), then by event id.
func compareVersion(a, b *routing.Event) int {
	ta, tb := a.Time.UnixMicro(), b.Time.UnixMicro()
	switch {
	case ta < tb:
		return -1
	case ta > tb:
		return 1
	}
	return strings.Compare(a.ID, b.ID)
}

// writeLatest writes the newest of a key's events in the batch (the others are
// superseded by it and count as delivered with it). If that one fails permanently,
// the next newest is written instead; a retryable failure fails them all.
func (s *Sink) writeLatest(ctx context.Context, session *gocql.Session, cl gocql.Consistency, candidates []*row, out *outcomes) {
	for i, r := range candidates {
		err := s.upsertLatest(ctx, session, cl, r)
		switch {
		case err == nil:
			return
		case routing.Retryable(err):
			out.fail(err, candidates[i:]...)
			return
		default:
			out.fail(err, r)
		}
	}
}

// upsertLatest writes a key's event unless the stored version is as new. The write
// timestamp (USING TIMESTAMP) is the event time in microseconds, so Cassandra itself
// keeps a newer event against any older write, concurrent ones included. Cassandra
// breaks equal write timestamps cell by cell (the greater value wins), which would mix
// two events of the same microsecond; so the stored (time, id) and write time are
// read first: an event that is not newer is skipped, and one that wins on its id at
// an equal time is written one microsecond above the stored write time.
func (s *Sink) upsertLatest(ctx context.Context, session *gocql.Session, cl gocql.Consistency, r *row) error {
	if err := r.encode(); err != nil {
		return err
	}
	d, ev := r.def, r.event
	ts := ev.Time.UnixMicro()
	var storedTime, writeTime int64
	var storedID string
	err := session.Query(d.selectLatest, ev.Key).Consistency(readConsistency(cl)).Idempotent(true).
		ScanContext(ctx, &storedTime, &storedID, &writeTime)
	switch {
	case errors.Is(err, gocql.ErrNotFound):
	case err != nil:
		return &WriteError{Op: "reading the stored version of key " + ev.Key + " in " + d.keyspace + "." + d.table, Err: err}
	case storedTime > ts || storedTime == ts && storedID >= ev.ID:
		return nil // the stored version is as new: this event is superseded
	case writeTime >= ts:
		ts = writeTime + 1
	}
	vals := append(r.values[:len(r.values):len(r.values)], ts)
	if err := session.Query(d.insert, vals...).Consistency(cl).Idempotent(true).ExecContext(ctx); err != nil {
		return &WriteError{Op: "insert into " + d.keyspace + "." + d.table, Err: err}
	}
	return nil
}

// readConsistency is the level latest mode reads a key's stored version at: the
// write level, except those Cassandra accepts for writes only.
func readConsistency(cl gocql.Consistency) gocql.Consistency {
	if cl == gocql.EachQuorum {
		return gocql.LocalQuorum
	}
	return cl
}
