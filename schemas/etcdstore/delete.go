package etcdstore

import (
	"context"
	"encoding/json"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/waybill-data/waybill/schemas"
)

// SoftDeleteSubject marks every live version deleted and returns their numbers.
func (s *Store) SoftDeleteSubject(ctx context.Context, subject string) ([]int, error) {
	return s.mutateSubject(ctx, subject, func(all []schemas.VersionRecord) ([]int, []clientv3.Op, error) {
		var live []schemas.VersionRecord
		for _, v := range all {
			if !v.Deleted {
				live = append(live, v)
			}
		}
		if len(live) == 0 {
			return nil, nil, schemas.ErrSubjectSoftDeleted(subject)
		}
		if err := s.checkNotReferenced(ctx, subject, live); err != nil {
			return nil, nil, err
		}
		var nums []int
		var ops []clientv3.Op
		for _, v := range live {
			v.Deleted = true
			op, err := s.versionPut(v)
			if err != nil {
				return nil, nil, err
			}
			ops = append(ops, op)
			nums = append(nums, v.Version)
		}
		return nums, ops, nil
	})
}

// HardDeleteSubject removes a subject whose versions are all soft-deleted, with its
// subject-level config, mode and contract. Schema ids stay allocated (never reused),
// and their records stay readable by id so that data written with them can be read.
func (s *Store) HardDeleteSubject(ctx context.Context, subject string) ([]int, error) {
	return s.mutateSubject(ctx, subject, func(all []schemas.VersionRecord) ([]int, []clientv3.Op, error) {
		var nums []int
		for _, v := range all {
			if !v.Deleted {
				return nil, nil, schemas.ErrSubjectNotSoftDeleted(subject)
			}
			nums = append(nums, v.Version)
		}
		ops := []clientv3.Op{
			clientv3.OpDelete(s.keys.SubjectPrefix(subject), clientv3.WithPrefix()),
			clientv3.OpDelete(s.keys.SubjectConfig(subject)),
			clientv3.OpDelete(s.keys.SubjectMode(subject)),
			clientv3.OpDelete(s.keys.Contract(subject)),
		}
		return nums, ops, nil
	})
}

// SoftDeleteVersion marks one version deleted (version -1: the latest live one).
func (s *Store) SoftDeleteVersion(ctx context.Context, subject string, version int) (int, error) {
	nums, err := s.mutateSubject(ctx, subject, func(all []schemas.VersionRecord) ([]int, []clientv3.Op, error) {
		v, err := PickVersion(subject, all, version, version != -1)
		if err != nil {
			return nil, nil, err
		}
		if v.Deleted {
			return nil, nil, schemas.ErrVersionSoftDeleted(subject, v.Version)
		}
		if err := s.checkNotReferenced(ctx, subject, []schemas.VersionRecord{*v}); err != nil {
			return nil, nil, err
		}
		v.Deleted = true
		op, err := s.versionPut(*v)
		if err != nil {
			return nil, nil, err
		}
		return []int{v.Version}, []clientv3.Op{op}, nil
	})
	if err != nil {
		return 0, err
	}
	return nums[0], nil
}

// HardDeleteVersion removes a soft-deleted version (version -1: the latest version,
// deleted or not, as Confluent does).
func (s *Store) HardDeleteVersion(ctx context.Context, subject string, version int) (int, error) {
	nums, err := s.mutateSubject(ctx, subject, func(all []schemas.VersionRecord) ([]int, []clientv3.Op, error) {
		v, err := PickVersion(subject, all, version, true)
		if err != nil {
			return nil, nil, err
		}
		if !v.Deleted {
			return nil, nil, schemas.ErrVersionNotSoftDeleted(subject, v.Version)
		}
		return []int{v.Version}, []clientv3.Op{clientv3.OpDelete(s.keys.Version(subject, v.Version))}, nil
	})
	if err != nil {
		return 0, err
	}
	return nums[0], nil
}

// mutateSubject reads a subject, lets plan decide the writes, and commits them only if
// the subject did not change meanwhile; it retries on a lost race.
func (s *Store) mutateSubject(ctx context.Context, subject string, plan func([]schemas.VersionRecord) ([]int, []clientv3.Op, error)) ([]int, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		all, rev, err := s.Versions(ctx, subject)
		if err != nil {
			return nil, err
		}
		if len(all) == 0 {
			return nil, schemas.ErrSubjectNotFound(subject)
		}
		nums, ops, err := plan(all)
		if err != nil {
			return nil, err
		}
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(s.keys.SubjectPrefix(subject)), "<", rev+1).WithPrefix()).
			Then(ops...).Commit()
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
