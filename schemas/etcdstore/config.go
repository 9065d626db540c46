package etcdstore

import (
	"context"
	"encoding/json"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/waybill-data/waybill/schemas"
)

// Config returns the compatibility config of a subject ("" for the global one);
// found=false when none is set at that level.
func (s *Store) Config(ctx context.Context, subject string) (rec schemas.ConfigRecord, found bool, err error) {
	found, _, err = s.getJSON(ctx, s.configKey(subject), &rec)
	return rec, found, err
}

// PutConfig sets the compatibility config of a subject ("" for global).
func (s *Store) PutConfig(ctx context.Context, subject string, rec schemas.ConfigRecord, by ...Change) error {
	_, err := s.setKey(ctx, subject, s.configKey(subject), ActionPutConfig, rec, changeOf(by))
	return err
}

// DeleteConfig removes a subject's (or the global) config; it reports whether one existed.
func (s *Store) DeleteConfig(ctx context.Context, subject string, by ...Change) (bool, error) {
	return s.setKey(ctx, subject, s.configKey(subject), ActionDeleteConfig, nil, changeOf(by))
}

func (s *Store) configKey(subject string) string {
	if subject == "" {
		return s.keys.GlobalConfig()
	}
	return s.keys.SubjectConfig(subject)
}

// Mode returns the mode of a subject ("" for global); found=false when none is set.
func (s *Store) Mode(ctx context.Context, subject string) (rec schemas.ModeRecord, found bool, err error) {
	found, _, err = s.getJSON(ctx, s.modeKey(subject), &rec)
	return rec, found, err
}

// PutMode sets the mode of a subject ("" for global).
func (s *Store) PutMode(ctx context.Context, subject string, rec schemas.ModeRecord, by ...Change) error {
	_, err := s.setKey(ctx, subject, s.modeKey(subject), ActionPutMode, rec, changeOf(by))
	return err
}

// DeleteMode removes a subject's mode; it reports whether one existed.
func (s *Store) DeleteMode(ctx context.Context, subject string, by ...Change) (bool, error) {
	return s.setKey(ctx, subject, s.modeKey(subject), ActionDeleteMode, nil, changeOf(by))
}

func (s *Store) modeKey(subject string) string {
	if subject == "" {
		return s.keys.GlobalMode()
	}
	return s.keys.SubjectMode(subject)
}

// Contract returns a subject's governance record; found=false when it has none.
func (s *Store) Contract(ctx context.Context, subject string) (c schemas.Contract, found bool, err error) {
	found, _, err = s.getJSON(ctx, s.keys.Contract(subject), &c)
	return c, found, err
}

// PutContract stores a subject's governance record (already validated by the caller).
func (s *Store) PutContract(ctx context.Context, subject string, c schemas.Contract, by ...Change) error {
	c.Classification = nil // derived from the schema on read, never stored
	_, err := s.setKey(ctx, subject, s.keys.Contract(subject), ActionPutContract, c, changeOf(by))
	return err
}

// setKey writes value to key (nil: deletes it) with its audit record, after by has
// authorised it against the subject's contract ("" subject: the global records, no
// contract). The commit compares the key and the contract against the snapshot that
// was authorised and recorded as before; it reports whether the key existed.
func (s *Store) setKey(ctx context.Context, subject, key, action string, value any, by Change) (existed bool, err error) {
	var after []byte
	if value != nil {
		if after, err = json.Marshal(value); err != nil {
			return false, schemas.StoreError("encoding "+key, err)
		}
	}
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	keys := []string{key}
	contractKey := ""
	if subject != "" {
		contractKey = s.keys.Contract(subject)
		if contractKey != key {
			keys = append(keys, contractKey)
		}
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		ops := make([]clientv3.Op, len(keys))
		for i, k := range keys {
			ops[i] = clientv3.OpGet(k)
		}
		snap, err := s.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return false, schemas.StoreError("reading "+key, err)
		}
		var cmps []clientv3.Cmp
		vals := map[string][]byte{}
		for i, k := range keys {
			rev := int64(0)
			if kvs := snap.Responses[i].GetResponseRange().Kvs; len(kvs) > 0 {
				rev, vals[k] = kvs[0].ModRevision, kvs[0].Value
			}
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", rev))
		}
		var contract *schemas.Contract
		if contractKey != "" {
			if contract, err = decodeContract(contractKey, vals[contractKey]); err != nil {
				return false, err
			}
		}
		if err := by.authorize(contract); err != nil {
			return false, err
		}
		before, existed := vals[key]
		if !existed && value == nil {
			return false, nil // nothing to delete: no change, nothing to record
		}
		rec := &AuditRecord{Action: action, Subject: subject, Who: by.Who, Before: jsonOrNull(before), After: jsonOrNull(after)}
		if by.Annotate != nil {
			by.Annotate(rec)
		}
		put, err := s.auditPut(rec)
		if err != nil {
			return false, err
		}
		write := clientv3.OpDelete(key)
		if value != nil {
			write = clientv3.OpPut(key, string(after))
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(write, put).Commit()
		if err != nil {
			return false, schemas.StoreError("writing "+key, err)
		}
		if resp.Succeeded {
			return existed, nil
		}
	}
	return false, schemas.Errorf(schemas.CodeStoreError, "Too much contention writing %s; retry", key)
}

func jsonOrNull(b []byte) json.RawMessage {
	switch {
	case b == nil:
		return json.RawMessage("null")
	case !json.Valid(b):
		return rawJSON(string(b)) // kept as text rather than lost
	}
	return json.RawMessage(b)
}

// decodeContract decodes a stored contract; nil raw means none.
func decodeContract(key string, raw []byte) (*schemas.Contract, error) {
	if raw == nil {
		return nil, nil
	}
	var c schemas.Contract
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, schemas.StoreError("decoding "+key, err)
	}
	return &c, nil
}
