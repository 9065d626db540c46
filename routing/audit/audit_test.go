package audit

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/etcdserver"
	"github.com/waybill-data/waybill/schemas/etcdstore"
)

func TestRecordAndList(t *testing.T) {
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
	ctx := context.Background()
	l := New(cli, "")
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	rec := func(subject, id string, d time.Duration) routing.AuditRecord {
		return routing.AuditRecord{Time: at.Add(d), Who: routing.AuditWho{Team: "t", Name: "n"}, Action: "erasure", Subject: subject,
			Key: "k", ID: id, RoutesErased: []string{"profiles"}, RoutesRecordedOnly: []string{"lake"}}
	}
	// Listed in the order written; a subject with '/' stays one segment.
	for _, r := range []routing.AuditRecord{rec("a/b", "1", 0), rec("a/b", "2", time.Second), rec("c", "3", 0)} {
		if err := l.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	// A registry record of the same subject, as etcdstore writes it: passed over by
	// List, and the registry's decoding of the trail reads ours (no field clashes).
	if _, err := cli.Put(ctx, schemas.DefaultPrefix+"audit/subjects/c/00000000000000000001-000000000000", `{"time":"2026-11-22T09:00:00Z","who":{"team":"t","name":"n"},"action":"register","subject":"c","version":1,"id":7,"before":null,"after":{}}`); err != nil {
		t.Fatal(err)
	}
	trail, _, err := etcdstore.New(cli, "", 0).Audit(ctx, etcdstore.AuditQuery{Subject: "c", Limit: 10})
	if err != nil || len(trail) != 2 || trail[0].Action != "erasure" || trail[0].Who.Team != "t" || trail[1].Action != "register" {
		t.Fatalf("the registry's reading of the trail: %+v, %v", trail, err)
	}
	got, err := l.List(ctx, "a/b")
	if err != nil || len(got) != 2 || got[0].ID != "1" || got[1].ID != "2" || got[0].Who.Team != "t" || got[0].RoutesErased[0] != "profiles" {
		t.Fatalf("List(a/b) = %+v, %v", got, err)
	}
	if got, err := l.List(ctx, "c"); err != nil || len(got) != 1 || got[0].ID != "3" {
		t.Fatalf("List(c) = %+v, %v", got, err)
	}
	if got, err := l.List(ctx, ""); err != nil || len(got) != 3 {
		t.Fatalf("List() = %+v, %v", got, err)
	}
	if got, err := l.List(ctx, "a"); err != nil || len(got) != 0 {
		t.Fatalf("List(a) = %+v, %v: a subject's prefix must not match another subject", got, err)
	}
	// The registry's readers do not mistake the records for theirs.
	resp, err := cli.Get(ctx, schemas.DefaultPrefix+"audit/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 4 {
		t.Fatalf("keys under the prefix: %v %v", resp, err)
	}
	for _, kv := range resp.Kvs {
		if k := (schemas.Keys{Prefix: schemas.DefaultPrefix}).Parse(string(kv.Key)); k.Kind != schemas.KindUnknown {
			t.Fatalf("%s parses as %+v", kv.Key, k)
		}
	}
}
