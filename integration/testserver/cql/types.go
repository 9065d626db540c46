package cql

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/datastax/go-cassandra-native-protocol/datacodec"
	"github.com/datastax/go-cassandra-native-protocol/datatype"
	"github.com/datastax/go-cassandra-native-protocol/primitive"
)

const version = primitive.ProtocolVersion4

var nativeTypes = map[string]datatype.DataType{
	"ascii": datatype.Ascii, "bigint": datatype.Bigint, "blob": datatype.Blob, "boolean": datatype.Boolean,
	"counter": datatype.Counter, "date": datatype.Date, "decimal": datatype.Decimal, "double": datatype.Double,
	"duration": datatype.Duration, "float": datatype.Float, "inet": datatype.Inet, "int": datatype.Int,
	"smallint": datatype.Smallint, "text": datatype.Varchar, "varchar": datatype.Varchar, "time": datatype.Time,
	"timestamp": datatype.Timestamp, "timeuuid": datatype.Timeuuid, "tinyint": datatype.Tinyint,
	"uuid": datatype.Uuid, "varint": datatype.Varint,
}

// resolveType turns a parsed type into a protocol data type; UDT names are looked up
// in keyspace ks.
func (e *engine) resolveType(ks string, t typeSpec, nested bool) (datatype.DataType, error) {
	if dt, ok := nativeTypes[t.name]; ok && t.ks == "" {
		if len(t.args) > 0 {
			return nil, fmt.Errorf("type %s takes no parameters", t.name)
		}
		return dt, nil
	}
	args := func(n int) ([]datatype.DataType, error) {
		if n >= 0 && len(t.args) != n {
			return nil, fmt.Errorf("%s takes %d type parameter(s), got %d", t.name, n, len(t.args))
		}
		var out []datatype.DataType
		for _, a := range t.args {
			if isComplex(a.name) && !a.frozen && t.name != "tuple" {
				return nil, fmt.Errorf("Non-frozen collections and UDTs are not allowed inside collections: %s", t.name)
			}
			dt, err := e.resolveType(ks, a, true)
			if err != nil {
				return nil, err
			}
			out = append(out, dt)
		}
		return out, nil
	}
	switch t.name {
	case "list", "set":
		a, err := args(1)
		if err != nil {
			return nil, err
		}
		if t.name == "list" {
			return datatype.NewList(a[0]), nil
		}
		return datatype.NewSet(a[0]), nil
	case "map":
		a, err := args(2)
		if err != nil {
			return nil, err
		}
		return datatype.NewMap(a[0], a[1]), nil
	case "tuple":
		a, err := args(-1)
		if err != nil {
			return nil, err
		}
		if len(a) == 0 {
			return nil, fmt.Errorf("tuple needs at least one type")
		}
		return datatype.NewTuple(a...), nil
	}
	if t.ks != "" {
		ks = t.ks
	}
	k := e.keyspaces[ks]
	if k == nil {
		return nil, fmt.Errorf("Unknown type %s.%s (keyspace %s does not exist)", ks, t.name, ks)
	}
	u, ok := k.types[t.name]
	if !ok {
		return nil, fmt.Errorf("Unknown type %s.%s", ks, t.name)
	}
	if nested && !t.frozen {
		return nil, fmt.Errorf("A user type cannot contain non-frozen UDTs")
	}
	return u, nil
}

func isComplex(name string) bool {
	_, native := nativeTypes[name]
	return !native && name != "tuple"
}

// cqlType renders a data type as CQL (system_schema's "type" column).
func cqlType(dt datatype.DataType) string {
	switch t := dt.(type) {
	case *datatype.UserDefined:
		return "frozen<" + t.Name + ">"
	case *datatype.List:
		return "list<" + cqlType(t.ElementType) + ">"
	case *datatype.Set:
		return "set<" + cqlType(t.ElementType) + ">"
	case *datatype.Map:
		return "map<" + cqlType(t.KeyType) + ", " + cqlType(t.ValueType) + ">"
	case *datatype.Tuple:
		parts := make([]string, len(t.FieldTypes))
		for i, f := range t.FieldTypes {
			parts[i] = cqlType(f)
		}
		return "frozen<tuple<" + strings.Join(parts, ", ") + ">>"
	}
	if dt.Code() == primitive.DataTypeCodeVarchar {
		return "text"
	}
	return strings.ToLower(dt.AsCql())
}

// validateValue checks that b is a valid serialization of dt, as Cassandra does before
// it accepts a bound value.
func validateValue(dt datatype.DataType, b []byte) error {
	codec, err := datacodec.NewCodec(dt)
	if err != nil {
		return err
	}
	var v any
	if _, err := codec.Decode(b, &v, version); err != nil {
		return err
	}
	return nil
}

// encodeTerm serializes a literal term as a value of type dt.
func encodeTerm(dt datatype.DataType, t term) ([]byte, error) {
	if t.kind == kNull {
		return nil, nil
	}
	v, err := termValue(dt, t)
	if err != nil {
		return nil, err
	}
	codec, err := datacodec.NewCodec(dt)
	if err != nil {
		return nil, err
	}
	b, err := codec.Encode(v, version)
	if err != nil {
		return nil, fmt.Errorf("Invalid %s constant (%s) for type %s", describe(t), t.tok.text, cqlType(dt))
	}
	return b, nil
}

func describe(t term) string {
	switch t.kind {
	case kLiteral:
		switch t.tok.kind {
		case tString:
			return "STRING"
		case tNumber:
			if strings.ContainsAny(t.tok.text, ".eE") {
				return "FLOAT"
			}
			return "INTEGER"
		case tBlob:
			return "HEX"
		case tUUID:
			return "UUID"
		}
		return "BOOLEAN"
	case kList:
		return "list literal"
	case kSet:
		return "set literal"
	case kMap:
		return "map literal"
	case kTuple:
		return "tuple literal"
	case kUDT:
		return "user type literal"
	}
	return "value"
}

// termValue converts a literal to the Go value datacodec encodes as dt.
func termValue(dt datatype.DataType, t term) (any, error) {
	bad := func() error {
		return fmt.Errorf("Invalid %s constant (%s) for \"%s\" of type %s", describe(t), t.tok.text, "value", cqlType(dt))
	}
	if t.kind == kNull {
		return nil, nil
	}
	switch d := dt.(type) {
	case *datatype.List, *datatype.Set:
		if t.kind != kList && t.kind != kSet {
			return nil, bad()
		}
		var elem datatype.DataType
		if l, ok := d.(*datatype.List); ok {
			elem = l.ElementType
		} else {
			elem = d.(*datatype.Set).ElementType
		}
		out := make([]any, len(t.elems))
		for i, e := range t.elems {
			v, err := termValue(elem, e)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case *datatype.Map:
		if t.kind == kSet && len(t.elems) == 0 {
			return map[any]any{}, nil
		}
		if t.kind != kMap {
			return nil, bad()
		}
		out := map[any]any{}
		for i := range t.keys {
			k, err := termValue(d.KeyType, t.keys[i])
			if err != nil {
				return nil, err
			}
			v, err := termValue(d.ValueType, t.elems[i])
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case *datatype.Tuple:
		if t.kind != kTuple || len(t.elems) > len(d.FieldTypes) {
			return nil, bad()
		}
		out := make([]any, len(d.FieldTypes))
		for i, e := range t.elems {
			v, err := termValue(d.FieldTypes[i], e)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case *datatype.UserDefined:
		if t.kind != kUDT {
			return nil, bad()
		}
		out := map[string]any{}
		for i, f := range t.fields {
			idx := -1
			for j, n := range d.FieldNames {
				if n == f {
					idx = j
				}
			}
			if idx < 0 {
				return nil, fmt.Errorf("Unknown field '%s' in value of user defined type %s", f, d.Name)
			}
			v, err := termValue(d.FieldTypes[idx], t.elems[i])
			if err != nil {
				return nil, err
			}
			out[f] = v
		}
		return out, nil
	}
	if t.kind != kLiteral {
		return nil, bad()
	}
	text := t.tok.text
	switch dt.Code() {
	case primitive.DataTypeCodeAscii, primitive.DataTypeCodeVarchar:
		if t.tok.kind != tString {
			return nil, bad()
		}
		return text, nil
	case primitive.DataTypeCodeBoolean:
		if t.tok.kind != tIdent || (text != "true" && text != "false") {
			return nil, bad()
		}
		return text == "true", nil
	case primitive.DataTypeCodeInt, primitive.DataTypeCodeBigint, primitive.DataTypeCodeSmallint,
		primitive.DataTypeCodeTinyint, primitive.DataTypeCodeCounter:
		if t.tok.kind != tNumber {
			return nil, bad()
		}
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return nil, bad()
		}
		return n, nil
	case primitive.DataTypeCodeVarint:
		n, ok := new(big.Int).SetString(text, 10)
		if t.tok.kind != tNumber || !ok {
			return nil, bad()
		}
		return n, nil
	case primitive.DataTypeCodeFloat, primitive.DataTypeCodeDouble:
		if t.tok.kind != tNumber && t.tok.kind != tIdent {
			return nil, bad()
		}
		f, err := strconv.ParseFloat(strings.Replace(text, "infinity", "inf", 1), 64)
		if err != nil {
			return nil, bad()
		}
		if dt.Code() == primitive.DataTypeCodeFloat {
			return float32(f), nil
		}
		return f, nil
	case primitive.DataTypeCodeDecimal:
		r, ok := new(big.Rat).SetString(text)
		if t.tok.kind != tNumber || !ok {
			return nil, bad()
		}
		scale := 0
		if i := strings.IndexByte(text, '.'); i >= 0 && !strings.ContainsAny(text, "eE") {
			scale = len(text) - i - 1
		}
		unscaled := new(big.Int).Mul(r.Num(), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
		unscaled.Quo(unscaled, r.Denom())
		return datacodec.CqlDecimal{Unscaled: unscaled, Scale: int32(scale)}, nil
	case primitive.DataTypeCodeBlob:
		if t.tok.kind != tBlob {
			return nil, bad()
		}
		b := make([]byte, (len(text)-2)/2)
		for i := range b {
			n, err := strconv.ParseUint(text[2+2*i:4+2*i], 16, 8)
			if err != nil {
				return nil, bad()
			}
			b[i] = byte(n)
		}
		return b, nil
	case primitive.DataTypeCodeUuid, primitive.DataTypeCodeTimeuuid:
		if t.tok.kind != tUUID {
			return nil, bad()
		}
		return text, nil
	case primitive.DataTypeCodeTimestamp:
		if t.tok.kind == tNumber {
			ms, err := strconv.ParseInt(text, 10, 64)
			if err != nil {
				return nil, bad()
			}
			return time.UnixMilli(ms).UTC(), nil
		}
		if t.tok.kind != tString {
			return nil, bad()
		}
		at, ok := parseTimestamp(text)
		if !ok {
			return nil, fmt.Errorf("Unable to coerce '%s' to a formatted date (long)", text)
		}
		return at, nil
	case primitive.DataTypeCodeDate, primitive.DataTypeCodeInet:
		if t.tok.kind != tString {
			return nil, bad()
		}
		return text, nil
	case primitive.DataTypeCodeTime:
		if t.tok.kind == tNumber {
			n, err := strconv.ParseInt(text, 10, 64)
			if err != nil {
				return nil, bad()
			}
			return time.Duration(n), nil
		}
		if t.tok.kind != tString {
			return nil, bad()
		}
		return text, nil
	}
	return nil, fmt.Errorf("literals of type %s are not supported by this test server; bind a value instead", cqlType(dt))
}

// timestampLayouts are the literal formats Cassandra accepts for timestamps (a subset).
var timestampLayouts = []string{
	"2006-01-02 15:04:05.999Z0700", "2006-01-02 15:04:05.999Z07:00", "2006-01-02T15:04:05.999Z0700",
	"2006-01-02T15:04:05.999Z07:00", "2006-01-02 15:04:05.999", "2006-01-02T15:04:05.999",
	"2006-01-02 15:04Z0700", "2006-01-02 15:04", "2006-01-02Z0700", "2006-01-02",
}

func parseTimestamp(s string) (time.Time, bool) {
	for _, l := range timestampLayouts {
		if at, err := time.Parse(l, s); err == nil {
			return at.UTC(), true
		}
	}
	return time.Time{}, false
}
