package lake

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/waybill-data/waybill/adapters/avrofile"
)

// Inventory recounts a lake for `router verify` (avrofile.Inventory over the lake's
// files). It only reads, takes no lock, and may run beside the router that writes the
// lake: it sees committed files only.
type Inventory struct {
	avrofile.Inventory
	root string
}

// OpenInventory returns a recount of the lake cfg names.
func OpenInventory(cfg Config, _ *slog.Logger) (*Inventory, error) {
	if errs := cfg.Validate("lake"); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	inv := &Inventory{root: cfg.Path}
	inv.Inventory = avrofile.Inventory{Name: "lake", Files: inv}
	return inv, nil
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
