package avrojson

import (
	"encoding/json"
	"math"
	"strings"
	"sync"

	"github.com/hamba/avro/v2"
)

// Encode validates a JSON value against schema and appends its Avro binary encoding to
// dst. The value must be as encoding/json decodes into any with
// json.Decoder.UseNumber: nil, bool, string, json.Number, []any and map[string]any
// (float64, float32 and Go integers are accepted too), or raw JSON text as a
// json.RawMessage or []byte (then it is EncodeJSON). On error dst is returned unchanged
// with a *FieldError.
func Encode(dst []byte, schema avro.Schema, value any) ([]byte, error) {
	c, err := codecFor(schema)
	if err != nil {
		return dst, err
	}
	return c.Encode(dst, value)
}

// EncodeJSON decodes raw JSON (numbers kept exact, as with UseNumber) and encodes it
// like Encode. The text must be one JSON value (white space around it is fine) in valid
// UTF-8. Unlike encoding/json it rejects duplicate object keys.
func EncodeJSON(dst []byte, schema avro.Schema, raw []byte) ([]byte, error) {
	c, err := codecFor(schema)
	if err != nil {
		return dst, err
	}
	return c.EncodeJSON(dst, raw)
}

var tapePool = sync.Pool{New: func() any { return new(tape) }}

// maxPooledAux and maxPooledNodes keep one huge input from pinning its buffers.
const (
	maxPooledAux   = 64 << 10
	maxPooledNodes = 16 << 10
)

func putTape(t *tape) {
	if cap(t.aux) > maxPooledAux || cap(t.nodes) > maxPooledNodes {
		return
	}
	t.reset()
	tapePool.Put(t)
}

// Encode is the package-level Encode for this compiled schema.
func (c *Codec) Encode(dst []byte, value any) ([]byte, error) {
	switch raw := value.(type) {
	case json.RawMessage:
		return c.EncodeJSON(dst, raw)
	case []byte:
		return c.EncodeJSON(dst, raw)
	}
	t := tapePool.Get().(*tape)
	defer putTape(t)
	t.load(value, 0)
	return t.encodeRoot(dst, c.root)
}

// EncodeJSON is the package-level EncodeJSON for this compiled schema.
func (c *Codec) EncodeJSON(dst []byte, raw []byte) ([]byte, error) {
	t := tapePool.Get().(*tape)
	defer putTape(t)
	if e := t.parse(raw); e != nil {
		return dst, e.fieldError()
	}
	return t.encodeRoot(dst, c.root)
}

func (t *tape) encodeRoot(dst []byte, root *node) ([]byte, error) {
	t.work, t.limit = 0, workFactor*len(t.nodes)+1024
	out, e := t.encode(dst, root, 0)
	if e != nil {
		if t.work > t.limit {
			return dst, &FieldError{Reason: errTooComplex}
		}
		return dst, e.fieldError()
	}
	return out, nil
}

const errTooComplex = "value too complex: matching it against the schema's unions exceeded the work limit"

func mismatch(n *node, t *tape, i int) *encErr {
	return errf("expected " + n.typeName() + ", got " + t.kindName(i))
}

// encode appends the encoding of tape node i as a value of n.
func (t *tape) encode(dst []byte, n *node, i int) ([]byte, *encErr) {
	if t.work++; t.work > t.limit {
		return nil, errf(errTooComplex)
	}
	v := t.nodes[i]
	switch n.kind {
	case kNull:
		if v.kind == jNull {
			return dst, nil
		}
	case kBoolean:
		switch v.kind {
		case jTrue:
			return append(dst, 1), nil
		case jFalse:
			return append(dst, 0), nil
		}
	case kInt, kLong:
		lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
		if n.kind == kInt {
			lo, hi = math.MinInt32, math.MaxInt32
		}
		var x int64
		var e *encErr
		switch {
		case v.kind == jNumber:
			x, e = parseInteger(t.text(i), lo, hi, n.typeName())
		case v.kind == jString && n.logical != lNone:
			x, e = t.temporal(n, i)
			if e == nil && (x < lo || x > hi) {
				e = errf(quote(t.text(i)) + " is out of range for " + n.typeName())
			}
		default:
			return nil, mismatch(n, t, i)
		}
		if e != nil {
			return nil, e
		}
		return appendLong(dst, x), nil
	case kFloat, kDouble:
		if v.kind != jNumber && v.kind != jString {
			break
		}
		bits := 64
		if n.kind == kFloat {
			bits = 32
		}
		f, e := parseFloat(t.text(i), v.kind == jString, bits, n.typeName())
		if e != nil {
			return nil, e
		}
		if n.kind == kFloat {
			return appendFloat(dst, float32(f)), nil
		}
		return appendDouble(dst, f), nil
	case kString:
		if v.kind != jString {
			break
		}
		s := t.text(i)
		if n.logical == lUUID && !validUUID(s) {
			return nil, errf("expected a UUID (8-4-4-4-12 hex digits) for " + n.typeName() + ", got " + quote(s))
		}
		dst = appendLong(dst, int64(len(s)))
		return append(dst, s...), nil
	case kBytes, kFixed:
		if n.logical == lDecimal {
			switch v.kind {
			case jNumber:
				return appendDecimal(dst, n, t.text(i), false)
			case jString:
				return appendDecimal(dst, n, t.text(i), true)
			}
			break
		}
		if v.kind != jString {
			break
		}
		s := t.text(i)
		size, e := codePointLen(s)
		if e != nil {
			return nil, e
		}
		if n.kind == kFixed {
			if size != n.size {
				return nil, errf("expected " + itoa(n.size) + " bytes for " + n.typeName() + ", got " + itoa(size))
			}
		} else {
			dst = appendLong(dst, int64(size))
		}
		if size == len(s) {
			return append(dst, s...), nil
		}
		return appendCodePoints(dst, s)
	case kEnum:
		if v.kind != jString {
			break
		}
		s := t.text(i)
		idx := n.symbolIndex(s)
		if idx < 0 {
			return nil, errf("unknown symbol " + quote(s) + " for enum " + n.name + " (allowed: " + strings.Join(n.symbols, ", ") + ")")
		}
		return appendLong(dst, int64(idx)), nil
	case kArray:
		if v.kind != jArray {
			break
		}
		if v.off > 0 {
			dst = appendLong(dst, int64(v.off))
			j := i + 1
			for k := 0; k < int(v.off); k++ {
				var e *encErr
				if dst, e = t.encode(dst, n.items, j); e != nil {
					return nil, e.inIndex(k)
				}
				j = t.next(j)
			}
		}
		return append(dst, 0), nil
	case kMap:
		if v.kind != jObject {
			break
		}
		if v.off > 0 {
			dst = appendLong(dst, int64(v.off))
			var seen map[string]struct{}
			if v.off > linearLimit*2 {
				seen = make(map[string]struct{}, v.off)
			}
			j := i + 1
			for k := 0; k < int(v.off); k++ {
				if t.nodes[j].kind != jString {
					return nil, errf("map key is " + t.kindName(j))
				}
				key := t.text(j)
				dup := false
				if seen != nil {
					_, dup = seen[string(key)]
					seen[string(key)] = struct{}{}
				} else if k > 0 {
					dup = t.duplicateKey(i, j)
				}
				if dup {
					return nil, errf("duplicate key").inKey(key)
				}
				dst = appendLong(dst, int64(len(key)))
				dst = append(dst, key...)
				var e *encErr
				if dst, e = t.encode(dst, n.items, j+1); e != nil {
					return nil, e.inKey(key)
				}
				j = t.next(j + 1)
			}
		}
		return append(dst, 0), nil
	case kRecord:
		if v.kind != jObject {
			break
		}
		return t.encodeRecord(dst, n, i)
	case kUnion:
		return t.encodeUnion(dst, n, i)
	}
	return nil, mismatch(n, t, i)
}

// temporal converts the string at tape node i for a date/time logical type.
func (t *tape) temporal(n *node, i int) (int64, *encErr) {
	s := t.text(i)
	name := n.typeName()
	switch n.logical {
	case lTimestampMillis:
		return parseTimestamp(s, false, 1e3, name)
	case lTimestampMicros:
		return parseTimestamp(s, false, 1e6, name)
	case lLocalTimestampMillis:
		return parseTimestamp(s, true, 1e3, name)
	case lLocalTimestampMicros:
		return parseTimestamp(s, true, 1e6, name)
	case lDate:
		return parseDate(s, name)
	case lTimeMillis:
		return parseTimeOfDay(s, 1e3, name)
	case lTimeMicros:
		return parseTimeOfDay(s, 1e6, name)
	}
	return 0, mismatch(n, t, i)
}

// duplicateKey reports whether the key at node j repeats an earlier key of object i.
func (t *tape) duplicateKey(obj, j int) bool {
	key := t.text(j)
	for k := obj + 1; k < j; k = t.next(k + 1) {
		if string(t.text(k)) == string(key) {
			return true
		}
	}
	return false
}

func (t *tape) encodeRecord(dst []byte, n *node, i int) ([]byte, *encErr) {
	var buf [32]int32
	var slots []int32
	if len(n.fields) <= len(buf) {
		slots = buf[:len(n.fields)]
	} else {
		slots = make([]int32, len(n.fields))
	}
	for k := range slots {
		slots[k] = -1
	}
	members := int(t.nodes[i].off)
	j := i + 1
	hint := 0
	for range members {
		if t.nodes[j].kind != jString {
			return nil, errf("field name is " + t.kindName(j))
		}
		key := t.text(j)
		f := n.fieldIndex(key, hint)
		hint = f + 1
		if f < 0 {
			return nil, errf("unknown field").inField(string(key))
		}
		if slots[f] >= 0 {
			return nil, errf("duplicate field").inField(string(key))
		}
		slots[f] = int32(j + 1)
		j = t.next(j + 1)
	}
	for k := range n.fields {
		f := &n.fields[k]
		if slots[k] < 0 {
			if !f.hasDef {
				return nil, errf("required field is missing").inField(f.name)
			}
			dst = append(dst, f.def...)
			continue
		}
		var e *encErr
		if dst, e = t.encode(dst, f.typ, int(slots[k])); e != nil {
			return nil, e.inField(f.name)
		}
	}
	return dst, nil
}

// accepts reports whether a value of JSON kind k can possibly be encoded as n, so that
// union branches that cannot match are skipped without building an error.
func accepts(n *node, k jkind) bool {
	switch n.kind {
	case kNull:
		return k == jNull
	case kBoolean:
		return k == jTrue || k == jFalse
	case kInt, kLong:
		return k == jNumber || (k == jString && n.logical != lNone)
	case kFloat, kDouble:
		return k == jNumber || k == jString
	case kString, kEnum:
		return k == jString
	case kBytes, kFixed:
		return k == jString || (k == jNumber && n.logical == lDecimal)
	case kArray:
		return k == jArray
	case kMap, kRecord:
		return k == jObject
	}
	return false
}

func (t *tape) encodeUnion(dst []byte, n *node, i int) ([]byte, *encErr) {
	v := t.nodes[i]
	if v.kind == jNull {
		if n.nullIdx < 0 {
			return nil, errf("null is not allowed: union " + n.typeList + " has no null branch")
		}
		return appendLong(dst, int64(n.nullIdx)), nil
	}
	mark := len(dst)

	// The Avro JSON form {"<branch name>": value} names the branch explicitly.
	var explicit *encErr
	if v.kind == jObject && v.off == 1 {
		if b := n.branchByName(t.text(i + 1)); b >= 0 {
			out, e := t.encode(appendLong(dst, int64(b)), n.branches[b], i+2)
			if e == nil {
				return out, nil
			}
			explicit = e
			dst = dst[:mark]
		}
	}

	// Otherwise the first branch that accepts the plain value.
	var errs []*encErr
	tried := 0
	var only *encErr
	for b, br := range n.branches {
		if !accepts(br, v.kind) {
			continue
		}
		out, e := t.encode(appendLong(dst, int64(b)), br, i)
		if e == nil {
			return out, nil
		}
		dst = dst[:mark]
		if errs == nil {
			errs = make([]*encErr, len(n.branches))
		}
		errs[b] = e
		tried++
		only = e
	}
	if explicit != nil {
		return nil, explicit
	}
	if tried == 1 {
		// One branch could take this kind of value: its error is the precise one.
		return nil, only
	}
	var msg strings.Builder
	msg.WriteString("no branch of union ")
	msg.WriteString(n.typeList)
	msg.WriteString(" accepts the ")
	msg.WriteString(t.kindName(i))
	msg.WriteString(" value")
	sep := ": "
	for b, br := range n.branches {
		msg.WriteString(sep)
		sep = "; "
		msg.WriteString(br.name)
		msg.WriteString(": ")
		if errs != nil && errs[b] != nil {
			msg.WriteString(errs[b].brief())
		} else {
			msg.WriteString("expected " + br.typeName() + ", got " + t.kindName(i))
		}
	}
	return nil, errf(msg.String())
}
