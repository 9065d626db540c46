package schemas

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
)

// MaxSchemaBytes bounds one schema's text. Larger schemas are rejected with 42209
// before any parsing, so a hostile body cannot make the parser allocate without bound.
const MaxSchemaBytes = 1 << 20

// ParseAvro parses an Avro schema. deps are the texts of referenced schemas, in an
// order where each only refers to those before it; their named types become visible to
// text. A fresh SchemaCache is used for every call: hamba's global cache would let two
// unrelated schemas that share a type name overwrite each other.
func ParseAvro(text string, deps ...string) (avro.Schema, error) {
	if len(text) > MaxSchemaBytes {
		return nil, fmt.Errorf("schema is %d bytes, over the %d-byte limit", len(text), MaxSchemaBytes)
	}
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("schema is empty")
	}
	// JSON text is UTF-8 (RFC 8259); invalid bytes would be replaced on output, so the
	// canonical form would not identify the schema that was sent.
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("schema is not valid UTF-8")
	}
	cache := &avro.SchemaCache{}
	for i, dep := range deps {
		if _, err := avro.ParseWithCache(dep, "", cache); err != nil {
			return nil, fmt.Errorf("referenced schema %d: %w", i+1, err)
		}
	}
	s, err := parseGuarded(text, cache)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// parseGuarded turns a panic inside the parser (found by fuzzing third-party parsers
// often enough to guard against) into an ordinary error.
func parseGuarded(text string, cache *avro.SchemaCache) (s avro.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("schema parser failed: %v", r)
		}
	}()
	return avro.ParseWithCache(text, "", cache)
}

// Canonical returns the registry's canonical text of a parsed schema: hamba's full JSON
// form. Unlike Avro's Parsing Canonical Form it keeps doc, defaults, aliases, order,
// custom properties and logical types, because two schemas that differ in those are
// different contracts (a changed default or classification is a governed change).
// Whitespace, key order and shorthand ("string" vs {"type":"string"}) are normalised.
func Canonical(s avro.Schema) (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("canonicalising schema: %w", err)
	}
	return string(b), nil
}

// Fingerprint identifies a schema across subjects: same type, canonical text and
// references give the same fingerprint and therefore the same global id.
func Fingerprint(schemaType, canonical string, refs []Reference) string {
	h := sha256.New()
	h.Write([]byte(schemaType))
	h.Write([]byte{0})
	h.Write([]byte(canonical))
	h.Write([]byte{0})
	for _, r := range refs {
		fmt.Fprintf(h, "%s\x00%s\x00%d\x00", r.Name, r.Subject, r.Version)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// LookupField resolves a dotted field path ("customer.address.zip") in a record schema,
// descending through nested records and through unions of null and one record.
func LookupField(s avro.Schema, path string) (*avro.Field, error) {
	rec, ok := deref(s).(*avro.RecordSchema)
	if !ok {
		return nil, fmt.Errorf("schema is a %s, not a record", s.Type())
	}
	parts := strings.Split(path, ".")
	for i, name := range parts {
		var found *avro.Field
		for _, f := range rec.Fields() {
			if f.Name() == name {
				found = f
				break
			}
		}
		if found == nil {
			return nil, fmt.Errorf("field %q not found in record %s", strings.Join(parts[:i+1], "."), rec.FullName())
		}
		if i == len(parts)-1 {
			return found, nil
		}
		next, ok := recordOf(found.Type())
		if !ok {
			return nil, fmt.Errorf("field %q is a %s, not a record, so it has no field %q", strings.Join(parts[:i+1], "."), found.Type().Type(), parts[i+1])
		}
		rec = next
	}
	return nil, fmt.Errorf("empty field path")
}

// LookupPath resolves a field path as Classification names it, the form of the field
// paths of a contract's PII handling: dotted field names, each optionally followed by
// "[]" (the items of an array) or "{}" (the values of a map), as often as the nesting
// goes: "items[].email", "attrs{}.ip", "matrix[][].cell". Unions are looked through,
// every branch of them, so a path exists when some branch has it. It returns the
// fields the path names (one per union branch that has it), or an error saying where
// the path stops.
func LookupPath(s avro.Schema, path string) ([]*avro.Field, error) {
	if path == "" {
		return nil, fmt.Errorf("empty field path")
	}
	current := []avro.Schema{s}
	var found []*avro.Field
	done := ""
	for part := range strings.SplitSeq(path, ".") {
		name, suffix := part, ""
		if i := strings.IndexAny(part, "[{"); i >= 0 {
			name, suffix = part[:i], part[i:]
		}
		if name == "" {
			return nil, fmt.Errorf("field path %q: %q has no field name", path, part)
		}
		above := done
		if done != "" {
			done += "."
		}
		done += name
		found = found[:0]
		var next []avro.Schema
		records := 0
		for _, c := range current {
			for _, rec := range branchesOf[*avro.RecordSchema](c) {
				records++
				for _, f := range rec.Fields() {
					if f.Name() == name {
						found = append(found, f)
						next = append(next, f.Type())
					}
				}
			}
		}
		if records == 0 {
			return nil, fmt.Errorf("field %q is a %s, not a record, so it has no field %q", above, deref(current[0]).Type(), name)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("field %q not found", done)
		}
		for len(suffix) > 0 {
			var step string
			switch {
			case strings.HasPrefix(suffix, "[]"):
				step = "[]"
			case strings.HasPrefix(suffix, "{}"):
				step = "{}"
			default:
				return nil, fmt.Errorf("field path %q: %q: after a field name only [] (array items) and {} (map values) may follow", path, part)
			}
			suffix = suffix[2:]
			var inner []avro.Schema
			for _, c := range next {
				if step == "[]" {
					for _, a := range branchesOf[*avro.ArraySchema](c) {
						inner = append(inner, a.Items())
					}
				} else {
					for _, m := range branchesOf[*avro.MapSchema](c) {
						inner = append(inner, m.Values())
					}
				}
			}
			kind := map[string]string{"[]": "an array", "{}": "a map"}[step]
			if len(inner) == 0 {
				return nil, fmt.Errorf("field %q is not %s", done, kind)
			}
			done += step
			next = inner
		}
		current = next
	}
	return found, nil
}

// branchesOf returns s as a T, or the branches of the union s that are Ts.
func branchesOf[T avro.Schema](s avro.Schema) []T {
	s = deref(s)
	if u, ok := s.(*avro.UnionSchema); ok {
		var out []T
		for _, b := range u.Types() {
			if t, ok := deref(b).(T); ok {
				out = append(out, t)
			}
		}
		return out
	}
	if t, ok := s.(T); ok {
		return []T{t}
	}
	return nil
}

func deref(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

// recordOf returns the record inside s when s is a record or a union of null and a record.
func recordOf(s avro.Schema) (*avro.RecordSchema, bool) {
	switch t := deref(s).(type) {
	case *avro.RecordSchema:
		return t, true
	case *avro.UnionSchema:
		var rec *avro.RecordSchema
		for _, b := range t.Types() {
			switch bt := deref(b).(type) {
			case *avro.NullSchema:
			case *avro.RecordSchema:
				if rec != nil {
					return nil, false
				}
				rec = bt
			default:
				return nil, false
			}
		}
		return rec, rec != nil
	}
	return nil, false
}
