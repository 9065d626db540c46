package stores

import (
	"compress/flate"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hamba/avro/v2/ocf"

	"github.com/waybill-data/waybill/adapters/avrofile"
	"github.com/waybill-data/waybill/adapters/lake"
	"github.com/waybill-data/waybill/routing"
)

// Files of the file sinks' benchmarks: both roll a file every 10,000 events.
const (
	benchFileRoute  = `class: analytic, target: "{contract}/dt={date}", roll: {max_events: 10000, max_age: 500ms}`
	benchFileEvents = 50_000
	benchFileDay    = "dt=2024-03-01" // benchEpoch's
)

// benchFileRecord is one order as the direct file writers store it: the record the
// file sinks write (avrofile's waybill.Event wrapper around the contract's record).
type benchFileRecord struct {
	Seq      int64            `avro:"seq"`
	ID       string           `avro:"id"`
	Key      string           `avro:"key"`
	Time     time.Time        `avro:"time"`
	Received time.Time        `avro:"received"`
	SchemaID int              `avro:"schema_id"`
	Data     benchOrderRecord `avro:"data"`
}

var benchFileSchema = func() string {
	w, err := avrofile.NewWrapper(benchAvro)
	if err != nil {
		panic(err)
	}
	return string(w.JSON())
}()

// encodeBenchFile writes orders (sequence numbers from first) as one Avro object
// container file with hamba's encoder, as the sinks do: codec, deflate level
// (BestSpeed) and block target (1 MiB) alike.
func encodeBenchFile(w io.Writer, codec string, first int, orders []benchOrder) error {
	opts := []ocf.EncoderFunc{ocf.WithBlockLength(0), ocf.WithBlockSize(1 << 20)}
	if avrofile.Codec(codec) == avrofile.CodecDeflate {
		opts = append(opts, ocf.WithCompressionLevel(flate.BestSpeed))
	}
	enc, err := ocf.NewEncoder(benchFileSchema, w, opts...)
	if err != nil {
		return err
	}
	received := time.Now()
	for i := range orders {
		o := &orders[i]
		if err := enc.Encode(benchFileRecord{Seq: int64(first + i), ID: o.id, Key: o.customer, Time: o.placed,
			Received: received, SchemaID: benchSchemaID, Data: o.record()}); err != nil {
			return err
		}
	}
	return enc.Close()
}

// benchFiles writes the orders as files of batch events each, by commit.
func benchFiles(orders []benchOrder, batch int, commit func(name string, first int, orders []benchOrder) error) error {
	for from := 0; from < len(orders); from += batch {
		if err := commit(fmt.Sprintf("part-%07d.avro", from+1), from+1, orders[from:min(from+batch, len(orders))]); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkLake: the lake sink (default codec, deflate) against files written with
// os.Create and hamba's OCF encoder, fsync, rename and a directory fsync, as a careful
// writer of local files would.
func BenchmarkLake(b *testing.B) {
	root := b.TempDir()
	runStoreBench(b, storeBench{
		events: benchFileEvents, keys: 100, route: benchFileRoute,
		open: func(b *testing.B, which string) routing.Sink {
			s, err := lake.New(lake.Config{Path: filepath.Join(root, which)}, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
		direct: func(b *testing.B, n benchNames, batch int) func(context.Context, []benchOrder) error {
			dir := filepath.Join(root, "direct", n.direct, benchFileDay)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			return func(_ context.Context, orders []benchOrder) error {
				return benchFiles(orders, batch, func(name string, first int, orders []benchOrder) error {
					return writeLocalFile(dir, name, first, orders)
				})
			}
		},
		drop: func(b *testing.B, way, contract string) {
			if err := os.RemoveAll(filepath.Join(root, way, contract)); err != nil {
				b.Fatal(err)
			}
		},
	})
}

// writeLocalFile commits one file: a temporary name, fsync, rename, directory fsync.
func writeLocalFile(dir, name string, first int, orders []benchOrder) error {
	tmp := filepath.Join(dir, ".tmp-"+name)
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	err = encodeBenchFile(f, avrofile.CodecDeflate, first, orders)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
