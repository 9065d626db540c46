package elasticsearch

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/adapters/avrovalue"
	"github.com/waybill-data/waybill/routing"
)

// MetaField is the document field holding the event's envelope.
const MetaField = "_waybill"

// maxIDBytes is ES's limit on a document _id.
const maxIDBytes = 512

// appendDocument appends the JSON document of an event: the record's fields, then
// MetaField.
func appendDocument(b []byte, schema avro.Schema, value any, ev *routing.Event) ([]byte, error) {
	rs, ok := schema.(*avro.RecordSchema)
	if !ok {
		return b, fmt.Errorf("the contract's schema is a %s, not a record", schema.Type())
	}
	rec, ok := value.(*avrovalue.Record)
	if !ok {
		return b, fmt.Errorf("decoded value is %T, not a record", value)
	}
	b = append(b, '{')
	for i, f := range rs.Fields() {
		if f.Name() == MetaField {
			return b, fmt.Errorf("the contract has a field named %q, which the sink reserves for the event envelope", MetaField)
		}
		b = appendString(b, f.Name())
		b = append(b, ':')
		var err error
		if b, err = appendValue(b, f.Type(), rec.Fields[i].Value); err != nil {
			return b, fmt.Errorf("field %s: %w", f.Name(), err)
		}
		b = append(b, ',')
	}
	b = appendString(b, MetaField)
	b = append(b, `:{"id":`...)
	b = appendString(b, ev.ID)
	b = append(b, `,"key":`...)
	b = appendString(b, ev.Key)
	b = append(b, `,"contract":`...)
	b = appendString(b, ev.Contract)
	b = append(b, `,"time":`...)
	var err error
	if b, err = appendTime(b, ev.Time, 6); err != nil {
		return b, fmt.Errorf("event time: %w", err)
	}
	b = append(b, `,"received":`...)
	if b, err = appendTime(b, ev.Received, 6); err != nil {
		return b, fmt.Errorf("received time: %w", err)
	}
	b = append(b, `,"schema_id":`...)
	b = strconv.AppendInt(b, int64(ev.SchemaID), 10)
	return append(b, "}}"...), nil
}

// appendValue appends one value of schema s as JSON; see the package documentation for
// the mapping.
func appendValue(b []byte, s avro.Schema, v any) ([]byte, error) {
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	switch s := s.(type) {
	case *avro.UnionSchema:
		return appendUnion(b, s, v)
	case *avro.RecordSchema:
		rec, ok := v.(*avrovalue.Record)
		if !ok || len(rec.Fields) != len(s.Fields()) {
			return b, mismatch(s, v)
		}
		b = append(b, '{')
		for i, f := range s.Fields() {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, f.Name())
			b = append(b, ':')
			var err error
			if b, err = appendValue(b, f.Type(), rec.Fields[i].Value); err != nil {
				return b, fmt.Errorf("%s: %w", f.Name(), err)
			}
		}
		return append(b, '}'), nil
	case *avro.ArraySchema:
		items, ok := v.([]any)
		if !ok {
			return b, mismatch(s, v)
		}
		b = append(b, '[')
		for i, it := range items {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, s.Items(), it); err != nil {
				return b, fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return append(b, ']'), nil
	case *avro.MapSchema:
		m, ok := v.(map[string]any)
		if !ok {
			return b, mismatch(s, v)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			if !utf8.ValidString(k) {
				return b, errors.New("map key is not valid UTF-8")
			}
			b = appendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendValue(b, s.Values(), m[k]); err != nil {
				return b, fmt.Errorf("{%s}: %w", k, err)
			}
		}
		return append(b, '}'), nil
	}
	return appendScalar(b, s, v)
}

func mismatch(s avro.Schema, v any) error {
	return fmt.Errorf("value %T does not match schema type %s", v, s.Type())
}

// appendScalar appends primitives, enums, fixed and logical types.
func appendScalar(b []byte, s avro.Schema, v any) ([]byte, error) {
	if v == nil && s.Type() != avro.Null || v != nil && !fits(s, v) {
		return b, mismatch(s, v)
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return b, fmt.Errorf("float %v is not finite; Elasticsearch stores only finite numbers", x)
		}
		return strconv.AppendFloat(b, float64(x), 'g', -1, 32), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return b, fmt.Errorf("double %v is not finite; Elasticsearch stores only finite numbers", x)
		}
		return strconv.AppendFloat(b, x, 'g', -1, 64), nil
	case string:
		if !utf8.ValidString(x) {
			return b, errors.New("string is not valid UTF-8")
		}
		return appendString(b, x), nil
	case []byte:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, x)
		return append(b, '"'), nil
	case avrovalue.Decimal:
		b = append(b, '"')
		b = append(b, x.String()...)
		return append(b, '"'), nil
	case time.Time:
		return appendTime(b, x, timeDigits(s))
	case avrovalue.LocalTimestamp:
		return appendLocal(b, x.Time, timeDigits(s))
	case avrovalue.Date:
		t := x.Time()
		if t.Year() < 0 || t.Year() > 9999 {
			return b, fmt.Errorf("date %d days from 1970 is outside the years 0000-9999 Elasticsearch dates take", x.Days)
		}
		b = append(b, '"')
		b = t.AppendFormat(b, time.DateOnly)
		return append(b, '"'), nil
	case time.Duration:
		return appendTimeOfDay(b, x, timeDigits(s))
	}
	return b, mismatch(s, v)
}

// timeDigits is the number of fractional second digits a time logical type keeps.
func timeDigits(s avro.Schema) int {
	ls, ok := s.(avro.LogicalTypeSchema)
	if !ok || ls.Logical() == nil {
		return 6
	}
	switch ls.Logical().Type() {
	case avro.TimestampMillis, avro.LocalTimestampMillis, avro.TimeMillis:
		return 3
	case "timestamp-nanos", "local-timestamp-nanos":
		return 9
	}
	return 6
}

var fracLayouts = map[int]string{3: ".000", 6: ".000000", 9: ".000000000"}

// appendTime writes an instant as an RFC 3339 UTC string with digits fractional digits.
func appendTime(b []byte, t time.Time, digits int) ([]byte, error) {
	t = t.UTC()
	if t.Year() < 0 || t.Year() > 9999 {
		return b, fmt.Errorf("time %s is outside the years 0000-9999 RFC 3339 and Elasticsearch dates take", t.Format(time.RFC3339Nano))
	}
	b = append(b, '"')
	b = t.AppendFormat(b, "2006-01-02T15:04:05"+fracLayouts[digits]+"Z")
	return append(b, '"'), nil
}

// appendLocal writes a wall-clock time without a zone.
func appendLocal(b []byte, t time.Time, digits int) ([]byte, error) {
	if t.Year() < 0 || t.Year() > 9999 {
		return b, fmt.Errorf("local timestamp %s is outside the years 0000-9999", t.Format(time.RFC3339Nano))
	}
	b = append(b, '"')
	b = t.AppendFormat(b, "2006-01-02T15:04:05"+fracLayouts[digits])
	return append(b, '"'), nil
}

// appendTimeOfDay writes a time of day as "HH:MM:SS.ffffff".
func appendTimeOfDay(b []byte, d time.Duration, digits int) ([]byte, error) {
	if d < 0 || d >= 24*time.Hour {
		return b, fmt.Errorf("time of day %s is outside 00:00 to 24:00", d)
	}
	t := time.Unix(0, int64(d)).UTC()
	b = append(b, '"')
	b = t.AppendFormat(b, "15:04:05"+fracLayouts[digits])
	return append(b, '"'), nil
}

// appendUnion writes a union value: a nullable type ([null, T]) as T's value or null;
// a union of two or more non-null types as {"<branch>": value}, the branch named as in
// Avro's JSON encoding, so every branch keeps its own field mapping.
func appendUnion(b []byte, u *avro.UnionSchema, v any) ([]byte, error) {
	if v == nil {
		if !u.Nullable() && !hasNull(u) {
			return b, errors.New("null value for a union without null")
		}
		return append(b, "null"...), nil
	}
	branches := nonNull(u)
	if len(branches) == 1 {
		return appendValue(b, branches[0], v)
	}
	br := branchOf(branches, v)
	if br == nil {
		return b, fmt.Errorf("value %T matches no branch of the union", v)
	}
	b = append(b, '{')
	b = appendString(b, BranchName(br))
	b = append(b, ':')
	b, err := appendValue(b, br, v)
	if err != nil {
		return b, err
	}
	return append(b, '}'), nil
}

func hasNull(u *avro.UnionSchema) bool {
	for _, t := range u.Types() {
		if t.Type() == avro.Null {
			return true
		}
	}
	return false
}

// nonNull returns a union's branches other than null.
func nonNull(u *avro.UnionSchema) []avro.Schema {
	var out []avro.Schema
	for _, t := range u.Types() {
		if t.Type() != avro.Null {
			out = append(out, t)
		}
	}
	return out
}

// BranchName names a union branch as Avro's JSON encoding does: the full name of a
// named type, else the type name ("long", "string", "array", "map").
func BranchName(s avro.Schema) string {
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

// branchOf finds the branch a decoded value came from. Values decode to distinct Go
// types per Avro type, except where two branches decode alike (string, enum and uuid;
// bytes and fixed; timestamp precisions): then the first branch that fits is chosen,
// which reads back as the same value.
func branchOf(branches []avro.Schema, v any) avro.Schema {
	for _, br := range branches {
		s := br
		if ref, ok := s.(*avro.RefSchema); ok {
			s = ref.Schema()
		}
		if fits(s, v) {
			return br
		}
	}
	return nil
}

func logicalOf(s avro.Schema) avro.LogicalType {
	if ls, ok := s.(avro.LogicalTypeSchema); ok && ls.Logical() != nil {
		return ls.Logical().Type()
	}
	return ""
}

func fits(s avro.Schema, v any) bool {
	lt := logicalOf(s)
	switch x := v.(type) {
	case bool:
		return s.Type() == avro.Boolean
	case int32:
		return s.Type() == avro.Int && lt == ""
	case int64:
		return s.Type() == avro.Long && lt == ""
	case float32:
		return s.Type() == avro.Float
	case float64:
		return s.Type() == avro.Double
	case string:
		switch s := s.(type) {
		case *avro.EnumSchema:
			for _, sym := range s.Symbols() {
				if sym == x {
					return true
				}
			}
			return false
		}
		return s.Type() == avro.String
	case []byte:
		if f, ok := s.(*avro.FixedSchema); ok {
			return lt == "" && f.Size() == len(x)
		}
		return s.Type() == avro.Bytes && lt == ""
	case avrovalue.Decimal:
		return lt == avro.Decimal && decimalShape(s) == [2]int{x.Precision, x.Scale}
	case time.Time:
		return strings.HasPrefix(string(lt), "timestamp-")
	case avrovalue.LocalTimestamp:
		return strings.HasPrefix(string(lt), "local-timestamp-")
	case avrovalue.Date:
		return lt == avro.Date
	case time.Duration:
		return lt == avro.TimeMillis || lt == avro.TimeMicros
	case []any:
		return s.Type() == avro.Array
	case map[string]any:
		return s.Type() == avro.Map
	case *avrovalue.Record:
		r, ok := s.(*avro.RecordSchema)
		return ok && r.FullName() == x.Name
	}
	return false
}

func decimalShape(s avro.Schema) [2]int {
	ls, ok := s.(avro.LogicalTypeSchema)
	if !ok {
		return [2]int{}
	}
	d, ok := ls.Logical().(*avro.DecimalLogicalSchema)
	if !ok {
		return [2]int{}
	}
	return [2]int{d.Precision(), d.Scale()}
}

// appendString appends s as a JSON string (s is valid UTF-8).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// IndexName turns a rendered target into an index name: lower-cased, then checked
// against Elasticsearch's rules (it is not otherwise changed, so two targets never
// silently share an index).
func IndexName(rendered string) (string, error) {
	name := strings.ToLower(rendered)
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("index name %q (target %q) %s", name, rendered, why)
	}
	switch {
	case name == "":
		return bad("is empty")
	case strings.ContainsAny(name, "\\/*?\"<>| ,#:"):
		return bad(`must not contain \ / * ? " < > | space , # or : (use '-' or '_' in the route's target instead of '/')`)
	case strings.IndexAny(name[:1], "_-+") == 0:
		return bad("must not start with '_', '-' or '+'")
	case name == "." || name == "..":
		return bad("must not be '.' or '..'")
	case len(name) > 255:
		return bad(fmt.Sprintf("is %d bytes long; Elasticsearch allows 255", len(name)))
	}
	return name, nil
}

// latestVersion is the external version of an event in latest mode: its time in
// microseconds since 1970 (ES versions must be non-negative).
func latestVersion(t time.Time) (int64, error) {
	us := t.UnixMicro()
	if us < 0 {
		return 0, fmt.Errorf("event time %s is before 1970; latest mode versions documents by event time in microseconds since 1970, which Elasticsearch requires to be non-negative", t.UTC().Format(time.RFC3339Nano))
	}
	return us, nil
}
