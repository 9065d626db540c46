// Package audit writes the router's erasure requests into the registry's audit trail
// in etcd (schemas/doc.go's layout, written by schemas/etcdstore for registry changes),
// so that one trail holds who changed a contract and who erased a key of it:
//
//	{prefix}audit/subjects/{subject, path-escaped}/{20-digit Unix nanoseconds}-{12 hex}
//
// Each value is one routing.AuditRecord as JSON, with the fields the registry's
// records share (time, who, action, subject; action is "erasure") and the erasure's own:
//
//	{"time":"2026-11-22T10:00:00.123456789Z","who":{"team":"team-checkout","name":"checkout-ci"},
//	 "action":"erasure","subject":"checkout.order_placed","key":"user-42","request_id":"01J...",
//	 "routes_erased":["profiles","search"],"routes_recorded_only":["hdfs","lake"]}
//
// The registry's GET /audit lists these records among its own (it shows their time,
// who, action and subject); GET /v1/erasure on a router lists them in full. Records are
// written once (a create-only transaction) and never changed or deleted; the routers'
// contract caches ignore audit keys.
package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/schemas"
)

// ActionErasure is the audit action of an erasure request.
const ActionErasure = "erasure"

// Log is a routing.AuditLog in etcd.
type Log struct {
	cli      *clientv3.Client
	subjects string // {registry prefix}audit/subjects/
}

// New returns the trail under registryPrefix ("" for the registry's default).
func New(cli *clientv3.Client, registryPrefix string) *Log {
	if registryPrefix == "" {
		registryPrefix = schemas.DefaultPrefix
	}
	return &Log{cli: cli, subjects: registryPrefix + "audit/subjects/"}
}

var _ routing.AuditLog = (*Log)(nil)

func (l *Log) subjectPrefix(subject string) string { return l.subjects + url.PathEscape(subject) + "/" }

// Record writes rec under a new key.
func (l *Log) Record(ctx context.Context, rec routing.AuditRecord) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	key := fmt.Sprintf("%s%020d-%s", l.subjectPrefix(rec.Subject), rec.Time.UnixNano(), hex.EncodeToString(nonce[:]))
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := l.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(raw))).Commit()
	if err != nil {
		return fmt.Errorf("writing the audit record to etcd: %w", err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("an audit record %s exists already", key)
	}
	return nil
}

// List returns the erasure records of subject ("" for every subject) in the order
// they were committed; the registry's own records in the trail are passed over.
func (l *Log) List(ctx context.Context, subject string) ([]routing.AuditRecord, error) {
	prefix := l.subjects
	if subject != "" {
		prefix = l.subjectPrefix(subject)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out []routing.AuditRecord
	for after := int64(0); ; {
		opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend), clientv3.WithLimit(500)}
		if after > 0 {
			opts = append(opts, clientv3.WithMinCreateRev(after+1))
		}
		resp, err := l.cli.Get(ctx, prefix, opts...)
		if err != nil {
			return nil, fmt.Errorf("reading the audit trail from etcd: %w", err)
		}
		for _, kv := range resp.Kvs {
			var head struct {
				Action string `json:"action"`
			}
			if json.Unmarshal(kv.Value, &head) != nil || head.Action != ActionErasure {
				continue // the registry's records
			}
			var rec routing.AuditRecord
			if err := json.Unmarshal(kv.Value, &rec); err != nil {
				return nil, fmt.Errorf("audit record %s does not decode: %w", kv.Key, err)
			}
			out = append(out, rec)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, nil
		}
		after = resp.Kvs[len(resp.Kvs)-1].CreateRevision
	}
}
