package compat

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"
)

// Incompatibility is one reason a reader cannot read data written by a writer.
type Incompatibility struct {
	Type    string // one of the ErrorType constants below
	Path    string // field path in the reader schema, e.g. "customer.address.zip", "items[].price", "attrs{}.x", "payment<com.acme.Card>.number"; "" for the root
	Message string // human sentence naming both sides
}

// Error types, one per kind of Incompatibility. The first six carry the
// meaning Confluent and Avro's Java SchemaCompatibility give them;
// LogicalTypeMismatch is Waybill's governance addition (see the package doc).
const (
	TypeMismatch                   = "TYPE_MISMATCH"
	NameMismatch                   = "NAME_MISMATCH"
	FixedSizeMismatch              = "FIXED_SIZE_MISMATCH"
	MissingEnumSymbols             = "MISSING_ENUM_SYMBOLS"
	ReaderFieldMissingDefaultValue = "READER_FIELD_MISSING_DEFAULT_VALUE"
	MissingUnionBranch             = "MISSING_UNION_BRANCH"
	LogicalTypeMismatch            = "LOGICAL_TYPE_MISMATCH"
)

// Previous is an earlier registered version, oldest first in the slice passed to Check.
type Previous struct {
	Version int
	Schema  avro.Schema
}

// Problem is an incompatibility against one earlier version, with the direction checked.
type Problem struct {
	Incompatibility
	Version   int    // the earlier version it conflicts with
	Direction string // "backward" (new schema reads old data) or "forward" (old schema reads new data)
}

// Values of Problem.Direction.
const (
	directionBackward = "backward"
	directionForward  = "forward"
)

// Check applies a level: non-transitive levels check only the last element of previous
// (the latest); transitive ones check every element. NONE never reports anything.
// BACKWARD: reader=candidate, writer=previous. FORWARD: reader=previous, writer=candidate. FULL: both.
//
// Problems come version by version, oldest first, and within a version the
// backward ones before the forward ones. A Level outside the seven is checked
// as FULL_TRANSITIVE, the strictest, so that a bad value fails closed.
func Check(level Level, candidate avro.Schema, previous []Previous) []Problem {
	backward, forward := level.directions()
	if !backward && !forward || len(previous) == 0 {
		return nil
	}
	against := previous
	if !level.Transitive() {
		against = previous[len(previous)-1:]
	}

	var problems []Problem
	for _, prev := range against {
		if backward {
			problems = appendProblems(problems, Pair(candidate, prev.Schema), prev.Version, directionBackward)
		}
		if forward {
			problems = appendProblems(problems, Pair(prev.Schema, candidate), prev.Version, directionForward)
		}
	}
	return problems
}

func appendProblems(dst []Problem, found []Incompatibility, version int, direction string) []Problem {
	for _, inc := range found {
		dst = append(dst, Problem{Incompatibility: inc, Version: version, Direction: direction})
	}
	return dst
}

// Pair returns EVERY incompatibility found when `reader` reads data written with `writer`
// (it does not stop at the first), in a deterministic order. Empty means compatible.
//
// The order is that of a depth-first walk of the reader schema: fields in
// declaration order, and for a writer union its branches in declaration order.
// Pair keeps no state between calls.
func Pair(reader, writer avro.Schema) []Incompatibility {
	c := checker{active: make(map[recordPair]struct{})}
	c.check(reader, writer, "")
	return dedupe(c.found)
}

// recordPair identifies a (reader, writer) record pair by the parsed schema
// objects themselves; hamba resolves every reference to a name to the same
// *RecordSchema, so pointer identity is stable within one pair of schemas.
type recordPair struct{ reader, writer *avro.RecordSchema }

// checker walks a reader and a writer schema side by side.
type checker struct {
	// active holds the record pairs on the current walk path; meeting one again
	// means a recursive type has come back round to itself.
	active map[recordPair]struct{}
	found  []Incompatibility
}

func (c *checker) report(typ, path, format string, args ...any) {
	c.found = append(c.found, Incompatibility{Type: typ, Path: path, Message: fmt.Sprintf(format, args...)})
}

// check records every reason reader cannot read writer's data at path.
func (c *checker) check(reader, writer avro.Schema, path string) {
	reader, writer = deref(reader), deref(writer)
	switch {
	case writer.Type() == avro.Union:
		c.checkWriterUnion(reader, writer.(*avro.UnionSchema), path)
	case reader.Type() == avro.Union:
		c.checkReaderUnion(reader.(*avro.UnionSchema), writer, path)
	case reader.Type() == writer.Type():
		c.checkSameType(reader, writer, path)
	case promotable(writer.Type(), reader.Type()):
		c.checkLogical(reader, writer, path)
	default:
		c.report(TypeMismatch, path, "%s: the reader's %s cannot read the writer's %s",
			where(path), describe(reader), describe(writer))
	}
}

// checkWriterUnion: data written with a union may hold any of its branches,
// so the reader (union or not) must be able to read every one of them.
func (c *checker) checkWriterUnion(reader avro.Schema, writer *avro.UnionSchema, path string) {
	for _, branch := range writer.Types() {
		c.check(reader, branch, path)
	}
}

// checkReaderUnion: a non-union writer is readable if any reader branch reads it.
func (c *checker) checkReaderUnion(reader *avro.UnionSchema, writer avro.Schema, path string) {
	for _, branch := range reader.Types() {
		if c.readable(branch, writer, path) {
			return
		}
	}
	// No branch reads it. If one is the writer's own type (same kind and
	// name, or a promotion target) the spec resolves the writer against that
	// branch, so its detailed problems say more than "no branch".
	if branch := closestBranch(reader, writer); branch != nil {
		c.check(branch, writer, branchPath(path, branch))
		return
	}
	c.report(MissingUnionBranch, path, "%s: the reader's %s has no branch that can read the writer's %s",
		where(path), describe(reader), describe(writer))
}

// readable reports whether reader reads writer's data, without keeping what it found.
func (c *checker) readable(reader, writer avro.Schema, path string) bool {
	n := len(c.found)
	c.check(reader, writer, path)
	ok := len(c.found) == n
	c.found = c.found[:n]
	return ok
}

func (c *checker) checkSameType(reader, writer avro.Schema, path string) {
	switch reader.Type() {
	case avro.Record, avro.Error:
		c.checkRecord(reader.(*avro.RecordSchema), writer.(*avro.RecordSchema), path)
	case avro.Enum:
		c.checkEnum(reader.(*avro.EnumSchema), writer.(*avro.EnumSchema), path)
	case avro.Fixed:
		c.checkFixed(reader.(*avro.FixedSchema), writer.(*avro.FixedSchema), path)
	case avro.Array:
		c.check(reader.(*avro.ArraySchema).Items(), writer.(*avro.ArraySchema).Items(), path+"[]")
	case avro.Map:
		c.check(reader.(*avro.MapSchema).Values(), writer.(*avro.MapSchema).Values(), path+"{}")
	default: // primitives: the physical type is identical, only a logical type can differ
		c.checkLogical(reader, writer, path)
	}
}

func (c *checker) checkRecord(reader, writer *avro.RecordSchema, path string) {
	pair := recordPair{reader, writer}
	if _, busy := c.active[pair]; busy {
		// A recursive type led back to a pair already being checked further
		// up: its problems are reported there, and following it again would
		// never end.
		return
	}
	c.active[pair] = struct{}{}
	defer delete(c.active, pair)

	// A name mismatch does not stop the walk: listing the field problems too
	// lets the author fix everything in one go.
	c.checkName(reader, writer, path)
	for _, rf := range reader.Fields() {
		fieldPath := joinPath(path, rf.Name())
		wf := writerField(writer, rf)
		switch {
		case wf != nil:
			c.check(rf.Type(), wf.Type(), fieldPath)
		case !rf.HasDefault():
			c.report(ReaderFieldMissingDefaultValue, fieldPath,
				"field %q (%s) is in the reader but missing in the writer and has no default", rf.Name(), fieldPath)
		}
		// Writer-only fields are skipped by the reader, so they are never a problem.
	}
}

// writerField finds the writer field that a reader field reads: by name first,
// then by the reader field's aliases in order.
func writerField(writer *avro.RecordSchema, rf *avro.Field) *avro.Field {
	fields := writer.Fields()
	if f := fieldNamed(fields, rf.Name()); f != nil {
		return f
	}
	for _, alias := range rf.Aliases() {
		if f := fieldNamed(fields, alias); f != nil {
			return f
		}
	}
	return nil
}

func fieldNamed(fields []*avro.Field, name string) *avro.Field {
	for _, f := range fields {
		if f.Name() == name {
			return f
		}
	}
	return nil
}

func (c *checker) checkEnum(reader, writer *avro.EnumSchema, path string) {
	c.checkName(reader, writer, path)
	if reader.HasDefault() {
		return // symbols the reader does not know are read as its default
	}
	var missing []string
	for _, sym := range writer.Symbols() {
		if !slices.Contains(reader.Symbols(), sym) {
			missing = append(missing, sym)
		}
	}
	if len(missing) > 0 {
		c.report(MissingEnumSymbols, path, "%s: the reader's enum %q lacks the writer's symbols [%s] and has no default symbol",
			where(path), reader.FullName(), strings.Join(missing, ", "))
	}
}

func (c *checker) checkFixed(reader, writer *avro.FixedSchema, path string) {
	c.checkName(reader, writer, path)
	if reader.Size() != writer.Size() {
		c.report(FixedSizeMismatch, path, "%s: the reader's fixed %q has size %d but the writer's %q has size %d",
			where(path), reader.FullName(), reader.Size(), writer.FullName(), writer.Size())
	}
	c.checkLogical(reader, writer, path)
}

func (c *checker) checkName(reader, writer avro.NamedSchema, path string) {
	if namesMatch(reader, writer) {
		return
	}
	c.report(NameMismatch, path, "%s: the reader's %s %q does not match the writer's %s %q: the names differ and no reader alias is %q",
		where(path), reader.Type(), reader.FullName(), writer.Type(), writer.FullName(), writer.FullName())
}

// namesMatch applies the spec's rule for named types: the unqualified names
// are equal (namespaces are ignored), or one of the reader's aliases is the
// writer's full name. hamba has already turned relative aliases into full
// names using the reader's namespace, as Avro's Java implementation does.
func namesMatch(reader, writer avro.NamedSchema) bool {
	return reader.Name() == writer.Name() || slices.Contains(reader.Aliases(), writer.FullName())
}

// checkLogical applies the governance rule: decimal, timestamp and time
// logical types must be identical on both sides, including being absent on both.
func (c *checker) checkLogical(reader, writer avro.Schema, path string) {
	r, w := governedLogical(reader), governedLogical(writer)
	if r == w {
		return
	}
	c.report(LogicalTypeMismatch, path, "%s: the reader's %s is %s but the writer's %s is %s",
		where(path), describe(reader), r, describe(writer), w)
}

// logical describes a governed logical type; the zero value means "none or not governed".
type logical struct {
	name             avro.LogicalType
	precision, scale int // decimals only
}

func (l logical) String() string {
	switch {
	case l.name == "":
		return "plain (no governed logical type)"
	case l.name == avro.Decimal:
		return "decimal(" + strconv.Itoa(l.precision) + "," + strconv.Itoa(l.scale) + ")"
	}
	return string(l.name)
}

// The nanosecond timestamps came with Avro 1.12; hamba v2.31 does not parse
// them and leaves "logicalType" as a plain property, so they are read from there.
const (
	timestampNanos      avro.LogicalType = "timestamp-nanos"
	localTimestampNanos avro.LogicalType = "local-timestamp-nanos"
)

// governedLogical returns the schema's logical type if it belongs to a
// governed family (decimal, timestamp, time); other logical types (uuid,
// date, duration) follow their underlying type and return the zero value.
func governedLogical(s avro.Schema) logical {
	ls, ok := s.(avro.LogicalTypeSchema)
	if !ok {
		return logical{}
	}
	switch l := ls.Logical().(type) {
	case nil:
		return unparsedNanos(s)
	case *avro.DecimalLogicalSchema:
		return logical{name: avro.Decimal, precision: l.Precision(), scale: l.Scale()}
	default:
		if isTimeFamily(l.Type()) {
			return logical{name: l.Type()}
		}
	}
	return logical{}
}

func isTimeFamily(t avro.LogicalType) bool {
	switch t {
	case avro.TimeMillis, avro.TimeMicros,
		avro.TimestampMillis, avro.TimestampMicros, timestampNanos,
		avro.LocalTimestampMillis, avro.LocalTimestampMicros, localTimestampNanos:
		return true
	}
	return false
}

func unparsedNanos(s avro.Schema) logical {
	p, ok := s.(*avro.PrimitiveSchema)
	if !ok || p.Type() != avro.Long {
		return logical{}
	}
	if name, _ := p.Prop("logicalType").(string); name == string(timestampNanos) || name == string(localTimestampNanos) {
		return logical{name: avro.LogicalType(name)}
	}
	return logical{}
}

// promotable lists the spec's promotions: what a reader of type `to` accepts
// from a writer of a different type `from`.
func promotable(from, to avro.Type) bool {
	switch from {
	case avro.Int:
		return to == avro.Long || to == avro.Float || to == avro.Double
	case avro.Long:
		return to == avro.Float || to == avro.Double
	case avro.Float:
		return to == avro.Double
	case avro.String:
		return to == avro.Bytes
	case avro.Bytes:
		return to == avro.String
	}
	return false
}

// closestBranch picks the reader branch the spec would resolve the writer
// against: first one of the same kind (and matching name, for named types),
// then one the writer's type promotes to. nil if there is none.
func closestBranch(reader *avro.UnionSchema, writer avro.Schema) avro.Schema {
	for _, b := range reader.Types() {
		if b = deref(b); b.Type() == writer.Type() && sameName(b, writer) {
			return b
		}
	}
	for _, b := range reader.Types() {
		if b = deref(b); promotable(writer.Type(), b.Type()) {
			return b
		}
	}
	return nil
}

// sameName reports whether two schemas of the same kind match by name; kinds
// without a name match on kind alone.
func sameName(reader, writer avro.Schema) bool {
	r, rNamed := reader.(avro.NamedSchema)
	w, wNamed := writer.(avro.NamedSchema)
	if !rNamed || !wNamed {
		return rNamed == wNamed
	}
	return namesMatch(r, w)
}

// branchPath marks a step into a named reader union branch, as in
// "payment<com.acme.Card>", so the path says which branch the fields are in.
// Unnamed branches need no mark: their kind shows in the path ("[]", "{}").
func branchPath(path string, branch avro.Schema) string {
	if n, ok := branch.(avro.NamedSchema); ok {
		return path + "<" + n.FullName() + ">"
	}
	return path
}

func joinPath(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// where introduces a path in a message.
func where(path string) string {
	if path == "" {
		return "at the root"
	}
	return "at " + path
}

// describe names a schema for a message: its kind, plus its full name if it has one.
func describe(s avro.Schema) string {
	switch t := deref(s).(type) {
	case *avro.UnionSchema:
		branches := make([]string, 0, len(t.Types()))
		for _, b := range t.Types() {
			branches = append(branches, describe(b))
		}
		return "union [" + strings.Join(branches, ", ") + "]"
	case avro.NamedSchema:
		return string(t.Type()) + " " + strconv.Quote(t.FullName())
	default:
		return string(t.Type())
	}
}

func deref(s avro.Schema) avro.Schema {
	if ref, ok := s.(*avro.RefSchema); ok {
		return ref.Schema()
	}
	return s
}

// dedupe drops repeats, keeping the first. They arise when several writer
// union branches resolve to the same reader type (say two records, one
// matched by name and one by alias) and share its problems.
func dedupe(found []Incompatibility) []Incompatibility {
	if len(found) < 2 {
		return found
	}
	seen := make(map[Incompatibility]struct{}, len(found))
	out := found[:0]
	for _, inc := range found {
		if _, dup := seen[inc]; dup {
			continue
		}
		seen[inc] = struct{}{}
		out = append(out, inc)
	}
	return out
}
