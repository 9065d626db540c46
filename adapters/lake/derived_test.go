package lake

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"

	"github.com/waybill-data/waybill/routing"
)

// TestSchemaChangesWithinAStream: the router's PII handling may give one schema id a
// different (derived) schema from one batch to the next, when the contract's policy
// changes. A stream is keyed by directory and schema id, so such batches go to one
// stream: each file embeds the schema its own batch was given, names stay distinct
// (they are sequence ranges), and the high-water mark still skips exactly what was
// committed — across the change, and after a restart.
func TestSchemaChangesWithinAStream(t *testing.T) {
	full := testSchemas(t)
	derivedText := strings.Replace(orderV1Text, `{"name":"email","type":"string","waybill.classification":"pii"},`, "", 1)
	derived, err := avro.ParseWithCache(derivedText, "", &avro.SchemaCache{})
	if err != nil {
		t.Fatal(err)
	}
	dropped := resolver{orderV1: derived}
	// Events as the router sends them under the derived schema: same schema id, data
	// without the email.
	withoutEmail := func(first, last uint64) []routing.Event {
		evs := orders(t, full, first, last, orderV1, base)
		for i := range evs {
			if evs[i].Data, err = avro.Marshal(derived, orderData(evs[i].Seq, false)); err != nil {
				t.Fatal(err)
			}
		}
		return evs
	}

	root := t.TempDir()
	s, _ := openSink(t, root, CodecDeflate)
	mustWrite(t, s, batch(full, orders(t, full, 1, 10, orderV1, base)...))
	mustWrite(t, s, batch(dropped, withoutEmail(11, 15)...))
	want := []string{fileName(orderDir9, 1, 10, orderV1), fileName(orderDir9, 11, 15, orderV1)}
	if got := files(t, root); !reflect.DeepEqual(got, want) {
		t.Fatalf("files %q, want %q", got, want)
	}
	// Re-delivery after a crash, under the derived schema, of events on both sides of
	// the change: all committed, nothing written.
	mustWrite(t, s, batch(dropped, withoutEmail(5, 15)...))
	if got := files(t, root); !reflect.DeepEqual(got, want) {
		t.Fatalf("after re-delivery: files %q, want %q", got, want)
	}
	s.Close()
	s2, _ := openSink(t, root, CodecDeflate)
	mustWrite(t, s2, batch(dropped, withoutEmail(12, 14)...))
	mustWrite(t, s2, batch(full, orders(t, full, 13, 20, orderV1, base)...))
	want = append(want, fileName(orderDir9, 16, 20, orderV1))
	if got := files(t, root); !reflect.DeepEqual(got, want) {
		t.Fatalf("after restart: files %q, want %q", got, want)
	}

	// Each file's writer schema is the one its batch had, read with hamba's decoder.
	for i, name := range want {
		f, err := os.Open(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		dec, err := ocf.NewDecoder(f)
		if err != nil {
			t.Fatal(err)
		}
		_, hasEmail := schemaField(t, dec.Schema(), "email")
		if wantEmail := i != 1; hasEmail != wantEmail {
			t.Errorf("%s: writer schema has email = %v, want %v", name, hasEmail, wantEmail)
		}
		f.Close()
	}
	got := allEvents(t, root)
	if len(got) != 20 {
		t.Fatalf("%d events stored, want 20", len(got))
	}
	for i, ev := range got {
		_, hasEmail := ev.Data["email"]
		if ev.Seq != uint64(i+1) || hasEmail != (ev.Seq < 11 || ev.Seq > 15) {
			t.Errorf("stored event %d: seq %d, email present %v", i, ev.Seq, hasEmail)
		}
	}
}

// schemaField finds a field of the wrapper's data record.
func schemaField(t *testing.T, wrapper avro.Schema, name string) (*avro.Field, bool) {
	t.Helper()
	for _, f := range wrapper.(*avro.RecordSchema).Fields() {
		if f.Name() != "data" {
			continue
		}
		for _, df := range f.Type().(*avro.RecordSchema).Fields() {
			if df.Name() == name {
				return df, true
			}
		}
	}
	return nil, false
}
