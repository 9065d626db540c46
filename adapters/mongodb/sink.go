package mongodb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/waybill-data/waybill/adapters/tlsopt"
	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/target"
)

// maxNamespaceLen is MongoDB's limit on "<database>.<collection>" (4.4 and later).
const maxNamespaceLen = 255

// timePlaceholders are the target placeholders that depend on the event time.
var timePlaceholders = []string{"date", "hour", "yyyy", "MM", "dd", "yyyy.MM"}

// Sink writes batches to MongoDB collections. It is safe for concurrent use.
type Sink struct {
	cfg    Config
	log    *slog.Logger
	client *mongo.Client
	db     *mongo.Database
	enc    encoder

	mu        sync.Mutex
	closed    bool
	templates map[string]*target.Template
	colls     map[collKey]*mongo.Collection
}

type collKey struct {
	name  string
	class routing.Class
}

// New validates cfg and creates the sink's client. It does not wait for the server:
// a router must start while its stores are down, and writes report the outage.
func New(cfg Config, logger *slog.Logger) (*Sink, error) {
	if errs := cfg.Validate(""); len(errs) > 0 {
		return nil, fmt.Errorf("mongodb: invalid configuration: %w", errors.Join(errs...))
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts, err := cfg.clientOptions()
	if err != nil {
		return nil, err
	}
	if cfg.TLS != nil && cfg.TLS.InsecureSkipVerify {
		logger.Warn("mongodb: " + tlsopt.ErrInsecure.Error())
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("mongodb: creating the client: %s", scrub(err.Error(), cfg.URI))
	}
	s := &Sink{
		cfg:       cfg,
		log:       logger,
		client:    client,
		db:        client.Database(cfg.Database),
		enc:       encoder{decimalString: cfg.decimal() == DecimalString},
		templates: map[string]*target.Template{},
		colls:     map[collKey]*mongo.Collection{},
	}
	logger.Debug("mongodb sink created", "config", cfg)
	return s, nil
}

// clientOptions are the driver's options for cfg: the URI's, then the sink's
// timeouts and pool, then the tls section's TLS configuration.
func (cfg Config) clientOptions() (*options.ClientOptions, error) {
	opts := options.Client().ApplyURI(cfg.URI).
		SetAppName("waybill").
		SetConnectTimeout(cfg.connectTimeout()).
		SetServerSelectionTimeout(cfg.serverSelectionTimeout()).
		SetMaxPoolSize(cfg.maxPoolSize())
	tlsConfig, err := cfg.TLS.Load()
	if err != nil {
		return nil, fmt.Errorf("mongodb: %w", err)
	}
	if tlsConfig != nil {
		opts.SetTLSConfig(tlsConfig)
	}
	return opts, nil
}

// item is one event of a batch, encoded.
type item struct {
	index int // in Batch.Events
	event *routing.Event
	coll  string
	doc   bson.Raw
}

// outcomes collects the per-event failures of one Write.
type outcomes struct {
	failed map[int]error
}

func (o *outcomes) fail(index int, err error) {
	if o.failed == nil {
		o.failed = map[int]error{}
	}
	o.failed[index] = err
}

// result is Write's answer: nil, the one error every event failed with, or a
// *routing.BatchError.
func (o *outcomes) result(n int) error {
	if len(o.failed) == 0 {
		return nil
	}
	be := &routing.BatchError{Items: make([]routing.ItemError, 0, len(o.failed))}
	var first error
	same := len(o.failed) == n
	for i := range n {
		err, ok := o.failed[i]
		if !ok {
			continue
		}
		if first == nil {
			first = err
		}
		same = same && err == first
		be.Items = append(be.Items, routing.ItemError{Index: i, Err: err})
	}
	if same && n > 0 {
		return first // the whole batch failed alike: a network error, an outage
	}
	return be
}

// Write stores the batch: inserts keyed by event id (append) or conditional upserts
// keyed by entity key (latest); see the package documentation.
func (s *Sink) Write(ctx context.Context, b *routing.Batch) error {
	if len(b.Events) == 0 {
		return nil
	}
	if b.Route.Mode != routing.Append && b.Route.Mode != routing.Latest {
		return routing.Permanent(fmt.Errorf("mongodb: route %s: unknown mode %q", b.Route.Name, b.Route.Mode))
	}
	tmpl, err := s.template(b.Route)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.writeTimeout())
	defer cancel()

	var out outcomes
	items := make([]item, 0, len(b.Events))
	for i := range b.Events {
		ev := &b.Events[i]
		it, err := s.encode(b, tmpl, i)
		if err != nil {
			out.fail(i, err)
			continue
		}
		it.event = ev
		items = append(items, it)
	}
	for _, group := range byCollection(items) {
		coll := s.collection(group[0].coll, b.Route.Class)
		if b.Route.Mode == routing.Latest {
			s.upsertLatest(ctx, coll, group, &out)
		} else {
			s.insert(ctx, coll, group, &out)
		}
	}
	return out.result(len(b.Events))
}

// encode renders the collection name and the document of event i.
func (s *Sink) encode(b *routing.Batch, tmpl *target.Template, i int) (item, error) {
	ev := &b.Events[i]
	coll, err := collectionName(s.cfg.Database, tmpl.Render(ev.Contract, b.Route.Name, ev.Time))
	if err != nil {
		return item{}, &EncodeError{EventID: ev.ID, Err: err}
	}
	schema, err := b.Schemas.Avro(ev.SchemaID)
	if err != nil {
		// The router resolved this id when it accepted the event; failing to now is a
		// registry or cache condition, not the event's fault.
		return item{}, fmt.Errorf("mongodb: event %s: resolving schema %d: %w", ev.ID, ev.SchemaID, err)
	}
	id := ev.ID
	if b.Route.Mode == routing.Latest {
		if ev.Key == "" {
			return item{}, &EncodeError{EventID: ev.ID, Err: errors.New("latest mode needs an entity key and the event has none")}
		}
		id = ev.Key
	}
	doc, err := s.enc.document(ev, schema, id)
	if err != nil {
		return item{}, &EncodeError{EventID: ev.ID, Err: err}
	}
	return item{index: i, coll: coll, doc: doc}, nil
}

// insert writes an append group with one unordered InsertMany. A duplicate key on
// _id is the same event stored by an earlier delivery: delivered.
func (s *Sink) insert(ctx context.Context, coll *mongo.Collection, items []item, out *outcomes) {
	docs := make([]any, len(items))
	for i, it := range items {
		docs[i] = it.doc
	}
	_, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) {
		whole := classify(err)
		for _, it := range items {
			out.fail(it.index, whole)
		}
		return
	}
	permanent := map[int]bool{}
	for _, we := range bwe.WriteErrors {
		if we.Index < 0 || we.Index >= len(items) {
			continue // a server's nonsense; the write concern or retry covers the batch
		}
		if outcome, ierr := writeErrorOutcome(we); outcome == itemFailed {
			out.fail(items[we.Index].index, ierr)
			permanent[we.Index] = !routing.Retryable(ierr)
		}
	}
	if bwe.WriteConcernError != nil {
		wce := writeConcernError(bwe.WriteConcernError)
		for i, it := range items {
			if !permanent[i] {
				out.fail(it.index, wce)
			}
		}
	}
}

// writeConcernError is retryable whatever its code: the write was applied on the
// primary but not confirmed as configured, and writing it again is idempotent.
func writeConcernError(wce *mongo.WriteConcernError) error {
	return fmt.Errorf("mongodb: write concern not satisfied (retryable): %w", wce)
}

// latestKey is the state of one key of a latest group across upsert rounds.
type latestKey struct {
	candidates []item // the key's events in the batch, newest first
	duplicate  bool   // the head's upsert already hit a duplicate key once
}

// upsertLatest writes a latest group: per key, only the batch's newest event is
// written (the others are superseded by it), with a conditional upsert that replaces
// the stored document only if it is older (event time, then event id):
//
//	replaceOne({_id: key, $or: [{"_waybill.time": {$lt: t}},
//	                            {"_waybill.time": t, "_waybill.id": {$lt: id}}]},
//	           document, {upsert: true})
//
// If the filter matches nothing, the upsert tries to insert, and the unique _id makes
// that fail with a duplicate key when a document for the key exists: it is newer or
// equal — or it appeared concurrently, between the match and the insert. Only in the
// second case can ours still be newer, so the first duplicate key is retried once:
// the document now exists and only ever moves forward, so a second duplicate key
// proves it is at least as new as ours, and the event counts as delivered. If the
// newest event of a key fails permanently, the next newest is written in its place.
func (s *Sink) upsertLatest(ctx context.Context, coll *mongo.Collection, items []item, out *outcomes) {
	byKey := map[string]*latestKey{}
	var keys []*latestKey
	for _, it := range items {
		k := byKey[it.event.Key]
		if k == nil {
			k = &latestKey{}
			byKey[it.event.Key] = k
			keys = append(keys, k)
		}
		k.candidates = append(k.candidates, it)
	}
	for _, k := range keys {
		slices.SortStableFunc(k.candidates, func(a, b item) int { return -compareVersion(a.event, b.event) })
	}
	keys, err := skipStale(ctx, coll, keys)
	if err != nil {
		failAll(keys, classify(err), out)
		return
	}
	// perRound is how many keys one BulkWrite carries. It drops to 1 for the rest of
	// the group when a reply does not account for every write: FerretDB v1 stops an
	// unordered bulk of upserts at the first error and reports it at index 0, leaving
	// the other writes undone without saying so. One write per request makes the
	// error's index right; on MongoDB the replies always add up and this never happens.
	perRound := min(len(keys), s.cfg.latestBulkWrites())
	for len(keys) > 0 {
		round := keys[:min(perRound, len(keys))]
		rest := keys[len(round):]
		models := make([]mongo.WriteModel, len(round))
		for i, k := range round {
			head := k.candidates[0]
			models[i] = mongo.NewReplaceOneModel().SetFilter(olderThan(head.event)).SetReplacement(head.doc).SetUpsert(true)
		}
		res, err := coll.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
		var bwe mongo.BulkWriteException
		if err != nil && !errors.As(err, &bwe) {
			failAll(keys, classify(err), out)
			return
		}
		if len(round) > 1 && !accountsForAll(res, bwe, len(round)) {
			s.log.Debug("mongodb: a bulk upsert's reply does not account for every write; writing one key per request", "writes", len(round))
			perRound = 1
			continue // the same keys again: the writes that were applied are no-ops now
		}
		next := rest[:0:0]
		handled := make([]bool, len(round))
		for _, we := range bwe.WriteErrors {
			if we.Index < 0 || we.Index >= len(round) || handled[we.Index] {
				continue
			}
			handled[we.Index] = true
			k := round[we.Index]
			outcome, ierr := writeErrorOutcome(we)
			switch {
			case outcome == itemDuplicate && !k.duplicate:
				k.duplicate = true
				next = append(next, k)
			case outcome == itemDuplicate: // stored is newer or equal: delivered
			case routing.Retryable(ierr):
				failAll([]*latestKey{k}, ierr, out)
			default:
				out.fail(k.candidates[0].index, ierr)
				if k.candidates = k.candidates[1:]; len(k.candidates) > 0 {
					k.duplicate = false
					next = append(next, k)
				}
			}
		}
		if bwe.WriteConcernError != nil {
			// Every key written in this round is unconfirmed; retry them all.
			wce := writeConcernError(bwe.WriteConcernError)
			var unconfirmed []*latestKey
			for i, k := range round {
				if !handled[i] || slices.Contains(next, k) {
					unconfirmed = append(unconfirmed, k)
				}
			}
			failAll(append(unconfirmed, rest...), wce, out)
			return
		}
		keys = append(next, rest...)
	}
}

// skipStale drops the keys whose stored document is already at least as new as the
// batch's newest event for them: those events count as delivered. Out-of-order events
// of a busy key mostly lose to a version already stored, and sending each only to
// have its upsert refused costs a failed write (and, on FerretDB, a whole bulk round,
// see perRound). The conditional upsert still decides for the keys kept, so a writer
// racing between this read and the write is handled as before.
func skipStale(ctx context.Context, coll *mongo.Collection, keys []*latestKey) ([]*latestKey, error) {
	const chunk = 500
	kept := keys[:0:0]
	for start := 0; start < len(keys); start += chunk {
		part := keys[start:min(start+chunk, len(keys))]
		ids := make([]string, len(part))
		for i, k := range part {
			ids[i] = k.candidates[0].event.Key
		}
		cur, err := coll.Find(ctx, bson.D{{Key: fieldID, Value: bson.D{{Key: "$in", Value: ids}}}},
			options.Find().SetProjection(bson.D{{Key: fieldMetadata + ".time", Value: 1}, {Key: fieldMetadata + ".id", Value: 1}}))
		if err != nil {
			return keys, err
		}
		stored := map[string]routing.Event{}
		for cur.Next(ctx) {
			var doc struct {
				Key  string `bson:"_id"`
				Meta struct {
					ID   string `bson:"id"`
					Time int64  `bson:"time"`
				} `bson:"_waybill"`
			}
			if err := cur.Decode(&doc); err != nil {
				cur.Close(ctx)
				return keys, err
			}
			stored[doc.Key] = routing.Event{ID: doc.Meta.ID, Time: time.UnixMicro(doc.Meta.Time)}
		}
		err = cur.Err()
		cur.Close(ctx)
		if err != nil {
			return keys, err
		}
		for _, k := range part {
			head := k.candidates[0].event
			if st, ok := stored[head.Key]; ok && compareVersion(head, &st) <= 0 {
				continue // the stored version is as new: delivered
			}
			kept = append(kept, k)
		}
	}
	return kept, nil
}

// accountsForAll reports whether a bulk upsert's reply accounts for each of its n
// writes: matched, upserted, or a write error.
func accountsForAll(res *mongo.BulkWriteResult, bwe mongo.BulkWriteException, n int) bool {
	if res == nil {
		return false
	}
	return res.MatchedCount+res.UpsertedCount+int64(len(bwe.WriteErrors)) == int64(n)
}

// failAll fails every candidate of keys with err.
func failAll(keys []*latestKey, err error, out *outcomes) {
	for _, k := range keys {
		for _, c := range k.candidates {
			out.fail(c.index, err)
		}
	}
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

// olderThan matches the key's document if it holds an older version than ev.
func olderThan(ev *routing.Event) bson.D {
	t := ev.Time.UnixMicro()
	return bson.D{
		{Key: fieldID, Value: ev.Key},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: fieldMetadata + ".time", Value: bson.D{{Key: "$lt", Value: t}}}},
			bson.D{{Key: fieldMetadata + ".time", Value: t}, {Key: fieldMetadata + ".id", Value: bson.D{{Key: "$lt", Value: ev.ID}}}},
		}},
	}
}

// byCollection groups items by collection, in order of first appearance.
func byCollection(items []item) [][]item {
	at := map[string]int{}
	var groups [][]item
	for _, it := range items {
		i, ok := at[it.coll]
		if !ok {
			i = len(groups)
			at[it.coll] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], it)
	}
	return groups
}

// collectionName turns a rendered target into a collection name: '/' separators
// become '.', and MongoDB's rules are checked (no "system." prefix, the namespace at
// most 255 bytes). Rendered targets hold only [A-Za-z0-9._=-] besides '/'.
func collectionName(database, rendered string) (string, error) {
	name := strings.ReplaceAll(rendered, "/", ".")
	switch {
	case strings.HasPrefix(name, "system."):
		return "", fmt.Errorf("collection %q: names starting with \"system.\" are reserved", name)
	case strings.ContainsAny(name, "$\x00"):
		return "", fmt.Errorf("collection %q: '$' and NUL are not allowed", name)
	case len(database)+1+len(name) > maxNamespaceLen:
		return "", fmt.Errorf("collection %q: namespace %s.%s is %d bytes, more than MongoDB's %d", name, database, name, len(database)+1+len(name), maxNamespaceLen)
	}
	return name, nil
}

// template parses and checks a route's target template once.
func (s *Sink) template(r routing.Route) (*target.Template, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if t, ok := s.templates[r.Target]; ok {
		return t, s.checkMode(r, t)
	}
	t, err := target.Parse(r.Target)
	if err != nil {
		return nil, routing.Permanent(fmt.Errorf("mongodb: route %s: %w", r.Name, err))
	}
	s.templates[r.Target] = t
	return t, s.checkMode(r, t)
}

// checkMode refuses a latest route whose collection depends on the event time: one
// document per key needs one collection per key.
func (s *Sink) checkMode(r routing.Route, t *target.Template) error {
	if r.Mode != routing.Latest {
		return nil
	}
	for _, p := range timePlaceholders {
		if t.Uses(p) {
			return routing.Permanent(fmt.Errorf("mongodb: route %s: latest mode needs one collection per contract, but target %q uses the time placeholder {%s}", r.Name, r.Target, p))
		}
	}
	return nil
}

// collection returns the handle of a collection with the class's write concern.
func (s *Sink) collection(name string, class routing.Class) *mongo.Collection {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := collKey{name, class}
	c, ok := s.colls[k]
	if !ok {
		c = s.db.Collection(name, options.Collection().SetWriteConcern(s.cfg.writeConcern(class)))
		s.colls[k] = c
	}
	return c
}

// Close disconnects the client; Write fails afterwards.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.connectTimeout())
	defer cancel()
	if err := s.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("mongodb: disconnecting: %w", err)
	}
	return nil
}

// String describes the sink, credentials redacted.
func (s *Sink) String() string { return s.cfg.String() }
