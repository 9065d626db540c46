package target

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// placeholder identifies one of the known placeholders.
type placeholder int

const (
	phNone placeholder = iota
	phContract
	phRoute
	phDate
	phHour
	phYear
	phMonth
	phDay
	phYearMonth
)

// placeholders maps each placeholder's name (without braces) to its kind.
var placeholders = map[string]placeholder{
	"contract": phContract,
	"route":    phRoute,
	"date":     phDate,
	"hour":     phHour,
	"yyyy":     phYear,
	"MM":       phMonth,
	"dd":       phDay,
	"yyyy.MM":  phYearMonth,
}

// Known lists the placeholders a template may use, with braces, in documentation order.
var Known = []string{"{contract}", "{route}", "{date}", "{hour}", "{yyyy}", "{MM}", "{dd}", "{yyyy.MM}"}

// part is a literal (ph == phNone) or a placeholder.
type part struct {
	lit string
	ph  placeholder
}

// Template is a parsed target template. It is immutable and safe for concurrent use.
type Template struct {
	src      string
	segments [][]part
	uses     map[placeholder]bool
}

// Parse parses a target template; see the package documentation for the syntax and
// the rules it enforces.
func Parse(template string) (*Template, error) {
	if template == "" {
		return nil, errors.New("target template is empty")
	}
	if strings.HasPrefix(template, "/") {
		return nil, fmt.Errorf("target template %q is an absolute path; targets are relative to the store's base path", template)
	}
	t := &Template{src: template, uses: map[placeholder]bool{}}
	offset := 0
	for i, seg := range strings.Split(template, "/") {
		parts, err := parseSegment(seg, offset)
		if err != nil {
			return nil, fmt.Errorf("target template %q: segment %d %q: %w", template, i+1, seg, err)
		}
		for _, p := range parts {
			if p.ph != phNone {
				t.uses[p.ph] = true
			}
		}
		t.segments = append(t.segments, parts)
		offset += len(seg) + 1
	}
	return t, nil
}

// MustParse is Parse that panics on error, for templates that are constants.
func MustParse(template string) *Template {
	t, err := Parse(template)
	if err != nil {
		panic(err)
	}
	return t
}

// parseSegment parses one path segment; offset is the segment's byte offset in the
// template, for error messages.
func parseSegment(seg string, offset int) ([]part, error) {
	switch seg {
	case "":
		return nil, errors.New("empty segment (a leading, trailing or doubled '/')")
	case ".", "..":
		return nil, fmt.Errorf("%q segments are not allowed", seg)
	}
	if seg[0] == '.' {
		return nil, errors.New("a segment must not start with '.' (hidden names are skipped by scans)")
	}
	var parts []part
	var lit strings.Builder
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case c == '{':
			end := strings.IndexAny(seg[i+1:], "{}")
			if end < 0 || seg[i+1+end] == '{' {
				return nil, fmt.Errorf("unclosed '{' at offset %d", offset+i)
			}
			name := seg[i+1 : i+1+end]
			if name == "" {
				return nil, fmt.Errorf("empty placeholder {} at offset %d", offset+i)
			}
			ph, ok := placeholders[name]
			if !ok {
				return nil, fmt.Errorf("unknown placeholder {%s} at offset %d (known: %s)", name, offset+i, strings.Join(Known, ", "))
			}
			if lit.Len() > 0 {
				parts = append(parts, part{lit: lit.String()})
				lit.Reset()
			}
			parts = append(parts, part{ph: ph})
			i += end + 1
		case c == '}':
			return nil, fmt.Errorf("unmatched '}' at offset %d", offset+i)
		case literalByte(c):
			lit.WriteByte(c)
		default:
			return nil, fmt.Errorf("character %q at offset %d is not allowed; literal text may use letters, digits, '.', '_', '-' and '='", rune(c), offset+i)
		}
	}
	if lit.Len() > 0 {
		parts = append(parts, part{lit: lit.String()})
	}
	return parts, nil
}

func literalByte(c byte) bool {
	return safeByte(c) || c == '='
}

// safeByte reports whether c may appear unchanged in a rendered name.
func safeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// String returns the template's source text.
func (t *Template) String() string { return t.src }

// Uses reports whether the template contains the placeholder name, given with or
// without braces ("contract" or "{contract}").
func (t *Template) Uses(name string) bool {
	ph, ok := placeholders[strings.TrimSuffix(strings.TrimPrefix(name, "{"), "}")]
	return ok && t.uses[ph]
}

// Render returns the relative path for an event of contract on route with the given
// event time, using '/' as the separator.
func (t *Template) Render(contract, route string, eventTime time.Time) string {
	u := eventTime.UTC()
	b := make([]byte, 0, len(t.src)+len(contract)+16)
	for i, seg := range t.segments {
		if i > 0 {
			b = append(b, '/')
		}
		for _, p := range seg {
			switch p.ph {
			case phNone:
				b = append(b, p.lit...)
			case phContract:
				b = appendSafe(b, contract)
			case phRoute:
				b = appendSafe(b, route)
			case phDate:
				b = appendYear(b, u.Year())
				b = append(b, '-')
				b = append2(b, int(u.Month()))
				b = append(b, '-')
				b = append2(b, u.Day())
			case phHour:
				b = append2(b, u.Hour())
			case phYear:
				b = appendYear(b, u.Year())
			case phMonth:
				b = append2(b, int(u.Month()))
			case phDay:
				b = append2(b, u.Day())
			case phYearMonth:
				b = appendYear(b, u.Year())
				b = append(b, '.')
				b = append2(b, int(u.Month()))
			}
		}
	}
	return string(b)
}

// RenderRange returns, in order and without repeats, the paths Render gives for every
// event time in [since, until): one per hour at most, one in all when the template
// uses no time placeholder. It is how a reader finds every place a route wrote a
// contract's events of a time range.
func (t *Template) RenderRange(contract, route string, since, until time.Time) []string {
	timed := t.Uses("date") || t.Uses("hour") || t.Uses("yyyy") || t.Uses("MM") || t.Uses("dd") || t.Uses("yyyy.MM")
	if !timed || !until.After(since) {
		return []string{t.Render(contract, route, since)}
	}
	var out []string
	seen := map[string]bool{}
	for h := since.UTC().Truncate(time.Hour); h.Before(until); h = h.Add(time.Hour) {
		p := t.Render(contract, route, h)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// SafeName returns name as Render writes it for {contract} and {route}.
func SafeName(name string) string {
	return string(appendSafe(nil, name))
}

// appendSafe appends name with every byte outside [A-Za-z0-9._-] (including each byte
// of a multi-byte character) and a leading '.' replaced by '_'; an empty name becomes
// "_". The result is never empty, ".", ".." or hidden, and never contains '/'.
func appendSafe(b []byte, name string) []byte {
	if name == "" {
		return append(b, '_')
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !safeByte(c) || (i == 0 && c == '.') {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

// appendYear appends a year as at least four digits (years before 1 or after 9999
// render as their decimal value, with a '-' sign before year 0).
func appendYear(b []byte, y int) []byte {
	if y >= 0 && y <= 9999 {
		return append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10))
	}
	return fmt.Appendf(b, "%04d", y)
}

func append2(b []byte, v int) []byte {
	return append(b, byte('0'+v/10), byte('0'+v%10))
}
