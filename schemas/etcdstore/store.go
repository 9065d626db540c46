package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/waybill-data/waybill/schemas"
)

// DefaultTimeout bounds one store operation (including its retries).
const DefaultTimeout = 5 * time.Second

// Store reads and writes the registry's state in etcd.
type Store struct {
	cli     *clientv3.Client
	keys    schemas.Keys
	timeout time.Duration

	// records and parsed cache schemas by id; records are immutable and ids never
	// reused, so entries never go stale.
	records sync.Map // int -> *schemas.SchemaRecord
	parsed  sync.Map // int -> avro.Schema
}

// New returns a store over cli using the key prefix (schemas.DefaultPrefix if empty).
func New(cli *clientv3.Client, prefix string, timeout time.Duration) *Store {
	if prefix == "" {
		prefix = schemas.DefaultPrefix
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Store{cli: cli, keys: schemas.Keys{Prefix: prefix}, timeout: timeout}
}

// Keys returns the key layout the store writes.
func (s *Store) Keys() schemas.Keys { return s.keys }

func (s *Store) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, s.timeout)
}

// SchemaByID returns the schema record with that global id (40403 if none).
func (s *Store) SchemaByID(ctx context.Context, id int) (*schemas.SchemaRecord, error) {
	if v, ok := s.records.Load(id); ok {
		return v.(*schemas.SchemaRecord), nil
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.keys.Schema(id))
	if err != nil {
		return nil, schemas.StoreError("reading schema "+strconv.Itoa(id), err)
	}
	if len(resp.Kvs) == 0 {
		return nil, schemas.ErrSchemaIDNotFound(id)
	}
	var rec schemas.SchemaRecord
	if err := json.Unmarshal(resp.Kvs[0].Value, &rec); err != nil {
		return nil, schemas.StoreError("decoding schema "+strconv.Itoa(id), err)
	}
	s.records.Store(id, &rec)
	return &rec, nil
}

// Parsed returns the parsed Avro schema of a record, resolving its references.
func (s *Store) Parsed(ctx context.Context, rec *schemas.SchemaRecord) (avro.Schema, error) {
	if v, ok := s.parsed.Load(rec.ID); ok && rec.ID != 0 {
		return v.(avro.Schema), nil
	}
	deps, err := s.ResolveReferences(ctx, rec.References)
	if err != nil {
		return nil, err
	}
	parsed, err := schemas.ParseAvro(rec.Schema, deps...)
	if err != nil {
		return nil, schemas.Errorf(schemas.CodeInvalidSchema, "Invalid schema %d: %v", rec.ID, err)
	}
	if rec.ID != 0 {
		s.parsed.Store(rec.ID, parsed)
	}
	return parsed, nil
}

// maxReferenceDepth stops reference cycles and absurd chains.
const maxReferenceDepth = 32

// ResolveReferences returns the schema texts the references need, dependencies first.
func (s *Store) ResolveReferences(ctx context.Context, refs []schemas.Reference) ([]string, error) {
	var out []string
	seen := map[int]bool{}
	var walk func(refs []schemas.Reference, depth int) error
	walk = func(refs []schemas.Reference, depth int) error {
		if depth > maxReferenceDepth {
			return schemas.Errorf(schemas.CodeInvalidSchema, "Invalid schema: references nest deeper than %d", maxReferenceDepth)
		}
		for _, r := range refs {
			v, err := s.Version(ctx, r.Subject, r.Version, true)
			if err != nil {
				var se *schemas.Error
				if errors.As(err, &se) && se.Code/100 == 404 {
					return schemas.Errorf(schemas.CodeInvalidSchema, "Invalid schema: reference %q to subject '%s' version %d does not exist", r.Name, r.Subject, r.Version)
				}
				return err
			}
			if seen[v.ID] {
				continue
			}
			seen[v.ID] = true
			rec, err := s.SchemaByID(ctx, v.ID)
			if err != nil {
				return err
			}
			if err := walk(rec.References, depth+1); err != nil {
				return err
			}
			out = append(out, rec.Schema)
		}
		return nil
	}
	if err := walk(refs, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// Versions returns every version record of a subject, soft-deleted ones included,
// in ascending version order, and the etcd revision they were read at.
func (s *Store) Versions(ctx context.Context, subject string) ([]schemas.VersionRecord, int64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.keys.SubjectPrefix(subject)+"versions/", clientv3.WithPrefix())
	if err != nil {
		return nil, 0, schemas.StoreError("reading subject '"+subject+"'", err)
	}
	out, err := decodeVersions(resp.Kvs)
	if err != nil {
		return nil, 0, err
	}
	return out, resp.Header.Revision, nil
}

// decodeVersions decodes version records in ascending version order.
func decodeVersions(kvs []*mvccpb.KeyValue) ([]schemas.VersionRecord, error) {
	out := make([]schemas.VersionRecord, 0, len(kvs))
	for _, kv := range kvs {
		var v schemas.VersionRecord
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, schemas.StoreError("decoding "+string(kv.Key), err)
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Version returns one version of a subject. version -1 means the latest. Soft-deleted
// versions are found only with includeDeleted.
func (s *Store) Version(ctx context.Context, subject string, version int, includeDeleted bool) (*schemas.VersionRecord, error) {
	all, _, err := s.Versions(ctx, subject)
	if err != nil {
		return nil, err
	}
	return PickVersion(subject, all, version, includeDeleted)
}

// PickVersion chooses a version from a subject's records (see Version).
func PickVersion(subject string, all []schemas.VersionRecord, version int, includeDeleted bool) (*schemas.VersionRecord, error) {
	live := 0
	for _, v := range all {
		if !v.Deleted {
			live++
		}
	}
	if len(all) == 0 || (live == 0 && !includeDeleted) {
		return nil, schemas.ErrSubjectNotFound(subject)
	}
	if version == -1 {
		for i := len(all) - 1; i >= 0; i-- {
			if includeDeleted || !all[i].Deleted {
				v := all[i]
				return &v, nil
			}
		}
		return nil, schemas.ErrSubjectNotFound(subject)
	}
	for _, v := range all {
		if v.Version == version && (includeDeleted || !v.Deleted) {
			v := v
			return &v, nil
		}
	}
	return nil, schemas.ErrVersionNotFound(version)
}

// Subjects lists subject names with at least one live version (or any version, with
// includeDeleted), sorted.
func (s *Store) Subjects(ctx context.Context, includeDeleted bool) ([]string, error) {
	all, err := s.AllVersions(ctx)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, v := range all {
		if includeDeleted || !v.Deleted {
			set[v.Subject] = true
		}
	}
	out := make([]string, 0, len(set))
	for subj := range set {
		out = append(out, subj)
	}
	sort.Strings(out)
	return out, nil
}

// AllVersions returns every version record of every subject.
func (s *Store) AllVersions(ctx context.Context) ([]schemas.VersionRecord, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.keys.SubjectsPrefix(), clientv3.WithPrefix())
	if err != nil {
		return nil, schemas.StoreError("listing subjects", err)
	}
	out := make([]schemas.VersionRecord, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if s.keys.Parse(string(kv.Key)).Kind != schemas.KindVersion {
			continue
		}
		var v schemas.VersionRecord
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			return nil, schemas.StoreError("decoding "+string(kv.Key), err)
		}
		out = append(out, v)
	}
	return out, nil
}

// getJSON reads one JSON value; found=false when the key is absent.
func (s *Store) getJSON(ctx context.Context, key string, into any) (found bool, rev int64, err error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return false, 0, schemas.StoreError("reading "+key, err)
	}
	if len(resp.Kvs) == 0 {
		return false, 0, nil
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, into); err != nil {
		return false, 0, schemas.StoreError("decoding "+key, err)
	}
	return true, resp.Kvs[0].ModRevision, nil
}

// IDByFingerprint returns the global id of the schema with that fingerprint.
func (s *Store) IDByFingerprint(ctx context.Context, fp string) (int, bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.keys.Fingerprint(fp))
	if err != nil {
		return 0, false, schemas.StoreError("looking up schema", err)
	}
	if len(resp.Kvs) == 0 {
		return 0, false, nil
	}
	id, err := strconv.Atoi(string(resp.Kvs[0].Value))
	if err != nil {
		return 0, false, schemas.StoreError("decoding fingerprint "+fp, err)
	}
	return id, true, nil
}

// Ping checks that etcd answers a linearizable read within the operation timeout.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	if _, err := s.cli.Get(ctx, s.keys.NextID()); err != nil {
		return schemas.StoreError("checking etcd", err)
	}
	return nil
}
