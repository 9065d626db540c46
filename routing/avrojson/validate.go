package avrojson

import (
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
)

// maxZeroWidthItems bounds the items of an array whose item type encodes to nothing
// (null, fixed(0), records of such): their count costs no bytes, so without a bound a
// few bytes could announce 2^62 of them to whoever decodes the data.
const maxZeroWidthItems = 1 << 20

// Validate checks that data is exactly one valid Avro binary datum of schema: every
// value well-formed (varints terminated and within range for int or long, lengths
// non-negative and within the buffer, union index in range, enum index in range,
// booleans 0 or 1, strings and map keys valid UTF-8, fixed sizes, array and map block
// byte sizes matching their items, uuid strings in canonical form, decimals within
// their precision), and no trailing bytes. Errors are *FieldError with the path of the
// offending value.
func Validate(schema avro.Schema, data []byte) error {
	c, err := codecFor(schema)
	if err != nil {
		return err
	}
	return c.Validate(data)
}

// Validate is the package-level Validate for this compiled schema.
func (c *Codec) Validate(data []byte) error {
	p, e := validate(c.root, data, 0)
	if e != nil {
		return e.fieldError()
	}
	if p != len(data) {
		return &FieldError{Reason: fmt.Sprintf("%d trailing byte(s) after the datum", len(data)-p)}
	}
	return nil
}

func eof(what string) *encErr {
	return errf("unexpected end of data reading " + what)
}

// readLong reads a zigzag varint of at most 10 bytes whose value fits in 64 bits.
func readLong(d []byte, p int, what string) (int64, int, *encErr) {
	var u uint64
	for k := uint(0); k < 10; k++ {
		if p >= len(d) {
			return 0, p, eof(what)
		}
		b := d[p]
		p++
		if k == 9 && b > 1 {
			return 0, p, errf("varint overflows a long reading " + what)
		}
		u |= uint64(b&0x7f) << (7 * k)
		if b < 0x80 {
			return int64(u>>1) ^ -int64(u&1), p, nil
		}
	}
	return 0, p, errf("varint overflows a long reading " + what) // not reached
}

// readInt reads a zigzag varint of at most 5 bytes whose value fits in 32 bits.
func readInt(d []byte, p int, what string) (int64, int, *encErr) {
	var u uint64
	for k := uint(0); k < 5; k++ {
		if p >= len(d) {
			return 0, p, eof(what)
		}
		b := d[p]
		p++
		if k == 4 && b > 0x0f {
			return 0, p, errf("varint overflows an int reading " + what)
		}
		u |= uint64(b&0x7f) << (7 * k)
		if b < 0x80 {
			return int64(u>>1) ^ -int64(u&1), p, nil
		}
	}
	return 0, p, errf("varint overflows an int reading " + what) // not reached
}

// readLength reads a bytes or string length and checks it against the data left.
func readLength(d []byte, p int, what string) (int, int, *encErr) {
	l, p, e := readLong(d, p, what+" length")
	if e != nil {
		return 0, p, e
	}
	if l < 0 {
		return 0, p, errf(fmt.Sprintf("negative %s length %d", what, l))
	}
	if l > int64(len(d)-p) {
		return 0, p, errf(fmt.Sprintf("%s length %d exceeds the %d byte(s) left (unexpected end of data)", what, l, len(d)-p))
	}
	return int(l), p, nil
}

// validate checks the value of n at d[p:] and returns the position after it.
func validate(n *node, d []byte, p int) (int, *encErr) {
	switch n.kind {
	case kNull:
		return p, nil
	case kBoolean:
		if p >= len(d) {
			return p, eof("boolean")
		}
		if d[p] > 1 {
			return p, errf(fmt.Sprintf("invalid boolean byte 0x%02x", d[p]))
		}
		return p + 1, nil
	case kInt:
		_, p, e := readInt(d, p, n.typeName())
		return p, e
	case kLong:
		_, p, e := readLong(d, p, n.typeName())
		return p, e
	case kFloat:
		if len(d)-p < 4 {
			return p, eof("float")
		}
		return p + 4, nil
	case kDouble:
		if len(d)-p < 8 {
			return p, eof("double")
		}
		return p + 8, nil
	case kString:
		l, p, e := readLength(d, p, "string")
		if e != nil {
			return p, e
		}
		s := d[p : p+l]
		if !utf8.Valid(s) {
			return p, errf("string is not valid UTF-8")
		}
		if n.logical == lUUID && !validUUID(s) {
			return p, errf("expected a UUID (8-4-4-4-12 hex digits) for " + n.typeName() + ", got " + quote(s))
		}
		return p + l, nil
	case kBytes:
		l, p, e := readLength(d, p, "bytes")
		if e != nil {
			return p, e
		}
		if n.logical == lDecimal {
			if e := checkDecimal(n, d[p:p+l]); e != nil {
				return p, e
			}
		}
		return p + l, nil
	case kFixed:
		if len(d)-p < n.size {
			return p, eof(n.name + " (fixed " + itoa(n.size) + ")")
		}
		if n.logical == lDecimal {
			if e := checkDecimal(n, d[p:p+n.size]); e != nil {
				return p, e
			}
		}
		return p + n.size, nil
	case kEnum:
		idx, p, e := readInt(d, p, "enum "+n.name)
		if e != nil {
			return p, e
		}
		if idx < 0 || idx >= int64(len(n.symbols)) {
			return p, errf(fmt.Sprintf("enum index %d out of range for %s (%d symbols)", idx, n.name, len(n.symbols)))
		}
		return p, nil
	case kArray, kMap:
		return validateBlocks(n, d, p)
	case kRecord:
		for k := range n.fields {
			f := &n.fields[k]
			var e *encErr
			if p, e = validate(f.typ, d, p); e != nil {
				return p, e.inField(f.name)
			}
		}
		return p, nil
	case kUnion:
		idx, p, e := readLong(d, p, "union branch index")
		if e != nil {
			return p, e
		}
		if idx < 0 || idx >= int64(len(n.branches)) {
			return p, errf(fmt.Sprintf("union branch index %d out of range for %s", idx, n.typeList))
		}
		return validate(n.branches[idx], d, p)
	}
	return p, errf("unsupported schema node") // not reached
}

func checkDecimal(n *node, b []byte) *encErr {
	if digits := decimalDigits(b); digits > n.precision {
		return errf(fmt.Sprintf("decimal unscaled value has %d digits, more than the precision of %s", digits, n.typeName()))
	}
	return nil
}

// validateBlocks checks the blocks of an array or map: each a count (negative when
// followed by the block's byte size) and that many items, until a zero count.
func validateBlocks(n *node, d []byte, p int) (int, *encErr) {
	what := n.name // "array" or "map"
	item := 0
	zeroWidth := n.kind == kArray && n.items.minSize == 0
	for {
		count, np, e := readLong(d, p, what+" block count")
		if e != nil {
			return np, e
		}
		p = np
		if count == 0 {
			return p, nil
		}
		size := int64(-1)
		if count < 0 {
			if count == math.MinInt64 {
				return p, errf(what + " block count out of range")
			}
			count = -count
			if size, p, e = readLong(d, p, what+" block byte size"); e != nil {
				return p, e
			}
			if size < 0 || size > int64(len(d)-p) {
				return p, errf(fmt.Sprintf("%s block byte size %d is invalid with %d byte(s) left", what, size, len(d)-p))
			}
		}
		start := p
		if zeroWidth {
			if count > maxZeroWidthItems-int64(item) {
				return p, errf(fmt.Sprintf("%s has more than %d items that encode to nothing", what, maxZeroWidthItems))
			}
			item += int(count)
		} else {
			// Every item takes at least one byte, so a count beyond the data ends in an
			// "unexpected end of data" at the first missing item, with its path.
			for range count {
				if n.kind == kArray {
					if p, e = validate(n.items, d, p); e != nil {
						return p, e.inIndex(item)
					}
				} else {
					l, kp, e := readLength(d, p, "map key")
					if e != nil {
						e.reason = fmt.Sprintf("entry %d: %s", item, e.reason)
						return kp, e
					}
					key := d[kp : kp+l]
					if !utf8.Valid(key) {
						return kp, errf(fmt.Sprintf("entry %d: map key is not valid UTF-8", item))
					}
					if p, e = validate(n.items, d, kp+l); e != nil {
						return p, e.inKey(key)
					}
				}
				item++
			}
		}
		if size >= 0 && int64(p-start) != size {
			return p, errf(fmt.Sprintf("%s block byte size %d does not match its items (%d bytes)", what, size, p-start))
		}
	}
}
