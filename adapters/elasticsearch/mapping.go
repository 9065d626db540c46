package elasticsearch

import (
	"github.com/hamba/avro/v2"
)

// indexMappings returns the explicit mappings of an index holding events of a record
// schema: its fields, then MetaField.
func indexMappings(rs *avro.RecordSchema) map[string]any {
	props := recordProperties(rs, map[string]bool{})
	props[MetaField] = map[string]any{"properties": map[string]any{
		"id":        keyword(),
		"key":       keyword(),
		"contract":  keyword(),
		"time":      map[string]any{"type": "date"},
		"received":  map[string]any{"type": "date"},
		"schema_id": map[string]any{"type": "integer"},
	}}
	return map[string]any{"properties": props}
}

func keyword() map[string]any { return map[string]any{"type": "keyword"} }

// recordProperties maps a record's fields. seen guards against recursive records:
// a record inside itself is mapped as an object without properties (dynamic below).
func recordProperties(rs *avro.RecordSchema, seen map[string]bool) map[string]any {
	props := map[string]any{}
	seen[rs.FullName()] = true
	defer delete(seen, rs.FullName())
	for _, f := range rs.Fields() {
		props[f.Name()] = fieldMapping(f.Type(), seen)
	}
	return props
}

// fieldMapping is the mapping of one Avro type; see the package documentation.
func fieldMapping(s avro.Schema, seen map[string]bool) map[string]any {
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	switch logicalOf(s) {
	case avro.Decimal, avro.TimeMillis, avro.TimeMicros, avro.UUID:
		return keyword()
	case avro.TimestampMillis, avro.TimestampMicros, avro.LocalTimestampMillis, avro.LocalTimestampMicros, avro.Date:
		return map[string]any{"type": "date"}
	case "timestamp-nanos", "local-timestamp-nanos":
		return map[string]any{"type": "date_nanos"}
	}
	switch s := s.(type) {
	case *avro.RecordSchema:
		if seen[s.FullName()] {
			return map[string]any{"type": "object"}
		}
		return map[string]any{"properties": recordProperties(s, seen)}
	case *avro.UnionSchema:
		branches := nonNull(s)
		switch len(branches) {
		case 0:
			return keyword() // only null: never holds a value
		case 1:
			return fieldMapping(branches[0], seen)
		}
		props := map[string]any{}
		for _, br := range branches {
			props[BranchName(br)] = fieldMapping(br, seen)
		}
		return map[string]any{"properties": props}
	case *avro.ArraySchema:
		return fieldMapping(s.Items(), seen)
	case *avro.MapSchema:
		return map[string]any{"type": "flattened"}
	case *avro.EnumSchema:
		return keyword()
	case *avro.FixedSchema:
		return map[string]any{"type": "binary"}
	}
	switch s.Type() {
	case avro.Boolean:
		return map[string]any{"type": "boolean"}
	case avro.Int, avro.Long:
		return map[string]any{"type": "long"}
	case avro.Float, avro.Double:
		return map[string]any{"type": "double"}
	case avro.Bytes:
		return map[string]any{"type": "binary"}
	case avro.String:
		return map[string]any{"type": "text", "fields": map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 256}}}
	}
	return keyword() // null: never holds a value
}
