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
	w := classifier{out: map[string]string{}, onPath: map[string]bool{}}
	w.walk(s, "")
	return w.out
}

type classifier struct {
	out    map[string]string
	onPath map[string]bool // named types on the current path: recursion guard
	visits int
}

func (w *classifier) walk(s avro.Schema, prefix string) {
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
	switch t := s.(type) {
	case *avro.RecordSchema:
		for _, f := range t.Fields() {
			path := f.Name()
			if prefix != "" {
				path = prefix + "." + f.Name()
			}
			if c := fieldClass(f); c != "" {
				w.out[path] = c
			}
			w.walk(f.Type(), path)
		}
	case *avro.ArraySchema:
		w.walk(t.Items(), prefix+"[]")
	case *avro.MapSchema:
		w.walk(t.Values(), prefix+"{}")
	case *avro.UnionSchema:
		for _, b := range t.Types() {
			w.walk(b, prefix)
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
