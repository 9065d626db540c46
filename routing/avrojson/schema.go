package avrojson

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hamba/avro/v2"
)

// kind is the Avro type of a compiled schema node.
type kind uint8

const (
	kNull kind = iota
	kBoolean
	kInt
	kLong
	kFloat
	kDouble
	kString
	kBytes
	kFixed
	kEnum
	kArray
	kMap
	kRecord
	kUnion
)

// logical is the logical type of a compiled schema node (lNone when there is none, or
// when hamba did not recognise it for the underlying type).
type logical uint8

const (
	lNone logical = iota
	lDate
	lTimeMillis
	lTimeMicros
	lTimestampMillis
	lTimestampMicros
	lLocalTimestampMillis
	lLocalTimestampMicros
	lDecimal
	lUUID
	lDuration
)

// node is a compiled schema: the avro.Schema tree flattened into one struct per type,
// with everything the encoder and validator need precomputed (enum symbol lookup,
// union branch names, pre-encoded field defaults, minimum encoded sizes). Named types
// are compiled once, so references (including recursive ones) point at the same node.
type node struct {
	kind    kind
	logical logical

	// name is how the type is spelled in messages and matched in the union wrapper
	// form: the full name for named types, the type name otherwise.
	name string
	// short is the unqualified name of a named type ("" otherwise).
	short string
	// tname is typeName(), precomputed so that messages cost nothing until used.
	tname string

	size      int // fixed
	precision int // decimal
	scale     int // decimal

	symbols   []string       // enum
	symbolIdx map[string]int // enum, when it has many symbols

	items *node // array items, map values

	fields   []field        // record
	fieldIdx map[string]int // record, when it has many fields

	branches []*node // union
	nullIdx  int     // union: index of the null branch, -1 when there is none
	typeList string  // union: "[null, string, com.acme.Address]" for messages

	// minSize is the fewest bytes an encoded value of this type takes; 0 means the
	// type always encodes to nothing (null, fixed(0), records of such types).
	minSize int
}

type field struct {
	name   string
	typ    *node
	hasDef bool
	def    []byte // the default's binary encoding, when hasDef
	def0   any    // hamba's Go value of the default, encoded into def once compiled
}

// linearLimit is the number of record fields or enum symbols up to which lookups scan
// a slice instead of hashing into a map.
const linearLimit = 8

// Codec is a compiled schema. Compiling walks the schema once and precomputes what
// encoding and validation need; a Codec is immutable and safe for concurrent use. The
// package-level Encode, EncodeJSON and Validate compile (and cache) on first use of a
// schema; long-lived callers that hold a schema can hold its Codec instead.
type Codec struct {
	root *node
}

// NewCodec compiles schema.
func NewCodec(schema avro.Schema) (*Codec, error) {
	if schema == nil {
		return nil, &FieldError{Reason: "nil schema"}
	}
	c := &compiler{named: map[avro.Schema]*node{}}
	root, err := c.compile(schema)
	if err != nil {
		return nil, err
	}
	for _, n := range c.all {
		n.minSize = minSize(n, map[*node]bool{})
		n.tname = n.computeTypeName()
	}
	for _, n := range c.records {
		for i := range n.fields {
			f := &n.fields[i]
			if !f.hasDef {
				continue
			}
			b, err := encodeNative(nil, f.typ, f.def0)
			if err != nil {
				return nil, fmt.Errorf("avrojson: default of field %s.%s: %w", n.name, f.name, err)
			}
			f.def = b
		}
	}
	return &Codec{root: root}, nil
}

// The package-level functions keep compiled schemas here, keyed by the schema value
// (hamba schemas are pointers and immutable once parsed). The cache is dropped when it
// grows past cacheLimit so that a process that parses schemas over and over cannot grow
// it without bound; it is refilled on demand.
const cacheLimit = 4096

var (
	codecCache sync.Map // avro.Schema -> *Codec
	cacheSize  atomic.Int64
)

func codecFor(schema avro.Schema) (*Codec, error) {
	if schema == nil {
		return nil, &FieldError{Reason: "nil schema"}
	}
	if c, ok := codecCache.Load(schema); ok {
		return c.(*Codec), nil
	}
	c, err := NewCodec(schema)
	if err != nil {
		return nil, err
	}
	if cacheSize.Add(1) > cacheLimit {
		codecCache.Clear()
		cacheSize.Store(1)
	}
	actual, _ := codecCache.LoadOrStore(schema, c)
	return actual.(*Codec), nil
}

type compiler struct {
	named   map[avro.Schema]*node
	records []*node
	all     []*node
}

func (c *compiler) compile(s avro.Schema) (*node, error) {
	n, err := c.compile1(s)
	if err == nil {
		c.all = append(c.all, n)
	}
	return n, err
}

func (c *compiler) compile1(s avro.Schema) (*node, error) {
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	if n, ok := c.named[s]; ok {
		return n, nil
	}
	switch s := s.(type) {
	case *avro.NullSchema:
		return &node{kind: kNull, name: "null"}, nil
	case *avro.PrimitiveSchema:
		return compilePrimitive(s)
	case *avro.RecordSchema:
		n := &node{kind: kRecord, name: s.FullName(), short: s.Name()}
		c.named[s] = n
		c.records = append(c.records, n)
		fields := s.Fields()
		n.fields = make([]field, len(fields))
		for i, f := range fields {
			ft, err := c.compile(f.Type())
			if err != nil {
				return nil, err
			}
			n.fields[i] = field{name: f.Name(), typ: ft, hasDef: f.HasDefault()}
			if f.HasDefault() {
				n.fields[i].def0 = f.Default()
			}
		}
		if len(fields) > linearLimit {
			n.fieldIdx = make(map[string]int, len(fields))
			for i, f := range n.fields {
				n.fieldIdx[f.name] = i
			}
		}
		return n, nil
	case *avro.EnumSchema:
		n := &node{kind: kEnum, name: s.FullName(), short: s.Name(), symbols: s.Symbols()}
		c.named[s] = n
		if len(n.symbols) > linearLimit {
			n.symbolIdx = make(map[string]int, len(n.symbols))
			for i, sym := range n.symbols {
				n.symbolIdx[sym] = i
			}
		}
		return n, nil
	case *avro.FixedSchema:
		n := &node{kind: kFixed, name: s.FullName(), short: s.Name(), size: s.Size()}
		c.named[s] = n
		switch l := s.Logical().(type) {
		case *avro.DecimalLogicalSchema:
			n.logical, n.precision, n.scale = lDecimal, l.Precision(), l.Scale()
		case nil:
		default:
			if l.Type() == avro.Duration {
				n.logical = lDuration
			}
		}
		return n, nil
	case *avro.ArraySchema:
		items, err := c.compile(s.Items())
		if err != nil {
			return nil, err
		}
		return &node{kind: kArray, name: "array", items: items}, nil
	case *avro.MapSchema:
		values, err := c.compile(s.Values())
		if err != nil {
			return nil, err
		}
		return &node{kind: kMap, name: "map", items: values}, nil
	case *avro.UnionSchema:
		types := s.Types()
		n := &node{kind: kUnion, name: "union", nullIdx: -1, branches: make([]*node, len(types))}
		names := make([]string, len(types))
		for i, t := range types {
			b, err := c.compile(t)
			if err != nil {
				return nil, err
			}
			if b.kind == kUnion {
				return nil, &FieldError{Reason: "avrojson: unions may not immediately contain other unions"}
			}
			n.branches[i] = b
			names[i] = b.name
			if b.kind == kNull && n.nullIdx < 0 {
				n.nullIdx = i
			}
		}
		n.typeList = "[" + strings.Join(names, ", ") + "]"
		return n, nil
	default:
		return nil, fmt.Errorf("avrojson: unsupported schema type %s (%T)", s.Type(), s)
	}
}

func compilePrimitive(s *avro.PrimitiveSchema) (*node, error) {
	n := &node{name: string(s.Type())}
	switch s.Type() {
	case avro.Null:
		n.kind = kNull
	case avro.Boolean:
		n.kind = kBoolean
	case avro.Int:
		n.kind = kInt
	case avro.Long:
		n.kind = kLong
	case avro.Float:
		n.kind = kFloat
	case avro.Double:
		n.kind = kDouble
	case avro.String:
		n.kind = kString
	case avro.Bytes:
		n.kind = kBytes
	default:
		return nil, fmt.Errorf("avrojson: unsupported primitive type %s", s.Type())
	}
	switch l := s.Logical().(type) {
	case nil:
	case *avro.DecimalLogicalSchema:
		if n.kind == kBytes {
			n.logical, n.precision, n.scale = lDecimal, l.Precision(), l.Scale()
		}
	default:
		lt := l.Type()
		switch {
		case n.kind == kInt && lt == avro.Date:
			n.logical = lDate
		case n.kind == kInt && lt == avro.TimeMillis:
			n.logical = lTimeMillis
		case n.kind == kLong && lt == avro.TimeMicros:
			n.logical = lTimeMicros
		case n.kind == kLong && lt == avro.TimestampMillis:
			n.logical = lTimestampMillis
		case n.kind == kLong && lt == avro.TimestampMicros:
			n.logical = lTimestampMicros
		case n.kind == kLong && lt == avro.LocalTimestampMillis:
			n.logical = lLocalTimestampMillis
		case n.kind == kLong && lt == avro.LocalTimestampMicros:
			n.logical = lLocalTimestampMicros
		case n.kind == kString && lt == avro.UUID:
			n.logical = lUUID
		}
	}
	return n, nil
}

// minSize computes the fewest bytes a value of n encodes to. Records on the current
// path count as 0 (a record can only contain itself through an array, map or union,
// which take at least one byte, so this never overestimates).
func minSize(n *node, visiting map[*node]bool) int {
	switch n.kind {
	case kNull:
		return 0
	case kFloat:
		return 4
	case kDouble:
		return 8
	case kFixed:
		return n.size
	case kRecord:
		if visiting[n] {
			return 0
		}
		visiting[n] = true
		total := 0
		for _, f := range n.fields {
			total += minSize(f.typ, visiting)
		}
		delete(visiting, n)
		return total
	default:
		return 1
	}
}

// typeName is how n is named in messages: the logical type is shown when present.
func (n *node) typeName() string {
	if n.tname != "" {
		return n.tname
	}
	return n.computeTypeName()
}

func (n *node) computeTypeName() string {
	switch n.logical {
	case lNone, lDuration:
		return n.name
	case lDecimal:
		return fmt.Sprintf("%s (decimal(%d,%d))", n.name, n.precision, n.scale)
	default:
		return n.name + " (" + logicalNames[n.logical] + ")"
	}
}

var logicalNames = [...]string{
	lNone:                 "",
	lDate:                 "date",
	lTimeMillis:           "time-millis",
	lTimeMicros:           "time-micros",
	lTimestampMillis:      "timestamp-millis",
	lTimestampMicros:      "timestamp-micros",
	lLocalTimestampMillis: "local-timestamp-millis",
	lLocalTimestampMicros: "local-timestamp-micros",
	lDecimal:              "decimal",
	lUUID:                 "uuid",
	lDuration:             "duration",
}

// fieldIndex returns the index of the record field called name, or -1. Producers
// mostly send fields in schema order, so the field after the previous match (hint) is
// tried first.
func (n *node) fieldIndex(name []byte, hint int) int {
	if hint < len(n.fields) && n.fields[hint].name == string(name) {
		return hint
	}
	if n.fieldIdx != nil {
		if i, ok := n.fieldIdx[string(name)]; ok {
			return i
		}
		return -1
	}
	for i := range n.fields {
		if n.fields[i].name == string(name) {
			return i
		}
	}
	return -1
}

// symbolIndex returns the index of the enum symbol sym, or -1.
func (n *node) symbolIndex(sym []byte) int {
	if n.symbolIdx != nil {
		if i, ok := n.symbolIdx[string(sym)]; ok {
			return i
		}
		return -1
	}
	for i, s := range n.symbols {
		if s == string(sym) {
			return i
		}
	}
	return -1
}

// branchByName finds the union branch selected by the Avro JSON wrapper key: the
// branch's type name or full name, its short name when that is unambiguous, or hamba's
// "type.logical" spelling for primitives with a logical type. It returns -1 if none.
func (n *node) branchByName(key []byte) int {
	for i, b := range n.branches {
		if b.name == string(key) {
			return i
		}
	}
	found := -1
	for i, b := range n.branches {
		if b.short != "" && b.short == string(key) {
			if found >= 0 {
				return -1 // ambiguous short name: the full name is required
			}
			found = i
		}
	}
	if found >= 0 {
		return found
	}
	for i, b := range n.branches {
		if b.logical != lNone && b.short == "" && string(key) == b.name+"."+logicalNames[b.logical] {
			return i
		}
	}
	return -1
}

// encodeNative encodes a field default as hamba hands it over (after its own
// validation of the default): nil, bool, int, int64, float32, float64, string, []byte,
// [N]byte, []any and map[string]any; a union's default is for its first branch.
func encodeNative(dst []byte, n *node, v any) ([]byte, error) {
	bad := func() ([]byte, error) {
		return nil, fmt.Errorf("default %v (%T) is not a valid %s", v, v, n.typeName())
	}
	switch n.kind {
	case kNull:
		if v != nil {
			return bad()
		}
		return dst, nil
	case kBoolean:
		b, ok := v.(bool)
		if !ok {
			return bad()
		}
		if b {
			return append(dst, 1), nil
		}
		return append(dst, 0), nil
	case kInt, kLong:
		var i int64
		switch x := v.(type) {
		case int:
			i = int64(x)
		case int32:
			i = int64(x)
		case int64:
			i = x
		case float64:
			if x != math.Trunc(x) || math.Abs(x) > 1<<63 {
				return bad()
			}
			i = int64(x)
		default:
			return bad()
		}
		if n.kind == kInt && (i < math.MinInt32 || i > math.MaxInt32) {
			return bad()
		}
		return appendLong(dst, i), nil
	case kFloat:
		switch x := v.(type) {
		case float32:
			return appendFloat(dst, x), nil
		case float64:
			return appendFloat(dst, float32(x)), nil
		}
		return bad()
	case kDouble:
		switch x := v.(type) {
		case float32:
			return appendDouble(dst, float64(x)), nil
		case float64:
			return appendDouble(dst, x), nil
		}
		return bad()
	case kString:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		dst = appendLong(dst, int64(len(s)))
		return append(dst, s...), nil
	case kBytes, kFixed:
		var b []byte
		switch x := v.(type) {
		case []byte:
			b = x
		case string:
			var err *encErr
			b, err = appendCodePoints(nil, []byte(x))
			if err != nil {
				return nil, err.fieldError()
			}
		default:
			rv := reflect.ValueOf(v)
			if rv.Kind() != reflect.Array || rv.Type().Elem().Kind() != reflect.Uint8 {
				return bad()
			}
			b = make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
		}
		if n.kind == kFixed {
			if len(b) != n.size {
				return bad()
			}
			return append(dst, b...), nil
		}
		dst = appendLong(dst, int64(len(b)))
		return append(dst, b...), nil
	case kEnum:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		i := slices.Index(n.symbols, s)
		if i < 0 {
			return bad()
		}
		return appendLong(dst, int64(i)), nil
	case kArray:
		arr, ok := v.([]any)
		if !ok {
			return bad()
		}
		if len(arr) > 0 {
			dst = appendLong(dst, int64(len(arr)))
			for _, item := range arr {
				var err error
				if dst, err = encodeNative(dst, n.items, item); err != nil {
					return nil, err
				}
			}
		}
		return append(dst, 0), nil
	case kMap:
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		if len(m) > 0 {
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			dst = appendLong(dst, int64(len(m)))
			for _, k := range keys {
				dst = appendLong(dst, int64(len(k)))
				dst = append(dst, k...)
				var err error
				if dst, err = encodeNative(dst, n.items, m[k]); err != nil {
					return nil, err
				}
			}
		}
		return append(dst, 0), nil
	case kRecord:
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		for _, f := range n.fields {
			fv, present := m[f.name]
			if !present {
				if !f.hasDef {
					return nil, fmt.Errorf("default for %s lacks field %s", n.name, f.name)
				}
				fv = f.def0
			}
			var err error
			if dst, err = encodeNative(dst, f.typ, fv); err != nil {
				return nil, err
			}
		}
		return dst, nil
	case kUnion:
		dst = append(dst, 0) // branch 0, zigzag varint
		return encodeNative(dst, n.branches[0], v)
	}
	return bad()
}
