package elastic

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// index is one index: mappings, live documents, and the documents search sees (as of
// the last refresh).
type index struct {
	name       string
	uuid       string
	created    time.Time
	maps       *mappings
	docs       map[string]*doc
	searchable map[string]*doc
	seqNo      int64
}

// doc is one stored document version; it is never changed once stored.
type doc struct {
	id      string
	source  json.RawMessage
	parsed  map[string]any
	version int64
	seqNo   int64
}

// writeOpts are a write's concurrency and versioning parameters.
type writeOpts struct {
	versionType string // internal, external, external_gte
	version     int64
	hasVersion  bool
	create      bool // op_type=create: fail if the id exists
}

// writeResult is the outcome of one document write, as ES reports it.
type writeResult struct {
	Index   string
	ID      string
	Version int64
	SeqNo   int64
	Result  string // created, updated, deleted, not_found, noop
	Status  int
	Err     *esError
}

func (r writeResult) body(forcedRefresh bool) map[string]any {
	if r.Err != nil {
		return map[string]any{"_index": r.Index, "_id": r.ID, "status": r.Status, "error": r.Err.object()}
	}
	o := map[string]any{
		"_index": r.Index, "_id": r.ID, "_version": r.Version, "result": r.Result,
		"_shards": map[string]any{"total": 2, "successful": 1, "failed": 0},
		"_seq_no": r.SeqNo, "_primary_term": 1, "status": r.Status,
	}
	if forcedRefresh {
		o["forced_refresh"] = true
	}
	return o
}

// validIndexName checks a concrete index name as ES does.
func validIndexName(name string) *esError {
	bad := func(why string) *esError {
		return &esError{Status: http.StatusBadRequest, Type: "invalid_index_name_exception",
			Reason: fmt.Sprintf("Invalid index name [%s], %s", name, why), Index: name}
	}
	switch {
	case name == "":
		return bad("must not be empty")
	case strings.ContainsAny(name, "\\/*?\"<>| ,"):
		return bad(`must not contain the following characters [' ','"','*',',','/','<','>','?','\','|']`)
	case strings.Contains(name, "#"):
		return bad("must not contain '#'")
	case strings.Contains(name, ":"):
		return bad("must not contain ':'")
	case strings.IndexAny(name[:1], "_-+") == 0:
		return bad("must not start with '_', '-', or '+'")
	case name != strings.ToLower(name):
		return bad("must be lowercase")
	case name == "." || name == "..":
		return bad("must not be '.' or '..'")
	case len(name) > 255:
		return &esError{Status: http.StatusBadRequest, Type: "invalid_index_name_exception",
			Reason: fmt.Sprintf("Invalid index name [%s], index name is too long, (%d > 255)", name, len(name)), Index: name}
	}
	return nil
}

// newIndex creates an index; s.mu must be held.
func (s *Server) newIndex(name string) *index {
	idx := &index{name: name, uuid: indexUUID(name), created: time.Now(), maps: newMappings(),
		docs: map[string]*doc{}, searchable: map[string]*doc{}}
	s.indices[name] = idx
	return idx
}

// autoCreate returns the index for a document write, creating it (s.mu held).
func (s *Server) autoCreate(name string) (*index, *esError) {
	if idx := s.indices[name]; idx != nil {
		return idx, nil
	}
	if e := validIndexName(name); e != nil {
		return nil, e
	}
	return s.newIndex(name), nil
}

// decodeObject decodes a JSON object with numbers kept as json.Number.
func decodeObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("unexpected data after the JSON object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("expected a JSON object")
	}
	return obj, nil
}

func parseFailed(err error) *esError {
	return &esError{Status: 400, Type: "document_parsing_exception", Reason: "[1:1] failed to parse: " + err.Error(),
		CausedBy: &esError{Type: "json_parse_exception", Reason: err.Error()}}
}

// write stores one document (s.mu held): checks the injected faults, the version
// rules and the mappings, in ES's order.
func (s *Server) write(name, id string, source []byte, o writeOpts) writeResult {
	res := writeResult{Index: name, ID: id}
	fail := func(e *esError) writeResult {
		res.Status, res.Err = e.Status, e
		return res
	}
	if st := s.takeItemFault(id); st != 0 {
		return fail(itemFaultError(st, name, id))
	}
	obj, err := decodeObject(source)
	if err != nil {
		e := parseFailed(err)
		e.Index = name
		return fail(e)
	}
	idx, e := s.autoCreate(name)
	if e != nil {
		return fail(e)
	}
	cur := idx.docs[id]
	if e := versionConflict(idx.name, id, cur, o); e != nil {
		return fail(e)
	}
	added, e := parseDoc(idx.maps, name, id, obj)
	if e != nil {
		return fail(e)
	}
	if e := idx.maps.merge("", added); e != nil {
		return fail(e)
	}
	version := int64(1)
	switch {
	case o.versionType != "internal":
		version = o.version
	case cur != nil:
		version = cur.version + 1
	}
	idx.seqNo++
	compact := new(bytes.Buffer)
	if err := json.Compact(compact, source); err != nil {
		compact = bytes.NewBuffer(source)
	}
	idx.docs[id] = &doc{id: id, source: compact.Bytes(), parsed: obj, version: version, seqNo: idx.seqNo - 1}
	res.Version, res.SeqNo = version, idx.seqNo-1
	res.Result, res.Status = "created", http.StatusCreated
	if cur != nil {
		res.Result, res.Status = "updated", http.StatusOK
	}
	return res
}

// versionConflict applies op_type=create and external versioning.
func versionConflict(name, id string, cur *doc, o writeOpts) *esError {
	conflict := func(reason string) *esError {
		return &esError{Status: http.StatusConflict, Type: "version_conflict_engine_exception", Reason: reason, Index: name}
	}
	if cur == nil {
		return nil
	}
	if o.create {
		return conflict(fmt.Sprintf("[%s]: version conflict, document already exists (current version [%d])", id, cur.version))
	}
	switch o.versionType {
	case "external":
		if o.version <= cur.version {
			return conflict(fmt.Sprintf("[%s]: version conflict, current version [%d] is higher or equal to the one provided [%d]", id, cur.version, o.version))
		}
	case "external_gte":
		if o.version < cur.version {
			return conflict(fmt.Sprintf("[%s]: version conflict, current version [%d] is higher than the one provided [%d]", id, cur.version, o.version))
		}
	}
	return nil
}

// remove deletes one document (s.mu held).
func (s *Server) remove(name, id string, o writeOpts) writeResult {
	res := writeResult{Index: name, ID: id}
	if st := s.takeItemFault(id); st != 0 {
		e := itemFaultError(st, name, id)
		res.Status, res.Err = e.Status, e
		return res
	}
	idx := s.indices[name]
	if idx == nil {
		e := indexNotFound(name)
		res.Status, res.Err = e.Status, e
		return res
	}
	cur := idx.docs[id]
	if cur != nil && o.versionType != "internal" {
		if e := versionConflict(name, id, cur, o); e != nil {
			res.Status, res.Err = e.Status, e
			return res
		}
	}
	idx.seqNo++
	res.SeqNo = idx.seqNo - 1
	if cur == nil {
		res.Version, res.Result, res.Status = 1, "not_found", http.StatusNotFound
		return res
	}
	delete(idx.docs, id)
	res.Version, res.Result, res.Status = cur.version+1, "deleted", http.StatusOK
	if o.versionType != "internal" {
		res.Version = o.version
	}
	return res
}

// update applies a partial document (s.mu held).
func (s *Server) update(name, id string, partial map[string]any, upsert bool) writeResult {
	res := writeResult{Index: name, ID: id}
	fail := func(e *esError) writeResult {
		res.Status, res.Err = e.Status, e
		return res
	}
	idx := s.indices[name]
	var cur *doc
	if idx != nil {
		cur = idx.docs[id]
	}
	if cur == nil && !upsert {
		if idx == nil {
			return fail(indexNotFound(name))
		}
		return fail(&esError{Status: http.StatusNotFound, Type: "document_missing_exception", Reason: fmt.Sprintf("[%s]: document missing", id), Index: name})
	}
	merged := map[string]any{}
	if cur != nil {
		var err error
		if merged, err = decodeObject(cur.source); err != nil {
			return fail(parseFailed(err))
		}
	}
	mergeInto(merged, partial)
	if cur != nil && jsonEqual(merged, cur.parsed) {
		res.Version, res.SeqNo, res.Result, res.Status = cur.version, cur.seqNo, "noop", http.StatusOK
		return res
	}
	b, _ := json.Marshal(merged)
	return s.write(name, id, b, writeOpts{versionType: "internal"})
}

func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeInto(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// refreshIndex makes every written document searchable (s.mu held).
func (idx *index) refresh() {
	idx.searchable = make(map[string]*doc, len(idx.docs))
	for id, d := range idx.docs {
		idx.searchable[id] = d
	}
}

func newID() string {
	var b [15]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// --- single-document and index APIs ---

func (s *Server) indexDoc(name, id string, q url.Values, body []byte, create bool) (int, any) {
	o, e := parseVersionParams(q.Get("version"), q.Get("version_type"))
	if e != nil {
		return errResp(e)
	}
	o.create = create
	refresh, e := refreshParam(q.Get("refresh"), q.Has("refresh"))
	if e != nil {
		return errResp(e)
	}
	if id == "" {
		id = newID()
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return errResp(badRequest("action_request_validation_exception", "Validation Failed: 1: source is missing;"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res := s.write(name, id, body, o)
	if res.Err != nil {
		return errResp(res.Err)
	}
	if refresh {
		s.indices[name].refresh()
	}
	return res.Status, res.body(refresh && q.Get("refresh") != "wait_for")
}

func (s *Server) getDoc(name, id string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := s.indices[name]
	if idx == nil {
		return errResp(indexNotFound(name))
	}
	d := idx.docs[id]
	if d == nil {
		return http.StatusNotFound, map[string]any{"_index": name, "_id": id, "found": false}
	}
	return http.StatusOK, getBody(name, d)
}

func getBody(name string, d *doc) map[string]any {
	return map[string]any{"_index": name, "_id": d.id, "_version": d.version, "_seq_no": d.seqNo,
		"_primary_term": 1, "found": true, "_source": d.source}
}

func (s *Server) deleteDoc(name, id string, q url.Values) (int, any) {
	o, e := parseVersionParams(q.Get("version"), q.Get("version_type"))
	if e != nil {
		return errResp(e)
	}
	refresh, e := refreshParam(q.Get("refresh"), q.Has("refresh"))
	if e != nil {
		return errResp(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res := s.remove(name, id, o)
	if res.Err != nil {
		return errResp(res.Err)
	}
	if refresh {
		s.indices[name].refresh()
	}
	return res.Status, res.body(refresh && q.Get("refresh") != "wait_for")
}

func (s *Server) createIndex(name string, body []byte) (int, any) {
	if e := validIndexName(name); e != nil {
		return errResp(e)
	}
	var dynamic string
	fields := map[string]*fieldMapping{}
	if len(bytes.TrimSpace(body)) > 0 {
		obj, err := decodeObject(body)
		if err != nil {
			return errResp(parseFailed(err))
		}
		for k := range obj {
			switch k {
			case "mappings", "settings", "aliases":
			default:
				return errResp(badRequest("parse_exception", fmt.Sprintf("unknown key [%s] for create index", k)))
			}
		}
		var e *esError
		if dynamic, fields, e = parseMappings(obj["mappings"]); e != nil {
			return errResp(e)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.indices[name] != nil {
		return errResp(&esError{Status: http.StatusBadRequest, Type: "resource_already_exists_exception",
			Reason: fmt.Sprintf("index [%s/%s] already exists", name, indexUUID(name)), Index: name})
	}
	idx := s.newIndex(name)
	if e := idx.maps.merge(dynamic, fields); e != nil {
		delete(s.indices, name)
		return errResp(e)
	}
	return http.StatusOK, map[string]any{"acknowledged": true, "shards_acknowledged": true, "index": name}
}

func (s *Server) indexExists(name string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.indices[name] == nil {
		return http.StatusNotFound, nil
	}
	return http.StatusOK, nil
}

func (s *Server) getIndex(name string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := s.indices[name]
	if idx == nil {
		return errResp(indexNotFound(name))
	}
	return http.StatusOK, map[string]any{name: map[string]any{
		"aliases":  map[string]any{},
		"mappings": idx.maps.render(),
		"settings": map[string]any{"index": map[string]any{"number_of_shards": "1", "number_of_replicas": "1",
			"uuid": idx.uuid, "provided_name": name, "creation_date": fmt.Sprint(idx.created.UnixMilli())}},
	}}
}

func (s *Server) deleteIndex(name string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, e := s.resolve(name, false)
	if e != nil {
		return errResp(e)
	}
	for _, n := range names {
		delete(s.indices, n)
	}
	return http.StatusOK, map[string]any{"acknowledged": true}
}

func (s *Server) getMapping(name string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, e := s.resolve(name, true)
	if e != nil {
		return errResp(e)
	}
	out := map[string]any{}
	for _, n := range names {
		out[n] = map[string]any{"mappings": s.indices[n].maps.render()}
	}
	return http.StatusOK, out
}

func (s *Server) putMapping(name string, body []byte) (int, any) {
	obj, err := decodeObject(body)
	if err != nil {
		return errResp(parseFailed(err))
	}
	dynamic, fields, e := parseMappings(obj)
	if e != nil {
		return errResp(e)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := s.indices[name]
	if idx == nil {
		return errResp(indexNotFound(name))
	}
	if e := idx.maps.merge(dynamic, fields); e != nil {
		return errResp(e)
	}
	return http.StatusOK, map[string]any{"acknowledged": true}
}

func (s *Server) refresh(expr string) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, e := s.resolve(expr, true)
	if e != nil {
		return errResp(e)
	}
	for _, n := range names {
		s.indices[n].refresh()
	}
	return http.StatusOK, map[string]any{"_shards": map[string]any{"total": 2 * len(names), "successful": len(names), "failed": 0}}
}

// resolve expands an index expression ("a,b", "wb_*", "_all") into existing index
// names (s.mu held). A concrete name that does not exist is index_not_found.
func (s *Server) resolve(expr string, wildcards bool) ([]string, *esError) {
	var out []string
	seen := map[string]bool{}
	for _, part := range strings.Split(expr, ",") {
		if part == "_all" || part == "*" || wildcards && strings.Contains(part, "*") {
			for n := range s.indices {
				if !seen[n] && (part == "_all" || wildcardMatch(part, n)) {
					seen[n] = true
					out = append(out, n)
				}
			}
			continue
		}
		if s.indices[part] == nil {
			return nil, indexNotFound(part)
		}
		if !seen[part] {
			seen[part] = true
			out = append(out, part)
		}
	}
	return out, nil
}

// wildcardMatch matches name against a pattern where '*' matches any run of bytes.
func wildcardMatch(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(name, p)
		}
		j := strings.Index(name, p)
		if j < 0 {
			return false
		}
		name = name[j+len(p):]
	}
	return name == ""
}
