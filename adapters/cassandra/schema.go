package cassandra

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/routing"
)

// Envelope columns every table has besides the contract's fields. Record fields whose
// names start with "_waybill_" are refused, so they never collide.
const (
	ColPartition = "_waybill_partition"   // append: partition key, the entity key (the event id for events without one)
	ColDay       = "_waybill_day"         // append: partition key, the event time's UTC date
	ColTimeUS    = "_waybill_time_us"     // event time, microseconds since the Unix epoch (append: clustering column)
	ColID        = "_waybill_id"          // event id (append: clustering column)
	ColKey       = "_waybill_key"         // entity key, "" without one (latest: the partition key)
	ColContract  = "_waybill_contract"    // contract (subject)
	ColReceived  = "_waybill_received_us" // when the router accepted the event, microseconds since the epoch
	ColSchemaID  = "_waybill_schema_id"   // registry id of the schema the row's fields follow
)

// maxNameLen is Cassandra's limit on keyspace, table and type names.
const maxNameLen = 48

// Column kinds, as system_schema.columns names them.
const (
	kindPartition  = "partition_key"
	kindClustering = "clustering"
	kindRegular    = "regular"
)

// TableName turns a rendered target into a CQL table name: lower-cased, every
// character outside [a-z0-9_] replaced by '_', prefixed with "t_" unless it starts
// with a letter, and when longer than 48 characters cut to 39 followed by '_' and 8 hex
// digits of the SHA-256 of the rendered target, so distinct long targets stay distinct.
func TableName(rendered string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(rendered) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	name := b.String()
	if name == "" || !(name[0] >= 'a' && name[0] <= 'z') {
		name = "t_" + name
	}
	if len(name) > maxNameLen {
		sum := sha256.Sum256([]byte(rendered))
		name = name[:maxNameLen-9] + "_" + hex.EncodeToString(sum[:4])
	}
	return name
}

// UDTName is the user type of an Avro record in a table: "<table>__<record full name>"
// made a CQL name as TableName does. Types are per table, so two contracts (or two
// routes) never share one and evolve independently.
func UDTName(table, recordFullName string) string {
	return TableName(table + "__" + recordFullName)
}

// quote quotes a CQL identifier, keeping its case and allowing reserved words.
func quote(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// colSpec is one column of a table or one field of a user type.
type colSpec struct {
	name string
	typ  string // CQL type as written in the DDL
	kind string // kindPartition, kindClustering or kindRegular (user type fields: regular)
}

// udtSpec is a user type a table's columns use.
type udtSpec struct {
	name   string
	fields []colSpec
}

// tableDef is the CQL layout of one (table, schema, mode): its columns, the user types
// they use, and the statements that write and read it.
type tableDef struct {
	keyspace, table string
	mode            routing.Mode
	record          *avro.RecordSchema
	schema          avro.Schema // as the batch resolved it (defKey)
	columns         []colSpec   // envelope then record fields: the INSERT's column order
	udts            []udtSpec   // in dependency order: a type comes after the types it uses
	insert          string
	selectLatest    string // latest mode: the stored version of a key
}

// envelopeColumns are the envelope columns of a mode, in INSERT order (rowValues
// follows it).
func envelopeColumns(mode routing.Mode) []colSpec {
	if mode == routing.Latest {
		return []colSpec{
			{ColKey, "text", kindPartition},
			{ColID, "text", kindRegular},
			{ColContract, "text", kindRegular},
			{ColTimeUS, "bigint", kindRegular},
			{ColReceived, "bigint", kindRegular},
			{ColSchemaID, "int", kindRegular},
		}
	}
	return []colSpec{
		{ColPartition, "text", kindPartition},
		{ColDay, "date", kindPartition},
		{ColTimeUS, "bigint", kindClustering},
		{ColID, "text", kindClustering},
		{ColKey, "text", kindRegular},
		{ColContract, "text", kindRegular},
		{ColReceived, "bigint", kindRegular},
		{ColSchemaID, "int", kindRegular},
	}
}

func newTableDef(keyspace, table string, mode routing.Mode, schema avro.Schema) (*tableDef, error) {
	rec, ok := deref(schema).(*avro.RecordSchema)
	if !ok {
		return nil, fmt.Errorf("the contract's schema is a %s, not a record", schema.Type())
	}
	m := &typeMapper{table: table, udts: map[string]string{}, declared: map[string]bool{}, inProgress: map[string]bool{}}
	d := &tableDef{keyspace: keyspace, table: table, mode: mode, record: rec, schema: schema, columns: envelopeColumns(mode)}
	for _, f := range rec.Fields() {
		if strings.HasPrefix(f.Name(), "_waybill_") {
			return nil, fmt.Errorf("field %q: names starting with _waybill_ are reserved for the envelope columns", f.Name())
		}
		typ, err := m.cqlType(f.Type(), false)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name(), err)
		}
		d.columns = append(d.columns, colSpec{f.Name(), typ, kindRegular})
	}
	d.udts = m.specs
	names := make([]string, len(d.columns))
	for i, c := range d.columns {
		names[i] = quote(c.name)
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(names)), ", ")
	d.insert = "INSERT INTO " + d.qualified(table) + " (" + strings.Join(names, ", ") + ") VALUES (" + marks + ")"
	if mode == routing.Latest {
		d.insert += " USING TIMESTAMP ?"
		d.selectLatest = "SELECT " + quote(ColTimeUS) + ", " + quote(ColID) + ", WRITETIME(" + quote(ColID) + ") FROM " +
			d.qualified(table) + " WHERE " + quote(ColKey) + " = ?"
	}
	return d, nil
}

func (d *tableDef) qualified(name string) string { return quote(d.keyspace) + "." + quote(name) }

// createTypes are the CREATE TYPE statements, in dependency order.
func (d *tableDef) createTypes() []string {
	out := make([]string, len(d.udts))
	for i, u := range d.udts {
		fields := make([]string, len(u.fields))
		for j, f := range u.fields {
			fields[j] = quote(f.name) + " " + f.typ
		}
		out[i] = "CREATE TYPE IF NOT EXISTS " + d.qualified(u.name) + " (" + strings.Join(fields, ", ") + ")"
	}
	return out
}

// createTable is the CREATE TABLE statement.
func (d *tableDef) createTable() string {
	cols := make([]string, len(d.columns))
	var partition, clustering []string
	for i, c := range d.columns {
		cols[i] = quote(c.name) + " " + c.typ
		switch c.kind {
		case kindPartition:
			partition = append(partition, quote(c.name))
		case kindClustering:
			clustering = append(clustering, quote(c.name))
		}
	}
	pk := "(" + strings.Join(partition, ", ") + ")"
	if len(clustering) > 0 {
		pk += ", " + strings.Join(clustering, ", ")
	}
	return "CREATE TABLE IF NOT EXISTS " + d.qualified(d.table) + " (" + strings.Join(cols, ", ") + ", PRIMARY KEY (" + pk + "))"
}

// addColumn and addField evolve an existing table or type by one column or field.
func (d *tableDef) addColumn(c colSpec) string {
	return "ALTER TABLE " + d.qualified(d.table) + " ADD " + quote(c.name) + " " + c.typ
}

func (d *tableDef) addField(udt string, f colSpec) string {
	return "ALTER TYPE " + d.qualified(udt) + " ADD " + quote(f.name) + " " + f.typ
}

func deref(s avro.Schema) avro.Schema {
	for {
		r, ok := s.(*avro.RefSchema)
		if !ok {
			return s
		}
		s = r.Schema()
	}
}

// nonNull returns a union's branches other than null, and whether it has a null one.
func nonNull(u *avro.UnionSchema) (branches []avro.Schema, nullable bool) {
	for _, t := range u.Types() {
		if t.Type() == avro.Null {
			nullable = true
			continue
		}
		branches = append(branches, t)
	}
	return branches, nullable
}

// asChoice reports whether a union is stored as a choice: a user type with one field
// per non-null branch, named as the branch (see branchName), exactly the taken one
// set. That is the case when the union has two or more non-null branches, and for
// [null, T] inside a collection, whose elements cannot be null (no field set is
// null). A [null, T] union elsewhere is a nullable T.
func asChoice(u *avro.UnionSchema, inCollection bool) bool {
	branches, nullable := nonNull(u)
	return len(branches) > 1 || nullable && inCollection
}

// branchName names a union branch as Avro's JSON encoding does: a named type by its
// full name, any other by its type name ("long", "string", "array", "map").
func branchName(s avro.Schema) string {
	if n, ok := deref(s).(avro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

// ChoiceTypeName is the user type of a union stored as a choice in a table:
// "<table>__union_<branch names joined by _>", made a CQL name as TableName does.
// Unions with the same branches share it.
func ChoiceTypeName(table string, branchNames []string) string {
	return TableName(table + "__union_" + strings.Join(branchNames, "_"))
}

// typeMapper maps Avro schemas to CQL types, collecting the user types records need.
type typeMapper struct {
	table      string
	udts       map[string]string // record full name → UDT name
	declared   map[string]bool   // union user types declared
	inProgress map[string]bool
	specs      []udtSpec
}

// cqlType is the column type of an Avro schema. inCollection is true for list
// elements and map values, which cannot be null in Cassandra.
func (m *typeMapper) cqlType(s avro.Schema, inCollection bool) (string, error) {
	s = deref(s)
	// Collections are frozen: one cell, so an empty collection stays empty (Cassandra
	// reads an empty non-frozen collection back as null) and a re-delivery replaces it
	// whole instead of merging elements into it.
	frozen := func(t string) string { return "frozen<" + t + ">" }
	switch s := s.(type) {
	case *avro.PrimitiveSchema:
		return primitiveType(s)
	case *avro.EnumSchema:
		return "text", nil
	case *avro.FixedSchema:
		if isDecimal(s) {
			return "decimal", nil
		}
		return "blob", nil
	case *avro.ArraySchema:
		inner, err := m.cqlType(s.Items(), true)
		if err != nil {
			return "", err
		}
		return frozen("list<" + inner + ">"), nil
	case *avro.MapSchema:
		inner, err := m.cqlType(s.Values(), true)
		if err != nil {
			return "", err
		}
		return frozen("map<text, " + inner + ">"), nil
	case *avro.RecordSchema:
		name, err := m.udt(s)
		if err != nil {
			return "", err
		}
		return frozen(quote(name)), nil
	case *avro.UnionSchema:
		branches, _ := nonNull(s)
		if len(branches) == 0 {
			return "", fmt.Errorf("a union of only null has no CQL type")
		}
		if !asChoice(s, inCollection) {
			return m.cqlType(branches[0], inCollection)
		}
		name, err := m.choice(branches)
		if err != nil {
			return "", err
		}
		return frozen(quote(name)), nil
	case *avro.NullSchema:
		return "", fmt.Errorf("a null field has no CQL type")
	}
	return "", fmt.Errorf("unsupported Avro type %s", s.Type())
}

func primitiveType(s *avro.PrimitiveSchema) (string, error) {
	logical := logicalOf(s)
	switch s.Type() {
	case avro.Boolean:
		return "boolean", nil
	case avro.Int:
		switch logical {
		case avro.Date:
			return "date", nil
		case avro.TimeMillis:
			return "time", nil
		}
		return "int", nil
	case avro.Long:
		switch logical {
		case avro.TimestampMillis, avro.LocalTimestampMillis:
			return "timestamp", nil
		case avro.TimeMicros:
			return "time", nil
		}
		// timestamp-micros, timestamp-nanos and local-timestamp-micros too: CQL's
		// timestamp holds milliseconds, so they are kept exact as bigint.
		return "bigint", nil
	case avro.Float:
		return "float", nil
	case avro.Double:
		return "double", nil
	case avro.String:
		if logical == avro.UUID {
			return "uuid", nil
		}
		return "text", nil
	case avro.Bytes:
		if isDecimal(s) {
			return "decimal", nil
		}
		return "blob", nil
	case avro.Null:
		return "", fmt.Errorf("a null field has no CQL type")
	}
	return "", fmt.Errorf("unsupported Avro type %s", s.Type())
}

// udt returns the user type of a record, declaring it (and the types it uses) first.
func (m *typeMapper) udt(r *avro.RecordSchema) (string, error) {
	if name, ok := m.udts[r.FullName()]; ok {
		return name, nil
	}
	if m.inProgress[r.FullName()] {
		return "", fmt.Errorf("record %s is recursive; CQL types cannot be", r.FullName())
	}
	m.inProgress[r.FullName()] = true
	defer delete(m.inProgress, r.FullName())
	var fields []colSpec
	for _, f := range r.Fields() {
		t, err := m.cqlType(f.Type(), false)
		if err != nil {
			return "", fmt.Errorf("record %s field %s: %w", r.FullName(), f.Name(), err)
		}
		fields = append(fields, colSpec{f.Name(), t, kindRegular})
	}
	name := UDTName(m.table, r.FullName())
	m.udts[r.FullName()] = name
	m.specs = append(m.specs, udtSpec{name: name, fields: fields})
	return name, nil
}

// choice returns the user type of a union stored as a choice, declaring it (and the
// types its branches use) first.
func (m *typeMapper) choice(branches []avro.Schema) (string, error) {
	names := make([]string, len(branches))
	fields := make([]colSpec, len(branches))
	seen := map[string]bool{}
	for i, b := range branches {
		t, err := m.cqlType(b, false)
		if err != nil {
			return "", err
		}
		names[i] = branchName(b)
		if seen[names[i]] {
			return "", fmt.Errorf("the union has two %s branches (Avro allows one branch per unnamed type)", names[i])
		}
		seen[names[i]] = true
		fields[i] = colSpec{names[i], t, kindRegular}
	}
	name := ChoiceTypeName(m.table, names)
	if m.declared[name] {
		return name, nil
	}
	m.declared[name] = true
	m.specs = append(m.specs, udtSpec{name: name, fields: fields})
	return name, nil
}

// normalizeType reduces a CQL type text to a comparable form: no spaces or quotes,
// lower case, varchar as text, and no frozen<> wrappers (Cassandra reports them on
// columns, not always inside collections; frozenness is never ambiguous for the types
// this package creates).
func normalizeType(t string) string {
	t = strings.ToLower(strings.NewReplacer(" ", "", "\t", "", "\n", "", `"`, "").Replace(t))
	return unfreeze(t)
}

func unfreeze(t string) string {
	open := strings.IndexByte(t, '<')
	if open < 0 || !strings.HasSuffix(t, ">") {
		if t == "varchar" {
			return "text"
		}
		return t
	}
	name, inner := t[:open], t[open+1:len(t)-1]
	if name == "frozen" {
		return unfreeze(inner)
	}
	var args []string
	depth, start := 0, 0
	for i := 0; i < len(inner); i++ {
		switch inner[i] {
		case '<':
			depth++
		case '>':
			depth--
		case ',':
			if depth == 0 {
				args = append(args, unfreeze(inner[start:i]))
				start = i + 1
			}
		}
	}
	args = append(args, unfreeze(inner[start:]))
	return name + "<" + strings.Join(args, ",") + ">"
}

// ensureTable creates or evolves a table and its user types for one schema
// (create_tables), once per process for each (table, schema, mode): CREATE TYPE and
// CREATE TABLE IF NOT EXISTS, then the columns and fields Cassandra holds are read
// back from system_schema and those the schema adds are added with ALTER. A column
// or field of another type, or another primary key, is a *ConflictError; a failed
// request a *SchemaError.
func (s *Sink) ensureTable(ctx context.Context, session *gocql.Session, d *tableDef, schemaID int) error {
	k := defKey{d.table, schemaID, d.mode, d.schema}
	s.mu.Lock()
	done := s.ready[k]
	s.mu.Unlock()
	if done {
		return nil
	}
	exec := func(stmt string) error {
		if err := session.Query(stmt).Idempotent(true).ExecContext(ctx); err != nil {
			return &SchemaError{Table: d.keyspace + "." + d.table, Err: fmt.Errorf("%s: %w", stmt, err)}
		}
		return nil
	}
	for i, stmt := range d.createTypes() {
		if err := exec(stmt); err != nil {
			return err
		}
		u := d.udts[i]
		var names, types []string
		err := session.Query("SELECT field_names, field_types FROM system_schema.types WHERE keyspace_name = ? AND type_name = ?",
			d.keyspace, u.name).Consistency(gocql.One).ScanContext(ctx, &names, &types)
		if err != nil {
			return &SchemaError{Table: d.keyspace + "." + d.table, Err: fmt.Errorf("reading type %s: %w", u.name, err)}
		}
		have := map[string]colSpec{}
		for j := range min(len(names), len(types)) {
			have[names[j]] = colSpec{names[j], types[j], kindRegular}
		}
		missing, problems := compareColumns(u.fields, have, false)
		if len(problems) > 0 {
			return &ConflictError{Object: "type " + d.keyspace + "." + u.name, Problems: problems}
		}
		for _, f := range missing {
			if err := exec(d.addField(u.name, f)); err != nil {
				return err
			}
		}
	}
	if err := exec(d.createTable()); err != nil {
		return err
	}
	have := map[string]colSpec{}
	iter := session.Query("SELECT column_name, kind, type FROM system_schema.columns WHERE keyspace_name = ? AND table_name = ?",
		d.keyspace, d.table).Consistency(gocql.One).IterContext(ctx)
	var c colSpec
	for iter.Scan(&c.name, &c.kind, &c.typ) {
		have[c.name] = c
	}
	if err := iter.Close(); err != nil {
		return &SchemaError{Table: d.keyspace + "." + d.table, Err: fmt.Errorf("reading its columns: %w", err)}
	}
	missing, problems := compareColumns(d.columns, have, true)
	if len(problems) > 0 {
		return &ConflictError{Object: "table " + d.keyspace + "." + d.table, Problems: problems}
	}
	for _, c := range missing {
		if err := exec(d.addColumn(c)); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.ready[k] = true
	s.mu.Unlock()
	return nil
}

// compareColumns compares the columns (or fields) a schema needs with those
// Cassandra holds: it returns the regular ones to add, and every conflict. With keys,
// the primary key columns must be exactly the same.
func compareColumns(want []colSpec, have map[string]colSpec, keys bool) (missing []colSpec, problems []string) {
	wanted := map[string]bool{}
	for _, c := range want {
		wanted[c.name] = true
		h, ok := have[c.name]
		switch {
		case !ok && c.kind != kindRegular:
			problems = append(problems, fmt.Sprintf("primary key column %s is missing (the table was created for another mode?)", c.name))
		case !ok:
			missing = append(missing, c)
		case keys && h.kind != c.kind:
			problems = append(problems, fmt.Sprintf("column %s is a %s column, want %s", c.name, h.kind, c.kind))
		case normalizeType(h.typ) != normalizeType(c.typ):
			problems = append(problems, fmt.Sprintf("%s is %s, the schema needs %s", c.name, h.typ, c.typ))
		}
	}
	if keys {
		for name, h := range have {
			if h.kind != kindRegular && h.kind != "static" && !wanted[name] {
				problems = append(problems, fmt.Sprintf("primary key column %s is not this mode's (the table was created for another mode?)", name))
			}
		}
	}
	slices.Sort(problems)
	return missing, problems
}
