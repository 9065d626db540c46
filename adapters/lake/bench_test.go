package lake

import (
	"context"
	"fmt"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/routing"
)

// BenchmarkWrite commits batches of 10,000 small events (one file per batch).
func BenchmarkWrite(b *testing.B) {
	for _, codec := range []string{CodecDeflate, CodecNull} {
		b.Run(codec, func(b *testing.B) {
			r := testSchemas(b)
			s, _ := openSink(b, b.TempDir(), codec)
			const n = 10_000
			evs := make([]routing.Event, n)
			for i := range evs {
				data, err := avro.Marshal(r[signup], signupData(uint64(i)))
				if err != nil {
					b.Fatal(err)
				}
				evs[i] = routing.Event{ID: fmt.Sprintf("ev-%d", i), Contract: "users.signed_up", SchemaID: signup,
					Key: "k", Time: base, Received: base, Data: data}
			}
			var seq uint64
			var bytes int
			for i := range evs {
				bytes += len(evs[i].Data)
			}
			b.SetBytes(int64(bytes))
			b.ResetTimer()
			for b.Loop() {
				for i := range evs {
					seq++
					evs[i].Seq = seq
				}
				if err := s.Write(context.Background(), batch(r, evs...)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
