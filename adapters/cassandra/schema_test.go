package cassandra

import (
	"strings"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/routing"
)

func TestTableName(t *testing.T) {
	long := strings.Repeat("a", 60)
	tests := []struct{ in, want string }{
		{"wb_checkout.order_placed", "wb_checkout_order_placed"},
		{"Events/2024-03/Orders", "events_2024_03_orders"},
		{"2024_events", "t_2024_events"},
		{"_x", "t__x"},
		{"", "t_"},
		{long, ""}, // checked below: cut, hashed, distinct
	}
	for _, tt := range tests {
		got := TableName(tt.in)
		if tt.in == long {
			if len(got) != 48 || !strings.HasPrefix(got, long[:39]+"_") || got == TableName(long+"b") {
				t.Errorf("TableName(60 a's) = %q, want 48 characters, a hash suffix, distinct from a longer name's", got)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("TableName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := UDTName("wb_orders", "sinktest.Inner"); got != "wb_orders__sinktest_inner" {
		t.Errorf("UDTName = %q", got)
	}
	if got := ChoiceTypeName("wb_orders", []string{"long", "sinktest.Inner"}); got != "wb_orders__union_long_sinktest_inner" {
		t.Errorf("ChoiceTypeName = %q", got)
	}
}

const ddlSchema = `{"type":"record","name":"E","namespace":"ns","fields":[
 {"name":"Flag","type":"boolean"},
 {"name":"either","type":["null","long","string"]},
 {"name":"inner","type":{"type":"record","name":"Inner","fields":[{"name":"x","type":"int"},{"name":"tags","type":{"type":"array","items":"string"}}]}},
 {"name":"maybe_inner","type":["null","Inner"]},
 {"name":"opt_list","type":{"type":"array","items":["null","Inner"]}},
 {"name":"m","type":{"type":"map","values":["null","long","string"]}}
]}`

// TestDDL checks the statements of both modes for a schema with user types, choices
// and collections, in dependency order.
func TestDDL(t *testing.T) {
	types := []string{
		`CREATE TYPE IF NOT EXISTS "ks"."tbl__union_long_string" ("long" bigint, "string" text)`,
		`CREATE TYPE IF NOT EXISTS "ks"."tbl__ns_inner" ("x" int, "tags" frozen<list<text>>)`,
		`CREATE TYPE IF NOT EXISTS "ks"."tbl__union_ns_inner" ("ns.Inner" frozen<"tbl__ns_inner">)`,
	}
	fields := `"Flag" boolean, "either" frozen<"tbl__union_long_string">, "inner" frozen<"tbl__ns_inner">, "maybe_inner" frozen<"tbl__ns_inner">, ` +
		`"opt_list" frozen<list<frozen<"tbl__union_ns_inner">>>, "m" frozen<map<text, frozen<"tbl__union_long_string">>>`
	names := `"Flag", "either", "inner", "maybe_inner", "opt_list", "m"`
	tests := []struct {
		mode                        routing.Mode
		table, insert, selectLatest string
	}{
		{routing.Append,
			`CREATE TABLE IF NOT EXISTS "ks"."tbl" ("_waybill_partition" text, "_waybill_day" date, "_waybill_time_us" bigint, "_waybill_id" text, "_waybill_key" text, "_waybill_contract" text, "_waybill_received_us" bigint, "_waybill_schema_id" int, ` +
				fields + `, PRIMARY KEY (("_waybill_partition", "_waybill_day"), "_waybill_time_us", "_waybill_id"))`,
			`INSERT INTO "ks"."tbl" ("_waybill_partition", "_waybill_day", "_waybill_time_us", "_waybill_id", "_waybill_key", "_waybill_contract", "_waybill_received_us", "_waybill_schema_id", ` +
				names + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			""},
		{routing.Latest,
			`CREATE TABLE IF NOT EXISTS "ks"."tbl" ("_waybill_key" text, "_waybill_id" text, "_waybill_contract" text, "_waybill_time_us" bigint, "_waybill_received_us" bigint, "_waybill_schema_id" int, ` +
				fields + `, PRIMARY KEY (("_waybill_key")))`,
			`INSERT INTO "ks"."tbl" ("_waybill_key", "_waybill_id", "_waybill_contract", "_waybill_time_us", "_waybill_received_us", "_waybill_schema_id", ` +
				names + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?`,
			`SELECT "_waybill_time_us", "_waybill_id", WRITETIME("_waybill_id") FROM "ks"."tbl" WHERE "_waybill_key" = ?`},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			d, err := newTableDef("ks", "tbl", tt.mode, avro.MustParse(ddlSchema))
			if err != nil {
				t.Fatal(err)
			}
			got := d.createTypes()
			if strings.Join(got, "\n") != strings.Join(types, "\n") {
				t.Errorf("types:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(types, "\n"))
			}
			for _, c := range []struct{ what, got, want string }{
				{"table", d.createTable(), tt.table}, {"insert", d.insert, tt.insert}, {"select", d.selectLatest, tt.selectLatest},
			} {
				if c.got != c.want {
					t.Errorf("%s:\n%s\nwant\n%s", c.what, c.got, c.want)
				}
			}
			if got, want := d.addColumn(colSpec{"New", "int", kindRegular}), `ALTER TABLE "ks"."tbl" ADD "New" int`; got != want {
				t.Errorf("addColumn = %s", got)
			}
			if got, want := d.addField("tbl__ns_inner", colSpec{"y", "text", kindRegular}), `ALTER TYPE "ks"."tbl__ns_inner" ADD "y" text`; got != want {
				t.Errorf("addField = %s", got)
			}
		})
	}
}

// TestColumnTypes checks the CQL type of every Avro type (the package doc's table).
func TestColumnTypes(t *testing.T) {
	tests := []struct{ avro, cql string }{
		{`"boolean"`, "boolean"},
		{`"int"`, "int"},
		{`"long"`, "bigint"},
		{`"float"`, "float"},
		{`"double"`, "double"},
		{`"string"`, "text"},
		{`"bytes"`, "blob"},
		{`{"type":"fixed","name":"F","size":4}`, "blob"},
		{`{"type":"enum","name":"C","symbols":["A"]}`, "text"},
		{`{"type":"array","items":"long"}`, "frozen<list<bigint>>"},
		{`{"type":"array","items":{"type":"array","items":"int"}}`, "frozen<list<frozen<list<int>>>>"},
		{`{"type":"map","values":"double"}`, "frozen<map<text, double>>"},
		{`{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`, `frozen<"tbl__r">`},
		{`["null","string"]`, "text"},
		{`["string","null"]`, "text"},
		{`["int","string"]`, `frozen<"tbl__union_int_string">`},
		{`{"type":"array","items":["null","string"]}`, `frozen<list<frozen<"tbl__union_string">>>`},
		{`{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}`, "decimal"},
		{`{"type":"fixed","name":"D","size":8,"logicalType":"decimal","precision":18,"scale":4}`, "decimal"},
		{`{"type":"long","logicalType":"timestamp-millis"}`, "timestamp"},
		{`{"type":"long","logicalType":"timestamp-micros"}`, "bigint"},
		{`{"type":"long","logicalType":"timestamp-nanos"}`, "bigint"},
		{`{"type":"long","logicalType":"local-timestamp-millis"}`, "timestamp"},
		{`{"type":"long","logicalType":"local-timestamp-micros"}`, "bigint"},
		{`{"type":"int","logicalType":"date"}`, "date"},
		{`{"type":"int","logicalType":"time-millis"}`, "time"},
		{`{"type":"long","logicalType":"time-micros"}`, "time"},
		{`{"type":"string","logicalType":"uuid"}`, "uuid"},
		{`{"type":"int","logicalType":"made-up"}`, "int"},
	}
	for _, tt := range tests {
		schema := `{"type":"record","name":"T","fields":[{"name":"f","type":` + tt.avro + `}]}`
		d, err := newTableDef("ks", "tbl", routing.Append, avro.MustParse(schema))
		if err != nil {
			t.Errorf("%s: %v", tt.avro, err)
			continue
		}
		if got := d.columns[len(d.columns)-1].typ; got != tt.cql {
			t.Errorf("%s: column type %s, want %s", tt.avro, got, tt.cql)
		}
	}
}

func TestTableDefRefuses(t *testing.T) {
	tests := []struct{ schema, want string }{
		{`{"type":"record","name":"T","fields":[{"name":"_waybill_id","type":"string"}]}`, `field "_waybill_id": names starting with _waybill_ are reserved`},
		{`{"type":"record","name":"T","fields":[{"name":"n","type":"null"}]}`, "field n: a null field has no CQL type"},
		{`{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]}]}`, "record Node is recursive"},
		{`"string"`, "not a record"},
		{`{"type":"record","name":"T","fields":[{"name":"u","type":["int",{"type":"int","logicalType":"date"}]}]}`, "the union has two int branches"},
	}
	for _, tt := range tests {
		_, err := newTableDef("ks", "tbl", routing.Append, avro.MustParse(tt.schema))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.schema, err, tt.want)
		}
	}
}

func TestNormalizeType(t *testing.T) {
	tests := []struct{ a, b string }{
		{`frozen<"tbl__ns_inner">`, "frozen<tbl__ns_inner>"},
		{`frozen<list<frozen<"t__u">>>`, "list<t__u>"},
		{"frozen<map<text, bigint>>", "map<text,bigint>"},
		{"varchar", "text"},
		{"frozen<map<varchar, frozen<list<int>>>>", "map<text, list<int>>"},
	}
	for _, tt := range tests {
		if normalizeType(tt.a) != normalizeType(tt.b) {
			t.Errorf("normalizeType(%q) = %q, normalizeType(%q) = %q; want equal", tt.a, normalizeType(tt.a), tt.b, normalizeType(tt.b))
		}
	}
	if normalizeType("list<int>") == normalizeType("list<bigint>") || normalizeType("map<text, int>") == normalizeType("map<int, text>") {
		t.Error("normalizeType conflates different types")
	}
}

func TestCompareColumns(t *testing.T) {
	want := []colSpec{{"k", "text", kindPartition}, {"a", "int", kindRegular}, {"b", `frozen<"t__r">`, kindRegular}, {"c", "text", kindRegular}}
	tests := []struct {
		name     string
		have     []colSpec
		missing  string
		problems []string
	}{
		{"new table", []colSpec{{"k", "text", kindPartition}, {"a", "int", kindRegular}, {"b", "frozen<t__r>", kindRegular}, {"c", "text", kindRegular}}, "", nil},
		{"evolved", []colSpec{{"k", "text", kindPartition}, {"a", "int", kindRegular}, {"old", "text", kindRegular}}, "b,c", nil},
		{"type changed", []colSpec{{"k", "text", kindPartition}, {"a", "bigint", kindRegular}, {"b", "text", kindRegular}, {"c", "varchar", kindRegular}}, "",
			[]string{"a is bigint, the schema needs int", `b is text, the schema needs frozen<"t__r">`}},
		{"other mode", []colSpec{{"p", "text", kindPartition}, {"k", "text", kindClustering}, {"a", "int", kindRegular}}, "b,c",
			[]string{"column k is a clustering column, want partition_key", "primary key column p is not this mode's (the table was created for another mode?)"}},
		{"key missing", []colSpec{{"a", "int", kindRegular}}, "b,c", []string{"primary key column k is missing (the table was created for another mode?)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			have := map[string]colSpec{}
			for _, c := range tt.have {
				have[c.name] = c
			}
			missing, problems := compareColumns(want, have, true)
			var names []string
			for _, m := range missing {
				names = append(names, m.name)
			}
			if strings.Join(names, ",") != tt.missing || strings.Join(problems, "|") != strings.Join(tt.problems, "|") {
				t.Errorf("missing %v, problems %q; want %s, %q", names, problems, tt.missing, tt.problems)
			}
		})
	}
}
