package lake

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/waybill-data/waybill/adapters/avrofile"
	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/verify"
)

// Inventory recounts a lake for `router verify`. It only reads, takes no lock, and
// may run beside the router that writes the lake: it sees committed files only.
type Inventory struct {
	root string
}

// OpenInventory returns a recount of the lake cfg names.
func OpenInventory(cfg Config, _ *slog.Logger) (*Inventory, error) {
	if errs := cfg.Validate("lake"); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &Inventory{root: cfg.Path}, nil
}

// Count implements verify.Inventory (see avrofile.Count).
func (inv *Inventory) Count(ctx context.Context, route routing.Route, contract string, since, until time.Time) (map[string]verify.HourCount, error) {
	counts, err := avrofile.Count(ctx, inv, route, contract, since, until)
	if err != nil {
		return nil, fmt.Errorf("lake: %w", err)
	}
	return counts, nil
}

// Versions implements verify.Inventory: the lake has no latest mode.
func (inv *Inventory) Versions(_ context.Context, route routing.Route, _ string, _ []string) (map[string]routing.Version, error) {
	return nil, fmt.Errorf("lake: %w", avrofile.NoLatest(route))
}

// List implements avrofile.FileStore.
func (inv *Inventory) List(_ context.Context, dir string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(inv.root, filepath.FromSlash(dir)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lake: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Read implements avrofile.FileStore.
func (inv *Inventory) Read(_ context.Context, path string) ([]byte, error) {
	return os.ReadFile(filepath.Join(inv.root, filepath.FromSlash(path)))
}
