package avrojson

import (
	"encoding/binary"
	"math"
	"unicode/utf8"
)

// appendLong appends v as an Avro long (and int): a zigzag varint.
func appendLong(dst []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		dst = append(dst, byte(u)|0x80)
		u >>= 7
	}
	return append(dst, byte(u))
}

func appendFloat(dst []byte, f float32) []byte {
	return binary.LittleEndian.AppendUint32(dst, math.Float32bits(f))
}

func appendDouble(dst []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(f))
}

// codePointLen checks that every code point of the UTF-8 string s is in 0–255 (the
// Avro JSON encoding of bytes) and returns how many bytes it stands for.
func codePointLen(s []byte) (int, *encErr) {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			n++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r > 0xff {
			return 0, errf("code point " + quoteRune(r) + " at character " + itoa(n) +
				" is not a byte: bytes are a JSON string of code points U+0000–U+00FF")
		}
		i += size
		n++
	}
	return n, nil
}

// appendCodePoints appends the bytes that the code points of s stand for.
func appendCodePoints(dst, s []byte) ([]byte, *encErr) {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r > 0xff {
			_, err := codePointLen(s)
			return nil, err
		}
		dst = append(dst, byte(r))
		i += size
	}
	return dst, nil
}
