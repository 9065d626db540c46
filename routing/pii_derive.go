package routing

// The derived schemas of PII handling (pii.go): the registry's schema with what a
// route's plan changes.

import (
	"encoding/json"
	"strconv"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/schemas"
)

// schemaEmitter writes the derived schema as JSON: the original, in hamba's full form
// (doc, defaults, logical types and custom properties kept), with dropped fields left
// out, hashed fields turned into strings (nullable when they were) and a variant of
// every record that changes.
type schemaEmitter struct {
	keyID    string
	taken    map[string]bool       // full names used by the original schema or emitted
	emitted  map[string]bool       // full names defined so far in the output
	variants map[variantKey]string // (original full name, node) -> full name in the output
}

type variantKey struct {
	name string
	node *piiNode
}

func newSchemaEmitter(s avro.Schema, keyID string) *schemaEmitter {
	e := &schemaEmitter{keyID: keyID, taken: map[string]bool{}, emitted: map[string]bool{}, variants: map[variantKey]string{}}
	collectFullNames(s, e.taken, map[avro.Schema]bool{})
	return e
}

func collectFullNames(s avro.Schema, names map[string]bool, seen map[avro.Schema]bool) {
	s = derefSchema(s)
	if seen[s] {
		return
	}
	seen[s] = true
	if n, ok := s.(avro.NamedSchema); ok {
		names[n.FullName()] = true
	}
	switch t := s.(type) {
	case *avro.RecordSchema:
		for _, f := range t.Fields() {
			collectFullNames(f.Type(), names, seen)
		}
	case *avro.ArraySchema:
		collectFullNames(t.Items(), names, seen)
	case *avro.MapSchema:
		collectFullNames(t.Values(), names, seen)
	case *avro.UnionSchema:
		for _, b := range t.Types() {
			collectFullNames(b, names, seen)
		}
	}
}

func (e *schemaEmitter) emitRoot(s avro.Schema, n *piiNode) (string, error) {
	raw, err := e.emit(s, n)
	return string(raw), err
}

// emit writes the derived form of s, whose changes are n (nil: none).
func (e *schemaEmitter) emit(s avro.Schema, n *piiNode) (json.RawMessage, error) {
	s = derefSchema(s)
	if named, ok := s.(avro.NamedSchema); ok {
		k := variantKey{named.FullName(), n}
		if name, ok := e.variants[k]; ok {
			return json.Marshal(name) // defined before: a reference
		}
		name := named.FullName()
		if e.emitted[name] {
			for i := 2; ; i++ {
				if cand := name + derivedSuffix + strconv.Itoa(i); !e.taken[cand] {
					name = cand
					break
				}
			}
		}
		e.taken[name], e.emitted[name] = true, true
		e.variants[k] = name
		if rec, ok := s.(*avro.RecordSchema); ok {
			return e.record(rec, n, name, name != named.FullName())
		}
		return json.Marshal(s) // enums and fixed never change
	}
	switch t := s.(type) {
	case *avro.ArraySchema:
		return e.container(t, "items", t.Items(), n)
	case *avro.MapSchema:
		return e.container(t, "values", t.Values(), n)
	case *avro.UnionSchema:
		out := make([]json.RawMessage, len(t.Types()))
		for i, br := range t.Types() {
			var bn *piiNode
			if n != nil {
				bn = n.branches[i]
			}
			raw, err := e.emit(br, bn)
			if err != nil {
				return nil, err
			}
			out[i] = raw
		}
		return json.Marshal(out)
	}
	return json.Marshal(s)
}

func (e *schemaEmitter) container(s avro.Schema, key string, inner avro.Schema, n *piiNode) (json.RawMessage, error) {
	m, err := jsonObject(s)
	if err != nil {
		return nil, err
	}
	var en *piiNode
	if n != nil {
		en = n.elem
	}
	if m[key], err = e.emit(inner, en); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

func (e *schemaEmitter) record(rec *avro.RecordSchema, n *piiNode, name string, renamed bool) (json.RawMessage, error) {
	m, err := jsonObject(rec)
	if err != nil {
		return nil, err
	}
	m["name"], _ = json.Marshal(name)
	delete(m, "namespace") // the name is a full name
	if renamed {
		delete(m, "aliases") // the original keeps its aliases; a variant cannot share them
	}
	fields := make([]json.RawMessage, 0, len(rec.Fields()))
	for i, f := range rec.Fields() {
		pf := piiField{mode: schemas.HandlingAllow}
		if n != nil {
			pf = n.fields[i]
		}
		if pf.mode == schemas.HandlingDrop {
			continue
		}
		fm, err := jsonObject(f)
		if err != nil {
			return nil, err
		}
		switch pf.mode {
		case schemas.HandlingAllow:
			if fm["type"], err = e.emit(f.Type(), pf.child); err != nil {
				return nil, err
			}
			if pf.child != nil {
				dropDefault(fm) // the default may name what changed; a writer needs none
			}
		case schemas.HandlingRedact:
			if fm["type"], err = e.emit(f.Type(), nil); err != nil {
				return nil, err
			}
			fm[PropPII], _ = json.Marshal(schemas.HandlingRedact)
		case schemas.HandlingHash:
			switch {
			case pf.hashNull == 0:
				fm["type"] = json.RawMessage(`["null","string"]`)
			case pf.hashNull == 1:
				fm["type"] = json.RawMessage(`["string","null"]`)
			default:
				fm["type"] = json.RawMessage(`"string"`)
			}
			if pf.hashNull != 0 {
				delete(fm, "default")
			} else {
				dropDefault(fm)
			}
			fm[PropPII], _ = json.Marshal(schemas.HandlingHash)
			fm[PropHash], _ = json.Marshal(hashAlgorithm)
			if e.keyID != "" {
				fm[PropHashKeyID], _ = json.Marshal(e.keyID)
			}
		}
		raw, err := json.Marshal(fm)
		if err != nil {
			return nil, err
		}
		fields = append(fields, raw)
	}
	m["fields"], _ = json.Marshal(fields)
	return json.Marshal(m)
}

// dropDefault removes a field's default unless it is null, which stays valid: derived
// unions keep their branch order.
func dropDefault(fm map[string]json.RawMessage) {
	if d, ok := fm["default"]; ok && string(d) != "null" {
		delete(fm, "default")
	}
}

func jsonObject(v any) (map[string]json.RawMessage, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return m, nil
}
