package avrofile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"time"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/target"
	"github.com/waybill-data/waybill/routing/verify"
)

// FileStore is what a recount needs of a store of these files (the local lake,
// HDFS). Paths are relative to the store's root and '/'-separated.
type FileStore interface {
	// List returns the names of the entries in dir; a missing dir has none.
	List(ctx context.Context, dir string) ([]string, error)
	// Read returns a file's content; a missing file is an error wrapping fs.ErrNotExist.
	Read(ctx context.Context, path string) ([]byte, error)
}

// Count recounts, for `router verify`, the events of contract a route's files hold
// with event times in [since, until), by event hour: it lists every directory the
// route's target renders to for that range, skips files whose manifest says they hold
// another contract or other times, and decodes the rest. A file that holds several
// contracts (a target without {contract}) cannot be recounted per contract: that is
// an error naming the file.
func Count(ctx context.Context, store FileStore, route routing.Route, contract string, since, until time.Time) (map[string]verify.HourCount, error) {
	tmpl, err := target.Parse(route.Target)
	if err != nil {
		return nil, fmt.Errorf("route %s: %w", route.Name, err)
	}
	tally := verify.NewTally(since, until)
	for _, dir := range tmpl.RenderRange(contract, route.Name, since, until) {
		names, err := store.List(ctx, dir)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			if _, _, _, ok := ParseFileName(name); !ok {
				continue
			}
			file := path.Join(dir, name)
			raw, err := store.Read(ctx, ManifestName(file))
			switch {
			case errors.Is(err, fs.ErrNotExist): // not written yet after a crash: read the data
			case err != nil:
				return nil, err
			default:
				m, err := ParseManifest(raw)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", ManifestName(file), err)
				}
				if m.Contract == "" && len(m.Contracts) > 1 {
					if !slices.Contains(m.Contracts, contract) {
						continue
					}
					return nil, fmt.Errorf("%s holds events of several contracts (%v): recounting per contract needs a target with {contract}", file, m.Contracts)
				}
				if m.Contract != contract || !until.IsZero() && !m.MinTime.Before(until) || !since.IsZero() && m.MaxTime.Before(since) {
					continue
				}
			}
			data, err := store.Read(ctx, file)
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed between the listing and now
			}
			if err != nil {
				return nil, err
			}
			events, err := Decode(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			for _, ev := range events {
				tally.Add(ev.Time, ev.ID)
			}
		}
	}
	return tally.Counts(), nil
}

// Inventory is the verify.Inventory of a FileStore, for file sinks to embed: Count
// recounts the files (see Count); Versions reports that there are none. Errors start
// with Name.
type Inventory struct {
	Name  string // "lake", "webhdfs"
	Files FileStore
}

// Count implements verify.Inventory (see Count).
func (inv *Inventory) Count(ctx context.Context, route routing.Route, contract string, since, until time.Time) (map[string]verify.HourCount, error) {
	counts, err := Count(ctx, inv.Files, route, contract, since, until)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", inv.Name, err)
	}
	return counts, nil
}

// Versions implements verify.Inventory: files have no latest mode.
func (inv *Inventory) Versions(_ context.Context, route routing.Route, _ string, _ []string) (map[string]routing.Version, error) {
	return nil, fmt.Errorf("%s: %w", inv.Name, NoLatest(route))
}

// NoLatest is Inventory.Versions for file stores, which have no latest mode.
func NoLatest(route routing.Route) error {
	return fmt.Errorf("route %s: file stores keep every event (append mode only); there are no latest versions to read", route.Name)
}
