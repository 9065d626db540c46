package schemas

import (
	"strings"

	"github.com/hamba/avro/v2"
)

// Field classification properties. Waybill's own property takes a single class; the
// Confluent data-contract tags are honoured too, with "PII" mapped to "pii".
const (
	PropClassification = "waybill.classification"
	PropConfluentTags  = "confluent:tags"
	ClassPII           = "pii"
)

// maxClassifyVisits bounds the walk: a schema that reuses named types many levels deep
// would otherwise expand exponentially (each reuse is walked at its own path).
const maxClassifyVisits = 100_000

// Classification walks a schema and returns the class of every classified field by its
// dotted path. Nested records, arrays ("items[]"), maps ("attrs{}") and unions are
// descended, and a named type used in two places is classified at both paths, so a PII
// field inside an array of records is found at "items[].email". Recursive types are
// walked once along each path (the recursion itself adds no new fields).
func Classification(s avro.Schema) map[string]string {
	out := map[string]string{}
	for _, f := range Fields(s) {
		if f.Class != "" {
			out[f.Path] = f.Class
		}
	}
	return out
}

// FieldAt is one field of a schema at one of its paths, as Classification names them.
type FieldAt struct {
	Path  string // dotted path: "address.street", "items[].email"
	Class string // "" when unclassified
	// Former lists the paths this field may have had in an earlier schema, following
	// the Avro aliases of the field and of every field above it (its own path first).
	Former []string
	Field  *avro.Field
}

// maxFormerPaths bounds the alias combinations followed per field.
const maxFormerPaths = 64

// Fields walks s as Classification does and returns every field at every path, in
// schema order.
func Fields(s avro.Schema) []FieldAt {
	w := classifier{onPath: map[string]bool{}}
	w.walk(s, "", []string{""})
	return w.out
}

type classifier struct {
	out    []FieldAt
	onPath map[string]bool // named types on the current path: recursion guard
	visits int
}

// walk descends s; prefix is the path so far and formers its possible former paths.
func (w *classifier) walk(s avro.Schema, prefix string, formers []string) {
	if w.visits++; w.visits > maxClassifyVisits {
		return
	}
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	if named, ok := s.(avro.NamedSchema); ok {
		name := named.FullName()
		if w.onPath[name] {
			return
		}
		w.onPath[name] = true
		defer delete(w.onPath, name)
	}
	join := func(prefix, name string) string {
		if prefix == "" {
			return name
		}
		return prefix + "." + name
	}
	suffixed := func(suffix string) []string {
		out := make([]string, len(formers))
		for i, f := range formers {
			out[i] = f + suffix
		}
		return out
	}
	switch t := s.(type) {
	case *avro.RecordSchema:
		for _, f := range t.Fields() {
			path := join(prefix, f.Name())
			former := []string{path}
			for _, p := range formers {
				for _, n := range append([]string{f.Name()}, f.Aliases()...) {
					if fp := join(p, n); fp != path && len(former) < maxFormerPaths {
						former = append(former, fp)
					}
				}
			}
			w.out = append(w.out, FieldAt{Path: path, Class: fieldClass(f), Former: former, Field: f})
			w.walk(f.Type(), path, former)
		}
	case *avro.ArraySchema:
		w.walk(t.Items(), prefix+"[]", suffixed("[]"))
	case *avro.MapSchema:
		w.walk(t.Values(), prefix+"{}", suffixed("{}"))
	case *avro.UnionSchema:
		for _, b := range t.Types() {
			w.walk(b, prefix, formers)
		}
	}
}

func fieldClass(f *avro.Field) string {
	if v, ok := f.Prop(PropClassification).(string); ok && v != "" {
		return strings.ToLower(v)
	}
	if tags, ok := f.Prop(PropConfluentTags).([]any); ok {
		for _, t := range tags {
			if s, ok := t.(string); ok && strings.EqualFold(s, "PII") {
				return ClassPII
			}
		}
	}
	return ""
}
