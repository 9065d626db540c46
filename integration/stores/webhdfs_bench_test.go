package stores

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/waybill-data/waybill/adapters/webhdfs"
	hdfstest "github.com/waybill-data/waybill/integration/testserver/webhdfs"
	"github.com/waybill-data/waybill/routing"
)

// BenchmarkWebHDFS: the WebHDFS sink (default codec, deflate) against the WebHDFS test
// server (in memory, loopback HTTP, in this process) or the cluster WAYBILL_TEST_WEBHDFS
// names (user WAYBILL_TEST_WEBHDFS_USER, default "waybill"), compared with a client that
// encodes the same orders into Avro container files with hamba's OCF encoder (same
// codec and level) and commits each as a careful writer does: CREATE's two steps
// (NameNode 307, DataNode 201) to a temporary name, then RENAME without overwriting.
func BenchmarkWebHDFS(b *testing.B) {
	nameNode, user := strings.TrimSuffix(os.Getenv("WAYBILL_TEST_WEBHDFS"), "/"), cmp.Or(os.Getenv("WAYBILL_TEST_WEBHDFS_USER"), "waybill")
	if nameNode == "" {
		srv, err := hdfstest.Start(hdfstest.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { srv.Close() })
		nameNode = srv.URL()
	}
	root := fmt.Sprintf("/waybill-bench/%d", os.Getpid())
	c := &hdfsDirect{base: nameNode + hdfstest.Prefix, user: user,
		client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	b.Cleanup(func() { c.remove(b, root) })
	runStoreBench(b, storeBench{
		events: benchFileEvents, keys: 100, route: benchFileRoute,
		open: func(b *testing.B, which string) routing.Sink {
			s, err := webhdfs.New(webhdfs.Config{NameNodes: []string{nameNode}, Root: root + "/" + which, User: user}, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		},
		direct: func(b *testing.B, n benchNames, batch int) func(context.Context, []benchOrder) error {
			dir := root + "/direct/" + n.direct + "/" + benchFileDay
			return func(ctx context.Context, orders []benchOrder) error {
				return benchFiles(orders, batch, func(name string, first int, orders []benchOrder) error {
					return c.commit(ctx, dir, name, first, orders)
				})
			}
		},
		drop: func(b *testing.B, way, contract string) { c.remove(b, root+"/"+way+"/"+contract) },
	})
}

// hdfsDirect writes files over WebHDFS with net/http.
type hdfsDirect struct {
	base, user string
	client     *http.Client
	buf        bytes.Buffer
}

func (c *hdfsDirect) commit(ctx context.Context, dir, name string, first int, orders []benchOrder) error {
	c.buf.Reset()
	if err := encodeBenchFile(&c.buf, webhdfs.CodecDeflate, first, orders); err != nil {
		return err
	}
	tmp, final := dir+"/.tmp-"+name, dir+"/"+name
	res, err := c.send(ctx, http.MethodPut, c.op(tmp, "CREATE", "overwrite", "false"), nil, http.StatusTemporaryRedirect)
	if err != nil {
		return err
	}
	if _, err := c.send(ctx, http.MethodPut, res.Header.Get("Location"), c.buf.Bytes(), http.StatusCreated); err != nil {
		return err
	}
	_, err = c.send(ctx, http.MethodPut, c.op(tmp, "RENAME", "destination", final, "renameoptions", "NONE"), nil, http.StatusOK)
	return err
}

func (c *hdfsDirect) op(p, op string, params ...string) string {
	q := url.Values{"op": {op}, "user.name": {c.user}}
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	return c.base + p + "?" + q.Encode()
}

// remove deletes p and everything below it.
func (c *hdfsDirect) remove(b *testing.B, p string) {
	if _, err := c.send(context.Background(), http.MethodDelete, c.op(p, "DELETE", "recursive", "true"), nil, http.StatusOK); err != nil {
		b.Fatal(err)
	}
}

func (c *hdfsDirect) send(ctx context.Context, method, u string, body []byte, want int) (*http.Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, err
	}
	res, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != want {
		return nil, fmt.Errorf("%s %s: HTTP %d, want %d", method, u, res.StatusCode, want)
	}
	return res, nil
}
