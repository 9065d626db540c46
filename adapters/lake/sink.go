package lake

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/waybill-data/waybill/adapters/avrofile"
	"github.com/waybill-data/waybill/routing"
)

// Sink writes batches to a local-filesystem lake as Avro object container files. See
// the package documentation for the layout and the commit protocol. It is safe for
// concurrent use by several routes; each route must call Write one batch at a time.
type Sink struct {
	root  string
	codec string
	log   *slog.Logger
	lock  *os.File // holds the exclusive flock on the root while open

	plan    *avrofile.Planner
	streams *avrofile.Streams[stream]
	gate    avrofile.Gate // Close waits for writes in flight
}

// stream is the in-memory state of a stream, a cache of what its directory holds
// (DirReady: created and synced by this process, or found). Any failure drops the
// cache (Loaded = false) so the next write rescans the directory.
type stream struct {
	avrofile.StreamState
	// unsynced is set when a file was renamed into the directory but the directory's
	// fsync failed: the next write must sync it before acknowledging anything.
	unsynced bool
}

// clean reports whether the stream's state can be dropped and rebuilt from its
// directory without losing anything.
func (st *stream) clean() bool { return !st.unsynced && len(st.Pending) == 0 }

// maxStreams bounds the streams kept in memory (see avrofile.Streams).
var maxStreams = avrofile.DefaultMaxStreams

// New opens (creating it if needed) the lake at cfg.Path, takes its lock file, checks
// that the file system can commit without overwriting, and recovers from a crash:
// temporary files are removed and missing manifests regenerated.
func New(cfg Config, logger *slog.Logger) (*Sink, error) {
	if errs := cfg.Validate("lake"); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	root := filepath.Clean(cfg.Path)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, ioError("mkdir", root, err)
	}
	lock, err := os.OpenFile(filepath.Join(root, lockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, ioError("open", filepath.Join(root, lockName), err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lake: %s is in use by another process (lock file %s)", root, lockName)
		}
		return nil, ioError("lock", filepath.Join(root, lockName), err)
	}
	s := &Sink{
		root:    root,
		codec:   cfg.codec(),
		log:     logger.With("sink", "lake", "path", root),
		lock:    lock,
		plan:    avrofile.NewPlanner("lake"),
		streams: avrofile.NewStreams(maxStreams, (*stream).clean),
	}
	if err := s.probe(); err != nil {
		s.unlock()
		return nil, err
	}
	s.recover()
	return s, nil
}

// Close waits for writes in flight and releases the lake's lock. Write fails with
// ErrClosed afterwards.
func (s *Sink) Close() error { return s.gate.Close(s.unlock) }

func (s *Sink) unlock() error {
	_ = unix.Flock(int(s.lock.Fd()), unix.LOCK_UN)
	return s.lock.Close()
}

// Write stores the batch. Events are grouped by (rendered target directory, schema id)
// and each group is committed as one file; events at or below their stream's
// high-water mark were committed before and are acknowledged without writing. It
// returns nil when every event is stored, a *routing.BatchError listing the failed
// events otherwise (a schema the resolver cannot give or a corrupt event is permanent;
// file system failures are *IOError, retryable except for names too long), or a
// permanent error for the whole batch when the route's target template is invalid.
func (s *Sink) Write(ctx context.Context, b *routing.Batch) error {
	leave, open := s.gate.Enter()
	defer leave()
	if !open {
		return ErrClosed
	}
	defer s.streams.Evict()
	return s.plan.Write(ctx, b, func(g *avrofile.Group) []routing.ItemError { return s.writeGroup(b, g) })
}

// writeGroup commits one group as one file and returns the failed events.
func (s *Sink) writeGroup(b *routing.Batch, g *avrofile.Group) (fails []routing.ItemError) {
	st, unlock := s.streams.Lock(g.Key)
	defer unlock()

	if err := st.Claim("lake", g.Key, b.Route.Name); err != nil {
		return avrofile.FailAll(nil, g.Idx, err)
	}
	if err := s.settle(g.Key, st); err != nil {
		st.Loaded = false
		return avrofile.FailAll(nil, g.Idx, err)
	}

	// Events in sequence order; those at or below the high-water mark are committed.
	sel, skipped, fails := s.plan.Select(b, g, st.HWM)
	if skipped > 0 {
		s.log.Debug("lake: skipped events already committed", "route", b.Route.Name, "dir", g.Key.Dir,
			"schema_id", g.Key.SchemaID, "skipped", skipped, "high_water", st.HWM)
	}
	if len(sel) == 0 {
		return fails
	}
	if err := s.commit(b, g, st, sel); err != nil {
		st.Loaded = false
		st.DirReady = false
		fails = avrofile.FailAll(fails, sel, err)
	}
	return fails
}

// settle brings a stream's cache up to date before a write: it loads the high-water
// mark from the directory if needed, syncs the directory if a previous commit could not,
// and writes manifests still pending.
func (s *Sink) settle(k avrofile.StreamKey, st *stream) error {
	dir := s.abs(k.Dir)
	if !st.Loaded {
		hwm, pending, err := s.loadStream(k)
		if err != nil {
			return err
		}
		st.HWM, st.Pending, st.Loaded = hwm, pending, true
		st.DirReady = hwm > 0 || len(pending) > 0
	}
	if st.unsynced {
		if err := syncDir(dir); err != nil {
			return err
		}
		st.unsynced = false
	}
	return s.settlePending(dir, st)
}

// loadStream scans a stream's directory: the high-water mark is the largest last
// sequence number in the names of its data files; its stale temporary files are
// removed; its data files without a manifest are returned to get one.
func (s *Sink) loadStream(k avrofile.StreamKey) (hwm uint64, pending []string, err error) {
	dir := s.abs(k.Dir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, ioError("read directory", dir, err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	hwm, pending, stale := avrofile.Scan(k, names)
	for _, name := range stale {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, nil, ioError("remove", filepath.Join(dir, name), err)
		}
		s.log.Info("lake: removed stale temporary file", "file", filepath.Join(dir, name))
	}
	if len(stale) > 0 {
		if err := syncDir(dir); err != nil {
			return 0, nil, err
		}
	}
	return hwm, pending, nil
}

func (s *Sink) abs(rel string) string { return filepath.Join(s.root, filepath.FromSlash(rel)) }

// commit writes the selected events of a group as one file and commits it.
func (s *Sink) commit(b *routing.Batch, g *avrofile.Group, st *stream, sel []int) error {
	dir := s.abs(g.Key.Dir)
	if !st.DirReady {
		if err := mkdirAllSync(s.root, g.Key.Dir); err != nil {
			return err
		}
		st.DirReady = true
	}
	events := avrofile.Events(b, sel)
	name := avrofile.FileName(events[0].Seq, events[len(events)-1].Seq, g.Key.SchemaID)

	m, tmp, err := s.writeTemp(b.Route.Name, g, dir, name, events)
	if err != nil {
		return err
	}
	existed, err := commitNoReplace(dir, tmp, name)
	if err != nil {
		_ = os.Remove(filepath.Join(dir, tmp))
		return err
	}
	if existed {
		_ = os.Remove(filepath.Join(dir, tmp))
	}
	// The name is now in the directory: everything up to last is committed, even if
	// syncing the directory fails below (the next write syncs it first).
	st.HWM = events[len(events)-1].Seq
	st.unsynced = true
	if err := syncDir(dir); err != nil {
		return err
	}
	st.unsynced = false

	if existed {
		s.dirOf(dir).Adopt(b.Route.Name, name, events)
		st.Pending = append(st.Pending, name)
	} else if err := writeManifest(dir, name, m); err != nil {
		st.Pending = append(st.Pending, name)
		return err
	}
	s.log.Debug("lake: committed", "route", b.Route.Name, "file", filepath.Join(dir, name), "events", len(events), "bytes", m.Bytes)
	return s.settlePending(dir, st)
}

// settlePending writes the stream's pending manifests.
func (s *Sink) settlePending(dir string, st *stream) error {
	return st.SettlePending(s.dirOf(dir).Heal)
}

// dirOf is how the shared recovery steps (avrofile.Dir) read and write dir.
func (s *Sink) dirOf(dir string) *avrofile.Dir {
	return &avrofile.Dir{Store: "lake", Path: dir, Log: s.log,
		Read: func(name string) ([]byte, error) {
			p := filepath.Join(dir, name)
			raw, err := os.ReadFile(p)
			return raw, ioError("read", p, err)
		},
		WriteManifest: func(name string, m *Manifest) error { return writeManifest(dir, name, m) },
	}
}

// writeTemp writes the file to a new hidden temporary name in dir and syncs it. It
// returns the file's manifest and the temporary name.
func (s *Sink) writeTemp(route string, g *avrofile.Group, dir, name string, events []*routing.Event) (*Manifest, string, error) {
	tmp := avrofile.TempName(name)
	path := filepath.Join(dir, tmp)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, "", ioError("create", path, err)
	}
	spec := avrofile.FileSpec{Name: name, Route: route, SchemaID: g.Key.SchemaID, Wrapper: g.Wrapper, Codec: s.codec}
	m, err := avrofile.Encode(f, spec, events)
	err = ioError("write", path, err)
	if err == nil {
		err = ioError("fsync", path, f.Sync())
	}
	if cerr := f.Close(); err == nil {
		err = ioError("close", path, cerr)
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, "", err
	}
	return m, tmp, nil
}

// writeManifest writes <name>.manifest.json atomically: temporary file, fsync, rename
// (replacing is fine: a manifest is derived from its data file), directory fsync.
func writeManifest(dir, name string, m *Manifest) error {
	final := filepath.Join(dir, avrofile.ManifestName(name))
	tmp := filepath.Join(dir, avrofile.TempName(avrofile.ManifestName(name)))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return ioError("create", tmp, err)
	}
	_, err = f.Write(m.Marshal())
	err = ioError("write", tmp, err)
	if err == nil {
		err = ioError("fsync", tmp, f.Sync())
	}
	if cerr := f.Close(); err == nil {
		err = ioError("close", tmp, cerr)
	}
	if err == nil {
		err = ioError("rename", final, os.Rename(tmp, final))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// renameNoReplace renames old to new within dir, failing with EEXIST if new exists. It
// is a variable so tests can simulate file systems without RENAME_NOREPLACE.
var renameNoReplace = func(dirfd int, old, new string) error {
	return unix.Renameat2(dirfd, old, dirfd, new, unix.RENAME_NOREPLACE)
}

// commitNoReplace moves the temporary file tmp to final in dir without ever replacing
// an existing final: renameat2(RENAME_NOREPLACE), or, where the file system does not
// support it (EINVAL, ENOSYS, EOPNOTSUPP), link(2) then unlink(2) of the temporary
// name. existed reports that final was already there (tmp is left in place then).
func commitNoReplace(dir, tmp, final string) (existed bool, err error) {
	d, err := os.Open(dir)
	if err != nil {
		return false, ioError("open", dir, err)
	}
	defer d.Close()
	fd := int(d.Fd())
	err = renameNoReplace(fd, tmp, final)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
		err = unix.Linkat(fd, tmp, fd, final, 0)
		if err == nil {
			if uerr := unix.Unlinkat(fd, tmp, 0); uerr != nil {
				return false, ioError("unlink", filepath.Join(dir, tmp), uerr)
			}
			return false, nil
		}
	}
	if errors.Is(err, unix.EEXIST) {
		return true, nil
	}
	return false, ioError("rename", filepath.Join(dir, final), err)
}

// probe checks at startup that the file system under the root can commit without
// replacing (see commitNoReplace), so a lake on an unsuitable file system fails at New.
func (s *Sink) probe() error {
	base := avrofile.TempPrefix + "probe-" + avrofile.RandomHex(8)
	a, b := filepath.Join(s.root, base), filepath.Join(s.root, base+"-target")
	defer os.Remove(a)
	defer os.Remove(b)
	for _, p := range []string{a, b} {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return ioError("create", p, err)
		}
		f.Close()
	}
	existed, err := commitNoReplace(s.root, base, base+"-target")
	if err != nil {
		return fmt.Errorf("lake: %s cannot commit files without replacing (neither renameat2 RENAME_NOREPLACE nor hard links work): %w", s.root, err)
	}
	if !existed {
		return fmt.Errorf("lake: %s: a no-replace rename replaced an existing file", s.root)
	}
	return nil
}

// recover walks the lake at startup: it removes temporary files left by a crash
// (hidden names starting with ".tmp-") and regenerates the manifests of data files that
// were committed just before a crash. Hidden directories are skipped. It is best effort:
// a failure is logged and left for the first write to the stream concerned, which scans
// its directory again, so one damaged partition cannot keep the whole lake down.
func (s *Sink) recover() {
	var synced []string
	var heal [][2]string
	_ = filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			s.log.Error("lake: recovery cannot read a directory", "path", p, "error", err)
			if d != nil && d.IsDir() && p != s.root {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if d.IsDir() {
			if p != s.root && strings.HasPrefix(name, ".") {
				return filepath.SkipDir
			}
			return nil
		}
		dir := filepath.Dir(p)
		if strings.HasPrefix(name, avrofile.TempPrefix) {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.log.Error("lake: cannot remove stale temporary file", "file", p, "error", err)
				return nil
			}
			s.log.Info("lake: removed stale temporary file", "file", p)
			if !slices.Contains(synced, dir) {
				synced = append(synced, dir)
			}
			return nil
		}
		if _, _, _, ok := avrofile.ParseFileName(name); ok {
			if _, err := os.Lstat(avrofile.ManifestName(p)); errors.Is(err, fs.ErrNotExist) {
				heal = append(heal, [2]string{dir, name})
			}
		}
		return nil
	})
	for _, dir := range synced {
		if err := syncDir(dir); err != nil {
			s.log.Error("lake: recovery", "error", err)
		}
	}
	for _, h := range heal {
		if err := s.dirOf(h[0]).Heal(h[1]); err != nil {
			s.log.Error("lake: recovery cannot regenerate a manifest", "file", filepath.Join(h[0], h[1]), "error", err)
		}
	}
}

// mkdirAllSync creates root/rel and each missing parent, syncing every directory that
// got a new entry, so a committed file's directory survives a crash.
func mkdirAllSync(root, rel string) error {
	cur := root
	for _, c := range strings.Split(rel, "/") {
		next := filepath.Join(cur, c)
		err := os.Mkdir(next, 0o755)
		switch {
		case err == nil:
			if err := syncDir(cur); err != nil {
				return err
			}
		case errors.Is(err, fs.ErrExist):
		default:
			return ioError("mkdir", next, err)
		}
		cur = next
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return ioError("open", dir, err)
	}
	err = d.Sync()
	d.Close()
	return ioError("fsync", dir, err)
}
