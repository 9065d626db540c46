package compat

import (
	"fmt"
	"testing"
)

// benchSchema is version v (0..3) of a 50-field order record, as a registry
// would hold it: each version adds a field with a default and an enum symbol,
// so every version is FULL compatible with every other. v=3 has 50 fields.
func benchSchema(v int) string {
	symbols := []string{"UNKNOWN", "NEW", "PAID", "SHIPPED", "RETURNED"}[:2+v]
	fields := []string{
		fld("id", tLong),
		fld("customer", rec("com.acme.Customer",
			fld("name", tString),
			fld("email", union(tNull, tString)),
			fld("address", rec("com.acme.Address", fld("street", tString), fld("zip", tString), fld("country", tString))),
		)),
		fld("status", enumDef("com.acme.Status", "UNKNOWN", symbols...)),
		fld("items", arr(rec("com.acme.Item", fld("sku", tString), fld("qty", tInt), fld("price", decimal(10, 2))))),
		fld("attributes", mapOf(tString)),
		fldDef("payment", union(tNull, rec("com.acme.Card", fld("number", tString), fld("expiry", tInt))), "null"),
		fld("created", withLogical("long", "timestamp-millis")),
		fld("billing", q("com.acme.Address")),
	}
	cycle := []string{tInt, tLong, tString, tDouble, tBool, union(tNull, tString), tFloat, tBytes, arr(tLong), mapOf(tInt)}
	for i := len(fields); i < 47+v; i++ {
		typ := cycle[i%len(cycle)]
		if i >= 47 { // added in a later version, so it needs a default
			fields = append(fields, fldDef(fmt.Sprintf("f%d", i), union(tNull, typ), "null"))
			continue
		}
		fields = append(fields, fld(fmt.Sprintf("f%d", i), typ))
	}
	return rec("com.acme.Order", fields...)
}

func BenchmarkCheck50Fields(b *testing.B) {
	candidate := parse(b, benchSchema(3))
	prev := []Previous{
		{Version: 1, Schema: parse(b, benchSchema(0))},
		{Version: 2, Schema: parse(b, benchSchema(1))},
		{Version: 3, Schema: parse(b, benchSchema(2))},
	}
	if got := Check(FullTransitive, candidate, prev); len(got) != 0 {
		b.Fatalf("benchmark history should be compatible: %+v", got)
	}
	b.ReportAllocs()
	for b.Loop() {
		Check(FullTransitive, candidate, prev)
	}
}

func BenchmarkPair50Fields(b *testing.B) {
	reader, writer := parse(b, benchSchema(3)), parse(b, benchSchema(2))
	if got := Pair(reader, writer); len(got) != 0 {
		b.Fatalf("benchmark pair should be compatible: %+v", got)
	}
	b.ReportAllocs()
	for b.Loop() {
		Pair(reader, writer)
	}
}
