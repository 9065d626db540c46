package compat

import (
	"strconv"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
)

// parse parses one schema with a cache of its own: avro.Parse shares a global
// cache in which two test schemas with the same record name would collide.
func parse(t testing.TB, text string) avro.Schema {
	t.Helper()
	s, err := avro.ParseWithCache(text, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatalf("parse %s: %v", text, err)
	}
	return s
}

// JSON builders, so the case tables read like the schemas they describe.

const (
	tNull   = `"null"`
	tBool   = `"boolean"`
	tInt    = `"int"`
	tLong   = `"long"`
	tFloat  = `"float"`
	tDouble = `"double"`
	tBytes  = `"bytes"`
	tString = `"string"`
)

func q(s string) string { return strconv.Quote(s) }

// rec is a record; name may be a full name ("com.acme.Card").
func rec(name string, fields ...string) string {
	return `{"type":"record","name":` + q(name) + `,"fields":[` + strings.Join(fields, ",") + `]}`
}

// recAlias is a record with aliases.
func recAlias(name string, aliases []string, fields ...string) string {
	return `{"type":"record","name":` + q(name) + `,"aliases":` + list(aliases) + `,"fields":[` + strings.Join(fields, ",") + `]}`
}

func fld(name, typ string) string { return `{"name":` + q(name) + `,"type":` + typ + `}` }

func fldDef(name, typ, def string) string {
	return `{"name":` + q(name) + `,"type":` + typ + `,"default":` + def + `}`
}

func fldAlias(name string, aliases []string, typ string) string {
	return `{"name":` + q(name) + `,"aliases":` + list(aliases) + `,"type":` + typ + `}`
}

func arr(items string) string  { return `{"type":"array","items":` + items + `}` }
func mapOf(vals string) string { return `{"type":"map","values":` + vals + `}` }
func union(b ...string) string { return `[` + strings.Join(b, ",") + `]` }

func enum(name string, symbols ...string) string {
	return `{"type":"enum","name":` + q(name) + `,"symbols":` + list(symbols) + `}`
}

func enumDef(name, def string, symbols ...string) string {
	return `{"type":"enum","name":` + q(name) + `,"symbols":` + list(symbols) + `,"default":` + q(def) + `}`
}

func enumAlias(name string, aliases []string, symbols ...string) string {
	return `{"type":"enum","name":` + q(name) + `,"aliases":` + list(aliases) + `,"symbols":` + list(symbols) + `}`
}

func fixed(name string, size int) string {
	return `{"type":"fixed","name":` + q(name) + `,"size":` + strconv.Itoa(size) + `}`
}

func fixedAlias(name string, aliases []string, size int) string {
	return `{"type":"fixed","name":` + q(name) + `,"aliases":` + list(aliases) + `,"size":` + strconv.Itoa(size) + `}`
}

// withLogical is a primitive with a logical type; extra is more JSON members, e.g. `"precision":10`.
func withLogical(typ, lt string, extra ...string) string {
	s := `{"type":` + q(typ) + `,"logicalType":` + q(lt)
	for _, e := range extra {
		s += "," + e
	}
	return s + `}`
}

func decimal(precision, scale int) string {
	return withLogical("bytes", "decimal", `"precision":`+strconv.Itoa(precision), `"scale":`+strconv.Itoa(scale))
}

func fixedDecimal(name string, size, precision, scale int) string {
	return `{"type":"fixed","name":` + q(name) + `,"size":` + strconv.Itoa(size) +
		`,"logicalType":"decimal","precision":` + strconv.Itoa(precision) + `,"scale":` + strconv.Itoa(scale) + `}`
}

// inRec wraps a type as field "f" of record "R", the usual shape for a case whose finding is at path "f".
func inRec(typ string) string { return rec("R", fld("f", typ)) }

func list(items []string) string {
	quoted := make([]string, len(items))
	for i, s := range items {
		quoted[i] = q(s)
	}
	return "[" + strings.Join(quoted, ",") + "]"
}
