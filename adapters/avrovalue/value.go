package avrovalue

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"sort"
	"time"
)

// Record is a decoded Avro record: its full name and fields in schema order.
type Record struct {
	Name   string
	Fields []Field
}

// Field is one field of a Record.
type Field struct {
	Name  string
	Value any
}

// Get returns the value of the named field.
func (r *Record) Get(name string) (any, bool) {
	for _, f := range r.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return nil, false
}

// Decimal is an Avro decimal: Unscaled × 10^-Scale.
type Decimal struct {
	Unscaled  *big.Int
	Scale     int
	Precision int
}

// Rat returns the decimal's exact value.
func (d Decimal) Rat() *big.Rat {
	r := new(big.Rat).SetInt(d.unscaled())
	if d.Scale > 0 {
		r.Quo(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale)), nil)))
	}
	return r
}

func (d Decimal) unscaled() *big.Int {
	if d.Unscaled == nil {
		return new(big.Int)
	}
	return d.Unscaled
}

// String is the exact decimal text with Scale fractional digits: "-12.30", "0.05", "7".
func (d Decimal) String() string {
	u := d.unscaled()
	digits := new(big.Int).Abs(u).String()
	sign := ""
	if u.Sign() < 0 {
		sign = "-"
	}
	if d.Scale <= 0 {
		return sign + digits
	}
	for len(digits) <= d.Scale {
		digits = "0" + digits
	}
	cut := len(digits) - d.Scale
	return sign + digits[:cut] + "." + digits[cut:]
}

// ParseDecimal parses exact decimal text ("-12.30") into a Decimal of the given scale
// and precision; it fails if the text has more fractional digits than scale or is not
// a plain decimal number. It is the inverse of String for readers of stored values.
func ParseDecimal(s string, scale, precision int) (Decimal, bool) {
	r, ok := new(big.Rat).SetString(s)
	if !ok || bytes.ContainsAny([]byte(s), "eE/") {
		return Decimal{}, false
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)))
	if !r.IsInt() {
		return Decimal{}, false
	}
	return Decimal{Unscaled: new(big.Int).Set(r.Num()), Scale: scale, Precision: precision}, true
}

// LocalTimestamp is a local-timestamp-* value: a wall-clock time with no zone, held as
// the UTC time with the same clock reading.
type LocalTimestamp struct {
	time.Time
}

// Date is an Avro date: days since the Unix epoch.
type Date struct {
	Days int32
}

// Time returns midnight UTC of the date.
func (d Date) Time() time.Time { return time.Unix(int64(d.Days)*86400, 0).UTC() }

// String is the date as YYYY-MM-DD.
func (d Date) String() string { return d.Time().Format(time.DateOnly) }

// Equal reports whether two value trees are the same value.
func Equal(a, b any) bool { return Diff(a, b) == "" }

// Diff describes the first difference between two value trees, with its path
// ("items[2].price"), or returns "" when they are the same value.
func Diff(a, b any) string { return diff("", a, b) }

func diff(path string, a, b any) string {
	differ := func() string {
		at := path
		if at == "" {
			at = "value"
		}
		return fmt.Sprintf("%s: %s != %s", at, show(a), show(b))
	}
	switch x := a.(type) {
	case nil:
		if b != nil {
			return differ()
		}
	case bool, int32, int64, string, Date, time.Duration:
		if a != b {
			return differ()
		}
	case float32:
		y, ok := b.(float32)
		if !ok || !sameFloat(float64(x), float64(y)) {
			return differ()
		}
	case float64:
		y, ok := b.(float64)
		if !ok || !sameFloat(x, y) {
			return differ()
		}
	case []byte:
		if y, ok := b.([]byte); !ok || !bytes.Equal(x, y) {
			return differ()
		}
	case time.Time:
		if y, ok := b.(time.Time); !ok || !x.Equal(y) {
			return differ()
		}
	case LocalTimestamp:
		if y, ok := b.(LocalTimestamp); !ok || !x.Equal(y.Time) {
			return differ()
		}
	case Decimal:
		if y, ok := b.(Decimal); !ok || x.Rat().Cmp(y.Rat()) != 0 {
			return differ()
		}
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return differ()
		}
		for i := range x {
			if d := diff(fmt.Sprintf("%s[%d]", path, i), x[i], y[i]); d != "" {
				return d
			}
		}
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return differ()
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			w, ok := y[k]
			if !ok {
				return differ()
			}
			if d := diff(path+"{"+k+"}", x[k], w); d != "" {
				return d
			}
		}
	case *Record:
		y, ok := b.(*Record)
		if !ok || y == nil || x == nil || x.Name != y.Name || len(x.Fields) != len(y.Fields) {
			if ok && x == nil && y == nil {
				return ""
			}
			return differ()
		}
		for i := range x.Fields {
			name := x.Fields[i].Name
			if name != y.Fields[i].Name {
				return differ()
			}
			at := name
			if path != "" {
				at = path + "." + name
			}
			if d := diff(at, x.Fields[i].Value, y.Fields[i].Value); d != "" {
				return d
			}
		}
	default:
		return fmt.Sprintf("%s: unsupported value type %T", path, a)
	}
	return ""
}

func sameFloat(x, y float64) bool {
	if x != x || y != y {
		return x != x && y != y
	}
	return x == y && math.Signbit(x) == math.Signbit(y)
}

func show(v any) string {
	switch x := v.(type) {
	case *Record:
		if x == nil {
			return "(*Record)(nil)"
		}
		return fmt.Sprintf("record %s with %d fields", x.Name, len(x.Fields))
	case Decimal:
		return "decimal " + x.String()
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return fmt.Sprintf("%T(%v)", v, v)
}
