package etcdstore

import (
	"context"
	"encoding/json"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/waybill-data/waybill/schemas"
)

// SoftDeleteSubject marks every live version deleted and returns their numbers.
func (s *Store) SoftDeleteSubject(ctx context.Context, subject string, by ...Change) ([]int, error) {
	return s.mutateSubject(ctx, subject, changeOf(by), func(snap *subjectSnapshot) ([]int, []clientv3.Op, *AuditRecord, error) {
		var live []schemas.VersionRecord
		for _, v := range snap.versions {
			if !v.Deleted {
				live = append(live, v)
			}
		}
		if len(live) == 0 {
			return nil, nil, nil, schemas.ErrSubjectSoftDeleted(subject)
		}
		if err := s.checkNotReferenced(ctx, subject, live); err != nil {
			return nil, nil, nil, err
		}
		var nums []int
		var ops []clientv3.Op
		var after []schemas.VersionRecord
		for _, v := range live {
			v.Deleted = true
			op, err := s.versionPut(v)
			if err != nil {
				return nil, nil, nil, err
			}
			ops = append(ops, op)
			nums = append(nums, v.Version)
			after = append(after, v)
		}
		rec := &AuditRecord{Action: ActionDeleteSubject, Subject: subject,
			Before: rawJSON(map[string]any{"versions": live}), After: rawJSON(map[string]any{"versions": after})}
		return nums, ops, rec, nil
	})
}

// HardDeleteSubject removes a subject whose versions are all soft-deleted, with its
// subject-level config, mode and contract. Schema ids stay allocated (never reused),
// and their records stay readable by id so that data written with them can be read.
// The subject's audit records stay too; the one for this delete keeps what was removed.
func (s *Store) HardDeleteSubject(ctx context.Context, subject string, by ...Change) ([]int, error) {
	return s.mutateSubject(ctx, subject, changeOf(by), func(snap *subjectSnapshot) ([]int, []clientv3.Op, *AuditRecord, error) {
		var nums []int
		for _, v := range snap.versions {
			if !v.Deleted {
				return nil, nil, nil, schemas.ErrSubjectNotSoftDeleted(subject)
			}
			nums = append(nums, v.Version)
		}
		ops := []clientv3.Op{
			clientv3.OpDelete(s.keys.SubjectPrefix(subject), clientv3.WithPrefix()),
			clientv3.OpDelete(s.keys.SubjectConfig(subject)),
			clientv3.OpDelete(s.keys.SubjectMode(subject)),
			clientv3.OpDelete(s.keys.Contract(subject)),
		}
		before := map[string]any{"versions": snap.versions}
		for name, raw := range map[string][]byte{"contract": snap.contractRaw, "config": snap.config, "mode": snap.mode} {
			if raw != nil {
				before[name] = json.RawMessage(raw)
			}
		}
		rec := &AuditRecord{Action: ActionDeleteSubject, Subject: subject, Permanent: true,
			Before: rawJSON(before), After: rawJSON(nil)}
		return nums, ops, rec, nil
	})
}

// SoftDeleteVersion marks one version deleted (version -1: the latest live one).
func (s *Store) SoftDeleteVersion(ctx context.Context, subject string, version int, by ...Change) (int, error) {
	nums, err := s.mutateSubject(ctx, subject, changeOf(by), func(snap *subjectSnapshot) ([]int, []clientv3.Op, *AuditRecord, error) {
		v, err := PickVersion(subject, snap.versions, version, version != -1)
		if err != nil {
			return nil, nil, nil, err
		}
		if v.Deleted {
			return nil, nil, nil, schemas.ErrVersionSoftDeleted(subject, v.Version)
		}
		if err := s.checkNotReferenced(ctx, subject, []schemas.VersionRecord{*v}); err != nil {
			return nil, nil, nil, err
		}
		before := *v
		v.Deleted = true
		op, err := s.versionPut(*v)
		if err != nil {
			return nil, nil, nil, err
		}
		rec := &AuditRecord{Action: ActionDeleteVersion, Subject: subject, Version: v.Version, ID: v.ID,
			Before: rawJSON(before), After: rawJSON(v)}
		return []int{v.Version}, []clientv3.Op{op}, rec, nil
	})
	if err != nil {
		return 0, err
	}
	return nums[0], nil
}

// HardDeleteVersion removes a soft-deleted version (version -1: the latest version,
// deleted or not, as Confluent does).
func (s *Store) HardDeleteVersion(ctx context.Context, subject string, version int, by ...Change) (int, error) {
	nums, err := s.mutateSubject(ctx, subject, changeOf(by), func(snap *subjectSnapshot) ([]int, []clientv3.Op, *AuditRecord, error) {
		v, err := PickVersion(subject, snap.versions, version, true)
		if err != nil {
			return nil, nil, nil, err
		}
		if !v.Deleted {
			return nil, nil, nil, schemas.ErrVersionNotSoftDeleted(subject, v.Version)
		}
		rec := &AuditRecord{Action: ActionDeleteVersion, Subject: subject, Version: v.Version, ID: v.ID, Permanent: true,
			Before: rawJSON(v), After: rawJSON(nil)}
		return []int{v.Version}, []clientv3.Op{clientv3.OpDelete(s.keys.Version(subject, v.Version))}, rec, nil
	})
	if err != nil {
		return 0, err
	}
	return nums[0], nil
}

// subjectSnapshot is a subject as one read saw it: its versions and the records a
// delete must authorise against or keep in the audit trail.
type subjectSnapshot struct {
	rev         int64
	versions    []schemas.VersionRecord
	contract    *schemas.Contract
	contractRaw []byte
	config      []byte
	mode        []byte
	modRevs     map[string]int64 // contract, config and mode keys: 0 when absent
}

func (s *Store) readSubject(ctx context.Context, subject string) (*subjectSnapshot, error) {
	keys := []string{s.keys.Contract(subject), s.keys.SubjectConfig(subject), s.keys.SubjectMode(subject)}
	ops := []clientv3.Op{clientv3.OpGet(s.keys.SubjectPrefix(subject)+"versions/", clientv3.WithPrefix())}
	for _, k := range keys {
		ops = append(ops, clientv3.OpGet(k))
	}
	resp, err := s.cli.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		return nil, schemas.StoreError("reading subject '"+subject+"'", err)
	}
	snap := &subjectSnapshot{rev: resp.Header.Revision, modRevs: map[string]int64{}}
	snap.versions, err = decodeVersions(resp.Responses[0].GetResponseRange().Kvs)
	if err != nil {
		return nil, err
	}
	vals := make([][]byte, len(keys))
	for i, k := range keys {
		snap.modRevs[k] = 0
		if kvs := resp.Responses[i+1].GetResponseRange().Kvs; len(kvs) > 0 {
			snap.modRevs[k] = kvs[0].ModRevision
			vals[i] = kvs[0].Value
		}
	}
	snap.contractRaw, snap.config, snap.mode = vals[0], vals[1], vals[2]
	if snap.contract, err = decodeContract(keys[0], snap.contractRaw); err != nil {
		return nil, err
	}
	return snap, nil
}

// mutateSubject reads a subject, lets plan decide the writes, and commits them with
// the audit record only if the subject (and its contract, config and mode) did not
// change meanwhile; it retries on a lost race.
func (s *Store) mutateSubject(ctx context.Context, subject string, by Change, plan func(*subjectSnapshot) ([]int, []clientv3.Op, *AuditRecord, error)) ([]int, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		snap, err := s.readSubject(ctx, subject)
		if err != nil {
			return nil, err
		}
		if len(snap.versions) == 0 {
			return nil, schemas.ErrSubjectNotFound(subject)
		}
		if err := by.authorize(snap.contract); err != nil {
			return nil, err
		}
		nums, ops, rec, err := plan(snap)
		if err != nil {
			return nil, err
		}
		rec.Who = by.Who
		if by.Annotate != nil {
			by.Annotate(rec)
		}
		put, err := s.auditPut(rec)
		if err != nil {
			return nil, err
		}
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.keys.SubjectPrefix(subject)), "<", snap.rev+1).WithPrefix()}
		for k, rev := range snap.modRevs {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", rev))
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(append(ops, put)...).Commit()
		if err != nil {
			return nil, schemas.StoreError("deleting from subject '"+subject+"'", err)
		}
		if resp.Succeeded {
			return nums, nil
		}
	}
	return nil, schemas.Errorf(schemas.CodeStoreError, "Too much contention on subject '%s'; retry", subject)
}

func (s *Store) versionPut(v schemas.VersionRecord) (clientv3.Op, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return clientv3.Op{}, schemas.StoreError("encoding version", err)
	}
	return clientv3.OpPut(s.keys.Version(v.Subject, v.Version), string(b)), nil
}

// checkNotReferenced refuses to delete versions that a live schema elsewhere imports
// through a reference (42206), as Confluent does.
func (s *Store) checkNotReferenced(ctx context.Context, subject string, victims []schemas.VersionRecord) error {
	all, err := s.AllVersions(ctx)
	if err != nil {
		return err
	}
	liveIDs := map[int]bool{}
	for _, v := range all {
		if !v.Deleted {
			liveIDs[v.ID] = true
		}
	}
	c, cancel := s.ctx(ctx)
	defer cancel()
	resp, err := s.cli.Get(c, s.keys.SchemasPrefix(), clientv3.WithPrefix())
	if err != nil {
		return schemas.StoreError("reading schemas", err)
	}
	for _, kv := range resp.Kvs {
		if !strings.Contains(string(kv.Value), `"references"`) {
			continue
		}
		var rec schemas.SchemaRecord
		if err := json.Unmarshal(kv.Value, &rec); err != nil || !liveIDs[rec.ID] {
			continue
		}
		for _, r := range rec.References {
			for _, v := range victims {
				if r.Subject == subject && r.Version == v.Version {
					return schemas.Errorf(schemas.CodeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d} (referenced by schema id %d)", subject, v.Version, rec.ID)
				}
			}
		}
	}
	return nil
}
