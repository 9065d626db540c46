package etcdstore

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/waybill-data/waybill/schemas"
)

// RegisterRequest is a schema to append to a subject.
type RegisterRequest struct {
	Subject     string
	SchemaType  string
	Canonical   string
	References  []schemas.Reference
	Fingerprint string
	// Check is called on every attempt with the subject's live versions (ascending) as
	// of the snapshot the attempt will commit against; an error aborts registration.
	// This is where compatibility is enforced, so it is checked against exactly the
	// versions the new one is appended after.
	Check func(ctx context.Context, live []schemas.VersionRecord) error
	// ID and Version are set only in IMPORT mode, to keep ids and versions from another
	// registry. Zero means allocate.
	ID      int
	Version int
}

// RegisterResult says where the schema ended up.
type RegisterResult struct {
	ID      int
	Version int
	Created bool // false when the subject already had this schema as a live version
}

// maxAttempts bounds retries under contention; each lost race means another registry
// made progress, so exhausting this needs sustained contention on one subject.
const maxAttempts = 64

// Register appends the schema to the subject, allocating a global id unless the same
// schema (same fingerprint) already has one. If a live version of the subject already
// holds the schema, it returns that version without writing.
func (s *Store) Register(ctx context.Context, req RegisterRequest) (RegisterResult, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	k := s.keys
	subjectPrefix := k.SubjectPrefix(req.Subject)
	for attempt := 0; attempt < maxAttempts; attempt++ {
		// One read-only transaction gives a consistent snapshot of everything we decide on.
		ops := []clientv3.Op{
			clientv3.OpGet(subjectPrefix+"versions/", clientv3.WithPrefix()),
			clientv3.OpGet(k.Fingerprint(req.Fingerprint)),
			clientv3.OpGet(k.NextID()),
		}
		if req.ID != 0 {
			ops = append(ops, clientv3.OpGet(k.Schema(req.ID)))
		}
		snap, err := s.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return RegisterResult{}, schemas.StoreError("reading subject '"+req.Subject+"'", err)
		}
		rev := snap.Header.Revision
		var all []schemas.VersionRecord
		for _, kv := range snap.Responses[0].GetResponseRange().Kvs {
			var v schemas.VersionRecord
			if err := json.Unmarshal(kv.Value, &v); err != nil {
				return RegisterResult{}, schemas.StoreError("decoding "+string(kv.Key), err)
			}
			all = append(all, v)
		}
		existingID := 0
		if kvs := snap.Responses[1].GetResponseRange().Kvs; len(kvs) > 0 {
			existingID, _ = strconv.Atoi(string(kvs[0].Value))
		}
		nextID, nextModRev := 1, int64(0)
		if kvs := snap.Responses[2].GetResponseRange().Kvs; len(kvs) > 0 {
			nextID, _ = strconv.Atoi(string(kvs[0].Value))
			nextModRev = kvs[0].ModRevision
		}
		if req.ID != 0 {
			if existingID != 0 && existingID != req.ID {
				return RegisterResult{}, schemas.Errorf(schemas.CodeIDDoesNotMatch, "Schema already registered with id %d instead of input id %d", existingID, req.ID)
			}
			if existingID == 0 && len(snap.Responses[3].GetResponseRange().Kvs) > 0 {
				return RegisterResult{}, schemas.Errorf(schemas.CodeIDDoesNotMatch, "Overwrite new schema with id %d is not permitted.", req.ID)
			}
		}

		var live []schemas.VersionRecord
		maxVersion := 0
		for _, v := range all {
			if v.Version > maxVersion {
				maxVersion = v.Version
			}
			if v.Deleted {
				continue
			}
			live = append(live, v)
			if existingID != 0 && v.ID == existingID && (req.Version == 0 || req.Version == v.Version) {
				return RegisterResult{ID: existingID, Version: v.Version}, nil
			}
		}
		if req.Check != nil {
			if err := req.Check(ctx, live); err != nil {
				return RegisterResult{}, err
			}
		}
		version := maxVersion + 1
		if req.Version != 0 {
			for _, v := range all {
				if v.Version == req.Version {
					return RegisterResult{}, schemas.Errorf(schemas.CodeOperationNotPermitted, "Subject '%s' already has a version %d with a different schema", req.Subject, req.Version)
				}
			}
			version = req.Version
		}

		cmps := []clientv3.Cmp{
			// Nothing under the subject changed since the snapshot.
			clientv3.Compare(clientv3.ModRevision(subjectPrefix), "<", rev+1).WithPrefix(),
		}
		var puts []clientv3.Op
		id := existingID
		if id == 0 {
			id = nextID
			if req.ID != 0 {
				id = req.ID
				cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(k.Schema(id)), "=", 0))
			}
			newNext := max(nextID, id+1)
			rec := schemas.SchemaRecord{ID: id, SchemaType: req.SchemaType, Schema: req.Canonical, References: req.References, Fingerprint: req.Fingerprint}
			recJSON, err := json.Marshal(rec)
			if err != nil {
				return RegisterResult{}, schemas.StoreError("encoding schema", err)
			}
			cmps = append(cmps,
				clientv3.Compare(clientv3.CreateRevision(k.Fingerprint(req.Fingerprint)), "=", 0),
				clientv3.Compare(clientv3.ModRevision(k.NextID()), "=", nextModRev),
			)
			puts = append(puts,
				clientv3.OpPut(k.NextID(), strconv.Itoa(newNext)),
				clientv3.OpPut(k.Schema(id), string(recJSON)),
				clientv3.OpPut(k.Fingerprint(req.Fingerprint), strconv.Itoa(id)),
			)
		}
		vrec := schemas.VersionRecord{Subject: req.Subject, Version: version, ID: id, Registered: time.Now().UTC()}
		vJSON, err := json.Marshal(vrec)
		if err != nil {
			return RegisterResult{}, schemas.StoreError("encoding version", err)
		}
		puts = append(puts, clientv3.OpPut(k.Version(req.Subject, version), string(vJSON)))
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(puts...).Commit()
		if err != nil {
			return RegisterResult{}, schemas.StoreError("registering under subject '"+req.Subject+"'", err)
		}
		if resp.Succeeded {
			return RegisterResult{ID: id, Version: version, Created: true}, nil
		}
		// Lost a race with another registry: back off briefly and re-read.
		if err := sleepCtx(ctx, time.Duration(attempt+1)*time.Millisecond); err != nil {
			return RegisterResult{}, schemas.StoreError("registering under subject '"+req.Subject+"'", err)
		}
	}
	return RegisterResult{}, schemas.Errorf(schemas.CodeStoreError, "Too much contention registering under subject '%s'; retry", req.Subject)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
