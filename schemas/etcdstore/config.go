package etcdstore

import (
	"context"

	"github.com/waybill-data/waybill/schemas"
)

// Config returns the compatibility config of a subject ("" for the global one);
// found=false when none is set at that level.
func (s *Store) Config(ctx context.Context, subject string) (rec schemas.ConfigRecord, found bool, err error) {
	found, _, err = s.getJSON(ctx, s.configKey(subject), &rec)
	return rec, found, err
}

// PutConfig sets the compatibility config of a subject ("" for global).
func (s *Store) PutConfig(ctx context.Context, subject string, rec schemas.ConfigRecord) error {
	return s.putJSON(ctx, s.configKey(subject), rec)
}

// DeleteConfig removes a subject's (or the global) config; it reports whether one existed.
func (s *Store) DeleteConfig(ctx context.Context, subject string) (bool, error) {
	return s.delete(ctx, s.configKey(subject))
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
func (s *Store) PutMode(ctx context.Context, subject string, rec schemas.ModeRecord) error {
	return s.putJSON(ctx, s.modeKey(subject), rec)
}

// DeleteMode removes a subject's mode; it reports whether one existed.
func (s *Store) DeleteMode(ctx context.Context, subject string) (bool, error) {
	return s.delete(ctx, s.modeKey(subject))
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
func (s *Store) PutContract(ctx context.Context, subject string, c schemas.Contract) error {
	c.Classification = nil // derived from the schema on read, never stored
	return s.putJSON(ctx, s.keys.Contract(subject), c)
}
