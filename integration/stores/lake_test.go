package stores

import (
	"log/slog"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/adapters/avrovalue"
	"github.com/waybill-data/waybill/adapters/lake"
	"github.com/waybill-data/waybill/integration/sinktest"
	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/target"
	"github.com/waybill-data/waybill/routing/verify"
)

// TestLakeConformance runs the suite against the local-filesystem lake. It reads the
// files back with hamba's decoder (lake.ReadFile), not the writer's code.
func TestLakeConformance(t *testing.T) {
	root := t.TempDir()
	sinktest.Run(t, sinktest.Store{
		Name:   "lake",
		Modes:  []routing.Mode{routing.Append},
		Target: "{contract}",
		Open: func(t *testing.T, _ routing.Class) routing.Sink {
			s, err := lake.New(lake.Config{Path: root}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatalf("lake.New: %v", err)
			}
			return s
		},
		Read: func(t *testing.T, route routing.Route, contract string) []sinktest.Stored {
			dir := target.MustParse(route.Target).Render(contract, route.Name, sinktest.Epoch)
			files, err := lake.Scan(root)
			if err != nil {
				t.Fatalf("lake.Scan: %v", err)
			}
			var out []sinktest.Stored
			for _, f := range files {
				if f.Dir != dir {
					continue
				}
				events, err := lake.ReadFile(f.Path)
				if err != nil {
					t.Fatalf("reading %s: %v", f.Path, err)
				}
				for _, ev := range events {
					out = append(out, sinktest.Stored{ID: ev.ID, Key: ev.Key, Time: ev.Time, SchemaID: ev.SchemaID,
						Value: hambaToValue(t, ev.SchemaID, ev.Data)})
				}
			}
			return out
		},
		Inventory: func(t *testing.T) verify.Inventory {
			inv, err := lake.OpenInventory(lake.Config{Path: root}, nil)
			if err != nil {
				t.Fatalf("lake.OpenInventory: %v", err)
			}
			return inv
		},
		Skip: map[string]string{},
	})
}

// hambaToValue turns a record as hamba decoded it into an avrovalue tree, by encoding
// it again with hamba and decoding that: hamba's value shapes (unions as maps, fixed as
// arrays) then need no mapping of their own here.
func hambaToValue(t *testing.T, schemaID int, data map[string]any) any {
	t.Helper()
	schema, err := sinktest.Schemas{}.Avro(schemaID)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := avro.Marshal(schema, data)
	if err != nil {
		t.Fatalf("re-encoding a stored record: %v", err)
	}
	v, err := avrovalue.Decode(schema, raw)
	if err != nil {
		t.Fatalf("decoding a stored record: %v", err)
	}
	return v
}
