package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/adapters/avrovalue"
	"github.com/waybill-data/waybill/adapters/tlsopt"
	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/target"
)

// Sink writes batches to Elasticsearch with the bulk API. It is safe for concurrent
// use by several routes; each route calls Write one batch at a time.
type Sink struct {
	client  *elasticsearch.Client
	cfg     Config
	log     *slog.Logger
	life    sync.RWMutex // Write holds it shared, Close exclusively
	mu      sync.Mutex   // guards the fields below
	closed  bool
	tmpls   map[string]*target.Template
	ensured map[mappingKey]bool // indices whose mappings cover a schema
}

// mappingKey is an index and a schema its mappings cover. The schema is the one the
// batch resolved its event's id to, not the id: the router may give one id a schema
// derived for a route (its PII handling), which changes with the contract.
type mappingKey struct {
	index  string
	schema *avro.RecordSchema
}

// New returns a sink for the cluster cfg names. It does not contact the cluster: an
// unreachable cluster is a retryable failure of the first Write, not of startup.
func New(cfg Config, logger *slog.Logger) (*Sink, error) {
	if errs := cfg.Validate("elasticsearch"); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tlsConfig, err := cfg.TLS.Load()
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}
	if cfg.TLS != nil && cfg.TLS.InsecureSkipVerify {
		logger.Warn("elasticsearch: " + tlsopt.ErrInsecure.Error())
	}
	client, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: cfg.Addresses,
		Username:  cfg.Username,
		Password:  cfg.Password,
		APIKey:    cfg.APIKey,
		// The router retries with backoff and knows which events failed; a retry
		// inside the client would only hide time from the Write deadline.
		DisableRetry: true,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: cfg.timeout(),
			TLSClientConfig:       tlsConfig,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: client: %w", err)
	}
	return &Sink{
		client: client, cfg: cfg,
		log:     logger.With("sink", "elasticsearch"),
		tmpls:   map[string]*target.Template{},
		ensured: map[mappingKey]bool{},
	}, nil
}

// Close makes later Writes fail with ErrClosed, after the writes in flight.
func (s *Sink) Close() error {
	s.life.Lock()
	defer s.life.Unlock()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// item is one event of a batch on its way to the cluster.
type item struct {
	pos     int    // index in Batch.Events
	index   string // ES index
	id      string // ES _id
	eventID string
	version int64              // external version (latest mode)
	schema  *avro.RecordSchema // the schema its document follows
	action  []byte             // action and document lines
	err     error              // its outcome; nil when stored
}

// Write stores a batch; see the package documentation for the protocol.
func (s *Sink) Write(ctx context.Context, b *routing.Batch) error {
	s.life.RLock()
	defer s.life.RUnlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	tmpl, err := s.template(b.Route)
	if err != nil {
		return routing.Permanent(err)
	}
	latest := b.Route.Mode == routing.Latest
	items := make([]*item, len(b.Events))
	var ready []*item
	for i := range b.Events {
		it := &item{pos: i}
		items[i] = it
		it.err = s.prepare(it, &b.Events[i], b, tmpl, latest)
		if it.err == nil {
			ready = append(ready, it)
		}
	}
	if s.cfg.mappings() == MappingsSchema {
		ready = s.ensureMappings(ctx, ready)
	}
	s.bulk(ctx, ready)
	if latest {
		s.resolveConflicts(ctx, ready)
	}
	return outcome(items)
}

// outcome turns the items' errors into Write's error. When every event failed with the
// same whole-request error, that error is returned as it is.
func outcome(items []*item) error {
	var be routing.BatchError
	for _, it := range items {
		if it.err != nil {
			be.Items = append(be.Items, routing.ItemError{Index: it.pos, Err: it.err})
		}
	}
	if len(be.Items) == 0 {
		return nil
	}
	if len(be.Items) == len(items) {
		first := be.Items[0].Err
		same := true
		for _, ie := range be.Items[1:] {
			if ie.Err != first {
				same = false
				break
			}
		}
		if same && !isItemError(first) {
			return first
		}
	}
	return &be
}

func isItemError(err error) bool {
	var ie *ItemError
	return errors.As(err, &ie)
}

// template parses (once) a route's target template.
func (s *Sink) template(r routing.Route) (*target.Template, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tmpls[r.Target]; ok {
		return t, nil
	}
	t, err := target.Parse(r.Target)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: route %s: %w", r.Name, err)
	}
	if r.Mode == routing.Latest {
		for _, ph := range []string{"date", "hour", "yyyy", "MM", "dd", "yyyy.MM"} {
			if t.Uses(ph) {
				return nil, fmt.Errorf("elasticsearch: route %s: latest mode keeps one document per key, so its target %q must not depend on the event time ({%s})", r.Name, r.Target, ph)
			}
		}
	}
	s.tmpls[r.Target] = t
	return t, nil
}

// prepare decodes and encodes one event into its bulk action; an error is the item's
// (permanent unless the schema lookup says otherwise).
func (s *Sink) prepare(it *item, ev *routing.Event, b *routing.Batch, tmpl *target.Template, latest bool) error {
	fail := func(err error) error {
		return routing.Permanent(fmt.Errorf("elasticsearch: event %s: %w", ev.ID, err))
	}
	schema, err := b.Schemas.Avro(ev.SchemaID)
	if err != nil {
		err = fmt.Errorf("elasticsearch: event %s: schema %d: %w", ev.ID, ev.SchemaID, err)
		if routing.Retryable(err) && isRetryableLookup(err) {
			return err
		}
		return routing.Permanent(err)
	}
	rs, ok := schema.(*avro.RecordSchema)
	if !ok {
		return fail(fmt.Errorf("schema %d is a %s, not a record", ev.SchemaID, schema.Type()))
	}
	it.schema = rs
	value, err := avrovalue.Decode(schema, ev.Data)
	if err != nil {
		return fail(fmt.Errorf("decoding data: %w", err))
	}
	if it.index, err = IndexName(tmpl.Render(ev.Contract, b.Route.Name, ev.Time)); err != nil {
		return fail(err)
	}
	it.id, it.eventID = ev.ID, ev.ID
	if latest {
		if ev.Key == "" {
			return fail(errors.New("latest mode needs an entity key and the event has none"))
		}
		it.id = ev.Key
		if it.version, err = latestVersion(ev.Time); err != nil {
			return fail(err)
		}
	}
	if len(it.id) > maxIDBytes {
		return fail(fmt.Errorf("document id is %d bytes; Elasticsearch allows %d", len(it.id), maxIDBytes))
	}
	line := append(make([]byte, 0, 256+len(ev.Data)*2), `{"index":{"_index":`...)
	line = appendString(line, it.index)
	line = append(line, `,"_id":`...)
	line = appendString(line, it.id)
	if latest {
		line = append(line, `,"version":`...)
		line = strconv.AppendInt(line, it.version, 10)
		line = append(line, `,"version_type":"external"`...)
	}
	line = append(line, "}}\n"...)
	if line, err = appendDocument(line, schema, value, ev); err != nil {
		return fail(err)
	}
	it.action = append(line, '\n')
	return nil
}

// isRetryableLookup reports whether a schema lookup failure says it is retryable
// (a registry outage); an unknown id is permanent.
func isRetryableLookup(err error) bool {
	var c interface{ Retryable() bool }
	return errors.As(err, &c) && c.Retryable()
}

// ensureMappings makes sure, once per (index, schema) in this process, that each
// index exists with the schema's mappings: it creates the index, or adds the
// schema's fields to an existing one. Items whose index could not be prepared get the
// failure and are left out of the result.
func (s *Sink) ensureMappings(ctx context.Context, items []*item) []*item {
	failed := map[mappingKey]error{}
	var out []*item
	for _, it := range items {
		key := mappingKey{it.index, it.schema}
		s.mu.Lock()
		done := s.ensured[key]
		s.mu.Unlock()
		if !done {
			err, seen := failed[key]
			if !seen {
				err = s.putMappings(ctx, it.index, it.schema)
				failed[key] = err
				if err == nil {
					s.mu.Lock()
					s.ensured[key] = true
					s.mu.Unlock()
				}
			}
			if err != nil {
				it.err = err
				continue
			}
		}
		out = append(out, it)
	}
	return out
}

// putMappings creates index with the schema's mappings, or adds them to the existing
// index. A mapping conflict (a field whose type changed) is permanent.
func (s *Sink) putMappings(ctx context.Context, index string, rs *avro.RecordSchema) error {
	m := indexMappings(rs)
	body, err := json.Marshal(map[string]any{"mappings": m})
	if err != nil {
		return routing.Permanent(fmt.Errorf("elasticsearch: mappings of %s: %w", index, err))
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.timeout())
	defer cancel()
	res, err := esapi.IndicesCreateRequest{Index: index, Body: bytes.NewReader(body)}.Do(rctx, s.client)
	status, reqErr := answer("create index", res, err, nil)
	if status >= 200 && status < 300 {
		return nil
	}
	var re *RequestError
	if !errors.As(reqErr, &re) || re.Type != "resource_already_exists_exception" {
		return reqErr
	}
	props, _ := json.Marshal(m)
	res, err = esapi.IndicesPutMappingRequest{Index: []string{index}, Body: bytes.NewReader(props)}.Do(rctx, s.client)
	if _, reqErr = answer("put mapping", res, err, nil); reqErr != nil {
		return reqErr
	}
	return nil
}

// errorBody is ES's error JSON.
type errorBody struct {
	Type     string     `json:"type"`
	Reason   string     `json:"reason"`
	CausedBy *errorBody `json:"caused_by"`
}

func (e *errorBody) text() (string, string) {
	if e == nil {
		return "", ""
	}
	reason := e.Reason
	if e.CausedBy != nil && e.CausedBy.Reason != "" {
		reason += " (caused by " + e.CausedBy.Type + ": " + e.CausedBy.Reason + ")"
	}
	return e.Type, reason
}

// answer reads a response: on 2xx it decodes the body into into (when not nil) and
// returns the status; otherwise it returns a classified error.
func answer(op string, res *esapi.Response, err error, into any) (int, error) {
	if err != nil {
		return 0, &TransportError{Op: op, Err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, &TransportError{Op: op, Err: fmt.Errorf("reading the answer: %w", err)}
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		if into != nil {
			if err := json.Unmarshal(raw, into); err != nil {
				return 0, &TransportError{Op: op, Err: fmt.Errorf("decoding the answer: %w", err)}
			}
		}
		return res.StatusCode, nil
	}
	re := &RequestError{Op: op, Status: res.StatusCode, Reason: http.StatusText(res.StatusCode)}
	var body struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && len(body.Error) > 0 {
		var eb errorBody
		if json.Unmarshal(body.Error, &eb) == nil && eb.Type != "" {
			re.Type, re.Reason = eb.text()
		} else {
			re.Reason = string(body.Error)
		}
	}
	return res.StatusCode, re
}

// bulkResponse is the answer of a bulk request.
type bulkResponse struct {
	Errors bool                  `json:"errors"`
	Items  []map[string]bulkItem `json:"items"`
}

type bulkItem struct {
	Index   string     `json:"_index"`
	ID      string     `json:"_id"`
	Version int64      `json:"_version"`
	Status  int        `json:"status"`
	Error   *errorBody `json:"error"`
}

// bulk sends items' actions in bulk requests of at most MaxBulkBytes and records each
// item's outcome. A request refused with 413 is split in halves; one document alone
// too large is a permanent failure of that document.
func (s *Sink) bulk(ctx context.Context, items []*item) {
	var chunk []*item
	size := 0
	flush := func() {
		if len(chunk) > 0 {
			s.sendBulk(ctx, chunk)
		}
		chunk, size = nil, 0
	}
	for _, it := range items {
		if size > 0 && size+len(it.action) > s.cfg.maxBulkBytes() {
			flush()
		}
		chunk = append(chunk, it)
		size += len(it.action)
	}
	flush()
}

func (s *Sink) sendBulk(ctx context.Context, items []*item) {
	body := make([]byte, 0, 64*len(items))
	for _, it := range items {
		body = append(body, it.action...)
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.timeout())
	defer cancel()
	req := esapi.BulkRequest{Body: bytes.NewReader(body)}
	if r := s.cfg.refresh(); r != RefreshFalse {
		req.Refresh = r
	}
	res, err := req.Do(rctx, s.client)
	var br bulkResponse
	status, err := answer("bulk", res, err, &br)
	if status == http.StatusRequestEntityTooLarge {
		if len(items) > 1 {
			s.sendBulk(ctx, items[:len(items)/2])
			s.sendBulk(ctx, items[len(items)/2:])
			return
		}
		err = routing.Permanent(fmt.Errorf("elasticsearch: document %s/%s (%d bytes with its action line) is larger than the cluster accepts (HTTP 413; see http.max_content_length): %w",
			items[0].index, items[0].id, len(items[0].action), err))
	}
	if err == nil && len(br.Items) != len(items) {
		err = &TransportError{Op: "bulk", Err: fmt.Errorf("the answer has %d items for %d actions", len(br.Items), len(items))}
	}
	if err != nil {
		for _, it := range items {
			it.err = err
		}
		return
	}
	for i, it := range items {
		for _, res := range br.Items[i] {
			if res.Status >= 200 && res.Status < 300 {
				continue
			}
			typ, reason := res.Error.text()
			it.err = &ItemError{Index: it.index, ID: it.id, Status: res.Status, Type: typ, Reason: reason}
		}
	}
}

// resolveConflicts settles latest-mode version conflicts. A 409 means the index holds
// a version (event time in microseconds) at least as new as the event's. If it is
// newer, the event is delivered (ignored, as latest mode wants). If it is the same
// microsecond, the event id decides, as the router orders events by (time, id): an
// equal or greater stored id wins (this is also how a re-delivered event is
// recognised); a smaller one is replaced with version_type=external_gte, which still
// refuses anything strictly newer that arrived meanwhile.
func (s *Sink) resolveConflicts(ctx context.Context, items []*item) {
	var conflicted []*item
	for _, it := range items {
		var ie *ItemError
		if errors.As(it.err, &ie) && ie.Status == http.StatusConflict {
			conflicted = append(conflicted, it)
		}
	}
	if len(conflicted) == 0 {
		return
	}
	type ref struct {
		Index string `json:"_index"`
		ID    string `json:"_id"`
	}
	docs := make([]ref, len(conflicted))
	for i, it := range conflicted {
		docs[i] = ref{it.index, it.id}
	}
	body, _ := json.Marshal(map[string]any{"docs": docs})
	rctx, cancel := context.WithTimeout(ctx, s.cfg.timeout())
	defer cancel()
	res, err := esapi.MgetRequest{Body: bytes.NewReader(body), SourceIncludes: []string{MetaField + ".id"}}.Do(rctx, s.client)
	var mr struct {
		Docs []struct {
			Found   bool       `json:"found"`
			Version int64      `json:"_version"`
			Error   *errorBody `json:"error"`
			Source  struct {
				Meta struct {
					ID string `json:"id"`
				} `json:"_waybill"`
			} `json:"_source"`
		} `json:"docs"`
	}
	_, err = answer("mget", res, err, &mr)
	if err == nil && len(mr.Docs) != len(conflicted) {
		err = &TransportError{Op: "mget", Err: fmt.Errorf("the answer has %d docs for %d ids", len(mr.Docs), len(conflicted))}
	}
	if err != nil {
		for _, it := range conflicted {
			it.err = err
		}
		return
	}
	var replace []*item
	for i, it := range conflicted {
		d := mr.Docs[i]
		switch {
		case !d.Found:
			// Deleted since the conflict: write it again on the next attempt.
			it.err = &ItemError{Index: it.index, ID: it.id, Status: http.StatusServiceUnavailable, Type: "waybill_conflict_retry",
				Reason: "the version conflict's document is gone; retrying the write"}
		case d.Version > it.version:
			it.err = nil // a newer event is stored
		case d.Version == it.version && d.Source.Meta.ID >= it.eventID:
			it.err = nil // the same event, or a tie the stored one wins
		default:
			replace = append(replace, it)
		}
	}
	if len(replace) == 0 {
		return
	}
	for _, it := range replace {
		it.action = bytes.Replace(it.action, []byte(`"version_type":"external"`), []byte(`"version_type":"external_gte"`), 1)
		it.err = nil
	}
	s.bulk(ctx, replace)
	for _, it := range replace {
		var ie *ItemError
		if errors.As(it.err, &ie) && ie.Status == http.StatusConflict {
			it.err = nil // external_gte refused: something strictly newer is stored
		}
	}
}
