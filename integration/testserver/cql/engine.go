package cql

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/datastax/go-cassandra-native-protocol/datatype"
	"github.com/datastax/go-cassandra-native-protocol/message"
	"github.com/datastax/go-cassandra-native-protocol/primitive"
)

// Column kinds, as system_schema.columns names them.
const (
	kindPartition  = "partition_key"
	kindClustering = "clustering"
	kindRegular    = "regular"
)

type column struct {
	name     string
	typ      datatype.DataType
	kind     string
	position int // within the partition or clustering key; -1 for regular columns
}

// cell is one stored value with its write timestamp. A nil value is a tombstone.
type cell struct {
	value []byte
	ts    int64
}

type row struct {
	key    [][]byte // partition then clustering values
	marker int64    // the INSERT row marker's timestamp; 0 and hasMarker false if none
	hasMkr bool
	cells  map[string]cell
}

// live reports whether the row would be returned by a SELECT.
func (r *row) live() bool {
	if r.hasMkr {
		return true
	}
	for _, c := range r.cells {
		if c.value != nil {
			return true
		}
	}
	return false
}

type partition struct {
	rows map[string]*row // by encoded clustering key
	// deletedAt is the timestamp of the partition's tombstone (DELETE): it shadows
	// every cell and row marker written at or below it, also ones written later.
	deletedAt int64
	deleted   bool
}

// shadowed reports whether a write at ts is covered by the partition's tombstone.
func (p *partition) shadowed(ts int64) bool { return p.deleted && ts <= p.deletedAt }

type table struct {
	ks, name   string
	cols       []*column // partition key, clustering key, then regular columns by name (SELECT * order)
	byName     map[string]*column
	partition  []*column
	clustering []*column
	parts      map[string]*partition // by encoded partition key
	// virtual tables (system_schema) compute their rows from the catalog.
	virtual func(e *engine) [][][]byte
}

type keyspace struct {
	name   string
	tables map[string]*table
	types  map[string]*datatype.UserDefined
	order  []string // type names in creation order
}

// engine is the in-memory CQL store: the catalog and every table's rows.
type engine struct {
	mu        sync.Mutex
	keyspaces map[string]*keyspace
	prepared  map[string]*prepared
	local     localInfo
}

type localInfo struct {
	host string // rpc_address
	dc   string
}

func newEngine(info localInfo) *engine {
	e := &engine{keyspaces: map[string]*keyspace{}, prepared: map[string]*prepared{}, local: info}
	e.createSystemTables()
	return e
}

func invalid(format string, args ...any) message.Error {
	return &message.Invalid{ErrorMessage: fmt.Sprintf(format, args...)}
}

func syntaxError(err error) message.Error {
	return &message.SyntaxError{ErrorMessage: err.Error()}
}

// encodeKey concatenates length-prefixed values; byte order of the encoding is the
// order rows are returned in.
func encodeKey(vals [][]byte) string {
	var b bytes.Buffer
	for _, v := range vals {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(v)))
		b.Write(n[:])
		b.Write(v)
	}
	return b.String()
}

func (e *engine) table(connKs string, q qname) (*table, message.Error) {
	ks := q.ks
	if ks == "" {
		ks = connKs
	}
	if ks == "" {
		return nil, invalid("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename")
	}
	k := e.keyspaces[ks]
	if k == nil {
		return nil, invalid("Keyspace %s does not exist", ks)
	}
	t := k.tables[q.name]
	if t == nil {
		return nil, invalid("unconfigured table %s", q.name)
	}
	return t, nil
}

func newTable(ks, name string, cols []*column) *table {
	t := &table{ks: ks, name: name, byName: map[string]*column{}, parts: map[string]*partition{}}
	for _, c := range cols {
		t.byName[c.name] = c
		switch c.kind {
		case kindPartition:
			t.partition = append(t.partition, c)
		case kindClustering:
			t.clustering = append(t.clustering, c)
		}
	}
	t.sortColumns(cols)
	return t
}

func (t *table) sortColumns(cols []*column) {
	var regular []*column
	for _, c := range cols {
		if c.kind == kindRegular {
			regular = append(regular, c)
		}
	}
	sort.Slice(regular, func(i, j int) bool { return regular[i].name < regular[j].name })
	t.cols = append(append(append([]*column(nil), t.partition...), t.clustering...), regular...)
}

// ---- DDL ----

func (e *engine) createKeyspace(st *createKeyspaceStmt) (message.Message, message.Error) {
	if _, ok := e.keyspaces[st.name]; ok {
		if st.ifNotExists {
			return &message.VoidResult{}, nil
		}
		return nil, &message.AlreadyExists{ErrorMessage: fmt.Sprintf("Keyspace %s already exists", st.name), Keyspace: st.name}
	}
	if strings.HasPrefix(st.name, "system") {
		return nil, invalid("Keyspace names starting with 'system' are reserved")
	}
	e.keyspaces[st.name] = &keyspace{name: st.name, tables: map[string]*table{}, types: map[string]*datatype.UserDefined{}}
	return &message.SchemaChangeResult{ChangeType: primitive.SchemaChangeTypeCreated, Target: primitive.SchemaChangeTargetKeyspace, Keyspace: st.name}, nil
}

func (e *engine) keyspaceOf(connKs, ks string) (*keyspace, message.Error) {
	if ks == "" {
		ks = connKs
	}
	if ks == "" {
		return nil, invalid("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename")
	}
	k := e.keyspaces[ks]
	if k == nil {
		return nil, invalid("Keyspace %s does not exist", ks)
	}
	return k, nil
}

func (e *engine) createType(connKs string, st *createTypeStmt) (message.Message, message.Error) {
	k, merr := e.keyspaceOf(connKs, st.name.ks)
	if merr != nil {
		return nil, merr
	}
	if _, ok := k.types[st.name.name]; ok {
		if st.ifNotExists {
			return &message.VoidResult{}, nil
		}
		return nil, &message.AlreadyExists{ErrorMessage: fmt.Sprintf("A user type of name %s.%s already exists", k.name, st.name.name), Keyspace: k.name, Table: st.name.name}
	}
	names, types, merr := e.fields(k.name, st.fields)
	if merr != nil {
		return nil, merr
	}
	u, err := datatype.NewUserDefined(k.name, st.name.name, names, types)
	if err != nil {
		return nil, invalid("%v", err)
	}
	k.types[st.name.name] = u
	k.order = append(k.order, st.name.name)
	return &message.SchemaChangeResult{ChangeType: primitive.SchemaChangeTypeCreated, Target: primitive.SchemaChangeTargetType, Keyspace: k.name, Object: st.name.name}, nil
}

func (e *engine) fields(ks string, defs []colDef) ([]string, []datatype.DataType, message.Error) {
	seen := map[string]bool{}
	var names []string
	var types []datatype.DataType
	for _, f := range defs {
		if seen[f.name] {
			return nil, nil, invalid("Duplicate field name %s", f.name)
		}
		seen[f.name] = true
		dt, err := e.resolveType(ks, f.typ, true)
		if err != nil {
			return nil, nil, invalid("%v", err)
		}
		names, types = append(names, f.name), append(types, dt)
	}
	return names, types, nil
}

func (e *engine) createTable(connKs string, st *createTableStmt) (message.Message, message.Error) {
	k, merr := e.keyspaceOf(connKs, st.name.ks)
	if merr != nil {
		return nil, merr
	}
	if _, ok := k.tables[st.name.name]; ok {
		if st.ifNotExists {
			return &message.VoidResult{}, nil
		}
		return nil, &message.AlreadyExists{ErrorMessage: fmt.Sprintf("Object %s.%s already exists", k.name, st.name.name), Keyspace: k.name, Table: st.name.name}
	}
	defs := map[string]*column{}
	var cols []*column
	for _, c := range st.cols {
		if defs[c.name] != nil {
			return nil, invalid("Multiple definition of identifier %s", c.name)
		}
		dt, err := e.resolveType(k.name, c.typ, false)
		if err != nil {
			return nil, invalid("%v", err)
		}
		col := &column{name: c.name, typ: dt, kind: kindRegular, position: -1}
		defs[c.name] = col
		cols = append(cols, col)
	}
	for i, name := range st.partition {
		c := defs[name]
		if c == nil {
			return nil, invalid("Unknown definition %s referenced in PRIMARY KEY", name)
		}
		c.kind, c.position = kindPartition, i
	}
	for i, name := range st.clustering {
		c := defs[name]
		if c == nil {
			return nil, invalid("Unknown definition %s referenced in PRIMARY KEY", name)
		}
		if c.kind != kindRegular {
			return nil, invalid("Column %s appears twice in PRIMARY KEY", name)
		}
		c.kind, c.position = kindClustering, i
	}
	for i, c := range cols {
		if c.kind != kindRegular && isComplex(st.cols[i].typ.name) && !st.cols[i].typ.frozen {
			return nil, invalid("Invalid non-frozen collection type for PRIMARY KEY component %s", c.name)
		}
	}
	k.tables[st.name.name] = newTable(k.name, st.name.name, cols)
	return &message.SchemaChangeResult{ChangeType: primitive.SchemaChangeTypeCreated, Target: primitive.SchemaChangeTargetTable, Keyspace: k.name, Object: st.name.name}, nil
}

func (e *engine) alter(connKs string, st *alterStmt) (message.Message, message.Error) {
	k, merr := e.keyspaceOf(connKs, st.name.ks)
	if merr != nil {
		return nil, merr
	}
	// Cassandra drops the prepared statements of a table whose definition changes, so
	// clients re-prepare and see the new columns and field types; a type change may
	// reach every table of the keyspace.
	e.invalidatePrepared(k.name, st.name.name, st.what == "type")
	if st.what == "type" {
		u, ok := k.types[st.name.name]
		if !ok {
			return nil, invalid("No user type named %s exists.", st.name.name)
		}
		names, types, merr := e.fields(k.name, st.add)
		if merr != nil {
			return nil, merr
		}
		for _, n := range names {
			for _, have := range u.FieldNames {
				if n == have {
					return nil, invalid("Cannot add new field %s to type %s: a field of the same name already exists", n, u.Name)
				}
			}
		}
		nu, err := datatype.NewUserDefined(k.name, u.Name, append(append([]string(nil), u.FieldNames...), names...), append(append([]datatype.DataType(nil), u.FieldTypes...), types...))
		if err != nil {
			return nil, invalid("%v", err)
		}
		*u = *nu // columns hold the same pointer, so they see the new fields
		return &message.SchemaChangeResult{ChangeType: primitive.SchemaChangeTypeUpdated, Target: primitive.SchemaChangeTargetType, Keyspace: k.name, Object: u.Name}, nil
	}
	t := k.tables[st.name.name]
	if t == nil {
		return nil, invalid("unconfigured table %s", st.name.name)
	}
	for _, c := range st.add {
		if t.byName[c.name] != nil {
			return nil, invalid("Invalid column name %s because it conflicts with an existing column", c.name)
		}
		dt, err := e.resolveType(k.name, c.typ, false)
		if err != nil {
			return nil, invalid("%v", err)
		}
		t.byName[c.name] = &column{name: c.name, typ: dt, kind: kindRegular, position: -1}
	}
	all := make([]*column, 0, len(t.byName))
	for _, c := range t.byName {
		all = append(all, c)
	}
	t.sortColumns(all)
	return &message.SchemaChangeResult{ChangeType: primitive.SchemaChangeTypeUpdated, Target: primitive.SchemaChangeTargetTable, Keyspace: k.name, Object: t.name}, nil
}

func (e *engine) drop(connKs string, st *dropStmt) (message.Message, message.Error) {
	if st.what == "keyspace" {
		if e.keyspaces[st.name.name] == nil {
			if st.ifExists {
				return &message.VoidResult{}, nil
			}
			return nil, &message.ConfigError{ErrorMessage: fmt.Sprintf("Cannot drop non existing keyspace '%s'.", st.name.name)}
		}
		if strings.HasPrefix(st.name.name, "system") {
			return nil, &message.Unauthorized{ErrorMessage: "system keyspaces cannot be dropped"}
		}
		delete(e.keyspaces, st.name.name)
		e.invalidatePrepared(st.name.name, "", true)
		return &message.SchemaChangeResult{ChangeType: primitive.SchemaChangeTypeDropped, Target: primitive.SchemaChangeTargetKeyspace, Keyspace: st.name.name}, nil
	}
	k, merr := e.keyspaceOf(connKs, st.name.ks)
	if merr != nil {
		if st.ifExists {
			return &message.VoidResult{}, nil
		}
		return nil, merr
	}
	target := primitive.SchemaChangeTargetTable
	if st.what == "table" {
		if k.tables[st.name.name] == nil {
			if st.ifExists {
				return &message.VoidResult{}, nil
			}
			return nil, invalid("Table '%s.%s' doesn't exist", k.name, st.name.name)
		}
		delete(k.tables, st.name.name)
		e.invalidatePrepared(k.name, st.name.name, false)
	} else {
		target = primitive.SchemaChangeTargetType
		if k.types[st.name.name] == nil {
			if st.ifExists {
				return &message.VoidResult{}, nil
			}
			return nil, invalid("No user type named %s exists.", st.name.name)
		}
		delete(k.types, st.name.name)
		for i, n := range k.order {
			if n == st.name.name {
				k.order = append(k.order[:i], k.order[i+1:]...)
				break
			}
		}
	}
	return &message.SchemaChangeResult{ChangeType: primitive.SchemaChangeTypeDropped, Target: target, Keyspace: k.name, Object: st.name.name}, nil
}

// ---- DML ----

// bound is one execution's values: the bind markers' values and the default timestamp.
type bound struct {
	values []*primitive.Value
	ts     int64
}

// value returns a term's serialized value; unset reports an UNSET bind value.
func (b *bound) value(dt datatype.DataType, t term, what string) (v []byte, unset bool, merr message.Error) {
	switch t.kind {
	case kMarker:
		if t.index >= len(b.values) {
			return nil, false, invalid("There were %d markers(?) in CQL but %d bound variables", t.index+1, len(b.values))
		}
		pv := b.values[t.index]
		if pv == nil || pv.Type == primitive.ValueTypeNull {
			return nil, false, nil
		}
		if pv.Type == primitive.ValueTypeUnset {
			return nil, true, nil
		}
		if err := validateValue(dt, pv.Contents); err != nil {
			return nil, false, invalid("Invalid value for %s of type %s: %v", what, cqlType(dt), err)
		}
		return pv.Contents, false, nil
	}
	v, err := encodeTerm(dt, t)
	if err != nil {
		return nil, false, invalid("%s", strings.Replace(err.Error(), `"value"`, what, 1))
	}
	return v, false, nil
}

// reconcile applies Cassandra's last-write-wins rule to one cell: the higher
// timestamp wins; on a tie a tombstone wins, then the greater value (bytewise).
func reconcile(old, new cell) cell {
	switch {
	case new.ts != old.ts:
		if new.ts > old.ts {
			return new
		}
		return old
	case old.value == nil:
		return old
	case new.value == nil:
		return new
	case bytes.Compare(new.value, old.value) > 0:
		return new
	}
	return old
}

// writable is a user table a statement may write to.
func (e *engine) writable(connKs string, q qname) (*table, message.Error) {
	t, merr := e.table(connKs, q)
	if merr != nil {
		return nil, merr
	}
	if t.virtual != nil || strings.HasPrefix(t.ks, "system") {
		return nil, &message.Unauthorized{ErrorMessage: fmt.Sprintf("%s keyspace is not user-modifiable.", t.ks)}
	}
	return t, nil
}

func (e *engine) insert(connKs string, st *insertStmt, b *bound) (message.Message, message.Error) {
	t, merr := e.writable(connKs, st.table)
	if merr != nil {
		return nil, merr
	}
	ts, merr := b.timestamp(st.timestamp)
	if merr != nil {
		return nil, merr
	}
	key := make([][]byte, len(t.partition)+len(t.clustering))
	keySet := make([]bool, len(key))
	cells := map[string]cell{}
	for i, name := range st.cols {
		c := t.byName[name]
		if c == nil {
			return nil, invalid("Undefined column name %s in table %s.%s", name, t.ks, t.name)
		}
		if _, dup := cells[name]; dup {
			return nil, invalid("Multiple definitions found for column %s", name)
		}
		v, unset, merr := b.value(c.typ, st.vals[i], c.name)
		if merr != nil {
			return nil, merr
		}
		switch c.kind {
		case kindPartition, kindClustering:
			idx := c.position
			if c.kind == kindClustering {
				idx += len(t.partition)
			}
			if v == nil || unset {
				if c.kind == kindPartition {
					return nil, invalid("Invalid null value in condition for column %s", c.name)
				}
				return nil, invalid("Invalid null value in condition for column %s", c.name)
			}
			key[idx], keySet[idx] = v, true
		default:
			if !unset {
				cells[name] = cell{value: v, ts: ts}
			}
		}
	}
	var missing []string
	for i, ok := range keySet {
		if !ok {
			if i < len(t.partition) {
				missing = append(missing, t.partition[i].name)
			} else {
				missing = append(missing, t.clustering[i-len(t.partition)].name)
			}
		}
	}
	if len(missing) > 0 {
		if !keySet[0] || len(missing) > 0 && strings.Contains(kindOf(t, missing[0]), "partition") {
			return nil, invalid("Some partition key parts are missing: %s", strings.Join(missing, ", "))
		}
		return nil, invalid("Some clustering keys are missing: %s", strings.Join(missing, ", "))
	}
	pk := encodeKey(key[:len(t.partition)])
	ck := encodeKey(key[len(t.partition):])
	p := t.parts[pk]
	if st.ifNotExists {
		if p != nil && p.rows[ck] != nil && p.rows[ck].live() {
			return e.lwtResult(t, false, p.rows[ck]), nil
		}
	}
	if p == nil {
		p = &partition{rows: map[string]*row{}}
		t.parts[pk] = p
	}
	r := p.rows[ck]
	if r == nil {
		r = &row{key: key, cells: map[string]cell{}}
		p.rows[ck] = r
	}
	if p.shadowed(ts) {
		if !r.live() {
			delete(p.rows, ck)
		}
		return &message.VoidResult{}, nil // written below the partition's tombstone: not visible, as in Cassandra
	}
	if !r.hasMkr || ts > r.marker {
		r.marker, r.hasMkr = ts, true
	}
	for name, c := range cells {
		if old, ok := r.cells[name]; ok {
			r.cells[name] = reconcile(old, c)
		} else {
			r.cells[name] = c
		}
	}
	if st.ifNotExists {
		return e.lwtResult(t, true, nil), nil
	}
	return &message.VoidResult{}, nil
}

// deletePartition applies a partition tombstone at the statement's timestamp (the
// request's time without USING TIMESTAMP): cells and row markers at or below it go,
// and later writes at or below it stay invisible.
func (e *engine) deletePartition(connKs string, st *deleteStmt, b *bound) (message.Message, message.Error) {
	t, merr := e.writable(connKs, st.table)
	if merr != nil {
		return nil, merr
	}
	ts, merr := b.timestamp(st.timestamp)
	if merr != nil {
		return nil, merr
	}
	key := make([][]byte, len(t.partition))
	for _, r := range st.where {
		c := t.byName[r.col]
		if c == nil {
			return nil, invalid("Undefined column name %s", r.col)
		}
		if c.kind != kindPartition {
			return nil, invalid("this test server deletes whole partitions only: %s is not a partition key column", c.name)
		}
		v, _, merr := b.value(c.typ, r.vals[0], c.name)
		if merr != nil {
			return nil, merr
		}
		if v == nil {
			return nil, invalid("Invalid null value in condition for column %s", c.name)
		}
		key[c.position] = v
	}
	for i, v := range key {
		if v == nil {
			return nil, invalid("Some partition key parts are missing: %s", t.partition[i].name)
		}
	}
	pk := encodeKey(key)
	p := t.parts[pk]
	if p == nil {
		p = &partition{rows: map[string]*row{}}
		t.parts[pk] = p
	}
	if !p.deleted || ts > p.deletedAt {
		p.deletedAt, p.deleted = ts, true
	}
	for ck, r := range p.rows {
		if r.hasMkr && r.marker <= ts {
			r.hasMkr, r.marker = false, 0
		}
		for name, c := range r.cells {
			if c.ts <= ts {
				delete(r.cells, name)
			}
		}
		if !r.live() {
			delete(p.rows, ck)
		}
	}
	return &message.VoidResult{}, nil
}

// timestamp is a statement's USING TIMESTAMP value, or the request's time without one.
func (b *bound) timestamp(t *term) (int64, message.Error) {
	if t == nil {
		return b.ts, nil
	}
	v, _, merr := b.value(datatype.Bigint, *t, "[timestamp]")
	if merr != nil {
		return 0, merr
	}
	if len(v) != 8 {
		return 0, invalid("Invalid null value of timestamp")
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

func kindOf(t *table, name string) string {
	if c := t.byName[name]; c != nil {
		return c.kind
	}
	return ""
}

// lwtResult is the answer to a conditional statement: [applied], and the existing
// row when it was not applied.
func (e *engine) lwtResult(t *table, applied bool, existing *row) message.Message {
	meta := []*message.ColumnMetadata{{Keyspace: t.ks, Table: t.name, Name: "[applied]", Type: datatype.Boolean}}
	out := [][]byte{{0}}
	if applied {
		out[0] = []byte{1}
	} else {
		for _, c := range t.cols {
			meta = append(meta, &message.ColumnMetadata{Keyspace: t.ks, Table: t.name, Name: c.name, Type: c.typ, Index: int32(len(meta))})
			out = append(out, cellValue(t, existing, c))
		}
	}
	return &message.RowsResult{Metadata: &message.RowsMetadata{ColumnCount: int32(len(meta)), Columns: meta}, Data: [][][]byte{out}}
}

func cellValue(t *table, r *row, c *column) []byte {
	switch c.kind {
	case kindPartition:
		return r.key[c.position]
	case kindClustering:
		return r.key[len(t.partition)+c.position]
	}
	return r.cells[c.name].value
}

// selectColumns returns the result metadata of a SELECT.
func (e *engine) selectColumns(t *table, st *selectStmt) ([]*message.ColumnMetadata, message.Error) {
	var out []*message.ColumnMetadata
	add := func(name string, dt datatype.DataType) {
		out = append(out, &message.ColumnMetadata{Keyspace: t.ks, Table: t.name, Name: name, Type: dt, Index: int32(len(out))})
	}
	if st.star {
		for _, c := range t.cols {
			add(c.name, c.typ)
		}
		return out, nil
	}
	for _, s := range st.sels {
		named := func(name string) string {
			if s.alias != "" {
				return s.alias
			}
			return name
		}
		if s.fn == "count" {
			add(named("count"), datatype.Bigint)
			continue
		}
		c := t.byName[s.col]
		if c == nil {
			return nil, invalid("Undefined column name %s in selection clause", s.col)
		}
		switch s.fn {
		case "":
			add(named(c.name), c.typ)
		case "writetime":
			if c.kind != kindRegular {
				return nil, invalid("Cannot use selection function writeTime on PRIMARY KEY part %s", c.name)
			}
			add(named("writetime("+c.name+")"), datatype.Bigint)
		case "ttl":
			add(named("ttl("+c.name+")"), datatype.Int)
		}
	}
	return out, nil
}

// selectRows runs a SELECT. Rows come back ordered by partition key bytes, then
// clustering key bytes (Cassandra orders partitions by token; tests must not depend on
// the order of partitions).
func (e *engine) selectRows(connKs string, st *selectStmt, b *bound) (*table, []*message.ColumnMetadata, [][][]byte, message.Error) {
	t, merr := e.table(connKs, st.table)
	if merr != nil {
		return nil, nil, nil, merr
	}
	meta, merr := e.selectColumns(t, st)
	if merr != nil {
		return nil, nil, nil, merr
	}
	// Each restricted column with its allowed values.
	allowed := map[string][][]byte{}
	for _, r := range st.where {
		c := t.byName[r.col]
		if c == nil {
			return nil, nil, nil, invalid("Undefined column name %s", r.col)
		}
		if _, dup := allowed[c.name]; dup {
			return nil, nil, nil, invalid("%s cannot be restricted by more than one relation if it includes an Equal", c.name)
		}
		var vals [][]byte
		if r.in && len(r.vals) == 1 && r.vals[0].kind == kMarker {
			lv, _, merr := b.value(datatype.NewList(c.typ), r.vals[0], "in("+c.name+")")
			if merr != nil {
				return nil, nil, nil, merr
			}
			vals = splitList(lv)
		} else {
			for _, term := range r.vals {
				v, _, merr := b.value(c.typ, term, c.name)
				if merr != nil {
					return nil, nil, nil, merr
				}
				if v == nil {
					return nil, nil, nil, invalid("Invalid null value in condition for column %s", c.name)
				}
				vals = append(vals, v)
			}
		}
		allowed[c.name] = vals
	}
	var pkRestricted int
	for _, c := range t.partition {
		if _, ok := allowed[c.name]; ok {
			pkRestricted++
		}
	}
	filtering := false
	for name := range allowed {
		if c := t.byName[name]; c.kind == kindRegular || c.kind == kindClustering && pkRestricted != len(t.partition) {
			filtering = true
		}
	}
	if pkRestricted > 0 && pkRestricted < len(t.partition) {
		filtering = true
	}
	if filtering && !hasAllowFiltering(st) && t.virtual == nil {
		return nil, nil, nil, invalid("Cannot execute this query as it might involve data filtering and thus may have unpredictable performance. If you want to execute this query despite the performance unpredictability, use ALLOW FILTERING")
	}
	var rows []*row
	var virtualRows [][][]byte
	if t.virtual != nil {
		virtualRows = t.virtual(e)
	} else {
		keys := make([]string, 0, len(t.parts))
		for k := range t.parts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := t.parts[k]
			cks := make([]string, 0, len(p.rows))
			for ck := range p.rows {
				cks = append(cks, ck)
			}
			sort.Strings(cks)
			for _, ck := range cks {
				if r := p.rows[ck]; r.live() {
					rows = append(rows, r)
				}
			}
		}
	}
	get := func(i int, c *column) []byte {
		if t.virtual != nil {
			return virtualRows[i][columnIndex(t, c)]
		}
		return cellValue(t, rows[i], c)
	}
	n := len(rows)
	if t.virtual != nil {
		n = len(virtualRows)
	}
	var out [][][]byte
	count := int64(0)
	for i := 0; i < n; i++ {
		match := true
		for name, vals := range allowed {
			v := get(i, t.byName[name])
			ok := false
			for _, want := range vals {
				if bytes.Equal(v, want) {
					ok = true
					break
				}
			}
			if !ok {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		count++
		var line [][]byte
		if st.star {
			for _, c := range t.cols {
				line = append(line, get(i, c))
			}
		} else {
			for _, s := range st.sels {
				switch s.fn {
				case "":
					line = append(line, get(i, t.byName[s.col]))
				case "writetime":
					var ts []byte
					if t.virtual == nil {
						if c, ok := rows[i].cells[s.col]; ok && c.value != nil {
							ts = binary.BigEndian.AppendUint64(nil, uint64(c.ts))
						}
					}
					line = append(line, ts)
				case "ttl":
					line = append(line, nil)
				}
			}
		}
		out = append(out, line)
	}
	if len(st.sels) == 1 && st.sels[0].fn == "count" {
		out = [][][]byte{{binary.BigEndian.AppendUint64(nil, uint64(count))}}
	}
	if st.limit != nil {
		v, _, merr := b.value(datatype.Int, *st.limit, "[limit]")
		if merr != nil {
			return nil, nil, nil, merr
		}
		if len(v) != 4 || int32(binary.BigEndian.Uint32(v)) <= 0 {
			return nil, nil, nil, invalid("LIMIT must be strictly positive")
		}
		if l := int(binary.BigEndian.Uint32(v)); len(out) > l {
			out = out[:l]
		}
	}
	return t, meta, out, nil
}

func hasAllowFiltering(st *selectStmt) bool { return st.allowFiltering }

func columnIndex(t *table, c *column) int {
	for i, x := range t.cols {
		if x == c {
			return i
		}
	}
	return -1
}

// splitList splits a serialized list into its elements' serialized values.
func splitList(b []byte) [][]byte {
	if len(b) < 4 {
		return nil
	}
	n := int(binary.BigEndian.Uint32(b))
	b = b[4:]
	var out [][]byte
	for i := 0; i < n && len(b) >= 4; i++ {
		l := int(int32(binary.BigEndian.Uint32(b)))
		b = b[4:]
		if l < 0 || l > len(b) {
			return out
		}
		out = append(out, b[:l])
		b = b[l:]
	}
	return out
}

func (e *engine) truncate(connKs string, st *truncateStmt) (message.Message, message.Error) {
	t, merr := e.table(connKs, st.name)
	if merr != nil {
		return nil, merr
	}
	if t.virtual != nil {
		return nil, &message.Unauthorized{ErrorMessage: "system tables cannot be truncated"}
	}
	t.parts = map[string]*partition{}
	return &message.VoidResult{}, nil
}

// ---- prepared statements ----

// invalidatePrepared forgets the prepared statements on table ks.name (every table of
// ks with all); the next EXECUTE of one is answered Unprepared.
func (e *engine) invalidatePrepared(ks, name string, all bool) {
	for id, p := range e.prepared {
		var q qname
		switch st := p.stmt.(type) {
		case *insertStmt:
			q = st.table
		case *selectStmt:
			q = st.table
		case *deleteStmt:
			q = st.table
		default:
			continue
		}
		if q.ks == "" {
			q.ks = p.ks
		}
		if q.ks == ks && (all || q.name == name) {
			delete(e.prepared, id)
		}
	}
}

type prepared struct {
	id     []byte
	query  string
	ks     string // the connection's keyspace when prepared
	stmt   any
	vars   *message.VariablesMetadata
	result *message.RowsMetadata
}

func (e *engine) prepare(connKs, query string) (*prepared, message.Error) {
	st, markers, err := parse(query)
	if err != nil {
		return nil, syntaxError(err)
	}
	sum := md5.Sum([]byte(connKs + "\x00" + query))
	p := &prepared{id: sum[:], query: query, ks: connKs, stmt: st,
		vars: &message.VariablesMetadata{}, result: &message.RowsMetadata{}}
	vars := make([]*message.ColumnMetadata, markers)
	var pkIdx []uint16
	var t *table
	var merr message.Error
	mark := func(tm term, name string, dt datatype.DataType, pkPos int) {
		if tm.kind != kMarker {
			return
		}
		vars[tm.index] = &message.ColumnMetadata{Name: name, Type: dt, Index: int32(tm.index)}
		if t != nil {
			vars[tm.index].Keyspace, vars[tm.index].Table = t.ks, t.name
		}
		if pkPos >= 0 {
			for len(pkIdx) <= pkPos {
				pkIdx = append(pkIdx, 0)
			}
			pkIdx[pkPos] = uint16(tm.index)
		}
	}
	switch s := st.(type) {
	case *insertStmt:
		if t, merr = e.table(connKs, s.table); merr != nil {
			return nil, merr
		}
		for i, name := range s.cols {
			c := t.byName[name]
			if c == nil {
				return nil, invalid("Undefined column name %s in table %s.%s", name, t.ks, t.name)
			}
			pos := -1
			if c.kind == kindPartition {
				pos = c.position
			}
			mark(s.vals[i], c.name, c.typ, pos)
		}
		if s.timestamp != nil {
			mark(*s.timestamp, "[timestamp]", datatype.Bigint, -1)
		}
		if s.ifNotExists {
			p.result.Columns = []*message.ColumnMetadata{{Keyspace: t.ks, Table: t.name, Name: "[applied]", Type: datatype.Boolean}}
		}
	case *selectStmt:
		if t, merr = e.table(connKs, s.table); merr != nil {
			return nil, merr
		}
		for _, r := range s.where {
			c := t.byName[r.col]
			if c == nil {
				return nil, invalid("Undefined column name %s", r.col)
			}
			pos := -1
			if c.kind == kindPartition && !r.in {
				pos = c.position
			}
			for _, v := range r.vals {
				if r.in && len(r.vals) == 1 {
					mark(v, "in("+c.name+")", datatype.NewList(c.typ), -1)
				} else {
					mark(v, c.name, c.typ, pos)
				}
			}
		}
		if s.limit != nil {
			mark(*s.limit, "[limit]", datatype.Int, -1)
		}
		cols, merr := e.selectColumns(t, s)
		if merr != nil {
			return nil, merr
		}
		p.result.Columns = cols
	case *deleteStmt:
		if t, merr = e.table(connKs, s.table); merr != nil {
			return nil, merr
		}
		if s.timestamp != nil {
			mark(*s.timestamp, "[timestamp]", datatype.Bigint, -1)
		}
		for _, r := range s.where {
			c := t.byName[r.col]
			if c == nil {
				return nil, invalid("Undefined column name %s", r.col)
			}
			pos := -1
			if c.kind == kindPartition {
				pos = c.position
			}
			mark(r.vals[0], c.name, c.typ, pos)
		}
	}
	for i, v := range vars {
		if v == nil {
			return nil, invalid("bind marker %d is in a position this test server cannot type", i)
		}
	}
	p.vars.Columns = vars
	if t != nil && len(pkIdx) == len(t.partition) {
		p.vars.PkIndices = pkIdx
	}
	p.result.ColumnCount = int32(len(p.result.Columns))
	e.prepared[string(p.id)] = p
	return p, nil
}
