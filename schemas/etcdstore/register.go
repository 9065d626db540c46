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
	// Change says who registers; its Authorize runs before Check, on the same snapshot.
	Change Change
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
	by := changeOf([]Change{req.Change})
	for attempt := 0; attempt < maxAttempts; attempt++ {
		// One read-only transaction gives a consistent snapshot of everything we decide on.
		ops := []clientv3.Op{
			clientv3.OpGet(subjectPrefix+"versions/", clientv3.WithPrefix()),
			clientv3.OpGet(k.Fingerprint(req.Fingerprint)),
			clientv3.OpGet(k.NextID()),
			clientv3.OpGet(k.Contract(req.Subject)),
		}
		if req.ID != 0 {
			ops = append(ops, clientv3.OpGet(k.Schema(req.ID)))
		}
		snap, err := s.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return RegisterResult{}, schemas.StoreError("reading subject '"+req.Subject+"'", err)
		}
		rev := snap.Header.Revision
		all, err := decodeVersions(snap.Responses[0].GetResponseRange().Kvs)
		if err != nil {
			return RegisterResult{}, err
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
		contractRev := int64(0)
		var contract *schemas.Contract
		if kvs := snap.Responses[3].GetResponseRange().Kvs; len(kvs) > 0 {
			contractRev = kvs[0].ModRevision
			if contract, err = decodeContract(string(kvs[0].Key), kvs[0].Value); err != nil {
				return RegisterResult{}, err
			}
		}
		if req.ID != 0 {
			if existingID != 0 && existingID != req.ID {
				return RegisterResult{}, schemas.Errorf(schemas.CodeIDDoesNotMatch, "Schema already registered with id %d instead of input id %d", existingID, req.ID)
			}
			if existingID == 0 && len(snap.Responses[4].GetResponseRange().Kvs) > 0 {
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
		// Re-registering a live schema changes nothing and is answered above, like a
		// lookup, whoever asks; anything else must be authorised.
		if err := by.authorize(contract); err != nil {
			return RegisterResult{}, err
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
			// Nor the contract that authorised it.
			clientv3.Compare(clientv3.ModRevision(k.Contract(req.Subject)), "=", contractRev),
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
		rec := &AuditRecord{Who: by.Who, Action: ActionRegister, Subject: req.Subject, Version: version, ID: id,
			Before: rawJSON(nil), After: rawJSON(map[string]any{"version": version, "id": id})}
		if n := len(live); n > 0 {
			rec.Before = rawJSON(map[string]any{"version": live[n-1].Version, "id": live[n-1].ID})
		}
		if by.Annotate != nil {
			by.Annotate(rec)
		}
		audit, err := s.auditPut(rec)
		if err != nil {
			return RegisterResult{}, err
		}
		puts = append(puts, audit)
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
