package stores

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"testing"

	"github.com/waybill-data/waybill/adapters/webhdfs"
	hdfstest "github.com/waybill-data/waybill/integration/testserver/webhdfs"
	"github.com/waybill-data/waybill/routing"
)

// BenchmarkWebHDFS compares, in one run against the test server, events/s through
// the sink (Avro container encoding, CREATE's two steps, RENAME without overwrite,
// the manifest's CREATE and RENAME) with the same file's bytes committed directly
// with net/http (CREATE's two steps to a temporary name and RENAME), batches of 5,000
// events, for each codec.
//
//	go test -run '^$' -bench WebHDFS -benchtime 2s ./integration/stores/
func BenchmarkWebHDFS(b *testing.B) {
	const batch = 5000
	srv, err := hdfstest.Start(hdfstest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	runs := 0
	// clear deletes what a run wrote so far, outside the timing: the test server keeps
	// files in memory.
	clear := func(b *testing.B, dir string) {
		b.StopTimer()
		req, _ := http.NewRequest(http.MethodDelete, srv.URL()+hdfstest.Prefix+dir+"?op=DELETE&recursive=true&user.name=bench", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		b.StartTimer()
	}
	for _, codec := range []string{webhdfs.CodecDeflate, webhdfs.CodecNull} {
		var file []byte // the sink's file of one batch: what "direct" commits
		b.Run("sink/"+codec, func(b *testing.B) {
			runs++ // each run (-count, the calibration runs) writes a root of its own
			root := fmt.Sprintf("/bench/%d/sink-%s", runs, codec)
			sink, err := webhdfs.New(webhdfs.Config{NameNodes: []string{srv.URL()}, Root: root, User: "bench", Codec: codec}, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer sink.Close()
			evs := hdfsEvents(b, 1, batch)
			route := routing.Route{Name: "bench", Class: routing.Analytic, Mode: routing.Append, Target: "{contract}"}
			var seq uint64
			b.ResetTimer()
			for b.Loop() {
				for i := range evs {
					seq++
					evs[i].Seq = seq
				}
				if err := sink.Write(context.Background(), &routing.Batch{Route: route, Events: evs, Schemas: hdfsBatch(nil).Schemas}); err != nil {
					b.Fatal(err)
				}
				if seq == batch { // the first file: what "direct" commits
					file, _ = srv.ReadFile(fmt.Sprintf("%s/%s/%s", root, hdfsContract, part(1, batch)))
				}
				if seq%(100*batch) == 0 {
					clear(b, root)
				}
			}
			clear(b, root)
			b.SetBytes(int64(len(file)))
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
		})
		b.Run("direct/"+codec, func(b *testing.B) {
			if len(file) == 0 {
				b.Skip("the sink benchmark did not leave a file to commit")
			}
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			send := func(method, u string, body []byte, want int) *http.Response {
				var r io.Reader
				if body != nil {
					r = bytes.NewReader(body)
				}
				req, _ := http.NewRequest(method, u, r)
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != want {
					b.Fatalf("%s %s: HTTP %d, want %d", method, u, res.StatusCode, want)
				}
				return res
			}
			op := func(p, op string, params ...string) string {
				q := url.Values{"op": {op}, "user.name": {"bench"}}
				for i := 0; i+1 < len(params); i += 2 {
					q.Set(params[i], params[i+1])
				}
				return srv.URL() + hdfstest.Prefix + p + "?" + q.Encode()
			}
			runs++
			dir := fmt.Sprintf("/bench/%d/direct-%s", runs, codec)
			b.SetBytes(int64(len(file)))
			n := 0
			b.ResetTimer()
			for b.Loop() {
				n++
				tmp, final := fmt.Sprintf("%s/.tmp-%d", dir, n), fmt.Sprintf("%s/part-%d.avro", dir, n)
				loc := send(http.MethodPut, op(tmp, "CREATE", "overwrite", "false"), nil, http.StatusTemporaryRedirect).Header.Get("Location")
				send(http.MethodPut, loc, file, http.StatusCreated)
				send(http.MethodPut, op(tmp, "RENAME", "destination", final, "renameoptions", "NONE"), nil, http.StatusOK)
				if n%100 == 0 {
					clear(b, dir)
				}
			}
			clear(b, dir)
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
