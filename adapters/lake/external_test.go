package lake

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/waybill-data/waybill/routing"
)

// needTool returns the path of an external checker, skipping the test when it is
// missing, except in CI (env CI set) where a missing checker is a failure.
func needTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required in CI but missing: %s", name, install)
		}
		t.Skipf("%s not found, skipping the independent-reader check; install it with: %s", name, install)
	}
	return p
}

// externalFixture writes orders 1..6 (three with a shipping address) and a signup
// with the given codec and returns the committed files.
func externalFixture(t *testing.T, codec string) ([]CommittedFile, []routing.Event) {
	r := testSchemas(t)
	root := t.TempDir()
	s, _ := openSink(t, root, codec)
	evs := append(orders(t, r, 1, 6, orderV1, base), mkEvent(t, r, 7, signup, base))
	mustWrite(t, s, batch(r, evs...))
	cfs, err := Scan(root)
	if err != nil || len(cfs) != 2 {
		t.Fatalf("Scan: %v, %d files", err, len(cfs))
	}
	return cfs, evs
}

// TestAvrocat reads committed files with avrocat (Apache Avro C, Debian's avro-bin).
func TestAvrocat(t *testing.T) {
	avrocat := needTool(t, "avrocat", "apt-get update && apt-get install -y avro-bin")
	for _, codec := range []string{CodecDeflate, CodecNull} {
		t.Run(codec, func(t *testing.T) {
			cfs, evs := externalFixture(t, codec)
			seen := map[string]bool{}
			for _, cf := range cfs {
				var stderr bytes.Buffer
				cmd := exec.Command(avrocat, cf.Path)
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("avrocat %s: %v\n%s", cf.Name, err, stderr.String())
				}
				sc := bufio.NewScanner(bytes.NewReader(out))
				sc.Buffer(nil, 1<<20)
				for sc.Scan() {
					var rec struct {
						Seq      uint64         `json:"seq"`
						ID       string         `json:"id"`
						Key      string         `json:"key"`
						Time     int64          `json:"time"`
						SchemaID int            `json:"schema_id"`
						Data     map[string]any `json:"data"`
					}
					if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
						t.Fatalf("avrocat line %q: %v", sc.Text(), err)
					}
					if rec.Seq < 1 || rec.Seq > uint64(len(evs)) {
						t.Fatalf("avrocat printed seq %d", rec.Seq)
					}
					ev := evs[rec.Seq-1]
					if rec.ID != ev.ID || rec.Key != ev.Key || rec.SchemaID != ev.SchemaID || rec.Time != ev.Time.UnixMicro() {
						t.Errorf("avrocat record %+v does not match event %+v", rec, ev)
					}
					seen[rec.ID] = true
					switch ev.SchemaID {
					case orderV1:
						items, _ := rec.Data["items"].([]any)
						if len(items) != 2 || items[0].(map[string]any)["sku"] != fmt.Sprintf("sku-%d", rec.Seq) {
							t.Errorf("seq %d: items %v", rec.Seq, rec.Data["items"])
						}
						if rec.Seq%2 == 0 {
							ship, _ := rec.Data["shipping"].(map[string]any)
							addr, _ := ship["Address"].(map[string]any)
							if addr["city"] != fmt.Sprintf("City %d", rec.Seq) {
								t.Errorf("seq %d: shipping %v", rec.Seq, rec.Data["shipping"])
							}
						}
					case signup:
						meta, _ := rec.Data["meta"].(map[string]any)
						if tags, _ := meta["tags"].([]any); len(tags) != 2 || tags[1] != "7" {
							t.Errorf("signup meta %v", rec.Data["meta"])
						}
					}
				}
			}
			if len(seen) != len(evs) {
				t.Errorf("avrocat printed %d distinct events, want %d", len(seen), len(evs))
			}
		})
	}
}

const pythonReader = `
import json, sys
from avro.datafile import DataFileReader
from avro.io import DatumReader
for path in sys.argv[1:]:
    with open(path, "rb") as fh:
        for rec in DataFileReader(fh, DatumReader()):
            print(json.dumps(rec, default=str))
`

// TestPythonAvro reads committed files with Debian's python3-avro (Apache Avro's
// Python implementation), which also applies the logical types.
func TestPythonAvro(t *testing.T) {
	py := "/usr/bin/python3"
	if exec.Command(py, "-c", "import avro.datafile").Run() != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s with the avro module is required in CI: apt-get install -y python3-avro", py)
		}
		t.Skipf("%s cannot import avro; install it with: apt-get install -y python3-avro", py)
	}
	for _, codec := range []string{CodecDeflate, CodecNull} {
		t.Run(codec, func(t *testing.T) {
			cfs, evs := externalFixture(t, codec)
			args := []string{"-c", pythonReader}
			for _, cf := range cfs {
				args = append(args, cf.Path)
			}
			out, err := exec.Command(py, args...).CombinedOutput()
			if err != nil {
				t.Fatalf("python3 avro reader: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != len(evs) {
				t.Fatalf("python printed %d records, want %d:\n%s", len(lines), len(evs), out)
			}
			for _, line := range lines {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				seq := uint64(rec["seq"].(float64))
				ev := evs[seq-1]
				wantTime := ev.Time.UTC().Format("2006-01-02 15:04:05.000000+00:00")
				if rec["id"] != ev.ID || rec["time"] != wantTime {
					t.Errorf("record %v: want id %s time %s", rec, ev.ID, wantTime)
				}
				data := rec["data"].(map[string]any)
				if ev.SchemaID == orderV1 {
					if want := fmt.Sprintf("%d.99", seq); data["amount"] != want {
						t.Errorf("seq %d: amount %v, want %s", seq, data["amount"], want)
					}
					if data["placed_at"] != base.Truncate(time.Millisecond).Format("2006-01-02 15:04:05.000000+00:00") {
						t.Errorf("seq %d: placed_at %v", seq, data["placed_at"])
					}
				}
			}
		})
	}
}
