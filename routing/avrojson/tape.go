package avrojson

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The encoder works on a tape: a JSON value flattened into one slice of nodes, in
// document order. EncodeJSON fills it by tokenising the raw text (strings without
// escapes point into the text, so nothing is copied); Encode fills it from decoded Go
// values. One encoder then serves both.

type jkind uint8

const (
	jNull jkind = iota
	jFalse
	jTrue
	jNumber
	jString
	jObject
	jArray
	jInvalid // a Go value that is not a decoded JSON value; its description is the span
)

// tnode is one tape entry. Scalars (numbers, strings, jInvalid) have their text at
// [off,end) of the tape's src, or of its aux when inAux. Objects and arrays have their
// member (or item) count in off and, in end, the index just past their last
// descendant. An object's members follow it as key, value, key, value, ...
type tnode struct {
	kind  jkind
	inAux bool
	off   uint32
	end   uint32
}

type tape struct {
	src   []byte
	aux   []byte
	nodes []tnode

	// work counts encode steps against limit: trying union branches may visit a value
	// more than once, and nested unions could otherwise make that exponential.
	work, limit int
}

// workFactor is how many times, on average, the encoder may visit each JSON value.
const workFactor = 32

// maxDepth bounds the nesting of JSON input (the same bound as encoding/json).
const maxDepth = 10000

// maxInput bounds the size of raw JSON input (offsets are 32-bit).
const maxInput = math.MaxUint32 - 1

func (t *tape) reset() {
	t.src, t.aux, t.nodes = nil, t.aux[:0], t.nodes[:0]
	t.work, t.limit = 0, 0
}

// text returns the content of a scalar node: a string's unescaped bytes, a number's
// literal.
func (t *tape) text(i int) []byte {
	n := t.nodes[i]
	if n.inAux {
		return t.aux[n.off:n.end]
	}
	return t.src[n.off:n.end]
}

// next returns the index of the node after node i and its descendants.
func (t *tape) next(i int) int {
	n := t.nodes[i]
	if n.kind == jObject || n.kind == jArray {
		return int(n.end)
	}
	return i + 1
}

// kindName names a JSON value's type in messages.
func (t *tape) kindName(i int) string {
	switch t.nodes[i].kind {
	case jNull:
		return "null"
	case jFalse, jTrue:
		return "boolean"
	case jNumber:
		return "number"
	case jString:
		return "string"
	case jObject:
		return "object"
	case jArray:
		return "array"
	default:
		return string(t.text(i))
	}
}

// ---- tokenising raw JSON ----

type syntaxError struct {
	msg string
	off int
}

func (t *tape) parse(src []byte) *encErr {
	if len(src) > maxInput {
		return errf("invalid JSON: input too large")
	}
	t.src = src
	p, se := t.value(skipSpace(src, 0), 0)
	if se == nil {
		p = skipSpace(src, p)
		if p < len(src) {
			se = &syntaxError{"unexpected data after the top-level value", p}
		}
	}
	if se != nil {
		return errf(fmt.Sprintf("invalid JSON: %s at offset %d", se.msg, se.off))
	}
	return nil
}

func skipSpace(s []byte, p int) int {
	for p < len(s) {
		switch s[p] {
		case ' ', '\t', '\n', '\r':
			p++
		default:
			return p
		}
	}
	return p
}

func unexpected(s []byte, p int, what string) *syntaxError {
	if p >= len(s) {
		return &syntaxError{"unexpected end of input, expecting " + what, p}
	}
	return &syntaxError{fmt.Sprintf("unexpected %q, expecting %s", s[p], what), p}
}

// value tokenises the value starting at s[p] (after white space) and returns the
// position just past it.
func (t *tape) value(p, depth int) (int, *syntaxError) {
	s := t.src
	if p >= len(s) {
		return p, unexpected(s, p, "a value")
	}
	switch c := s[p]; {
	case c == '"':
		return t.str(p)
	case c == '-' || (c >= '0' && c <= '9'):
		end := scanNumber(s, p)
		if end < 0 {
			return p, &syntaxError{"malformed number", p}
		}
		t.nodes = append(t.nodes, tnode{kind: jNumber, off: uint32(p), end: uint32(end)})
		return end, nil
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return p, &syntaxError{"nesting too deep", p}
		}
		return t.container(p, depth+1)
	case c == 't':
		return t.literal(p, "true", jTrue)
	case c == 'f':
		return t.literal(p, "false", jFalse)
	case c == 'n':
		return t.literal(p, "null", jNull)
	}
	return p, unexpected(s, p, "a value")
}

func (t *tape) literal(p int, lit string, k jkind) (int, *syntaxError) {
	if len(t.src)-p < len(lit) || string(t.src[p:p+len(lit)]) != lit {
		return p, &syntaxError{"invalid literal, expecting " + lit, p}
	}
	t.nodes = append(t.nodes, tnode{kind: k})
	return p + len(lit), nil
}

func (t *tape) container(p, depth int) (int, *syntaxError) {
	s := t.src
	obj := s[p] == '{'
	k, closer := jArray, byte(']')
	if obj {
		k, closer = jObject, '}'
	}
	idx := len(t.nodes)
	t.nodes = append(t.nodes, tnode{kind: k})
	count := uint32(0)
	p = skipSpace(s, p+1)
	if p < len(s) && s[p] == closer {
		t.nodes[idx].end = uint32(len(t.nodes))
		return p + 1, nil
	}
	for {
		var se *syntaxError
		if obj {
			if p >= len(s) || s[p] != '"' {
				return p, unexpected(s, p, "a string (object key)")
			}
			if p, se = t.str(p); se != nil {
				return p, se
			}
			p = skipSpace(s, p)
			if p >= len(s) || s[p] != ':' {
				return p, unexpected(s, p, "':'")
			}
			p = skipSpace(s, p+1)
		}
		if p, se = t.value(p, depth); se != nil {
			return p, se
		}
		count++
		p = skipSpace(s, p)
		if p < len(s) && s[p] == ',' {
			p = skipSpace(s, p+1)
			continue
		}
		if p < len(s) && s[p] == closer {
			t.nodes[idx].off = count
			t.nodes[idx].end = uint32(len(t.nodes))
			return p + 1, nil
		}
		return p, unexpected(s, p, "',' or '"+string(closer)+"'")
	}
}

// scanNumber returns the end of the JSON number starting at s[p], or -1 if it is
// malformed.
func scanNumber(s []byte, p int) int {
	if p < len(s) && s[p] == '-' {
		p++
	}
	switch {
	case p < len(s) && s[p] == '0':
		p++
	case p < len(s) && s[p] >= '1' && s[p] <= '9':
		for p++; p < len(s) && s[p] >= '0' && s[p] <= '9'; p++ {
		}
	default:
		return -1
	}
	if p < len(s) && s[p] == '.' {
		p++
		if p >= len(s) || s[p] < '0' || s[p] > '9' {
			return -1
		}
		for p++; p < len(s) && s[p] >= '0' && s[p] <= '9'; p++ {
		}
	}
	if p < len(s) && (s[p] == 'e' || s[p] == 'E') {
		p++
		if p < len(s) && (s[p] == '+' || s[p] == '-') {
			p++
		}
		if p >= len(s) || s[p] < '0' || s[p] > '9' {
			return -1
		}
		for p++; p < len(s) && s[p] >= '0' && s[p] <= '9'; p++ {
		}
	}
	return p
}

// str tokenises the string starting at the quote s[p].
func (t *tape) str(p int) (int, *syntaxError) {
	s := t.src
	start := p + 1
	ascii := true
	for i := start; i < len(s); i++ {
		c := s[i]
		if plainChar[c] {
			continue
		}
		switch {
		case c == '"':
			if !ascii && !utf8.Valid(s[start:i]) {
				return i, &syntaxError{"invalid UTF-8 in string", start}
			}
			t.nodes = append(t.nodes, tnode{kind: jString, off: uint32(start), end: uint32(i)})
			return i + 1, nil
		case c == '\\':
			return t.escapedStr(start, i)
		case c < 0x20:
			return i, &syntaxError{"control character in string", i}
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return len(s), &syntaxError{"unterminated string", p}
}

// escapedStr finishes a string that has escapes, unescaping it into aux. s[start:i]
// has no escapes; s[i] is the first backslash.
func (t *tape) escapedStr(start, i int) (int, *syntaxError) {
	s := t.src
	off := len(t.aux)
	t.aux = append(t.aux, s[start:i]...)
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			if !utf8.Valid(t.aux[off:]) {
				return i, &syntaxError{"invalid UTF-8 in string", start}
			}
			t.nodes = append(t.nodes, tnode{kind: jString, inAux: true, off: uint32(off), end: uint32(len(t.aux))})
			return i + 1, nil
		case c < 0x20:
			return i, &syntaxError{"control character in string", i}
		case c != '\\':
			t.aux = append(t.aux, c)
			i++
			continue
		}
		if i+1 >= len(s) {
			break
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			t.aux = append(t.aux, e)
		case 'b':
			t.aux = append(t.aux, '\b')
		case 'f':
			t.aux = append(t.aux, '\f')
		case 'n':
			t.aux = append(t.aux, '\n')
		case 'r':
			t.aux = append(t.aux, '\r')
		case 't':
			t.aux = append(t.aux, '\t')
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				return i, &syntaxError{"invalid \\u escape", i}
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// A high surrogate followed by a low one is one code point; anything else
				// is a lone surrogate, replaced by U+FFFD as encoding/json does.
				if r2, ok := hex4(s, i+2); ok && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						t.aux = utf8.AppendRune(t.aux, dec)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			t.aux = utf8.AppendRune(t.aux, r)
			continue
		default:
			return i, &syntaxError{"invalid escape", i}
		}
		i += 2
	}
	return len(s), &syntaxError{"unterminated string", start - 1}
}

// plainChar marks the bytes a string can hold that need no attention: printable
// ASCII other than the quote and the backslash.
var plainChar = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func hex4(s []byte, p int) (rune, bool) {
	if p+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[p : p+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// ---- building a tape from decoded Go values ----

// load puts a decoded JSON value on the tape. It accepts what encoding/json produces
// (nil, bool, string, json.Number, float64, map[string]any, []any) and Go integers and
// float32. Anything else, an invalid json.Number, a non-finite float or a string that
// is not valid UTF-8 becomes a jInvalid node, reported (with its path) when the encoder
// reaches it.
func (t *tape) load(v any, depth int) {
	if depth > maxDepth {
		t.invalid("value nested too deep")
		return
	}
	switch x := v.(type) {
	case nil:
		t.nodes = append(t.nodes, tnode{kind: jNull})
	case bool:
		if x {
			t.nodes = append(t.nodes, tnode{kind: jTrue})
		} else {
			t.nodes = append(t.nodes, tnode{kind: jFalse})
		}
	case string:
		if !utf8.ValidString(x) {
			t.invalid("string with invalid UTF-8")
			return
		}
		t.scalar(jString, x)
	case json.Number:
		if len(x) == 0 || scanNumber([]byte(x), 0) != len(x) {
			t.invalid("invalid json.Number " + strconv.Quote(string(x)))
			return
		}
		t.scalar(jNumber, string(x))
	case float64:
		t.float(x, 64)
	case float32:
		t.float(float64(x), 32)
	case int:
		t.scalarBytes(jNumber, strconv.AppendInt(t.aux, int64(x), 10))
	case int8:
		t.scalarBytes(jNumber, strconv.AppendInt(t.aux, int64(x), 10))
	case int16:
		t.scalarBytes(jNumber, strconv.AppendInt(t.aux, int64(x), 10))
	case int32:
		t.scalarBytes(jNumber, strconv.AppendInt(t.aux, int64(x), 10))
	case int64:
		t.scalarBytes(jNumber, strconv.AppendInt(t.aux, x, 10))
	case uint:
		t.scalarBytes(jNumber, strconv.AppendUint(t.aux, uint64(x), 10))
	case uint8:
		t.scalarBytes(jNumber, strconv.AppendUint(t.aux, uint64(x), 10))
	case uint16:
		t.scalarBytes(jNumber, strconv.AppendUint(t.aux, uint64(x), 10))
	case uint32:
		t.scalarBytes(jNumber, strconv.AppendUint(t.aux, uint64(x), 10))
	case uint64:
		t.scalarBytes(jNumber, strconv.AppendUint(t.aux, x, 10))
	case []any:
		idx := len(t.nodes)
		t.nodes = append(t.nodes, tnode{kind: jArray, off: uint32(len(x))})
		for _, item := range x {
			t.load(item, depth+1)
		}
		t.nodes[idx].end = uint32(len(t.nodes))
	case map[string]any:
		idx := len(t.nodes)
		t.nodes = append(t.nodes, tnode{kind: jObject, off: uint32(len(x))})
		// Sorted keys make the encoding of Avro maps deterministic.
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !utf8.ValidString(k) {
				t.invalid("key with invalid UTF-8")
			} else {
				t.scalar(jString, k)
			}
			t.load(x[k], depth+1)
		}
		t.nodes[idx].end = uint32(len(t.nodes))
	default:
		t.invalid(fmt.Sprintf("unsupported Go type %s", reflect.TypeOf(v)))
	}
}

func (t *tape) float(f float64, bits int) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		t.invalid("non-finite float " + strconv.FormatFloat(f, 'g', -1, bits))
		return
	}
	t.scalarBytes(jNumber, strconv.AppendFloat(t.aux, f, 'g', -1, bits))
}

func (t *tape) scalar(k jkind, s string) {
	off := len(t.aux)
	t.aux = append(t.aux, s...)
	t.nodes = append(t.nodes, tnode{kind: k, inAux: true, off: uint32(off), end: uint32(len(t.aux))})
}

// scalarBytes records a scalar whose text was just appended to t.aux (aux is the
// extended slice).
func (t *tape) scalarBytes(k jkind, aux []byte) {
	off := len(t.aux)
	t.aux = aux
	t.nodes = append(t.nodes, tnode{kind: k, inAux: true, off: uint32(off), end: uint32(len(t.aux))})
}

func (t *tape) invalid(desc string) {
	off := len(t.aux)
	t.aux = append(t.aux, desc...)
	t.nodes = append(t.nodes, tnode{kind: jInvalid, inAux: true, off: uint32(off), end: uint32(len(t.aux))})
}
