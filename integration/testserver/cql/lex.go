package cql

import (
	"fmt"
	"strings"
)

// tokKind is the kind of a CQL token.
type tokKind int

const (
	tEOF    tokKind = iota
	tIdent          // unquoted identifier or keyword, lower-cased
	tQIdent         // "quoted" identifier, case kept
	tString         // 'string' (quotes removed, '' unescaped)
	tNumber         // integer or float literal, sign included
	tBlob           // 0x... literal
	tUUID           // unquoted uuid literal
	tPunct          // one of ( ) , ; . = < > [ ] { } : ? *
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of statement"
	case tString:
		return "'" + t.text + "'"
	case tQIdent:
		return `"` + t.text + `"`
	}
	return t.text
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isHex(c byte) bool        { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// lex splits a statement into tokens. Errors are SyntaxError messages.
func lex(src string) ([]token, error) {
	var out []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '-' && i+1 < len(src) && src[i+1] == '-', c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("line 1:%d unterminated comment", i)
			}
			i += end + 4
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(src) {
					return nil, fmt.Errorf("line 1:%d unterminated string literal", i)
				}
				if src[j] == '\'' {
					if j+1 < len(src) && src[j+1] == '\'' {
						b.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(src[j])
				j++
			}
			out = append(out, token{tString, b.String(), i})
			i = j + 1
		case c == '"':
			var b strings.Builder
			j := i + 1
			for {
				if j >= len(src) {
					return nil, fmt.Errorf("line 1:%d unterminated quoted identifier", i)
				}
				if src[j] == '"' {
					if j+1 < len(src) && src[j+1] == '"' {
						b.WriteByte('"')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(src[j])
				j++
			}
			out = append(out, token{tQIdent, b.String(), i})
			i = j + 1
		case c == '0' && i+1 < len(src) && (src[i+1] == 'x' || src[i+1] == 'X'):
			j := i + 2
			for j < len(src) && isHex(src[j]) {
				j++
			}
			out = append(out, token{tBlob, src[i:j], i})
			i = j
		case isUUIDAt(src, i):
			out = append(out, token{tUUID, strings.ToLower(src[i : i+36]), i})
			i += 36
		case isDigit(c) || (c == '-' && i+1 < len(src) && (isDigit(src[i+1]) || src[i+1] == '.')) || (c == '.' && i+1 < len(src) && isDigit(src[i+1])):
			j := i + 1
			for j < len(src) && (isDigit(src[j]) || src[j] == '.' || src[j] == 'e' || src[j] == 'E' ||
				(src[j] == '-' || src[j] == '+') && (src[j-1] == 'e' || src[j-1] == 'E')) {
				j++
			}
			out = append(out, token{tNumber, src[i:j], i})
			i = j
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && (isIdentStart(src[j]) || isDigit(src[j])) {
				j++
			}
			out = append(out, token{tIdent, strings.ToLower(src[i:j]), i})
			i = j
		case strings.IndexByte("(),;.=<>[]{}:?*+-", c) >= 0:
			out = append(out, token{tPunct, string(c), i})
			i++
		default:
			return nil, fmt.Errorf("line 1:%d token recognition error at: '%c'", i, c)
		}
	}
	out = append(out, token{kind: tEOF, pos: len(src)})
	return out, nil
}

// isUUIDAt reports whether an unquoted uuid literal starts at src[i].
func isUUIDAt(src string, i int) bool {
	if len(src)-i < 36 {
		return false
	}
	for k := 0; k < 36; k++ {
		c := src[i+k]
		switch k {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return len(src) == i+36 || !isHex(src[i+36]) && !isIdentStart(src[i+36])
}
