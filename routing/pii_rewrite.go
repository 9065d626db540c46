package routing

// Rewriting Avro data under a PII plan (pii.go), bytes to bytes.

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"slices"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/schemas"
)

// piiWriter rewrites one datum under a plan. It is reused across the events of a
// batch; out is the only allocation per event.
type piiWriter struct {
	c     avroCursor
	out   []byte
	mac   hash.Hash // nil without a key
	sum   []byte
	canon []byte
	depth int
}

func newPIIWriter(key []byte) *piiWriter {
	w := &piiWriter{}
	if key != nil {
		w.mac = hmac.New(sha256.New, key)
	}
	return w
}

// apply returns data rewritten under the plan rooted at n, for schema s.
func (w *piiWriter) apply(s avro.Schema, n *piiNode, data []byte) ([]byte, error) {
	w.c = avroCursor{b: data}
	w.out = make([]byte, 0, len(data)+64)
	w.depth = 0
	if err := w.value(s, n); err != nil {
		return nil, err
	}
	if w.c.off != len(data) {
		return nil, fmt.Errorf("%d bytes after the datum", len(data)-w.c.off)
	}
	return w.out, nil
}

// copyValue copies one value of s unchanged.
func (w *piiWriter) copyValue(s avro.Schema) error {
	start := w.c.off
	if err := w.c.skip(s); err != nil {
		return err
	}
	w.out = append(w.out, w.c.b[start:w.c.off]...)
	return nil
}

func (w *piiWriter) enter() error {
	if w.depth++; w.depth > piiMaxDepth {
		return fmt.Errorf("data nests deeper than %d", piiMaxDepth)
	}
	return nil
}

func (w *piiWriter) value(s avro.Schema, n *piiNode) error {
	if n == nil {
		return w.copyValue(s)
	}
	if err := w.enter(); err != nil {
		return err
	}
	defer func() { w.depth-- }()
	s = derefSchema(s)
	switch n.kind {
	case piiRecord:
		from := w.c.off // start of the run of unchanged fields not yet copied
		for i, f := range n.rec.Fields() {
			pf := &n.fields[i]
			if pf.mode == schemas.HandlingAllow && pf.child == nil {
				if err := w.c.skip(f.Type()); err != nil {
					return err
				}
				continue
			}
			w.out = append(w.out, w.c.b[from:w.c.off]...)
			var err error
			switch pf.mode {
			case schemas.HandlingAllow:
				err = w.value(f.Type(), pf.child)
			case schemas.HandlingDrop:
				err = w.c.skip(f.Type())
			case schemas.HandlingRedact:
				err = w.redact(f.Type())
			case schemas.HandlingHash:
				err = w.hashField(f.Type(), pf)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", f.Name(), err)
			}
			from = w.c.off
		}
		w.out = append(w.out, w.c.b[from:w.c.off]...)
		return nil
	case piiArray:
		a, ok := s.(*avro.ArraySchema)
		if !ok {
			return fmt.Errorf("plan expects an array, schema has a %s", s.Type())
		}
		return w.blocks(func() error { return w.value(a.Items(), n.elem) })
	case piiMap:
		m, ok := s.(*avro.MapSchema)
		if !ok {
			return fmt.Errorf("plan expects a map, schema has a %s", s.Type())
		}
		return w.blocks(func() error {
			start := w.c.off
			if _, err := w.c.lengthPrefixed(); err != nil {
				return err
			}
			w.out = append(w.out, w.c.b[start:w.c.off]...)
			return w.value(m.Values(), n.elem)
		})
	case piiUnion:
		u, ok := s.(*avro.UnionSchema)
		if !ok {
			return fmt.Errorf("plan expects a union, schema has a %s", s.Type())
		}
		i, err := w.branch(u)
		if err != nil {
			return err
		}
		w.out = binary.AppendVarint(w.out, i)
		return w.value(u.Types()[i], n.branches[i])
	}
	return fmt.Errorf("unknown plan node")
}

func (w *piiWriter) branch(u *avro.UnionSchema) (int64, error) {
	i, err := w.c.long()
	if err != nil {
		return 0, err
	}
	if i < 0 || i >= int64(len(u.Types())) {
		return 0, fmt.Errorf("union branch %d out of range", i)
	}
	return i, nil
}

// blocks rewrites the blocks of an array or map, one output block per input block
// (counts are kept, the byte sizes of negative counts are not: sizes change).
func (w *piiWriter) blocks(item func() error) error {
	err := w.eachItem(func(n int64) { w.out = binary.AppendVarint(w.out, n) }, item)
	w.out = append(w.out, 0)
	return err
}

// redact replaces one value of s by its placeholder; a union keeps the branch taken.
func (w *piiWriter) redact(s avro.Schema) error {
	s = derefSchema(s)
	if u, ok := s.(*avro.UnionSchema); ok {
		i, err := w.branch(u)
		if err != nil {
			return err
		}
		w.out = binary.AppendVarint(w.out, i)
		s = derefSchema(u.Types()[i])
	}
	if err := w.c.skip(s); err != nil {
		return err
	}
	var err error
	w.out, err = appendPlaceholder(w.out, s, 0)
	return err
}

// nilUUID is the placeholder of a uuid string: a valid UUID, unlike "".
const nilUUID = "00000000-0000-0000-0000-000000000000"

// appendPlaceholder appends the placeholder value of s: false, 0, 0.0, "", empty
// bytes, zero bytes of a fixed, the first enum symbol, an empty array or map, a record
// of placeholders, and for a union its null or else its first branch's placeholder.
// Logical types follow their underlying type, so timestamps, dates and times become
// the epoch or midnight, decimals zero; a uuid becomes the nil UUID.
func appendPlaceholder(dst []byte, s avro.Schema, depth int) ([]byte, error) {
	if depth > piiMaxDepth {
		return nil, errors.New("a recursive type has no finite placeholder")
	}
	s = derefSchema(s)
	switch t := s.(type) {
	case *avro.NullSchema:
		return dst, nil
	case *avro.PrimitiveSchema:
		switch t.Type() {
		case avro.Float:
			return append(dst, 0, 0, 0, 0), nil
		case avro.Double:
			return append(dst, 0, 0, 0, 0, 0, 0, 0, 0), nil
		case avro.String:
			if l := t.Logical(); l != nil && l.Type() == avro.UUID {
				return append(binary.AppendVarint(dst, int64(len(nilUUID))), nilUUID...), nil
			}
		case avro.Bytes:
			if l := t.Logical(); l != nil && l.Type() == avro.Decimal {
				return append(dst, 2, 0), nil // one byte, 0x00: the decimal 0
			}
		}
		return append(dst, 0), nil // false, 0, "", empty bytes
	case *avro.FixedSchema:
		return append(dst, make([]byte, t.Size())...), nil
	case *avro.EnumSchema, *avro.ArraySchema, *avro.MapSchema:
		return append(dst, 0), nil // first symbol; no items
	case *avro.RecordSchema:
		var err error
		for _, f := range t.Fields() {
			if dst, err = appendPlaceholder(dst, f.Type(), depth+1); err != nil {
				return nil, err
			}
		}
		return dst, nil
	case *avro.UnionSchema:
		for i, br := range t.Types() {
			if derefSchema(br).Type() == avro.Null {
				return binary.AppendVarint(dst, int64(i)), nil
			}
		}
		return appendPlaceholder(append(dst, 0), t.Types()[0], depth+1)
	}
	return nil, fmt.Errorf("no placeholder for a %s", s.Type())
}

// hashField replaces one value by its hash (see hashInput); a null stays null.
func (w *piiWriter) hashField(s avro.Schema, pf *piiField) error {
	if w.mac == nil {
		return errNoHashKey
	}
	s = derefSchema(s)
	if u, ok := s.(*avro.UnionSchema); ok {
		i, err := w.branch(u)
		if err != nil {
			return err
		}
		s = derefSchema(u.Types()[i])
		if s.Type() == avro.Null {
			w.out = binary.AppendVarint(w.out, pf.hashNull)
			return nil
		}
		if pf.hashNull >= 0 {
			w.out = binary.AppendVarint(w.out, pf.hashString)
		}
	}
	var err error
	if w.canon, err = w.hashInput(w.canon[:0], s); err != nil {
		return err
	}
	w.out = w.appendHash(w.out, w.canon)
	return nil
}

var errNoHashKey = errors.New("no hash key is configured (pii.hash_key_file or pii.hash_key)")

// appendHash appends, as an Avro string, the lower-case hex HMAC-SHA256 of input.
func (w *piiWriter) appendHash(dst, input []byte) []byte {
	w.mac.Reset()
	w.mac.Write(input)
	w.sum = w.mac.Sum(w.sum[:0])
	dst = binary.AppendVarint(dst, int64(hex.EncodedLen(len(w.sum))))
	return hex.AppendEncode(dst, w.sum)
}

// hashInput appends the bytes a value of s (not a union) is hashed from: the content
// of a string, bytes or fixed (no length prefix), an enum's symbol, and for every other
// type its canonical Avro binary encoding (canonical). So a string hashes as
// HMAC-SHA256(key, its UTF-8 bytes), reproducible anywhere, and equal values hash
// equally whatever field, union or contract they come from.
func (w *piiWriter) hashInput(dst []byte, s avro.Schema) ([]byte, error) {
	switch t := s.(type) {
	case *avro.PrimitiveSchema:
		if t.Type() == avro.String || t.Type() == avro.Bytes {
			b, err := w.c.lengthPrefixed()
			return append(dst, b...), err
		}
	case *avro.FixedSchema:
		b, err := w.c.take(int64(t.Size()))
		return append(dst, b...), err
	case *avro.EnumSchema:
		i, err := w.c.long()
		if err != nil {
			return nil, err
		}
		if i < 0 || i >= int64(len(t.Symbols())) {
			return nil, fmt.Errorf("enum index %d out of range", i)
		}
		return append(dst, t.Symbols()[i]...), nil
	}
	return w.canonical(dst, s, 0)
}

// canonical appends the canonical Avro binary encoding of one value of s: numbers as
// minimal varints, every array as one block, every map as one block sorted by key, so
// equal values encode (and hash) equally however a producer blocked them.
func (w *piiWriter) canonical(dst []byte, s avro.Schema, depth int) ([]byte, error) {
	if depth > piiMaxDepth {
		return nil, fmt.Errorf("data nests deeper than %d", piiMaxDepth)
	}
	s = derefSchema(s)
	switch t := s.(type) {
	case *avro.NullSchema:
		return dst, nil
	case *avro.PrimitiveSchema:
		switch t.Type() {
		case avro.Int, avro.Long:
			v, err := w.c.long()
			return binary.AppendVarint(dst, v), err
		case avro.String, avro.Bytes:
			b, err := w.c.lengthPrefixed()
			return append(binary.AppendVarint(dst, int64(len(b))), b...), err
		}
	case *avro.EnumSchema:
		v, err := w.c.long()
		return binary.AppendVarint(dst, v), err
	case *avro.UnionSchema:
		i, err := w.branch(t)
		if err != nil {
			return nil, err
		}
		return w.canonical(binary.AppendVarint(dst, i), t.Types()[i], depth+1)
	case *avro.RecordSchema:
		var err error
		for _, f := range t.Fields() {
			if dst, err = w.canonical(dst, f.Type(), depth+1); err != nil {
				return nil, err
			}
		}
		return dst, nil
	case *avro.ArraySchema:
		var items []byte
		n := int64(0)
		err := w.eachItem(nil, func() error {
			var err error
			items, err = w.canonical(items, t.Items(), depth+1)
			n++
			return err
		})
		if err != nil {
			return nil, err
		}
		return appendBlock(dst, n, items), nil
	case *avro.MapSchema:
		type entry struct{ k, v []byte }
		var entries []entry
		err := w.eachItem(nil, func() error {
			k, err := w.c.lengthPrefixed()
			if err != nil {
				return err
			}
			v, err := w.canonical(nil, t.Values(), depth+1)
			entries = append(entries, entry{k, v})
			return err
		})
		if err != nil {
			return nil, err
		}
		slices.SortStableFunc(entries, func(a, b entry) int { return cmp.Compare(string(a.k), string(b.k)) })
		var items []byte
		for _, e := range entries {
			items = append(append(binary.AppendVarint(items, int64(len(e.k))), e.k...), e.v...)
		}
		return appendBlock(dst, int64(len(entries)), items), nil
	}
	// boolean, float, double, fixed: their bytes are canonical already.
	start := w.c.off
	if err := w.c.skip(s); err != nil {
		return nil, err
	}
	return append(dst, w.c.b[start:w.c.off]...), nil
}

func appendBlock(dst []byte, n int64, items []byte) []byte {
	if n > 0 {
		dst = append(binary.AppendVarint(dst, n), items...)
	}
	return append(dst, 0)
}

// eachItem calls item for every item of an array's or map's blocks, and block (when
// not nil) with each block's count first.
func (w *piiWriter) eachItem(block func(n int64), item func() error) error {
	for {
		n, err := w.c.long()
		if err != nil || n == 0 {
			return err
		}
		if n < 0 {
			n = -n
			if _, err := w.c.long(); err != nil {
				return err
			}
		}
		if block != nil {
			block(n)
		}
		for range n {
			before := w.c.off
			if err := item(); err != nil {
				return err
			}
			if w.c.off == before {
				// Zero-width items hold nothing to change or hash, and a count of them
				// could be as large as an int64.
				return errors.New("an array or map of items of no bytes")
			}
		}
	}
}

// hashKey returns the hash of an entity key as fieldAt read it from the key field,
// equal to the hash the field itself gets.
func (w *piiWriter) hashKey(v any) (string, error) {
	if w.mac == nil {
		return "", errNoHashKey
	}
	var in []byte
	switch k := v.(type) {
	case string:
		in = []byte(k)
	case []byte:
		in = k
	case int32:
		in = binary.AppendVarint(nil, int64(k))
	case int64:
		in = binary.AppendVarint(nil, k)
	default:
		return "", fmt.Errorf("a key of type %T cannot be hashed", v)
	}
	out := w.appendHash(nil, in)
	_, n := binary.Varint(out)
	return string(out[n:]), nil
}
