// This check decodes committed files with hamba's ocf package, a second reader of the
// container framing besides avrofile's own.

package lake

import (
	"os"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
)

func TestHambaOCFDecoder(t *testing.T) {
	for _, codec := range []string{CodecDeflate, CodecNull} {
		t.Run(codec, func(t *testing.T) {
			cfs, evs := externalFixture(t, codec)
			n := 0
			for _, cf := range cfs {
				f, err := os.Open(cf.Path)
				if err != nil {
					t.Fatal(err)
				}
				dec, err := ocf.NewDecoder(f, ocf.WithDecoderSchemaCache(&avro.SchemaCache{}))
				if err != nil {
					t.Fatalf("%s: %v", cf.Name, err)
				}
				if got := string(dec.Metadata()["avro.codec"]); got != codec {
					t.Errorf("codec %q", got)
				}
				for dec.HasNext() {
					var rec struct {
						Seq  int64          `avro:"seq"`
						ID   string         `avro:"id"`
						Time time.Time      `avro:"time"`
						Data map[string]any `avro:"data"`
					}
					if err := dec.Decode(&rec); err != nil {
						t.Fatal(err)
					}
					ev := evs[rec.Seq-1]
					if rec.ID != ev.ID || !rec.Time.Equal(ev.Time.Truncate(time.Microsecond)) || rec.Data == nil {
						t.Errorf("record %+v does not match %+v", rec, ev)
					}
					n++
				}
				if err := dec.Error(); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
			if n != len(evs) {
				t.Errorf("decoded %d events, want %d", n, len(evs))
			}
		})
	}
}
