package stores

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/adapters/webhdfs"
	"github.com/waybill-data/waybill/integration/internal/testproc"
	"github.com/waybill-data/waybill/integration/sinktest"
	hdfstest "github.com/waybill-data/waybill/integration/testserver/webhdfs"
	"github.com/waybill-data/waybill/routing"
)

// The WebHDFS sink's own behaviour on the test server: crashes at each step of the
// commit protocol, lost answers, cleanup, no clobbering, refusals, failover, deadlines
// and tokens. What the files hold is read back as the conformance suite does
// (readWebHDFSDir: plain net/http and hamba's OCF decoder).

var hdfsRoute = routing.Route{Name: "hdfs", Class: routing.Analytic, Mode: routing.Append, Target: hdfsTarget}

const hdfsContract = "orders"

// hdfsDir is where hdfsRoute puts hdfsContract's events of sinktest.Epoch's day.
func hdfsDir(c *webhdfsCluster) string { return c.root + "/" + hdfsContract + "/dt=2024-03-01" }

// hdfsEvents are order events with sequence numbers first..last.
func hdfsEvents(t testing.TB, first, last uint64) []routing.Event {
	t.Helper()
	schema, _ := sinktest.Schemas{}.Avro(sinktest.OrderSchemaID)
	var evs []routing.Event
	for seq := first; seq <= last; seq++ {
		id := fmt.Sprintf("ev-%04d", seq)
		at := sinktest.Epoch.Add(time.Duration(seq) * time.Second)
		data, err := avro.Marshal(schema, map[string]any{"order_id": id, "customer": fmt.Sprintf("c%d", seq%7), "qty": int(seq % 5),
			"total": big.NewRat(int64(seq)*125, 100), "placed_at": at.Truncate(time.Millisecond), "note": map[string]any{"string": "note " + id}})
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, routing.Event{Seq: seq, ID: id, Contract: hdfsContract, SchemaID: sinktest.OrderSchemaID,
			Key: fmt.Sprintf("k%d", seq%3), Time: at, Received: at.Add(time.Millisecond), Data: data})
	}
	return evs
}

func hdfsBatch(evs []routing.Event) *routing.Batch {
	return &routing.Batch{Route: hdfsRoute, Events: evs, Schemas: sinktest.Schemas{}}
}

func (c *webhdfsCluster) openLogged(t *testing.T, cfg webhdfs.Config) (*webhdfs.Sink, *testproc.SyncBuffer) {
	t.Helper()
	logs := &testproc.SyncBuffer{}
	s, err := webhdfs.New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

// testServerOnly returns a cluster on the test server; these tests inject faults.
func testServerOnly(t *testing.T) *webhdfsCluster {
	t.Helper()
	c := newWebHDFSCluster(t)
	if c.srv == nil {
		t.Skip("this test injects faults, which needs the test server; WAYBILL_TEST_WEBHDFS names a real cluster")
	}
	return c
}

// expectFiles checks the directory's committed data files (by name), that each has
// its manifest, and that together they hold each of seqs exactly once.
func expectFiles(t *testing.T, c *webhdfsCluster, names []string, seqs []uint64) {
	t.Helper()
	files := readWebHDFSDir(t, c, hdfsDir(c))
	var got []string
	count := map[uint64]int{}
	for _, f := range files {
		got = append(got, f.name)
		if f.manifest == nil {
			t.Errorf("%s has no manifest", f.name)
		}
		for _, r := range f.records {
			count[uint64(r.Seq)]++
		}
	}
	if !slices.Equal(got, names) {
		t.Errorf("data files\n got %q\nwant %q", got, names)
	}
	for _, s := range seqs {
		if count[s] != 1 {
			t.Errorf("event seq %d stored %d times", s, count[s])
		}
		delete(count, s)
	}
	for s, n := range count {
		t.Errorf("unexpected event seq %d stored %d times", s, n)
	}
}

func seqs(first, last uint64) []uint64 {
	var out []uint64
	for s := first; s <= last; s++ {
		out = append(out, s)
	}
	return out
}

func part(first, last uint64) string {
	return fmt.Sprintf("part-%020d-%020d-s%d.avro", first, last, sinktest.OrderSchemaID)
}

// TestWebHDFSCrashBetweenCreateAndRename: the router dies after the temporary file is
// complete and before the rename (the server refuses the rename and the cleanup, as
// a dead process would not do them). After a restart the router re-sends from its
// cursor with other batch boundaries: the stale temporary file goes, every event is
// stored once.
func TestWebHDFSCrashBetweenCreateAndRename(t *testing.T) {
	c := testServerOnly(t)
	s1 := c.open(t, c.config(""))
	if err := ctxWrite(s1, hdfsBatch(hdfsEvents(t, 1, 5))); err != nil {
		t.Fatal(err)
	}
	c.srv.FailWrites(hdfstest.Fault{Ops: []string{"RENAME", "DELETE"}, Reset: true, Times: -1})
	err := ctxWrite(s1, hdfsBatch(hdfsEvents(t, 6, 10)))
	if err == nil || !routing.Retryable(err) {
		t.Fatalf("Write while renames fail: %v, want a retryable error", err)
	}
	s1.Close() // the crash
	c.srv.ClearFaults()
	var temps []string
	for _, n := range c.srv.List(hdfsDir(c)) {
		if strings.HasPrefix(n, ".tmp-"+part(6, 10)) {
			temps = append(temps, n)
		}
	}
	if len(temps) != 1 {
		t.Fatalf("the crash should leave the complete temporary file of 6..10, found %q", c.srv.List(hdfsDir(c)))
	}
	if data, _ := c.srv.ReadFile(hdfsDir(c) + "/" + temps[0]); !bytes.HasPrefix(data, []byte("Obj\x01")) {
		t.Fatalf("the temporary file is not a container file")
	}

	s2, logs := c.openLogged(t, c.config(""))
	if err := ctxWrite(s2, hdfsBatch(hdfsEvents(t, 3, 8))); err != nil {
		t.Fatal(err)
	}
	if err := ctxWrite(s2, hdfsBatch(hdfsEvents(t, 9, 12))); err != nil {
		t.Fatal(err)
	}
	expectFiles(t, c, []string{part(1, 5), part(6, 8), part(9, 12)}, seqs(1, 12))
	if !strings.Contains(logs.String(), "removed stale temporary file") {
		t.Errorf("the cleanup was not logged:\n%s", logs)
	}
}

// TestWebHDFSCrashBetweenRenameAndManifest: the router dies after the rename, before
// the manifest. After a restart the data file counts (nothing is written twice) and
// gets its manifest.
func TestWebHDFSCrashBetweenRenameAndManifest(t *testing.T) {
	c := testServerOnly(t)
	s1 := c.open(t, c.config(""))
	c.srv.FailWrites(hdfstest.Fault{Ops: []string{"CREATE", "DELETE"}, PathContains: ".manifest.json", Reset: true, Times: -1})
	c.srv.FailWrites(hdfstest.Fault{Ops: []string{"DELETE"}, Reset: true, Times: -1})
	if err := ctxWrite(s1, hdfsBatch(hdfsEvents(t, 1, 6))); err == nil || !routing.Retryable(err) {
		t.Fatalf("Write while manifests fail: %v, want a retryable error", err)
	}
	s1.Close()
	c.srv.ClearFaults()
	if names := c.srv.List(hdfsDir(c)); !slices.Contains(names, part(1, 6)) || slices.Contains(names, part(1, 6)+".manifest.json") {
		t.Fatalf("after the crash the directory holds %q, want the data file without its manifest", names)
	}
	c.srv.ClearRequests()
	s2, logs := c.openLogged(t, c.config(""))
	if err := ctxWrite(s2, hdfsBatch(hdfsEvents(t, 1, 9))); err != nil {
		t.Fatal(err)
	}
	expectFiles(t, c, []string{part(1, 6), part(7, 9)}, seqs(1, 9))
	if !strings.Contains(logs.String(), "regenerated manifest") {
		t.Errorf("the manifest was not regenerated:\n%s", logs)
	}
	// The re-sent events 1..6 were not uploaded again.
	for _, r := range c.srv.Requests() {
		if r.Role == "datanode" && r.Op == "CREATE" && strings.Contains(r.Path, part(1, 6)) && !strings.Contains(r.Path, ".manifest.json") {
			t.Errorf("events 1..6 uploaded again: %s", r.Path)
		}
	}
}

// TestWebHDFSLostRenameAnswer: the rename happens but its answer is lost. The
// sink's retry finds the file committed, writes its manifest, and stores nothing
// twice.
func TestWebHDFSLostRenameAnswer(t *testing.T) {
	c := testServerOnly(t)
	s := c.open(t, c.config(""))
	c.srv.FailWrites(hdfstest.Fault{Ops: []string{"RENAME"}, PathContains: part(1, 4), Reset: true, AfterApply: true})
	if err := ctxWrite(s, hdfsBatch(hdfsEvents(t, 1, 4))); err == nil || !routing.Retryable(err) {
		t.Fatalf("Write with a lost rename answer: %v, want a retryable error", err)
	}
	if err := ctxWrite(s, hdfsBatch(hdfsEvents(t, 1, 4))); err != nil {
		t.Fatalf("retry: %v", err)
	}
	expectFiles(t, c, []string{part(1, 4)}, seqs(1, 4))
}

// TestWebHDFSCleansOnlyItsOwn: on first use of a stream the sink removes its own
// stale temporary files (a data upload cut midway, a manifest) and leaves other
// files alone: another schema id's, and names it did not make.
func TestWebHDFSCleansOnlyItsOwn(t *testing.T) {
	c := testServerOnly(t)
	dir := hdfsDir(c)
	mine := []string{".tmp-" + part(1, 3) + ".0123456789abcdef", ".tmp-" + part(1, 3) + ".manifest.json.fedcba9876543210"}
	others := []string{".tmp-part-00000000000000000001-00000000000000000003-s9.avro.00", ".tmp-something-else", "notes.txt"}
	for _, n := range append(slices.Clone(mine), others...) {
		if err := c.srv.WriteFile(dir+"/"+n, []byte("Obj\x01partial")); err != nil {
			t.Fatal(err)
		}
	}
	s := c.open(t, c.config(""))
	if err := ctxWrite(s, hdfsBatch(hdfsEvents(t, 1, 3))); err != nil {
		t.Fatal(err)
	}
	names := c.srv.List(dir)
	for _, n := range mine {
		if slices.Contains(names, n) {
			t.Errorf("stale temporary file %s was not removed", n)
		}
	}
	for _, n := range others {
		if !slices.Contains(names, n) {
			t.Errorf("%s, not this stream's, was removed", n)
		}
	}
}

// TestWebHDFSNoClobber: a file already at the final name is never replaced. The same
// events (written by another sink) are adopted quietly; other content is reported at
// error level; either way the events count as committed.
func TestWebHDFSNoClobber(t *testing.T) {
	c := testServerOnly(t)
	dir := hdfsDir(c)
	s, logs := c.openLogged(t, c.config(""))
	if err := ctxWrite(s, hdfsBatch(hdfsEvents(t, 1, 2))); err != nil { // the stream is loaded
		t.Fatal(err)
	}
	// Another sink on another root writes 3..5; its file appears at our final name.
	other := *c
	other.root = c.root + "-other"
	otherSink := other.open(t, other.config(""))
	if err := ctxWrite(otherSink, hdfsBatch(hdfsEvents(t, 3, 5))); err != nil {
		t.Fatal(err)
	}
	same, _ := c.srv.ReadFile(hdfsDir(&other) + "/" + part(3, 5))
	if err := c.srv.WriteFile(dir+"/"+part(3, 5), same); err != nil {
		t.Fatal(err)
	}
	if err := c.srv.WriteFile(dir+"/"+part(6, 7), []byte("someone else's file")); err != nil {
		t.Fatal(err)
	}
	if err := ctxWrite(s, hdfsBatch(hdfsEvents(t, 3, 5))); err != nil {
		t.Fatal(err)
	}
	if err := ctxWrite(s, hdfsBatch(hdfsEvents(t, 6, 7))); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.srv.ReadFile(dir + "/" + part(6, 7)); string(got) != "someone else's file" {
		t.Fatalf("an existing file was overwritten")
	}
	if got, _ := c.srv.ReadFile(dir + "/" + part(3, 5)); !bytes.Equal(got, same) {
		t.Fatalf("an existing file was overwritten")
	}
	log := logs.String()
	if !strings.Contains(log, "file was already committed") || !strings.Contains(log, "a different file already has this name") {
		t.Errorf("adoption and conflict not logged:\n%s", log)
	}
	if strings.Count(log, "level=ERROR") != 2 { // the conflict, and no manifest for the unreadable file
		t.Errorf("want 2 error lines (the conflict and its unreadable file):\n%s", log)
	}
	for _, n := range c.srv.List(dir) {
		if strings.HasPrefix(n, ".tmp-") {
			t.Errorf("temporary file left: %s", n)
		}
	}
	if err := ctxWrite(s, hdfsBatch(hdfsEvents(t, 5, 9))); err != nil {
		t.Fatal(err)
	}
	if names := c.srv.List(dir); !slices.Contains(names, part(8, 9)) {
		t.Errorf("the next batch did not continue after the adopted files: %q", names)
	}
}

// TestWebHDFSRefusals: a directory the user may not write fails its events
// permanently, found with one probe and no splitting; a content refusal isolates the
// refused event, writes what comes before it and defers what comes after it.
func TestWebHDFSRefusals(t *testing.T) {
	c := testServerOnly(t)
	c.srv.FailWrites(hdfstest.Fault{Ops: []string{"CREATE"}, PathContains: "/denied/", Exception: "AccessControlException", Times: -1})
	s := c.open(t, c.config(webhdfs.CodecNull)) // event ids stay readable in the uploads
	b := hdfsBatch(hdfsEvents(t, 1, 8))
	b.Route.Target = "denied/{contract}"
	c.srv.ClearRequests()
	err := ctxWrite(s, b)
	var be *routing.BatchError
	if !errors.As(err, &be) || len(be.Items) != 8 || routing.Retryable(err) {
		t.Fatalf("Write to a denied directory: %v, want 8 permanent failures", err)
	}
	if !strings.Contains(be.Items[0].Err.Error(), "AccessControlException") {
		t.Errorf("the failure does not say why: %v", be.Items[0].Err)
	}
	creates := 0
	for _, r := range c.srv.Requests() {
		if r.Role == "datanode" && r.Op == "CREATE" {
			creates++
		}
	}
	if creates != 2 {
		t.Errorf("%d uploads to a denied directory, want 2 (the file and one empty probe)", creates)
	}

	// A file where the target directory must be.
	if err := c.srv.WriteFile(c.root+"/blocked", []byte("x")); err != nil {
		t.Fatal(err)
	}
	b = hdfsBatch(hdfsEvents(t, 1, 2))
	b.Route.Target = "blocked/{contract}"
	if err := ctxWrite(s, b); err == nil || routing.Retryable(err) {
		t.Errorf("Write under a file: %v, want permanent failures", err)
	}

	// Content: event 6 of 1..12 is refused.
	c.srv.FailWrites(hdfstest.Fault{Ops: []string{"CREATE"}, DataContains: []byte("ev-0006"), Exception: "AccessControlException", Times: -1})
	err = ctxWrite(s, hdfsBatch(hdfsEvents(t, 1, 12)))
	if !errors.As(err, &be) {
		t.Fatalf("Write with a refused event: %v", err)
	}
	for _, it := range be.Items {
		seq := it.Index + 1
		switch {
		case seq == 6 && routing.Retryable(it.Err):
			t.Errorf("the refused event failed retryably: %v", it.Err)
		case seq < 6:
			t.Errorf("event %d, before the refused one, failed: %v", seq, it.Err)
		case seq > 6 && !routing.Retryable(it.Err):
			t.Errorf("event %d, after the refused one, failed permanently: %v", seq, it.Err)
		}
	}
	if len(be.Items) != 7 {
		t.Errorf("%d failures, want 7 (the refused event and the 6 after it)", len(be.Items))
	}
	// The deferred events go with the next delivery.
	if err := ctxWrite(s, hdfsBatch(hdfsEvents(t, 7, 12))); err != nil {
		t.Fatal(err)
	}
	files := readWebHDFSDir(t, c, hdfsDir(c))
	var stored []uint64
	for _, f := range files {
		for _, r := range f.records {
			stored = append(stored, uint64(r.Seq))
		}
	}
	slices.Sort(stored)
	if want := append(seqs(1, 5), seqs(7, 12)...); !slices.Equal(stored, want) {
		t.Errorf("stored %v, want %v", stored, want)
	}
}

// TestWebHDFSFailover: with an HA pair, writes go on when the active NameNode becomes
// the standby and back.
func TestWebHDFSFailover(t *testing.T) {
	srv, err := hdfstest.Start(hdfstest.Options{NameNodes: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c := &webhdfsCluster{nameNode: srv.URL(), user: "waybill", root: "/ha", srv: srv}
	cfg := c.config("")
	cfg.NameNodes = []string{srv.NameNodeURL(0), srv.NameNodeURL(1)}
	s := c.open(t, cfg)
	srv.SetStandby(1, true)
	if err := ctxWrite(s, hdfsBatch(hdfsEvents(t, 1, 3))); err != nil {
		t.Fatal(err)
	}
	srv.SetStandby(1, false)
	srv.SetStandby(0, true)
	if err := ctxWrite(s, hdfsBatch(hdfsEvents(t, 4, 6))); err != nil {
		t.Fatal(err)
	}
	srv.SetStandby(0, false)
	srv.SetStandby(1, true)
	if err := ctxWrite(s, hdfsBatch(hdfsEvents(t, 7, 9))); err != nil {
		t.Fatal(err)
	}
	expectFiles(t, c, []string{part(1, 3), part(4, 6), part(7, 9)}, seqs(1, 9))
	used := map[int]bool{}
	for _, r := range srv.Requests() {
		if r.Role == "namenode" && r.Status < 300 {
			used[r.NameNode] = true
		}
	}
	if !used[0] || !used[1] {
		t.Errorf("the sink did not use both NameNodes: %v", used)
	}
}

// TestWebHDFSDeadline: a cluster slower than the Write's deadline gets a retryable
// error within the deadline, and the events are stored once it answers again.
func TestWebHDFSDeadline(t *testing.T) {
	c := testServerOnly(t)
	s := c.open(t, c.config(""))
	c.srv.SetDelay(10 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Write(ctx, hdfsBatch(hdfsEvents(t, 1, 3)))
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("Write took %s with a 300ms deadline", took)
	}
	if err == nil || !routing.Retryable(err) {
		t.Fatalf("Write past its deadline: %v, want a retryable error", err)
	}
	c.srv.SetDelay(0)
	if err := ctxWrite(s, hdfsBatch(hdfsEvents(t, 1, 3))); err != nil {
		t.Fatal(err)
	}
	expectFiles(t, c, []string{part(1, 3)}, seqs(1, 3))
}

// TestWebHDFSDelegationToken: on a secure cluster the sink authenticates with its
// token alone, and its logs never show it.
func TestWebHDFSDelegationToken(t *testing.T) {
	const token = "HAAEZXRsMQ-test-token-secret"
	srv, err := hdfstest.Start(hdfstest.Options{Tokens: map[string]string{token: "etl"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c := &webhdfsCluster{nameNode: srv.URL(), root: "/secure", srv: srv}
	cfg := c.config("")
	cfg.User, cfg.DelegationToken = "", token
	s, logs := c.openLogged(t, cfg)
	if err := ctxWrite(s, hdfsBatch(hdfsEvents(t, 1, 3))); err != nil {
		t.Fatal(err)
	}
	srv.Down()
	err = ctxWrite(s, hdfsBatch(hdfsEvents(t, 4, 5)))
	srv.Up()
	if err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("Write while down: %v (must fail without showing the token)", err)
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("the logs show the token")
	}
	for _, r := range srv.Requests() {
		if r.Status >= 400 && !(r.Op == "LISTSTATUS" && r.Status == http.StatusNotFound) { // a new stream's directory
			t.Errorf("%s %s %s answered %d", r.Role, r.Op, r.Path, r.Status)
		}
		if r.Delegation != token || r.User != "" {
			t.Errorf("%s %s %s: delegation %q user.name %q", r.Role, r.Op, r.Path, r.Delegation, r.User)
		}
	}
	var st struct{ FileStatus hdfstest.FileStatus }
	u := srv.URL() + "/webhdfs/v1/secure/" + hdfsContract + "/dt=2024-03-01/" + part(1, 3) + "?op=GETFILESTATUS&delegation=" + token
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil || st.FileStatus.Owner != "etl" {
		t.Errorf("the file is owned by %q (%v), want the token's user etl", st.FileStatus.Owner, err)
	}
}

// TestWebHDFSAvrocat reads files the sink wrote to the test server (with each codec)
// with avrocat (Apache Avro C, Debian's avro-bin), a reader independent of Go.
func TestWebHDFSAvrocat(t *testing.T) {
	avrocat, err := exec.LookPath("avrocat")
	if err != nil {
		msg := "avrocat not found (" + err.Error() + "); install it with: apt-get install -y avro-bin (scripts/install-test-deps.sh does)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	for _, codec := range []string{webhdfs.CodecDeflate, webhdfs.CodecNull} {
		t.Run(codec, func(t *testing.T) {
			c := newWebHDFSCluster(t)
			s := c.open(t, c.config(codec))
			evs := hdfsEvents(t, 1, 25)
			if err := ctxWrite(s, hdfsBatch(evs)); err != nil {
				t.Fatal(err)
			}
			files := readWebHDFSDir(t, c, hdfsDir(c))
			if len(files) != 1 || string(files[0].meta["avro.codec"]) != codec {
				t.Fatalf("want one %s file, got %d", codec, len(files))
			}
			local := filepath.Join(t.TempDir(), files[0].name)
			if err := os.WriteFile(local, files[0].raw, 0o644); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd := exec.Command(avrocat, local)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("avrocat: %v\n%s", err, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != len(evs) {
				t.Fatalf("avrocat printed %d records, want %d:\n%s", len(lines), len(evs), out)
			}
			for i, line := range lines {
				var rec struct {
					Seq      uint64 `json:"seq"`
					ID       string `json:"id"`
					Key      string `json:"key"`
					Time     int64  `json:"time"`
					SchemaID int    `json:"schema_id"`
					Data     struct {
						OrderID  string `json:"order_id"`
						Customer string `json:"customer"`
						Qty      int    `json:"qty"`
						Note     struct {
							String string `json:"string"`
						} `json:"note"`
					} `json:"data"`
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("avrocat line %q: %v", line, err)
				}
				ev := evs[i]
				if rec.Seq != ev.Seq || rec.ID != ev.ID || rec.Key != ev.Key || rec.Time != ev.Time.UnixMicro() || rec.SchemaID != ev.SchemaID ||
					rec.Data.OrderID != ev.ID || rec.Data.Qty != int(ev.Seq%5) || rec.Data.Note.String != "note "+ev.ID {
					t.Errorf("avrocat record %d: %s", i, line)
				}
			}
		})
	}
}
