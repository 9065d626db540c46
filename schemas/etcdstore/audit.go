package etcdstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/waybill-data/waybill/schemas"
)

// Actor is who made a change, as the audit trail records it.
type Actor struct {
	Team string `json:"team"`
	Name string `json:"name"` // the credential's label (token name, cert:CN), or "anonymous"
}

// Anonymous is the actor of changes made while authentication is off.
var Anonymous = Actor{Name: "anonymous"}

// Change says who makes a write and lets the caller veto it on exactly the state it
// would be committed over. Every write method takes an optional Change; without one the
// write is recorded as Anonymous and not authorised.
type Change struct {
	Who Actor
	// Authorize, when set, is called on every attempt with the subject's governance
	// record as of the snapshot the attempt commits against (nil when the subject has
	// none; always nil for the global config and mode). An error aborts the write. The
	// commit compares the record's revision, so a contract changed meanwhile (a new
	// owner) makes the write re-read and ask again.
	Authorize func(contract *schemas.Contract) error
	// Annotate, when set, may add to the audit record just before it is committed (for
	// example a registration's classification and acknowledged declassifications).
	Annotate func(rec *AuditRecord)
}

func changeOf(by []Change) Change {
	if len(by) == 0 {
		return Change{Who: Anonymous}
	}
	c := by[0]
	if c.Who == (Actor{}) {
		c.Who = Anonymous
	}
	return c
}

func (c Change) authorize(contract *schemas.Contract) error {
	if c.Authorize == nil {
		return nil
	}
	return c.Authorize(contract)
}

// Audit actions.
const (
	ActionRegister      = "register"
	ActionDeleteVersion = "delete_version"
	ActionDeleteSubject = "delete_subject"
	ActionPutConfig     = "put_config"
	ActionDeleteConfig  = "delete_config"
	ActionPutMode       = "put_mode"
	ActionDeleteMode    = "delete_mode"
	ActionPutContract   = "put_contract"
)

// AuditRecord is one change, stored under audit/ in the same transaction as the change.
type AuditRecord struct {
	// Revision is the etcd revision that committed the change (from the key's create
	// revision, filled in on read): the global order of changes, and the paging cursor.
	Revision  int64     `json:"revision"`
	Time      time.Time `json:"time"`
	Who       Actor     `json:"who"`
	Action    string    `json:"action"`
	Subject   string    `json:"subject,omitempty"` // "" for the global config and mode
	Version   int       `json:"version,omitempty"`
	ID        int       `json:"id,omitempty"`
	Permanent bool      `json:"permanent,omitempty"` // hard deletes
	// Before and After are the records as they were and are (null: absent).
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	// Declassified lists PII classifications the caller removed on purpose.
	Declassified []Declassified `json:"declassified,omitempty"`
}

// Declassified is one acknowledged loss of a field's PII classification.
type Declassified struct {
	Field  string `json:"field"`            // the classified field's path in the previous version
	Now    string `json:"now,omitempty"`    // the field that took its place, if any
	Reason string `json:"reason,omitempty"` // which rule saw it
}

func (k auditKeys) global() string   { return k.prefix + "audit/global/" }
func (k auditKeys) subjects() string { return k.prefix + "audit/subjects/" }
func (k auditKeys) subject(subject string) string {
	return k.subjects() + url.PathEscape(subject) + "/"
}
func (k auditKeys) all() string { return k.prefix + "audit/" }

type auditKeys struct{ prefix string }

func (s *Store) audit() auditKeys { return auditKeys{prefix: s.keys.Prefix} }

// auditPut is the etcd put of rec, for the transaction of the change it records. Keys
// are unique and roughly time-ordered; the create revision is the authoritative order.
func (s *Store) auditPut(rec *AuditRecord) (clientv3.Op, error) {
	rec.Time = time.Now().UTC()
	rec.Revision = 0
	b, err := json.Marshal(rec)
	if err != nil {
		return clientv3.Op{}, schemas.StoreError("encoding the audit record", err)
	}
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	base := s.audit().global()
	if rec.Subject != "" {
		base = s.audit().subject(rec.Subject)
	}
	return clientv3.OpPut(fmt.Sprintf("%s%020d-%s", base, rec.Time.UnixNano(), hex.EncodeToString(nonce[:])), string(b)), nil
}

// rawJSON encodes v for Before/After; nil stays JSON null.
func rawJSON(v any) json.RawMessage {
	if v == nil {
		return json.RawMessage("null")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

// AuditQuery selects audit records.
type AuditQuery struct {
	Subject string // "" = every subject and the global records
	After   int64  // only records committed after this revision
	Before  int64  // only records committed before this revision (0 = no bound)
	Limit   int    // at most this many (required, > 0)
}

// Audit returns audit records in commit order (newest last). With Before set and no
// After it returns the newest Limit records before it, so a reader can page backwards
// from the end; otherwise the oldest Limit records after After. more reports whether
// further records match beyond the ones returned (later ones, or earlier ones when
// paging backwards).
func (s *Store) Audit(ctx context.Context, q AuditQuery) (recs []AuditRecord, more bool, err error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	prefix := s.audit().all()
	if q.Subject != "" {
		prefix = s.audit().subject(q.Subject)
	}
	backwards := q.Before > 0 && q.After == 0
	order := clientv3.SortAscend
	if backwards {
		order = clientv3.SortDescend
	}
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, order), clientv3.WithLimit(int64(q.Limit) + 1)}
	if q.After > 0 {
		opts = append(opts, clientv3.WithMinCreateRev(q.After+1))
	}
	if q.Before > 0 {
		opts = append(opts, clientv3.WithMaxCreateRev(q.Before-1))
	}
	resp, err := s.cli.Get(ctx, prefix, opts...)
	if err != nil {
		return nil, false, schemas.StoreError("reading the audit trail", err)
	}
	kvs := resp.Kvs
	if len(kvs) > q.Limit {
		kvs, more = kvs[:q.Limit], true
	}
	recs = make([]AuditRecord, 0, len(kvs))
	for _, kv := range kvs {
		var rec AuditRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil {
			return nil, false, schemas.StoreError("decoding "+string(kv.Key), err)
		}
		rec.Revision = kv.CreateRevision
		recs = append(recs, rec)
	}
	if backwards {
		for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
			recs[i], recs[j] = recs[j], recs[i]
		}
	}
	return recs, more, nil
}
