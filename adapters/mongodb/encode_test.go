package mongodb

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/waybill-data/waybill/adapters/avrovalue"
	"github.com/waybill-data/waybill/routing"
)

// oneField is a schema registry of single-field records, one per test case.
type oneField map[int]avro.Schema

func (s oneField) Avro(id int) (avro.Schema, error) {
	if sc, ok := s[id]; ok {
		return sc, nil
	}
	return nil, fmt.Errorf("no schema %d", id)
}

func dec128(t *testing.T, s string) bson.Decimal128 {
	d, err := bson.ParseDecimal128(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestEncodeTypes checks, per Avro type, the BSON value the sink stores (the table of
// the package documentation) and that DecodeDocument reads back the value avrovalue
// decodes from the event.
func TestEncodeTypes(t *testing.T) {
	at := time.Date(2024, 3, 1, 9, 30, 15, 123456000, time.UTC)
	old := time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC)
	tests := []struct {
		name    string
		schema  string
		value   any
		decimal string
		want    any // the BSON value of field f, as the bson package marshals it
	}{
		{"null", `"null"`, nil, "", nil},
		{"boolean", `"boolean"`, true, "", true},
		{"int", `"int"`, int32(math.MinInt32), "", int32(math.MinInt32)},
		{"long", `"long"`, int64(math.MaxInt64), "", int64(math.MaxInt64)},
		{"float", `"float"`, float32(-0.1), "", float64(float32(-0.1))},
		{"double", `"double"`, 5e-324, "", 5e-324},
		{"string", `"string"`, "Grüße\x00", "", "Grüße\x00"},
		{"bytes", `"bytes"`, []byte{0, 255}, "", bson.Binary{Data: []byte{0, 255}}},
		{"empty bytes", `"bytes"`, []byte{}, "", bson.Binary{Data: []byte{}}},
		{"fixed", `{"type":"fixed","name":"H","size":2}`, [2]byte{1, 2}, "", bson.Binary{Data: []byte{1, 2}}},
		{"enum", `{"type":"enum","name":"C","symbols":["RED","GREEN"]}`, "GREEN", "", "GREEN"},
		{"array", `{"type":"array","items":"int"}`, []int32{3, 1}, "", bson.A{int32(3), int32(1)}},
		{"map escapes keys", `{"type":"map","values":"long"}`, map[string]int64{"a.b": 1, "$c": 2, "100%": 3, "plain": 4}, "",
			bson.D{{Key: "%24c", Value: int64(2)}, {Key: "100%25", Value: int64(3)}, {Key: "a%2Eb", Value: int64(1)}, {Key: "plain", Value: int64(4)}}},
		{"record", `{"type":"record","name":"In","fields":[{"name":"x","type":"int"},{"name":"_id","type":"string"}]}`,
			map[string]any{"x": 7, "_id": "nested ids are fine"}, "", bson.D{{Key: "x", Value: int32(7)}, {Key: "_id", Value: "nested ids are fine"}}},
		{"union null", `["null","long","string"]`, nil, "", nil},
		{"union long", `["null","long","string"]`, map[string]any{"long": int64(-9)}, "", int64(-9)},
		{"union string", `["null","long","string"]`, map[string]any{"string": "s"}, "", "s"},
		{"union record", `["null",{"type":"record","name":"U","fields":[{"name":"y","type":"string"}]}]`, map[string]any{"t.U": map[string]any{"y": "z"}}, "",
			bson.D{{Key: "y", Value: "z"}}},
		{"decimal128", `{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}`, big.NewRat(-1230, 100), "", dec128(t, "-12.30")},
		{"decimal128 keeps trailing zeros", `{"type":"bytes","logicalType":"decimal","precision":12,"scale":3}`, big.NewRat(15, 10), "", dec128(t, "1.500")},
		{"decimal fixed", `{"type":"fixed","name":"A","size":8,"logicalType":"decimal","precision":18,"scale":4}`, big.NewRat(1, 10000), "", dec128(t, "0.0001")},
		{"decimal as text", `{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}`, big.NewRat(-5, 100), DecimalString, "-0.05"},
		{"decimal too wide for Decimal128", `{"type":"bytes","logicalType":"decimal","precision":40,"scale":2}`,
			new(big.Rat).SetFrac(new(big.Int).Exp(big.NewInt(10), big.NewInt(37), nil), big.NewInt(100)), "", "1" + strings.Repeat("0", 35) + ".00"},
		{"timestamp-millis", `{"type":"long","logicalType":"timestamp-millis"}`, at.Truncate(time.Millisecond), "", bson.DateTime(at.UnixMilli())},
		{"timestamp-micros", `{"type":"long","logicalType":"timestamp-micros"}`, at, "", at.UnixMicro()},
		{"timestamp-micros before 1970", `{"type":"long","logicalType":"timestamp-micros"}`, old, "", int64(-1)},
		{"local-timestamp-millis", `{"type":"long","logicalType":"local-timestamp-millis"}`, at.Truncate(time.Millisecond), "", bson.DateTime(at.UnixMilli())},
		{"local-timestamp-micros", `{"type":"long","logicalType":"local-timestamp-micros"}`, at, "", at.UnixMicro()},
		{"date", `{"type":"int","logicalType":"date"}`, time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), "", bson.DateTime(time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())},
		{"time-millis", `{"type":"int","logicalType":"time-millis"}`, 13*time.Hour + 5*time.Millisecond, "", int32((13*time.Hour + 5*time.Millisecond) / time.Millisecond)},
		{"time-micros", `{"type":"long","logicalType":"time-micros"}`, 24*time.Hour - time.Microsecond, "", int64((24*time.Hour - time.Microsecond) / time.Microsecond)},
		{"uuid", `{"type":"string","logicalType":"uuid"}`, "6ba7b810-9dad-11d1-80b4-00c04fd430c8", "", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"},
	}
	schemas := oneField{}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			schema := avro.MustParse(`{"type":"record","name":"R","namespace":"t","fields":[{"name":"f","type":` + tt.schema + `}]}`)
			schemas[i] = schema
			data, err := avro.Marshal(schema, map[string]any{"f": tt.value})
			if err != nil {
				t.Fatalf("encoding the event: %v", err)
			}
			ev := routing.Event{ID: "e1", Contract: "c", SchemaID: i, Key: "k", Time: at, Received: at.Add(time.Second), Data: data}
			doc, err := encoder{decimalString: tt.decimal == DecimalString}.document(&ev, schema, "e1")
			if err != nil {
				t.Fatalf("document: %v", err)
			}
			got, err := bson.Raw(doc).LookupErr("f")
			if err != nil {
				t.Fatalf("no field f in %s", bson.Raw(doc))
			}
			wantDoc, err := bson.Marshal(bson.D{{Key: "f", Value: tt.want}})
			if err != nil {
				t.Fatal(err)
			}
			want := bson.Raw(wantDoc).Lookup("f")
			if got.Type != want.Type || !bytes.Equal(got.Value, want.Value) {
				t.Errorf("stored %s %s, want %s %s", got.Type, got, want.Type, want)
			}
			// And back.
			d, err := DecodeDocument(doc, schemas)
			if err != nil {
				t.Fatalf("DecodeDocument: %v", err)
			}
			orig, err := avrovalue.Decode(schema, data)
			if err != nil {
				t.Fatal(err)
			}
			if diff := avrovalue.Diff(orig, d.Value); diff != "" {
				t.Errorf("read back differs: %s", diff)
			}
			if d.ID != "e1" || d.EventID != "e1" || d.Key != "k" || d.Contract != "c" || d.SchemaID != i || !d.Time.Equal(at) || !d.Received.Equal(at.Add(time.Second)) {
				t.Errorf("metadata read back as %+v", d)
			}
		})
	}
}

// TestDocumentLayout checks the document's shape: _id first, the record's fields in
// schema order, then the metadata.
func TestDocumentLayout(t *testing.T) {
	schema := avro.MustParse(`{"type":"record","name":"R","fields":[{"name":"b","type":"int"},{"name":"a","type":"string"}]}`)
	data, _ := avro.Marshal(schema, map[string]any{"b": 1, "a": "x"})
	at := time.Date(2024, 3, 1, 9, 0, 0, 1000, time.UTC)
	ev := routing.Event{ID: "e", Contract: "shop.order", SchemaID: 3, Key: "k", Time: at, Received: at, Data: data}
	doc, err := encoder{}.document(&ev, schema, "the-id")
	if err != nil {
		t.Fatal(err)
	}
	var got bson.D
	if err := bson.Unmarshal(doc, &got); err != nil {
		t.Fatal(err)
	}
	want := bson.D{
		{Key: "_id", Value: "the-id"}, {Key: "b", Value: int32(1)}, {Key: "a", Value: "x"},
		{Key: "_waybill", Value: bson.D{
			{Key: "id", Value: "e"}, {Key: "key", Value: "k"}, {Key: "contract", Value: "shop.order"}, {Key: "schema_id", Value: int32(3)},
			{Key: "time", Value: at.UnixMicro()}, {Key: "received", Value: at.UnixMicro()}, {Key: "date", Value: bson.DateTime(at.UnixMilli())},
		}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("document\n got %v\nwant %v", got, want)
	}
}

func TestEncodeRejects(t *testing.T) {
	tests := []struct {
		name, schema string
		value        map[string]any
		data         []byte // instead of encoding value
		want         string
	}{
		{"reserved _id", `{"type":"record","name":"R","fields":[{"name":"_id","type":"string"}]}`, map[string]any{"_id": "x"}, nil, `field "_id" collides`},
		{"reserved _waybill", `{"type":"record","name":"R","fields":[{"name":"_waybill","type":"string"}]}`, map[string]any{"_waybill": "x"}, nil, `field "_waybill" collides`},
		{"truncated data", `{"type":"record","name":"R","fields":[{"name":"s","type":"string"}]}`, nil, []byte{0x10, 'a'}, "does not decode"},
		{"too large", `{"type":"record","name":"R","fields":[{"name":"b","type":"bytes"}]}`, map[string]any{"b": make([]byte, maxDocumentSize)}, nil, "more than MongoDB's limit"},
		{"not a record", `"string"`, nil, []byte{2, 'a'}, "not a record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			schema := avro.MustParse(tt.schema)
			data := tt.data
			if data == nil {
				var err error
				if data, err = avro.Marshal(schema, tt.value); err != nil {
					t.Fatal(err)
				}
			}
			ev := routing.Event{ID: "e", Data: data}
			_, err := encoder{}.document(&ev, schema, "e")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("document = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestEscapeKey(t *testing.T) {
	for _, k := range []string{"", "plain", "a.b", "$x", "%", "%2E", "a\x00b", "..$$%%", "ünï.cödé"} {
		esc := EscapeKey(k)
		if strings.ContainsAny(esc, ".$\x00") {
			t.Errorf("EscapeKey(%q) = %q still holds '.', '$' or NUL", k, esc)
		}
		back, err := UnescapeKey(esc)
		if err != nil || back != k {
			t.Errorf("UnescapeKey(EscapeKey(%q)) = %q, %v", k, back, err)
		}
	}
	for _, bad := range []string{"%", "%2", "%zz"} {
		if _, err := UnescapeKey(bad); err == nil {
			t.Errorf("UnescapeKey(%q) succeeded", bad)
		}
	}
}

func TestDecodeRejectsForeignDocuments(t *testing.T) {
	schema := avro.MustParse(`{"type":"record","name":"R","fields":[{"name":"n","type":"int"},{"name":"p","type":{"type":"bytes","logicalType":"decimal","precision":6,"scale":2}}]}`)
	meta := bson.D{{Key: "id", Value: "e"}, {Key: "key", Value: ""}, {Key: "contract", Value: "c"}, {Key: "schema_id", Value: int32(1)},
		{Key: "time", Value: int64(0)}, {Key: "received", Value: int64(0)}}
	tests := []struct {
		name string
		doc  bson.D
		want string
	}{
		{"no id", bson.D{{Key: "n", Value: int32(1)}}, "without a string _id"},
		{"no metadata", bson.D{{Key: "_id", Value: "e"}}, "no _waybill metadata"},
		{"incomplete metadata", bson.D{{Key: "_id", Value: "e"}, {Key: "_waybill", Value: bson.D{{Key: "id", Value: "e"}}}}, "incomplete"},
		{"wrong type", bson.D{{Key: "_id", Value: "e"}, {Key: "n", Value: "one"}, {Key: "p", Value: "1.00"}, {Key: "_waybill", Value: meta}}, "n: stored string does not fit"},
		{"missing field", bson.D{{Key: "_id", Value: "e"}, {Key: "n", Value: int32(1)}, {Key: "q", Value: "1.00"}, {Key: "_waybill", Value: meta}}, "field p is missing"},
		{"extra field", bson.D{{Key: "_id", Value: "e"}, {Key: "n", Value: int32(1)}, {Key: "p", Value: "1.00"}, {Key: "x", Value: 1}, {Key: "_waybill", Value: meta}}, "3 fields stored"},
		{"decimal finer than scale", bson.D{{Key: "_id", Value: "e"}, {Key: "n", Value: int32(1)}, {Key: "p", Value: dec128(t, "1.005")}, {Key: "_waybill", Value: meta}}, "more than 2 fractional digits"},
		{"decimal text finer than scale", bson.D{{Key: "_id", Value: "e"}, {Key: "n", Value: int32(1)}, {Key: "p", Value: "1.005"}, {Key: "_waybill", Value: meta}}, "not a decimal of scale 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := bson.Marshal(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			_, err = DecodeDocument(raw, oneField{1: schema})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("DecodeDocument = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
