package compat

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
)

// finding is the part of an Incompatibility a case pins down exactly; the
// message is checked more loosely (it must name the path).
type finding struct{ Type, Path string }

type pairCase struct {
	name   string
	reader string
	writer string
	want   []finding // nil: compatible
	// notOracle, if set, says why hamba's checker is not consulted for this
	// case: it answers differently from the Avro specification.
	notOracle string
}

func ok() []finding { return nil }

func bad(typ, path string) []finding { return []finding{{typ, path}} }

// Primitive resolution, from the spec: a reader reads a writer of the same
// type, or of a type the spec lets it promote. Every other pair is an error.
var primitiveTypes = []string{"null", "boolean", "int", "long", "float", "double", "bytes", "string"}

var readableFrom = map[string][]string{ // writer type -> reader types that read it
	"null":    {"null"},
	"boolean": {"boolean"},
	"int":     {"int", "long", "float", "double"},
	"long":    {"long", "float", "double"},
	"float":   {"float", "double"},
	"double":  {"double"},
	"bytes":   {"bytes", "string"},
	"string":  {"string", "bytes"},
}

// primitiveCases is the full 8x8 matrix, each pair as field "f" of a record
// so that the path is checked too.
func primitiveCases() []pairCase {
	var cases []pairCase
	for _, w := range primitiveTypes {
		for _, r := range primitiveTypes {
			c := pairCase{
				name:   fmt.Sprintf("primitive/%s reads %s", r, w),
				reader: inRec(q(r)),
				writer: inRec(q(w)),
			}
			if !slices.Contains(readableFrom[w], r) {
				c.want = bad(TypeMismatch, "f")
			}
			cases = append(cases, c)
		}
	}
	return cases
}

var card = rec("com.acme.Card", fld("number", tString))

var unionCases = []pairCase{
	{name: "union/reader union reads its branch", reader: inRec(union(tNull, tString)), writer: inRec(tString), want: ok()},
	{name: "union/reader union lacks writer type", reader: inRec(union(tNull, tString)), writer: inRec(tInt), want: bad(MissingUnionBranch, "f")},
	{name: "union/writer int promotes into reader union long", reader: inRec(union(tNull, tLong)), writer: inRec(tInt), want: ok()},
	{name: "union/writer null branch unreadable by plain reader", reader: inRec(tString), writer: inRec(union(tNull, tString)), want: bad(TypeMismatch, "f")},
	{name: "union/single-branch writer union", reader: inRec(tString), writer: inRec(union(tString)), want: ok()},
	{name: "union/single-branch reader union", reader: inRec(union(tString)), writer: inRec(tString), want: ok()},
	{name: "union/reader adds a branch", reader: inRec(union(tNull, tString, tInt)), writer: inRec(union(tNull, tString)), want: ok()},
	{name: "union/reader drops a branch", reader: inRec(union(tNull, tString)), writer: inRec(union(tNull, tString, tInt)), want: bad(MissingUnionBranch, "f")},
	{name: "union/branches reordered", reader: inRec(union(tString, tNull)), writer: inRec(union(tNull, tString)), want: ok()},
	{name: "union/every writer branch promotes", reader: inRec(union(tNull, tDouble)), writer: inRec(union(tNull, tInt, tLong, tFloat)), want: ok()},
	{name: "union/long branch does not narrow to int", reader: inRec(union(tNull, tInt)), writer: inRec(union(tNull, tLong)), want: bad(MissingUnionBranch, "f")},
	{
		name:   "union/each unreadable writer branch reported",
		reader: inRec(union(tNull, tBool)), writer: inRec(union(tNull, tString, tInt)),
		want: []finding{{MissingUnionBranch, "f"}, {MissingUnionBranch, "f"}},
	},
	{name: "union/root reader union lacks writer type", reader: union(tNull, tInt), writer: tBool, want: bad(MissingUnionBranch, "")},
	{name: "union/root writer union vs plain reader", reader: tInt, writer: union(tInt, tString), want: bad(TypeMismatch, "")},
	{name: "union/field made nullable", reader: rec("R", fldDef("f", union(tNull, tString), "null")), writer: inRec(tString), want: ok()},
	{name: "union/nullable field made required", reader: inRec(tString), writer: rec("R", fldDef("f", union(tNull, tString), "null")), want: bad(TypeMismatch, "f")},
	{
		name:   "union/record branch has a field type change",
		reader: rec("Order", fld("payment", union(tNull, card))),
		writer: rec("Order", fld("payment", rec("com.acme.Card", fld("number", tInt)))),
		want:   bad(TypeMismatch, "payment<com.acme.Card>.number"),
	},
	{
		name:   "union/record branch in both unions lacks a default",
		reader: rec("Order", fld("payment", union(tNull, rec("com.acme.Card", fld("number", tString), fld("cvv", tString))))),
		writer: rec("Order", fld("payment", union(tNull, card))),
		want:   bad(ReaderFieldMissingDefaultValue, "payment<com.acme.Card>.cvv"),
	},
	{
		name:   "union/reader union picks the record with the writer's name",
		reader: rec("Order", fld("payment", union(card, rec("com.acme.Transfer", fld("iban", tString))))),
		writer: rec("Order", fld("payment", rec("com.acme.Transfer", fld("iban", tString)))),
		want:   ok(),
	},
	{
		name:   "union/reader union has no record of the writer's name",
		reader: rec("Order", fld("payment", union(tNull, card))),
		writer: rec("Order", fld("payment", rec("com.acme.Bank", fld("number", tString)))),
		want:   bad(MissingUnionBranch, "payment"),
	},
	{name: "union/array branch items differ", reader: inRec(union(tNull, arr(tString))), writer: inRec(arr(tInt)), want: bad(TypeMismatch, "f[]")},
	{name: "union/map branch values differ", reader: inRec(union(tNull, mapOf(tLong))), writer: inRec(mapOf(tBool)), want: bad(TypeMismatch, "f{}")},
	{
		name:   "union/plain record reader vs nullable writer",
		reader: rec("Order", fld("payment", card)),
		writer: rec("Order", fld("payment", union(tNull, card))),
		want:   bad(TypeMismatch, "payment"),
	},
	{
		name:   "union/record union reordered",
		reader: inRec(union(rec("B", fld("y", tInt)), rec("A", fld("x", tInt)))),
		writer: inRec(union(rec("A", fld("x", tInt)), rec("B", fld("y", tInt)))),
		want:   ok(),
	},
	{name: "union/bytes branch reads string", reader: inRec(union(tNull, tBytes)), writer: inRec(union(tNull, tString)), want: ok()},
}

var enumCases = []pairCase{
	{name: "enum/same symbols", reader: inRec(enum("Status", "NEW", "PAID")), writer: inRec(enum("Status", "NEW", "PAID")), want: ok()},
	{name: "enum/reader adds a symbol", reader: inRec(enum("Status", "NEW", "PAID", "SHIPPED")), writer: inRec(enum("Status", "NEW", "PAID")), want: ok()},
	{name: "enum/reader lacks a writer symbol", reader: inRec(enum("Status", "NEW")), writer: inRec(enum("Status", "NEW", "PAID")), want: bad(MissingEnumSymbols, "f")},
	{name: "enum/reader default covers a missing symbol", reader: inRec(enumDef("Status", "NEW", "NEW")), writer: inRec(enum("Status", "NEW", "PAID")), want: ok()},
	{name: "enum/two missing symbols reported once", reader: inRec(enum("Status", "NEW")), writer: inRec(enum("Status", "NEW", "PAID", "SHIPPED")), want: bad(MissingEnumSymbols, "f")},
	{name: "enum/symbols reordered", reader: inRec(enum("Status", "PAID", "NEW")), writer: inRec(enum("Status", "NEW", "PAID")), want: ok()},
	{name: "enum/renamed", reader: inRec(enum("State", "NEW")), writer: inRec(enum("Status", "NEW")), want: bad(NameMismatch, "f")},
	{name: "enum/renamed with alias", reader: inRec(enumAlias("State", []string{"Status"}, "NEW")), writer: inRec(enum("Status", "NEW")), want: ok()},
	{
		name:   "enum/renamed and a symbol lost: both reported",
		reader: inRec(enum("State", "NEW")), writer: inRec(enum("Status", "NEW", "PAID")),
		want: []finding{{NameMismatch, "f"}, {MissingEnumSymbols, "f"}},
	},
	{name: "enum/string reader cannot read enum", reader: inRec(tString), writer: inRec(enum("Status", "NEW")), want: bad(TypeMismatch, "f")},
	{name: "enum/enum reader cannot read string", reader: inRec(enum("Status", "NEW")), writer: inRec(tString), want: bad(TypeMismatch, "f")},
	{name: "enum/namespace differs", reader: inRec(enum("a.Status", "NEW")), writer: inRec(enum("b.Status", "NEW")), want: ok()},
}

var fixedCases = []pairCase{
	{name: "fixed/same", reader: inRec(fixed("Md5", 16)), writer: inRec(fixed("Md5", 16)), want: ok()},
	{name: "fixed/size differs", reader: inRec(fixed("Md5", 16)), writer: inRec(fixed("Md5", 32)), want: bad(FixedSizeMismatch, "f")},
	{name: "fixed/renamed", reader: inRec(fixed("Hash", 16)), writer: inRec(fixed("Md5", 16)), want: bad(NameMismatch, "f")},
	{name: "fixed/renamed with alias", reader: inRec(fixedAlias("Hash", []string{"Md5"}, 16)), writer: inRec(fixed("Md5", 16)), want: ok()},
	{
		name:   "fixed/renamed and resized: both reported",
		reader: inRec(fixed("Hash", 16)), writer: inRec(fixed("Md5", 32)),
		want: []finding{{NameMismatch, "f"}, {FixedSizeMismatch, "f"}},
	},
	{name: "fixed/bytes reader cannot read fixed", reader: inRec(tBytes), writer: inRec(fixed("Md5", 16)), want: bad(TypeMismatch, "f")},
	{name: "fixed/fixed reader cannot read bytes", reader: inRec(fixed("Md5", 16)), writer: inRec(tBytes), want: bad(TypeMismatch, "f")},
	{name: "fixed/namespace differs", reader: inRec(fixed("a.Md5", 16)), writer: inRec(fixed("b.Md5", 16)), want: ok()},
}

var recordCases = []pairCase{
	{name: "record/identical", reader: rec("Customer", fld("id", tLong)), writer: rec("Customer", fld("id", tLong)), want: ok()},
	{name: "record/root renamed", reader: rec("Client", fld("id", tLong)), writer: rec("Customer", fld("id", tLong)), want: bad(NameMismatch, "")},
	{
		name:   "record/renamed with alias relative to the namespace",
		reader: recAlias("com.acme.Client", []string{"Customer"}, fld("id", tLong)),
		writer: rec("com.acme.Customer", fld("id", tLong)),
		want:   ok(),
	},
	{
		name:   "record/renamed with a full-name alias",
		reader: recAlias("com.new.Client", []string{"com.old.Customer"}, fld("id", tLong)),
		writer: rec("com.old.Customer", fld("id", tLong)),
		want:   ok(),
	},
	{
		// A relative alias takes the reader's namespace, so it names
		// com.new.Customer, not the writer's com.old.Customer.
		name:   "record/relative alias in another namespace does not match",
		reader: recAlias("com.new.Client", []string{"Customer"}, fld("id", tLong)),
		writer: rec("com.old.Customer", fld("id", tLong)),
		want:   bad(NameMismatch, ""),
	},
	{name: "record/namespace differs", reader: rec("com.new.Customer", fld("id", tLong)), writer: rec("com.old.Customer", fld("id", tLong)), want: ok()},
	{
		name:   "record/namespace attribute vs dotted name",
		reader: `{"type":"record","name":"Customer","namespace":"x.y","fields":[{"name":"id","type":"long"}]}`,
		writer: rec("Customer", fld("id", tLong)),
		want:   ok(),
	},
	{
		name:   "record/nested record namespace differs",
		reader: rec("a.Customer", fld("address", rec("a.Address", fld("zip", tString)))),
		writer: rec("b.Customer", fld("address", rec("b.Address", fld("zip", tString)))),
		want:   ok(),
	},
	{
		name:   "record/nested record renamed",
		reader: rec("Customer", fld("address", rec("Location", fld("zip", tString)))),
		writer: rec("Customer", fld("address", rec("Address", fld("zip", tString)))),
		want:   bad(NameMismatch, "address"),
	},
	{
		name:   "record/nested record renamed with alias",
		reader: rec("Customer", fld("address", recAlias("Location", []string{"Address"}, fld("zip", tString)))),
		writer: rec("Customer", fld("address", rec("Address", fld("zip", tString)))),
		want:   ok(),
	},
	{
		name:   "record/renamed and a field without default: both reported",
		reader: rec("Client", fld("id", tLong), fld("email", tString)),
		writer: rec("Customer", fld("id", tLong)),
		want:   []finding{{NameMismatch, ""}, {ReaderFieldMissingDefaultValue, "email"}},
	},
	{name: "record/record reader cannot read map", reader: inRec(rec("A", fld("x", tInt))), writer: inRec(mapOf(tInt)), want: bad(TypeMismatch, "f")},
	{name: "record/empty records", reader: rec("E"), writer: rec("E"), want: ok()},
}

var fieldCases = []pairCase{
	{name: "field/writer-only field ignored", reader: rec("R", fld("a", tInt)), writer: rec("R", fld("a", tInt), fld("b", tString)), want: ok()},
	{name: "field/reader-only field with default", reader: rec("R", fld("a", tInt), fldDef("b", tString, `"x"`)), writer: rec("R", fld("a", tInt)), want: ok()},
	{name: "field/reader-only field without default", reader: rec("R", fld("a", tInt), fld("b", tString)), writer: rec("R", fld("a", tInt)), want: bad(ReaderFieldMissingDefaultValue, "b")},
	{name: "field/reader-only nullable field defaults to null", reader: rec("R", fld("a", tInt), fldDef("b", union(tNull, tString), "null")), writer: rec("R", fld("a", tInt)), want: ok()},
	{
		name:   "field/two reader-only fields without default",
		reader: rec("R", fld("b", tString), fld("a", tInt), fld("c", tBool)),
		writer: rec("R", fld("a", tInt)),
		want:   []finding{{ReaderFieldMissingDefaultValue, "b"}, {ReaderFieldMissingDefaultValue, "c"}},
	},
	{name: "field/renamed with alias", reader: rec("R", fldAlias("fullName", []string{"name"}, tString)), writer: rec("R", fld("name", tString)), want: ok()},
	{name: "field/renamed with second alias", reader: rec("R", fldAlias("fullName", []string{"label", "name"}, tString)), writer: rec("R", fld("name", tString)), want: ok()},
	{name: "field/renamed without alias or default", reader: rec("R", fld("fullName", tString)), writer: rec("R", fld("name", tString)), want: bad(ReaderFieldMissingDefaultValue, "fullName")},
	{name: "field/renamed without alias, with default", reader: rec("R", fldDef("fullName", tString, `""`)), writer: rec("R", fld("name", tString)), want: ok()},
	{
		name:   "field/alias match with an unreadable type",
		reader: rec("R", fldAlias("count", []string{"n"}, tInt)),
		writer: rec("R", fld("n", tString)),
		want:   bad(TypeMismatch, "count"),
	},
	{
		// The spec matches fields by name; aliases stand in for a name the
		// writer no longer has (Avro's Java reference implementation looks up
		// the field's own name first, then its aliases). hamba's getField
		// takes the first writer field matching either way, so it pairs reader
		// "b" with writer "a" (int) and wrongly calls these incompatible.
		name:      "field/name match wins over alias match",
		reader:    rec("R", fldAlias("b", []string{"a"}, tString)),
		writer:    rec("R", fld("a", tInt), fld("b", tString)),
		want:      ok(),
		notOracle: "hamba prefers an earlier alias match over the exact name match",
	},
	{name: "field/default does not excuse a type change", reader: rec("R", fldDef("a", tInt, "0")), writer: rec("R", fld("a", tString)), want: bad(TypeMismatch, "a")},
	{name: "field/fields reordered", reader: rec("R", fld("b", tString), fld("a", tInt)), writer: rec("R", fld("a", tInt), fld("b", tString)), want: ok()},
	{
		name:   "field/one removed and one added with default",
		reader: rec("R", fld("a", tInt), fldDef("c", tLong, "0")),
		writer: rec("R", fld("a", tInt), fld("b", tString)),
		want:   ok(),
	},
	{name: "field/all writer fields removed", reader: rec("R"), writer: rec("R", fld("a", tInt), fld("b", tString)), want: ok()},
}

// customer builds Customer{customer: Person{address: Address{...}}}: records three levels deep.
func customer(address ...string) string {
	return rec("Customer", fld("customer", rec("Person", fld("name", tString), fld("address", rec("Address", address...)))))
}

var nestedCases = []pairCase{
	{
		name:   "nested/field missing default three levels down",
		reader: customer(fld("street", tString), fld("zip", tString)),
		writer: customer(fld("street", tString)),
		want:   bad(ReaderFieldMissingDefaultValue, "customer.address.zip"),
	},
	{
		name:   "nested/type narrowed four levels down",
		reader: customer(fld("geo", rec("Geo", fld("lat", tFloat)))),
		writer: customer(fld("geo", rec("Geo", fld("lat", tDouble)))),
		want:   bad(TypeMismatch, "customer.address.geo.lat"),
	},
	{name: "nested/promotion deep down", reader: customer(fld("number", tLong)), writer: customer(fld("number", tInt)), want: ok()},
	{
		name:   "nested/enum loses a symbol deep down",
		reader: customer(fld("country", enum("Country", "DE", "FR"))),
		writer: customer(fld("country", enum("Country", "DE", "FR", "IT"))),
		want:   bad(MissingEnumSymbols, "customer.address.country"),
	},
	{
		name:   "nested/union deep down",
		reader: customer(fld("line2", union(tNull, tString))),
		writer: customer(fld("line2", tInt)),
		want:   bad(MissingUnionBranch, "customer.address.line2"),
	},
}

var item = func(fields ...string) string { return rec("Item", fields...) }

var containerCases = []pairCase{
	{name: "array/items promoted", reader: rec("R", fld("items", arr(tLong))), writer: rec("R", fld("items", arr(tInt))), want: ok()},
	{name: "array/items narrowed", reader: rec("R", fld("items", arr(tInt))), writer: rec("R", fld("items", arr(tLong))), want: bad(TypeMismatch, "items[]")},
	{
		name:   "array/record item field narrowed",
		reader: rec("Order", fld("items", arr(item(fld("sku", tString), fld("price", tFloat))))),
		writer: rec("Order", fld("items", arr(item(fld("sku", tString), fld("price", tDouble))))),
		want:   bad(TypeMismatch, "items[].price"),
	},
	{
		name:   "array/record item field missing default",
		reader: rec("Order", fld("items", arr(item(fld("sku", tString), fld("price", tDouble))))),
		writer: rec("Order", fld("items", arr(item(fld("price", tDouble))))),
		want:   bad(ReaderFieldMissingDefaultValue, "items[].sku"),
	},
	{
		name:   "array/record item field added with default",
		reader: rec("Order", fld("items", arr(item(fld("price", tDouble), fldDef("qty", tInt, "1"))))),
		writer: rec("Order", fld("items", arr(item(fld("price", tDouble))))),
		want:   ok(),
	},
	{
		name:   "map/record value field missing default",
		reader: rec("R", fld("attrs", mapOf(rec("Attr", fld("x", tString))))),
		writer: rec("R", fld("attrs", mapOf(rec("Attr", fld("y", tString))))),
		want:   bad(ReaderFieldMissingDefaultValue, "attrs{}.x"),
	},
	{name: "map/values promoted", reader: rec("R", fld("m", mapOf(tDouble))), writer: rec("R", fld("m", mapOf(tInt))), want: ok()},
	{name: "map/string values read as bytes", reader: rec("R", fld("m", mapOf(tBytes))), writer: rec("R", fld("m", mapOf(tString))), want: ok()},
	{name: "map/array reader cannot read map", reader: inRec(arr(tInt)), writer: inRec(mapOf(tInt)), want: bad(TypeMismatch, "f")},
	{name: "array/nested arrays", reader: rec("R", fld("m", arr(arr(tInt)))), writer: rec("R", fld("m", arr(arr(tString)))), want: bad(TypeMismatch, "m[][]")},
	{
		name:   "map/map of arrays of records",
		reader: rec("R", fld("attrs", mapOf(arr(rec("V", fld("x", tInt)))))),
		writer: rec("R", fld("attrs", mapOf(arr(rec("V", fld("x", tBool)))))),
		want:   bad(TypeMismatch, "attrs{}[].x"),
	},
	{
		name:   "array/root array of records",
		reader: arr(item(fld("price", tInt))),
		writer: arr(item(fld("price", tLong))),
		want:   bad(TypeMismatch, "[].price"),
	},
}

// node is a singly linked list: Node{value, [extra...], next: [null, Node]}.
func node(valueType string, extra ...string) string {
	fields := append([]string{fld("value", valueType)}, extra...)
	fields = append(fields, fldDef("next", union(tNull, q("Node")), "null"))
	return rec("Node", fields...)
}

func tree(extra ...string) string {
	return rec("Tree", append([]string{fld("children", arr(q("Tree")))}, extra...)...)
}

var recursiveCases = []pairCase{
	{name: "recursive/linked list identical", reader: node(tInt), writer: node(tInt), want: ok()},
	{name: "recursive/linked list value promoted", reader: node(tLong), writer: node(tInt), want: ok()},
	{name: "recursive/linked list value narrowed, reported once", reader: node(tInt), writer: node(tLong), want: bad(TypeMismatch, "value")},
	{name: "recursive/linked list field without default, reported once", reader: node(tInt, fld("label", tString)), writer: node(tInt), want: bad(ReaderFieldMissingDefaultValue, "label")},
	{name: "recursive/tree identical", reader: tree(fld("x", tInt)), writer: tree(fld("x", tInt)), want: ok()},
	{name: "recursive/tree field without default", reader: tree(fld("x", tInt)), writer: tree(), want: bad(ReaderFieldMissingDefaultValue, "x")},
	{
		name:   "recursive/mutual recursion",
		reader: rec("A", fld("b", union(tNull, rec("B", fld("a", union(tNull, q("A"))), fld("n", tLong))))),
		writer: rec("A", fld("b", union(tNull, rec("B", fld("a", union(tNull, q("A"))), fld("n", tInt))))),
		want:   ok(),
	},
	{
		name:   "recursive/mutual recursion narrowed",
		reader: rec("A", fld("b", union(tNull, rec("B", fld("a", union(tNull, q("A"))), fld("n", tInt))))),
		writer: rec("A", fld("b", union(tNull, rec("B", fld("a", union(tNull, q("A"))), fld("n", tLong))))),
		want:   bad(TypeMismatch, "b<B>.n"),
	},
}

var logicalCases = []pairCase{
	{name: "logical/decimal unchanged", reader: inRec(decimal(10, 2)), writer: inRec(decimal(10, 2)), want: ok()},
	{name: "logical/decimal precision differs", reader: inRec(decimal(12, 2)), writer: inRec(decimal(10, 2)), want: bad(LogicalTypeMismatch, "f")},
	{name: "logical/decimal scale differs", reader: inRec(decimal(10, 4)), writer: inRec(decimal(10, 2)), want: bad(LogicalTypeMismatch, "f")},
	{name: "logical/decimal added on bytes", reader: inRec(decimal(10, 2)), writer: inRec(tBytes), want: bad(LogicalTypeMismatch, "f")},
	{name: "logical/decimal removed from bytes", reader: inRec(tBytes), writer: inRec(decimal(10, 2)), want: bad(LogicalTypeMismatch, "f")},
	{name: "logical/decimal read from a string", reader: inRec(decimal(10, 2)), writer: inRec(tString), want: bad(LogicalTypeMismatch, "f")},
	{name: "logical/fixed decimal precision differs", reader: inRec(fixedDecimal("Money", 8, 12, 2)), writer: inRec(fixedDecimal("Money", 8, 10, 2)), want: bad(LogicalTypeMismatch, "f")},
	{name: "logical/fixed decimal added", reader: inRec(fixedDecimal("Money", 8, 12, 2)), writer: inRec(fixed("Money", 8)), want: bad(LogicalTypeMismatch, "f")},
	{name: "logical/bytes decimal vs fixed decimal", reader: inRec(decimal(10, 2)), writer: inRec(fixedDecimal("Money", 8, 10, 2)), want: bad(TypeMismatch, "f")},
	{name: "logical/timestamp millis vs micros", reader: inRec(withLogical("long", "timestamp-micros")), writer: inRec(withLogical("long", "timestamp-millis")), want: bad(LogicalTypeMismatch, "f")},
	{name: "logical/timestamp vs local-timestamp", reader: inRec(withLogical("long", "local-timestamp-micros")), writer: inRec(withLogical("long", "timestamp-micros")), want: bad(LogicalTypeMismatch, "f")},
	{name: "logical/local-timestamp millis vs micros", reader: inRec(withLogical("long", "local-timestamp-millis")), writer: inRec(withLogical("long", "local-timestamp-micros")), want: bad(LogicalTypeMismatch, "f")},
	{name: "logical/timestamp millis vs nanos", reader: inRec(withLogical("long", "timestamp-nanos")), writer: inRec(withLogical("long", "timestamp-millis")), want: bad(LogicalTypeMismatch, "f")},
	{name: "logical/timestamp nanos vs local nanos", reader: inRec(withLogical("long", "local-timestamp-nanos")), writer: inRec(withLogical("long", "timestamp-nanos")), want: bad(LogicalTypeMismatch, "f")},
	{name: "logical/timestamp nanos unchanged", reader: inRec(withLogical("long", "timestamp-nanos")), writer: inRec(withLogical("long", "timestamp-nanos")), want: ok()},
	{name: "logical/time-millis read as time-micros", reader: inRec(withLogical("long", "time-micros")), writer: inRec(withLogical("int", "time-millis")), want: bad(LogicalTypeMismatch, "f")},
	{name: "logical/timestamp added", reader: inRec(withLogical("long", "timestamp-millis")), writer: inRec(tLong), want: bad(LogicalTypeMismatch, "f")},
	{name: "logical/timestamp removed", reader: inRec(tLong), writer: inRec(withLogical("long", "timestamp-millis")), want: bad(LogicalTypeMismatch, "f")},
	{name: "logical/int promoted into a timestamp", reader: inRec(withLogical("long", "timestamp-millis")), writer: inRec(tInt), want: bad(LogicalTypeMismatch, "f")},
	{name: "logical/timestamp unchanged", reader: inRec(withLogical("long", "timestamp-micros")), writer: inRec(withLogical("long", "timestamp-micros")), want: ok()},
	{name: "logical/date unchanged", reader: inRec(withLogical("int", "date")), writer: inRec(withLogical("int", "date")), want: ok()},
	{name: "logical/date added follows int", reader: inRec(withLogical("int", "date")), writer: inRec(tInt), want: ok()},
	{name: "logical/date promoted to plain long", reader: inRec(tLong), writer: inRec(withLogical("int", "date")), want: ok()},
	{name: "logical/uuid added follows string", reader: inRec(withLogical("string", "uuid")), writer: inRec(tString), want: ok()},
	{name: "logical/duration follows fixed", reader: inRec(`{"type":"fixed","name":"D","size":12,"logicalType":"duration"}`), writer: inRec(fixed("D", 12)), want: ok()},
	{
		name:   "logical/reader union branch with another timestamp unit",
		reader: inRec(union(tNull, withLogical("long", "timestamp-micros"))),
		writer: inRec(withLogical("long", "timestamp-millis")),
		want:   bad(LogicalTypeMismatch, "f"),
	},
	{
		name:   "logical/decimal inside array of records",
		reader: rec("Order", fld("items", arr(item(fld("price", decimal(10, 2)))))),
		writer: rec("Order", fld("items", arr(item(fld("price", decimal(10, 3)))))),
		want:   bad(LogicalTypeMismatch, "items[].price"),
	},
}

func allPairCases() []pairCase {
	var all []pairCase
	for _, group := range [][]pairCase{
		primitiveCases(), unionCases, enumCases, fixedCases, recordCases,
		fieldCases, nestedCases, containerCases, recursiveCases, logicalCases,
	} {
		all = append(all, group...)
	}
	return all
}

func TestPairCases(t *testing.T) {
	cases := allPairCases()
	if len(cases) < 110 {
		t.Fatalf("only %d reader/writer cases; the suite promises at least 110", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Pair(parse(t, tc.reader), parse(t, tc.writer))
			assertFindings(t, got, tc.want)
		})
	}
}

func assertFindings(t *testing.T, got []Incompatibility, want []finding) {
	t.Helper()
	gotFindings := make([]finding, len(got))
	for i, inc := range got {
		gotFindings[i] = finding{inc.Type, inc.Path}
	}
	if !slices.Equal(gotFindings, want) {
		t.Fatalf("findings:\n got  %v\n want %v\n all: %+v", gotFindings, want, got)
	}
	for _, inc := range got {
		if inc.Message == "" || !strings.Contains(inc.Message, inc.Path) {
			t.Errorf("message %q should name the path %q", inc.Message, inc.Path)
		}
	}
}

// TestPairAgreesWithHamba cross-checks the verdict (not the details) with
// hamba's checker wherever the Avro spec alone decides it: not for logical
// type governance, which is Waybill's own rule, nor for the cases in which
// hamba departs from the spec (each says why).
func TestPairAgreesWithHamba(t *testing.T) {
	checked := 0
	for _, tc := range allPairCases() {
		if tc.notOracle != "" || slices.ContainsFunc(tc.want, func(f finding) bool { return f.Type == LogicalTypeMismatch }) {
			continue
		}
		checked++
		t.Run(tc.name, func(t *testing.T) {
			reader, writer := parse(t, tc.reader), parse(t, tc.writer)
			// A fresh checker per call: hamba's caches answers by fingerprint.
			hambaErr := avro.NewSchemaCompatibility().Compatible(reader, writer)
			ours := Pair(reader, writer)
			if (hambaErr == nil) != (len(ours) == 0) {
				t.Fatalf("hamba says %v, Pair says %+v", hambaErr, ours)
			}
		})
	}
	if checked < 100 {
		t.Fatalf("only %d cases cross-checked", checked)
	}
}

// TestPairReportsEveryProblem: one schema change with five problems yields
// five incompatibilities, in reader field order, each with its path.
func TestPairReportsEveryProblem(t *testing.T) {
	writer := rec("Order",
		fld("id", tString),
		fld("customer", rec("Customer", fld("name", tString))),
		fld("status", enum("Status", "NEW", "PAID", "SHIPPED")),
	)
	reader := rec("Order",
		fld("id", tLong),  // string cannot be read as long
		fld("a", tString), // new, no default
		fld("b", tInt),    // new, no default
		fld("customer", rec("Customer", fld("name", tString), fld("c", tDouble))), // new nested, no default
		fld("status", enum("Status", "NEW", "PAID")),                              // SHIPPED unknown
	)
	got := Pair(parse(t, reader), parse(t, writer))
	assertFindings(t, got, []finding{
		{TypeMismatch, "id"},
		{ReaderFieldMissingDefaultValue, "a"},
		{ReaderFieldMissingDefaultValue, "b"},
		{ReaderFieldMissingDefaultValue, "customer.c"},
		{MissingEnumSymbols, "status"},
	})
}

func TestPairMessages(t *testing.T) {
	tests := []struct {
		name           string
		reader, writer string
		want           string
	}{
		{
			name:   "missing default",
			reader: customer(fld("street", tString), fld("zip", tString)),
			writer: customer(fld("street", tString)),
			want:   `field "zip" (customer.address.zip) is in the reader but missing in the writer and has no default`,
		},
		{
			name:   "type mismatch",
			reader: inRec(tInt), writer: inRec(tString),
			want: `at f: the reader's int cannot read the writer's string`,
		},
		{
			name:   "enum symbols",
			reader: inRec(enum("a.Status", "NEW")), writer: inRec(enum("a.Status", "NEW", "PAID", "SHIPPED")),
			want: `at f: the reader's enum "a.Status" lacks the writer's symbols [PAID, SHIPPED] and has no default symbol`,
		},
		{
			name:   "union branch",
			reader: union(tNull, tString), writer: tInt,
			want: `at the root: the reader's union [null, string] has no branch that can read the writer's int`,
		},
		{
			name:   "logical type",
			reader: inRec(decimal(12, 2)), writer: inRec(tBytes),
			want: `at f: the reader's bytes is decimal(12,2) but the writer's bytes is plain (no governed logical type)`,
		},
		{
			name:   "name",
			reader: rec("a.Client"), writer: rec("b.Customer"),
			want: `at the root: the reader's record "a.Client" does not match the writer's record "b.Customer": the names differ and no reader alias is "b.Customer"`,
		},
		{
			name:   "fixed size",
			reader: inRec(fixed("Md5", 16)), writer: inRec(fixed("Md5", 32)),
			want: `at f: the reader's fixed "Md5" has size 16 but the writer's "Md5" has size 32`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Pair(parse(t, tt.reader), parse(t, tt.writer))
			if len(got) != 1 || got[0].Message != tt.want {
				t.Fatalf("got %+v\nwant one with message %q", got, tt.want)
			}
		})
	}
}

// TestPairIsStateless: the same names with different defaults, checked one
// after the other, each get their own answer (hamba's shared cache would
// reuse the first, as canonical form drops defaults).
func TestPairIsStateless(t *testing.T) {
	writer := parse(t, rec("R", fld("a", tInt)))
	withDefault := parse(t, rec("R", fld("a", tInt), fldDef("b", tInt, "0")))
	withoutDefault := parse(t, rec("R", fld("a", tInt), fld("b", tInt)))

	for round := range 2 {
		if got := Pair(withDefault, writer); len(got) != 0 {
			t.Fatalf("round %d: with default: %+v", round, got)
		}
		assertFindings(t, Pair(withoutDefault, writer), bad(ReaderFieldMissingDefaultValue, "b"))
	}
}

// TestPairSharedTypeReportedAtEachPath: a record used by two fields is
// broken in both places, and each place is reported.
func TestPairSharedTypeReportedAtEachPath(t *testing.T) {
	reader := rec("Order",
		fld("billing", rec("Address", fld("zip", tString))),
		fld("shipping", q("Address")))
	writer := rec("Order",
		fld("billing", rec("Address", fld("street", tString))),
		fld("shipping", q("Address")))
	assertFindings(t, Pair(parse(t, reader), parse(t, writer)), []finding{
		{ReaderFieldMissingDefaultValue, "billing.zip"},
		{ReaderFieldMissingDefaultValue, "shipping.zip"},
	})
}

// TestPairWriterUnionSharingReaderRecord: two writer branches (one matched by
// name, one by alias) resolve to the same reader record; its problem is listed once.
func TestPairWriterUnionSharingReaderRecord(t *testing.T) {
	reader := inRec(recAlias("Card", []string{"OldCard"}, fld("number", tString), fld("cvv", tString)))
	writer := inRec(union(rec("Card", fld("number", tString)), rec("OldCard", fld("number", tString))))
	assertFindings(t, Pair(parse(t, reader), parse(t, writer)), bad(ReaderFieldMissingDefaultValue, "f.cvv"))
}
