package routing

// PII handling at delivery time: before a route's sink gets a batch, every classified
// field (and every field the contract names for the route) is allowed, hashed,
// redacted or dropped as the contract current at delivery time says, and the event is
// re-encoded under a schema derived for the route. docs/ARCHITECTURE.md ("PII
// handling") is the operator's account of it; this file is the mechanism.
//
// A plan is compiled once per (route, schema id, policy) — policy being the
// contract's handling for the route, its key field and the route's default — and
// cached. A plan that changes nothing has no tree, and its events go to the sink as
// they are: the common case costs a comparison per event. Otherwise the plan is a
// tree of nodes over the schema (records, arrays' items, maps' values, union
// branches) holding only the parts that change; the data is rewritten from bytes to
// bytes, copying everything untouched verbatim (pii_rewrite.go), and the derived
// schema is emitted from the same tree (pii_derive.go), so the two cannot disagree.

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/schemas"
)

// Properties the derived schema puts on the fields it changed, so a reader of a file
// (or of the schema a sink was given) can tell a hash or a placeholder from data.
const (
	PropPII       = "waybill.pii"         // "hash" or "redact"
	PropHash      = "waybill.hash"        // "hmac-sha256"
	PropHashKeyID = "waybill.hash_key_id" // pii.key_id, when configured
	hashAlgorithm = "hmac-sha256"
	// derivedSuffix names the variants of a named record the derived schema needs when
	// one record type is changed differently at two paths: Address, Address_pii2, ...
	derivedSuffix = "_pii"
)

// maxPIIVisits bounds the plan's walk over a schema that reuses named types deeply
// (each use is walked at its own path, like schemas.Classification).
const maxPIIVisits = 100_000

// piiMaxDepth bounds the nesting of the data rewritten, as avrovalue does.
const piiMaxDepth = 256

// piiStage compiles and caches the plans of every route of a router.
type piiStage struct {
	key   []byte // HMAC-SHA256 key; nil when none is configured
	keyID string
	log   *slog.Logger

	mu    sync.Mutex
	plans map[planKey]*piiPlan
}

// maxPIIPlans bounds the plan cache; past it the cache starts afresh (plans are
// rebuilt on use). Plans change only with schemas and contract policies.
const maxPIIPlans = 4096

type planKey struct {
	route    string
	schemaID int
	policy   string // piiPolicy.fingerprint
}

func newPIIStage(cfg PIIConfig, log *slog.Logger) (*piiStage, error) {
	key, err := cfg.loadKey(log)
	if err != nil {
		return nil, err
	}
	return &piiStage{key: key, keyID: cfg.KeyID, log: log, plans: map[planKey]*piiPlan{}}, nil
}

// piiPlan is how one route handles the events of one schema under one policy.
type piiPlan struct {
	root     *piiNode    // nil: nothing changes, events pass through
	schema   avro.Schema // the derived schema Data is re-encoded under (root != nil)
	hashed   []string    // paths hashed, to name them when no key is configured
	keyField string      // the contract's key field
	keyMode  string      // how the key field is handled here; "" or allow keeps Event.Key
	err      error       // the plan could not be made: its events are dead-lettered
}

// piiPolicy is what a plan depends on besides the schema: the contract's handling on
// the route, the route's default for classified fields, and the contract's key field.
type piiPolicy struct {
	handling    map[string]string
	def         string
	keyField    string
	fingerprint string
}

func newPIIPolicy(handling map[string]string, def, keyField string) piiPolicy {
	var b strings.Builder
	b.WriteString(def)
	b.WriteByte(0)
	b.WriteString(keyField)
	paths := make([]string, 0, len(handling))
	for p := range handling {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		b.WriteByte(0)
		b.WriteString(p)
		b.WriteByte('=')
		b.WriteString(handling[p])
	}
	return piiPolicy{handling: handling, def: def, keyField: keyField, fingerprint: b.String()}
}

// plan returns the cached plan of (route, schema, policy), compiling it on first use.
func (st *piiStage) plan(route string, schemaID int, schema avro.Schema, pol piiPolicy) *piiPlan {
	k := planKey{route, schemaID, pol.fingerprint}
	st.mu.Lock()
	p, ok := st.plans[k]
	st.mu.Unlock()
	if ok {
		return p
	}
	p = st.compile(route, schemaID, schema, pol)
	st.mu.Lock()
	if len(st.plans) >= maxPIIPlans {
		st.plans = map[planKey]*piiPlan{}
	}
	st.plans[k] = p
	st.mu.Unlock()
	return p
}

func (st *piiStage) compile(route string, schemaID int, schema avro.Schema, pol piiPolicy) *piiPlan {
	b := planBuilder{pol: pol, class: schemas.Classification(schema), onPath: map[string]*piiNode{}, shared: map[string]*piiNode{}}
	root, err := b.walk(schema, "")
	p := &piiPlan{keyField: pol.keyField, keyMode: b.keyMode, hashed: b.hashed}
	for _, u := range b.unknown {
		// The registry refuses unknown modes, so this is a newer registry or a damaged
		// contract: the field is dropped, the safe reading. Plans are cached, so this is
		// logged once per schema and policy.
		st.log.Warn("unknown PII handling mode; the field is dropped", "route", route, "schema_id", schemaID, "field", u)
	}
	switch {
	case err != nil:
		p.err = err
		return p
	case b.changes == 0:
		return p // root may hold a recursive type's nodes that change nothing
	}
	p.root = root
	text, err := newSchemaEmitter(schema, st.keyID).emitRoot(schema, root)
	if err == nil {
		p.schema, err = avro.ParseWithCache(text, "", &avro.SchemaCache{})
	}
	if err != nil {
		p.root, p.err = nil, fmt.Errorf("deriving the schema for route %s: %w", route, err)
	}
	return p
}

// --- Plans -----------------------------------------------------------------------

type piiKind uint8

const (
	piiRecord piiKind = iota
	piiArray
	piiMap
	piiUnion
)

// piiNode is a part of a schema that changes: a record with at least one changing
// field, an array or map whose items change, a union with a changing branch. Parts
// that do not change have no node (nil) and are copied.
type piiNode struct {
	kind     piiKind
	rec      *avro.RecordSchema // piiRecord
	fields   []piiField         // piiRecord: one per field of rec, in order
	elem     *piiNode           // piiArray, piiMap
	branches []*piiNode         // piiUnion: one per branch, nil where unchanged
	sig      string             // piiRecord: its structure, to share equal nodes; "" on a cycle
}

// piiField is how one record field is handled.
type piiField struct {
	mode  string   // schemas.Handling*
	child *piiNode // allow: the changes inside the field's value; nil when none
	// hash of a union-typed field: the derived type's branch indexes of null (-1 when
	// the union has none) and of the string.
	hashNull, hashString int64
}

type planBuilder struct {
	pol     piiPolicy
	class   map[string]string   // schemas.Classification of the schema
	onPath  map[string]*piiNode // records being walked: a recursive use refers back
	shared  map[string]*piiNode // record nodes by sig
	changes int                 // fields hashed, redacted or dropped
	visits  int
	keyMode string
	hashed  []string
	unknown []string
}

var errPIITooComplex = errors.New("the schema reuses named types too deeply to plan its PII handling")

// mode is a field's handling: the contract's for its path, else the route's default
// when the field is classified, else allow. Handling covers the whole value, so
// fields inside a handled field are not looked at. A null has nothing to protect.
func (b *planBuilder) mode(path string, f *avro.Field) string {
	m, declared := b.pol.handling[path]
	if !declared {
		if b.class[path] == "" {
			return schemas.HandlingAllow
		}
		m = b.pol.def
	}
	switch m {
	case schemas.HandlingAllow, schemas.HandlingHash, schemas.HandlingRedact, schemas.HandlingDrop:
	default:
		b.unknown = append(b.unknown, path+"="+m)
		m = schemas.HandlingDrop
	}
	if derefSchema(f.Type()).Type() == avro.Null {
		return schemas.HandlingAllow
	}
	return m
}

func (b *planBuilder) walk(s avro.Schema, prefix string) (*piiNode, error) {
	if b.visits++; b.visits > maxPIIVisits {
		return nil, errPIITooComplex
	}
	switch t := derefSchema(s).(type) {
	case *avro.RecordSchema:
		return b.record(t, prefix)
	case *avro.ArraySchema:
		return b.container(piiArray, t.Items(), prefix+"[]")
	case *avro.MapSchema:
		return b.container(piiMap, t.Values(), prefix+"{}")
	case *avro.UnionSchema:
		n := &piiNode{kind: piiUnion, branches: make([]*piiNode, len(t.Types()))}
		changed := false
		for i, br := range t.Types() {
			c, err := b.walk(br, prefix)
			if err != nil {
				return nil, err
			}
			n.branches[i] = c
			changed = changed || c != nil
		}
		if !changed {
			return nil, nil
		}
		return n, nil
	}
	return nil, nil
}

func (b *planBuilder) container(kind piiKind, inner avro.Schema, prefix string) (*piiNode, error) {
	elem, err := b.walk(inner, prefix)
	if elem == nil || err != nil {
		return nil, err
	}
	return &piiNode{kind: kind, elem: elem}, nil
}

func (b *planBuilder) record(t *avro.RecordSchema, prefix string) (*piiNode, error) {
	name := t.FullName()
	if n, ok := b.onPath[name]; ok {
		// A recursive use: it is handled as the enclosing use is, at every depth (the
		// classification of a field is a property of its type). Paths that would go
		// through the recursion are not walked, as schemas.Classification does not.
		n.sig = ""
		return n, nil
	}
	n := &piiNode{kind: piiRecord, rec: t, fields: make([]piiField, len(t.Fields())), sig: "?"}
	b.onPath[name] = n
	defer delete(b.onPath, name)
	changed := false
	for i, f := range t.Fields() {
		path := f.Name()
		if prefix != "" {
			path = prefix + "." + f.Name()
		}
		pf := piiField{mode: b.mode(path, f)}
		if pf.mode == schemas.HandlingAllow {
			c, err := b.walk(f.Type(), path)
			if err != nil {
				return nil, err
			}
			pf.child = c
		} else {
			b.changes++
			if k := b.pol.keyField; b.keyMode == "" && (k == path || strings.HasPrefix(k, path+".")) {
				b.keyMode = pf.mode
			}
			if pf.mode == schemas.HandlingHash {
				b.hashed = append(b.hashed, path)
				pf.hashNull, pf.hashString = hashBranches(f.Type())
			}
		}
		changed = changed || pf.mode != schemas.HandlingAllow || pf.child != nil
		n.fields[i] = pf
	}
	if !changed {
		return nil, nil
	}
	return b.share(n), nil
}

// share returns an earlier node equal to n (the same record changed the same way at
// another path), so that the derived schema defines it once.
func (b *planBuilder) share(n *piiNode) *piiNode {
	var sb strings.Builder
	if !n.signature(&sb) {
		n.sig = ""
		return n
	}
	n.sig = sb.String()
	if m, ok := b.shared[n.sig]; ok {
		return m
	}
	b.shared[n.sig] = n
	return n
}

// signature writes n's structure; false when it contains a recursive use, which is
// never shared.
func (n *piiNode) signature(sb *strings.Builder) bool {
	switch n.kind {
	case piiRecord:
		if n.sig == "" {
			return false
		}
		if n.sig != "?" {
			sb.WriteString(n.sig)
			return true
		}
		sb.WriteString("R(" + n.rec.FullName() + "){")
		for i, f := range n.fields {
			if f.mode == schemas.HandlingAllow && f.child == nil {
				continue
			}
			sb.WriteString(strconv.Itoa(i) + ":" + f.mode)
			if f.child != nil {
				sb.WriteByte(':')
				if !f.child.signature(sb) {
					return false
				}
			}
			sb.WriteByte(';')
		}
		sb.WriteByte('}')
	case piiArray, piiMap:
		sb.WriteString(map[piiKind]string{piiArray: "A[", piiMap: "M["}[n.kind])
		if !n.elem.signature(sb) {
			return false
		}
		sb.WriteByte(']')
	case piiUnion:
		sb.WriteString("U(")
		for i, br := range n.branches {
			if br != nil {
				sb.WriteString(strconv.Itoa(i) + ":")
				if !br.signature(sb) {
					return false
				}
				sb.WriteByte(';')
			}
		}
		sb.WriteByte(')')
	}
	return true
}

// hashBranches returns, for a union-typed field being hashed, the branch indexes of
// null and string in its derived type: ["null","string"] when null comes first,
// ["string","null"] when it comes later, "string" (-1, 0) without a null.
func hashBranches(s avro.Schema) (null, str int64) {
	u, ok := derefSchema(s).(*avro.UnionSchema)
	if !ok {
		return -1, 0
	}
	for i, br := range u.Types() {
		if derefSchema(br).Type() == avro.Null {
			if i == 0 {
				return 0, 1
			}
			return 1, 0
		}
	}
	return -1, 0
}

// --- Delivery ----------------------------------------------------------------------

// piiRun is a run of a batch that one Sink.Write carries: the events as the router
// holds them (dead letters and accounting use these) and as the sink gets them, with
// the schemas to read the latter. Most batches are one run; a batch is cut where one
// schema id would need two different derived schemas (two contracts sharing a schema
// with different handling), since a Batch resolves each id to one schema. Runs keep
// WAL order and are written one after the other.
type piiRun struct {
	events  []Event
	sent    []Event // == events when nothing changed
	schemas Schemas
}

// derivedSchemas resolves the schema ids of one run: derived schemas where the run's
// events were rewritten, the registry's otherwise.
type derivedSchemas struct {
	base    Schemas
	derived map[int]avro.Schema
}

func (d derivedSchemas) Avro(id int) (avro.Schema, error) {
	if s, ok := d.derived[id]; ok {
		return s, nil
	}
	return d.base.Avro(id)
}

// piiBatch is what protect knows of a batch while it goes through it.
type piiBatch struct {
	r        *route
	policies map[string]piiPolicy // by contract: read once per batch, as current now
	last     struct {
		contract string
		id       int
		plan     *piiPlan
	}
}

func (pb *piiBatch) planOf(ev *Event) *piiPlan {
	if l := &pb.last; l.plan != nil && l.contract == ev.Contract && l.id == ev.SchemaID {
		return l.plan
	}
	r := pb.r
	sc, ok := r.rt.contracts.SchemaByID(ev.SchemaID)
	if !ok {
		// Without its schema no sink can read the event either: it fails there, as it
		// would without PII handling.
		return &piiPlan{}
	}
	pol, ok := pb.policies[ev.Contract]
	if !ok {
		var handling map[string]string
		var keyField string
		// The contract as it is now: a policy change applies from the next batch on. A
		// contract gone since intake leaves the route's default for classified fields.
		if c, ok := r.rt.contracts.Contract(ev.Contract); ok {
			handling, keyField = c.PII[r.name], c.KeyField
		}
		pol = newPIIPolicy(handling, r.piiDefault(), keyField)
		if pb.policies == nil {
			pb.policies = map[string]piiPolicy{}
		}
		pb.policies[ev.Contract] = pol
	}
	p := r.rt.pii.plan(r.name, ev.SchemaID, sc.Avro, pol)
	pb.last.contract, pb.last.id, pb.last.plan = ev.Contract, ev.SchemaID, p
	return p
}

// piiDefault is the handling of classified fields the contract has none for here.
func (r *route) piiDefault() string {
	if r.cfg.PIIDefault != "" {
		return r.cfg.PIIDefault
	}
	return r.rt.cfg.PII.Defaults.of(r.cfg.Class)
}

// protect applies the PII handling of this route to a batch: it returns the runs to
// write, and dead-letters (permanently) the events it cannot handle — a plan that
// could not be made, a hash without a key, data that does not fit its schema.
func (r *route) protect(events []Event) []piiRun {
	base := schemaSource{r.rt.contracts}
	pb := piiBatch{r: r}
	first := -1 // the first event that changes
	for i := range events {
		if p := pb.planOf(&events[i]); p.root != nil || p.err != nil {
			first = i
			break
		}
	}
	if first < 0 {
		return []piiRun{{events: events, sent: events, schemas: base}}
	}
	var runs []piiRun
	cur := piiRun{events: events[:first:first], sent: events[:first:first]}
	ids := map[int]avro.Schema{} // the current run's schema per id; nil: the registry's
	for i := range first {
		ids[events[i].SchemaID] = nil
	}
	w := newPIIWriter(r.rt.pii.key)
	for i := first; i < len(events); i++ {
		ev := events[i]
		p := pb.planOf(&ev)
		sent, reason := r.rewrite(w, ev, p)
		if reason != "" {
			r.deadLetter(ev, reason)
			continue
		}
		var want avro.Schema
		if p.root != nil {
			want = p.schema
		}
		if have, ok := ids[ev.SchemaID]; ok && have != want {
			runs = append(runs, cur.finish(base, ids))
			cur, ids = piiRun{}, map[int]avro.Schema{}
		}
		ids[ev.SchemaID] = want
		cur.events = append(cur.events, ev)
		cur.sent = append(cur.sent, sent)
	}
	if len(cur.events) > 0 {
		runs = append(runs, cur.finish(base, ids))
	}
	return runs
}

func (run piiRun) finish(base Schemas, ids map[int]avro.Schema) piiRun {
	derived := map[int]avro.Schema{}
	for id, s := range ids {
		if s != nil {
			derived[id] = s
		}
	}
	run.schemas = base
	if len(derived) > 0 {
		run.schemas = derivedSchemas{base: base, derived: derived}
	}
	return run
}

// rewrite returns ev as the sink gets it under plan p, or why it cannot be delivered.
func (r *route) rewrite(w *piiWriter, ev Event, p *piiPlan) (Event, string) {
	switch {
	case p.err != nil:
		return ev, "pii: " + p.err.Error()
	case p.root == nil:
		return ev, ""
	case len(p.hashed) > 0 && w.mac == nil:
		return ev, fmt.Sprintf("pii: route %s must hash %s of contract %s, but the router has no hash key (pii.hash_key_file or pii.hash_key)",
			r.name, strings.Join(p.hashed, ", "), ev.Contract)
	}
	sc, _ := r.rt.contracts.SchemaByID(ev.SchemaID)
	data, err := w.apply(sc.Avro, p.root, ev.Data)
	if err != nil {
		return ev, fmt.Sprintf("pii: data of schema %d does not fit it: %v", ev.SchemaID, err)
	}
	switch p.keyMode {
	case schemas.HandlingHash:
		// The entity key is the key field's value: it is hashed as the field is, so a
		// latest route still keeps one record per (hashed) key.
		if ev.Key != "" {
			v, ok, err := fieldAt(sc.Avro, ev.Data, p.keyField)
			if err == nil && ok {
				ev.Key, err = w.hashKey(v)
			}
			if err != nil || !ok {
				return ev, fmt.Sprintf("pii: hashing the key field %s: %v", p.keyField, cmp.Or(err, errors.New("it is missing")))
			}
		}
	case schemas.HandlingDrop, schemas.HandlingRedact:
		ev.Key = "" // the key is the field's value: it goes where the field goes
	}
	ev.Data = data
	return ev, ""
}

// storedKey returns an entity key as this route stores it for contract under the
// contract's current policy and latest schema: hashed when the route hashes the key
// field (then the store is keyed by the hash), "" when it drops or redacts it (the
// store holds no key), the key itself otherwise. Whatever looks a key up in a route's
// store by the producer's key (an erasure, a check) must look up this.
func (r *route) storedKey(contract, key string) (string, error) {
	c, ok := r.rt.contracts.Contract(contract)
	if !ok || c.KeyField == "" {
		return key, nil
	}
	v, ok := r.rt.contracts.Latest(contract)
	if !ok {
		return key, nil
	}
	p := r.rt.pii.plan(r.name, v.ID, v.Schema.Avro, newPIIPolicy(c.PII[r.name], r.piiDefault(), c.KeyField))
	switch p.keyMode {
	case schemas.HandlingHash:
	case schemas.HandlingDrop, schemas.HandlingRedact:
		return "", nil
	default:
		return key, nil
	}
	f, err := schemas.LookupField(v.Schema.Avro, c.KeyField)
	if err != nil {
		return "", err
	}
	// The key field's value, as fieldAt reads it, back from keyString's text.
	var value any = key
	switch t := derefSchema(f.Type()).(type) {
	case *avro.PrimitiveSchema:
		if t.Type() == avro.Int || t.Type() == avro.Long {
			n, err := strconv.ParseInt(key, 10, 64)
			if err != nil {
				return "", fmt.Errorf("key %q of an integer key field: %w", key, err)
			}
			value = n
		}
	case *avro.FixedSchema:
		b, err := hex.DecodeString(key)
		if err != nil {
			return "", fmt.Errorf("key %q of a fixed key field is not hex: %w", key, err)
		}
		value = b
	}
	return newPIIWriter(r.rt.pii.key).hashKey(value)
}

// storedKeys are the forms of an entity key this route's store may hold: the key as
// the route stores it now (storedKey) and the key itself, which the store holds for
// events delivered while the route did not hash the key field. An erasure erases
// each. A key the route cannot work out (no hash key configured: such events were
// dead-lettered, not stored) leaves the key itself.
func (r *route) storedKeys(contract, key string) []string {
	stored, err := r.storedKey(contract, key)
	if err != nil || stored == key || stored == "" {
		return []string{key}
	}
	return []string{stored, key}
}

// eraseStored erases every stored form of an erasure request's key (storedKeys).
func (r *route) eraseStored(ctx context.Context, eraser Eraser, rec *Record) error {
	for _, k := range r.storedKeys(rec.Contract, rec.Key) {
		if err := eraser.Erase(ctx, r.info(), rec.Contract, k); err != nil {
			return err
		}
	}
	return nil
}
