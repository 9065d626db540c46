package avrojson

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"
)

func itoa(i int) string { return strconv.Itoa(i) }

func quoteRune(r rune) string { return fmt.Sprintf("U+%04X", r) }

// quote renders input text for messages, shortened when long.
func quote(b []byte) string {
	const max = 64
	if len(b) > max {
		return strconv.Quote(string(b[:max])) + "…"
	}
	return strconv.Quote(string(b))
}

// shorten renders a number literal for messages.
func shorten(b []byte) string {
	const max = 40
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// decNum is a parsed decimal number: (-1 if neg) × digits × 10^exp, digits holding
// the significant digits without leading or trailing zeros (empty for zero).
type decNum struct {
	neg    bool
	digits []byte
	exp    int
}

// expLimit saturates exponents: anything beyond it is out of range for every type here.
const expLimit = 1 << 30

// parseDec parses a number. With lenient, a leading '+', leading zeros and a bare
// "1." or ".5" are also accepted (numeric strings for decimals); otherwise the text is
// a JSON number already checked by scanNumber.
func parseDec(s []byte, lenient bool) (decNum, bool) {
	var d decNum
	p := 0
	if p < len(s) && (s[p] == '-' || (lenient && s[p] == '+')) {
		d.neg = s[p] == '-'
		p++
	}
	intStart := p
	for p < len(s) && s[p] >= '0' && s[p] <= '9' {
		p++
	}
	intDigits := s[intStart:p]
	var fracDigits []byte
	if p < len(s) && s[p] == '.' {
		p++
		fs := p
		for p < len(s) && s[p] >= '0' && s[p] <= '9' {
			p++
		}
		fracDigits = s[fs:p]
	}
	if len(intDigits)+len(fracDigits) == 0 {
		return d, false
	}
	if !lenient && (len(intDigits) == 0 || (len(intDigits) > 1 && intDigits[0] == '0')) {
		return d, false
	}
	exp := 0
	if p < len(s) && (s[p] == 'e' || s[p] == 'E') {
		p++
		eneg := false
		if p < len(s) && (s[p] == '+' || s[p] == '-') {
			eneg = s[p] == '-'
			p++
		}
		es := p
		for p < len(s) && s[p] >= '0' && s[p] <= '9' {
			if exp < expLimit {
				exp = exp*10 + int(s[p]-'0')
			}
			p++
		}
		if p == es {
			return d, false
		}
		if eneg {
			exp = -exp
		}
	}
	if p != len(s) {
		return d, false
	}
	digits := make([]byte, 0, len(intDigits)+len(fracDigits))
	digits = append(digits, intDigits...)
	digits = append(digits, fracDigits...)
	exp -= len(fracDigits)
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
	}
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	d.digits, d.exp = digits, exp
	return d, true
}

// parseInteger converts a JSON number literal to an integer within [lo, hi]. It
// accepts any notation of an integral value ("1e3", "10.0") and rejects fractions and
// values out of range.
func parseInteger(s []byte, lo, hi int64, typ string) (int64, *encErr) {
	// Fast path: a plain integer of up to 18 digits.
	if n := len(s); n > 0 && n <= 19 {
		neg := s[0] == '-'
		p := 0
		if neg {
			p = 1
		}
		if p < n && n-p <= 18 {
			var v int64
			for ; p < n; p++ {
				c := s[p]
				if c < '0' || c > '9' {
					goto slow
				}
				v = v*10 + int64(c-'0')
			}
			if neg {
				v = -v
			}
			if v < lo || v > hi {
				return 0, rangeErr(s, lo, hi, typ)
			}
			return v, nil
		}
	}
slow:
	d, ok := parseDec(s, false)
	if !ok {
		return 0, errf(fmt.Sprintf("expected %s, got malformed number %s", typ, shorten(s)))
	}
	if len(d.digits) == 0 {
		return 0, nil
	}
	if d.exp < 0 {
		return 0, errf(fmt.Sprintf("expected an integer for %s, got %s", typ, shorten(s)))
	}
	if len(d.digits)+d.exp > 19 {
		return 0, rangeErr(s, lo, hi, typ)
	}
	var u uint64
	for _, c := range d.digits {
		u = u*10 + uint64(c-'0')
	}
	for range d.exp {
		u *= 10
	}
	if d.neg {
		if u > uint64(-(lo+1))+1 {
			return 0, rangeErr(s, lo, hi, typ)
		}
		return -int64(u), nil
	}
	if u > uint64(hi) {
		return 0, rangeErr(s, lo, hi, typ)
	}
	return int64(u), nil
}

func rangeErr(s []byte, lo, hi int64, typ string) *encErr {
	return errf(fmt.Sprintf("%s is out of range for %s [%d, %d]", shorten(s), typ, lo, hi))
}

// parseFloat converts a JSON number literal, or one of the strings "NaN", "Infinity"
// and "-Infinity", to a float of the given bit size.
func parseFloat(s []byte, str bool, bits int, typ string) (float64, *encErr) {
	if str {
		switch string(s) {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
		return 0, errf(fmt.Sprintf("expected %s, got string %s (strings are only accepted as \"NaN\", \"Infinity\" or \"-Infinity\")", typ, quote(s)))
	}
	f, err := strconv.ParseFloat(string(s), bits)
	if err != nil {
		return 0, errf(fmt.Sprintf("%s is out of range for %s", shorten(s), typ))
	}
	return f, nil
}

// ---- decimals ----

// appendDecimal encodes the number text s (a JSON number, or a numeric string when
// lenient) as the unscaled value of decimal(precision, scale): big-endian two's
// complement, minimal for bytes (length-prefixed), sign-extended to size for fixed.
func appendDecimal(dst []byte, n *node, s []byte, lenient bool) ([]byte, *encErr) {
	d, ok := parseDec(s, lenient)
	if !ok {
		return nil, errf(fmt.Sprintf("expected a decimal number for %s, got %s", n.typeName(), quote(s)))
	}
	var shift int
	if len(d.digits) > 0 {
		if -d.exp > n.scale {
			return nil, errf(fmt.Sprintf("%s has %d digits after the point, decimal(%d,%d) allows %d (values are never rounded)",
				shorten(s), -d.exp, n.precision, n.scale, n.scale))
		}
		shift = d.exp + n.scale
		if total := len(d.digits) + shift; total > n.precision {
			return nil, errf(fmt.Sprintf("%s has %d digits before the point, decimal(%d,%d) allows %d",
				shorten(s), total-n.scale, n.precision, n.scale, n.precision-n.scale))
		}
	}
	var mag []byte // two's complement, big-endian, minimal
	var buf [9]byte
	if len(d.digits)+shift <= 18 {
		var v int64
		for _, c := range d.digits {
			v = v*10 + int64(c-'0')
		}
		for range shift {
			v *= 10
		}
		if d.neg {
			v = -v
		}
		mag = twosInt64(buf[:0], v)
	} else {
		x := new(big.Int)
		x.SetString(string(d.digits), 10)
		x.Mul(x, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(shift)), nil))
		if d.neg {
			x.Neg(x)
		}
		mag = twosBig(x)
	}
	if n.kind == kFixed {
		if len(mag) > n.size {
			return nil, errf(fmt.Sprintf("%s does not fit in %d bytes of %s", shorten(s), n.size, n.typeName()))
		}
		pad := byte(0)
		if mag[0]&0x80 != 0 {
			pad = 0xff
		}
		for range n.size - len(mag) {
			dst = append(dst, pad)
		}
		return append(dst, mag...), nil
	}
	dst = appendLong(dst, int64(len(mag)))
	return append(dst, mag...), nil
}

// twosInt64 appends the minimal big-endian two's complement bytes of v.
func twosInt64(dst []byte, v int64) []byte {
	n := 1
	for n < 8 {
		lim := int64(1) << (8*n - 1)
		if v >= -lim && v < lim {
			break
		}
		n++
	}
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}

// twosBig returns the minimal big-endian two's complement bytes of x.
func twosBig(x *big.Int) []byte {
	if x.Sign() >= 0 {
		b := x.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// -x-1 is non-negative; its bytes inverted are x in two's complement.
	y := new(big.Int).Neg(x)
	y.Sub(y, big.NewInt(1))
	b := y.Bytes()
	for i := range b {
		b[i] = ^b[i]
	}
	if len(b) == 0 || b[0]&0x80 == 0 {
		b = append([]byte{0xff}, b...)
	}
	return b
}

// decimalDigits returns the number of decimal digits of the absolute value of the
// two's complement big-endian integer b.
func decimalDigits(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	if len(b) <= 8 {
		var v int64
		if b[0]&0x80 != 0 {
			v = -1
		}
		for _, c := range b {
			v = v<<8 | int64(c)
		}
		u := uint64(v)
		if v < 0 {
			u = uint64(-(v + 1)) + 1
		}
		n := 0
		for u > 0 {
			u /= 10
			n++
		}
		return n
	}
	x := new(big.Int).SetBytes(b)
	if b[0]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	x.Abs(x)
	if x.Sign() == 0 {
		return 0
	}
	return len(x.Text(10))
}

// ---- dates and times ----

const (
	layoutLocalTimestamp = "2006-01-02T15:04:05.999999999"
	layoutDate           = "2006-01-02"
)

// parseTimestamp parses an RFC 3339 timestamp (or, when local, a date-time without
// offset) and returns it in the unit (1e3 for millis, 1e6 for micros); finer digits
// are truncated.
func parseTimestamp(s []byte, local bool, unit int64, typ string) (int64, *encErr) {
	var t time.Time
	var err error
	if local {
		t, err = time.ParseInLocation(layoutLocalTimestamp, string(s), time.UTC)
	} else {
		t, err = time.Parse(time.RFC3339Nano, string(s))
	}
	if err != nil {
		want := "an RFC 3339 timestamp such as \"2006-01-02T15:04:05.000Z\""
		if local {
			want = "a local timestamp such as \"2006-01-02T15:04:05.000\""
		}
		return 0, errf(fmt.Sprintf("expected an integer or %s for %s, got %s", want, typ, quote(s)))
	}
	if unit == 1e3 {
		return t.UnixMilli(), nil
	}
	return t.UnixMicro(), nil
}

// parseDate parses "YYYY-MM-DD" into days since 1970-01-01.
func parseDate(s []byte, typ string) (int64, *encErr) {
	if len(s) != len(layoutDate) {
		return 0, dateErr(s, typ)
	}
	t, err := time.ParseInLocation(layoutDate, string(s), time.UTC)
	if err != nil {
		return 0, dateErr(s, typ)
	}
	return t.Unix() / 86400, nil
}

func dateErr(s []byte, typ string) *encErr {
	return errf(fmt.Sprintf("expected an integer or a date \"YYYY-MM-DD\" for %s, got %s", typ, quote(s)))
}

// parseTimeOfDay parses "HH:MM:SS[.fraction]" into the unit since midnight (1e3 for
// millis, 1e6 for micros); fraction digits finer than the unit are truncated.
func parseTimeOfDay(s []byte, unit int64, typ string) (int64, *encErr) {
	bad := func() (int64, *encErr) {
		return 0, errf(fmt.Sprintf("expected an integer or a time \"HH:MM:SS[.fraction]\" for %s, got %s", typ, quote(s)))
	}
	if len(s) < 8 || s[2] != ':' || s[5] != ':' {
		return bad()
	}
	two := func(p int) (int64, bool) {
		a, b := s[p], s[p+1]
		if a < '0' || a > '9' || b < '0' || b > '9' {
			return 0, false
		}
		return int64(a-'0')*10 + int64(b-'0'), true
	}
	h, ok1 := two(0)
	m, ok2 := two(3)
	sec, ok3 := two(6)
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 59 {
		return bad()
	}
	v := ((h*60+m)*60 + sec) * unit
	if len(s) > 8 {
		frac := s[9:]
		if s[8] != '.' || len(frac) == 0 || len(frac) > 9 {
			return bad()
		}
		scale := unit / 10
		for _, c := range frac {
			if c < '0' || c > '9' {
				return bad()
			}
			v += int64(c-'0') * scale
			scale /= 10
		}
	}
	return v, nil
}

// validUUID reports whether s is a UUID in its canonical textual form,
// 8-4-4-4-12 hexadecimal digits (either case).
func validUUID(s []byte) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}
