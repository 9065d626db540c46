package webhdfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"

	"github.com/waybill-data/waybill/adapters/avrofile"
)

// Inventory recounts what a route's files in HDFS hold, for `router verify`
// (avrofile.Inventory over LISTSTATUS and OPEN). It only reads, and may run beside
// the router that writes: it sees committed files only (temporary names are skipped).
type Inventory struct {
	avrofile.Inventory
	root string
	c    *client
}

// OpenInventory returns a recount of the files under cfg's root. It does not contact
// the cluster.
func OpenInventory(cfg Config, logger *slog.Logger) (*Inventory, error) {
	if errs := cfg.Validate("webhdfs"); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c, err := newClient(cfg, logger.With("sink", "webhdfs", "root", cfg.Root))
	if err != nil {
		return nil, err
	}
	inv := &Inventory{root: cfg.Root, c: c}
	inv.Inventory = avrofile.Inventory{Name: "webhdfs", Files: inv}
	return inv, nil
}

// List implements avrofile.FileStore: the files of dir (relative to the root).
func (inv *Inventory) List(ctx context.Context, dir string) ([]string, error) {
	entries, _, err := inv.c.list(ctx, path.Join(inv.root, dir))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type == "FILE" {
			names = append(names, e.PathSuffix)
		}
	}
	return names, nil
}

// Read implements avrofile.FileStore: a file's content; a missing file wraps
// fs.ErrNotExist.
func (inv *Inventory) Read(ctx context.Context, p string) ([]byte, error) {
	data, err := inv.c.open(ctx, path.Join(inv.root, p))
	if isException(err, "FileNotFoundException") {
		return nil, fmt.Errorf("%w: %v", fs.ErrNotExist, err)
	}
	return data, err
}
