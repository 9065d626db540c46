package fleet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/schemas/etcdserver"
)

func startEtcd(t *testing.T) *clientv3.Client {
	t.Helper()
	srv, err := etcdserver.Start(etcdserver.Config{DataDir: t.TempDir(), ClientAddr: "127.0.0.1:0", Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Addr()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func TestPublishListAndUpdate(t *testing.T) {
	cli := startEtcd(t)
	prefix := Prefix("/waybill/")
	if prefix != "/waybill-fleet/" || Prefix("") != prefix || Prefix("/acme/") != "/acme-fleet/" {
		t.Fatalf("prefixes %q %q %q", prefix, Prefix(""), Prefix("/acme/"))
	}
	var mu sync.Mutex
	accepted := int64(1)
	snapshot := func() (Snapshot, error) {
		mu.Lock()
		defer mu.Unlock()
		return Snapshot{Listen: "127.0.0.1:8080", Rows: []routing.LedgerRow{{Contract: "c", Hour: "2026-11-22T10", Route: "lake", Accepted: accepted}},
			Latest: map[string]routing.LatestSample{"profiles": {Below: routing.NoBound, Versions: map[string]routing.Version{"c|k": {ID: "e1", Time: time.Unix(1, 0).UTC()}}}}}, nil
	}
	p := Start(Options{Client: cli, Prefix: prefix, RouterID: "r1", Snapshot: snapshot, Interval: 10 * time.Millisecond})
	defer p.Close()
	waitFor := func(want int64) Snapshot {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			snaps, err := List(context.Background(), cli, prefix)
			if err != nil {
				t.Fatal(err)
			}
			if len(snaps) == 1 && len(snaps[0].Rows) == 1 && snaps[0].Rows[0].Accepted == want {
				return snaps[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("snapshot with accepted=%d not published; have %+v", want, snaps)
			}
			time.Sleep(10 * time.Millisecond) // polling a condition, bounded by the deadline
		}
	}
	s := waitFor(1)
	if s.Router != "r1" || s.Updated.IsZero() || s.Latest["profiles"].Versions["c|k"].ID != "e1" {
		t.Fatalf("snapshot %+v", s)
	}
	mu.Lock()
	accepted = 7
	mu.Unlock()
	waitFor(7)

	// The key lives under a lease: revoking it (as its expiry would) removes it.
	res, err := cli.Get(context.Background(), routerKey(prefix, "r1"))
	if err != nil || len(res.Kvs) != 1 || res.Kvs[0].Lease == 0 {
		t.Fatalf("router key %v, %v: want one key under a lease", res, err)
	}
	if _, err := cli.Revoke(context.Background(), clientv3.LeaseID(res.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	if snaps, _ := List(context.Background(), cli, prefix); len(snaps) != 0 {
		t.Fatalf("after the lease ended: %+v", snaps)
	}
	// The publisher notices the lost lease and publishes under a new one.
	mu.Lock()
	accepted = 8
	mu.Unlock()
	waitFor(8)
}

func TestEncodeTruncatesOldestHours(t *testing.T) {
	var rows []routing.LedgerRow
	for h := 0; h < 5000; h++ {
		at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(h) * time.Hour)
		rows = append(rows, routing.LedgerRow{Contract: fmt.Sprintf("contract-%d", h%7), Hour: at.Format("2006-01-02T15"), Route: "lake", Accepted: int64(h * 7919 % 100003)})
	}
	b, err := Encode(Snapshot{Router: "r", Rows: rows}, 16<<10)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 16<<10 {
		t.Fatalf("encoded %d bytes, limit 16KiB", len(b))
	}
	s, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if s.Truncated == "" || len(s.Rows) == 0 || len(s.Rows) >= len(rows) || s.Rows[len(s.Rows)-1].Hour != rows[len(rows)-1].Hour || s.Rows[0].Hour != s.Truncated {
		t.Fatalf("truncated to %d rows from %q (last %q)", len(s.Rows), s.Truncated, s.Rows[len(s.Rows)-1].Hour)
	}
	small, _ := Encode(Snapshot{Router: "r", Rows: rows[:3]}, 16<<10)
	if s, _ := Decode(small); s.Truncated != "" || len(s.Rows) != 3 {
		t.Fatalf("a small snapshot was cut: %+v", s)
	}
}

func TestRouterIDIsKept(t *testing.T) {
	dir := t.TempDir()
	a, err := RouterID(dir)
	if err != nil || len(a) != 16 {
		t.Fatalf("RouterID: %q, %v", a, err)
	}
	b, err := RouterID(dir)
	if err != nil || a != b {
		t.Fatalf("second RouterID %q, %v; want %q", b, err, a)
	}
	if err := os.WriteFile(filepath.Join(dir, "router-id"), []byte("\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := RouterID(dir); err == nil {
		t.Fatal("an empty router-id file should be an error")
	}
}
