package webhdfs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"

	"github.com/waybill-data/waybill/adapters/avrofile"
	"github.com/waybill-data/waybill/routing"
)

// Sink writes batches to HDFS over WebHDFS as Avro object container files. See the
// package documentation for the layout and the commit protocol. It is safe for
// concurrent use by several routes; each route must call Write one batch at a time.
type Sink struct {
	root  string
	codec string
	log   *slog.Logger
	c     *client

	plan    *avrofile.Planner
	streams *avrofile.Streams[stream]

	gate avrofile.Gate // Close waits for writes in flight
}

// stream is what the sink knows of a stream's directory (avrofile.StreamState). Any
// failure drops it (Loaded = false), so the next write lists the directory again.
type stream struct {
	avrofile.StreamState
}

func (st *stream) clean() bool { return len(st.Pending) == 0 }

// maxStreams bounds the streams kept in memory (see avrofile.Streams).
var maxStreams = avrofile.DefaultMaxStreams

// New returns a sink for the cluster cfg names. It does not contact the cluster: an
// unreachable cluster is a retryable failure of the first Write, not of startup.
func New(cfg Config, logger *slog.Logger) (*Sink, error) {
	if errs := cfg.Validate("webhdfs"); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	log := logger.With("sink", "webhdfs", "root", cfg.Root)
	c, err := newClient(cfg, log)
	if err != nil {
		return nil, err
	}
	return &Sink{
		root:    cfg.Root,
		codec:   cfg.codec(),
		log:     log,
		c:       c,
		plan:    avrofile.NewPlanner("webhdfs"),
		streams: avrofile.NewStreams(maxStreams, (*stream).clean),
	}, nil
}

// Close waits for writes in flight; Write fails with ErrClosed afterwards.
func (s *Sink) Close() error {
	return s.gate.Close(func() error {
		s.c.http.CloseIdleConnections()
		return nil
	})
}

// Write stores the batch: each stream's events (one rendered target directory and
// schema id) become one file, committed by CREATE under a temporary name and RENAME
// without overwriting; events at or below a stream's high-water mark were committed
// before and are acknowledged without writing. It returns nil when every event is
// stored, a *routing.BatchError listing the failed events otherwise, or a permanent
// error for the whole batch when the route's target template is invalid.
func (s *Sink) Write(ctx context.Context, b *routing.Batch) error {
	leave, open := s.gate.Enter()
	defer leave()
	if !open {
		return ErrClosed
	}
	defer s.streams.Evict()
	return s.plan.Write(ctx, b, func(g *avrofile.Group) []routing.ItemError { return s.writeGroup(ctx, b, g) })
}

// dir is the HDFS directory of a rendered target.
func (s *Sink) dir(rel string) string { return path.Join(s.root, rel) }

// writeGroup commits one group and returns the failed events.
func (s *Sink) writeGroup(ctx context.Context, b *routing.Batch, g *avrofile.Group) []routing.ItemError {
	st, unlock := s.streams.Lock(g.Key)
	defer unlock()
	if err := st.Claim("webhdfs", g.Key, b.Route.Name); err != nil {
		return avrofile.FailAll(nil, g.Idx, err)
	}
	if err := checkComponents(g.Key.Dir); err != nil {
		return avrofile.FailAll(nil, g.Idx, routing.Permanent(fmt.Errorf("webhdfs: route %q: target directory %w", b.Route.Name, err)))
	}
	dir := s.dir(g.Key.Dir)
	if err := s.settle(ctx, g.Key, dir, st); err != nil {
		st.Loaded = false
		return avrofile.FailAll(nil, g.Idx, err)
	}
	sel, skipped, fails := s.plan.Select(b, g, st.HWM)
	if skipped > 0 {
		s.log.Debug("webhdfs: skipped events already committed", "route", b.Route.Name, "dir", dir,
			"schema_id", g.Key.SchemaID, "skipped", skipped, "high_water", st.HWM)
	}
	if len(sel) == 0 {
		return fails
	}
	failed := s.commitAll(ctx, b, g, dir, st, sel)
	if len(failed) > 0 {
		st.Loaded, st.DirReady = false, false
	}
	return append(fails, failed...)
}

// settle brings a stream's state up to date before a write: on first use (and after a
// failure) it lists the directory — the high-water mark is the largest last sequence
// number among the stream's data file names, this sink's stale temporary files of the
// stream are deleted, and data files without a manifest are noted — then writes the
// manifests still pending.
func (s *Sink) settle(ctx context.Context, k avrofile.StreamKey, dir string, st *stream) error {
	if !st.Loaded {
		entries, exists, err := s.c.list(ctx, dir)
		if err != nil {
			return err
		}
		var names []string
		for _, e := range entries {
			if e.Type == "FILE" {
				names = append(names, e.PathSuffix)
			}
		}
		hwm, pending, stale := avrofile.Scan(k, names)
		for _, name := range stale {
			if _, err := s.c.remove(ctx, dir+"/"+name); err != nil {
				return err
			}
			s.log.Info("webhdfs: removed stale temporary file", "file", dir+"/"+name)
		}
		st.HWM, st.Pending, st.Loaded, st.DirReady = hwm, pending, true, exists
	}
	return s.settlePending(ctx, dir, st)
}

// settlePending writes the stream's pending manifests.
func (s *Sink) settlePending(ctx context.Context, dir string, st *stream) error {
	return st.SettlePending(s.dirOf(ctx, dir).Heal)
}

// dirOf is how the shared recovery steps (avrofile.Dir) read and write dir.
func (s *Sink) dirOf(ctx context.Context, dir string) *avrofile.Dir {
	return &avrofile.Dir{Store: "webhdfs", Path: dir, Log: s.log,
		Read:          func(name string) ([]byte, error) { return s.c.open(ctx, dir+"/"+name) },
		WriteManifest: func(name string, m *avrofile.Manifest) error { return s.writeManifest(ctx, dir, name, m) },
	}
}

// commitAll commits the selected events of a group: as one file, unless the store
// refuses that file's upload permanently while it accepts an empty one in the same
// directory — then the refusal is about the content, and the range is split in halves
// until the refused events stand alone and fail by themselves. Ranges are committed in
// sequence order, and nothing after a failure is written in this Write: the events
// after it fail retryably (deferredError), so the stream's files stay in order and its
// high-water mark never passes an event that has not been stored or reported.
func (s *Sink) commitAll(ctx context.Context, b *routing.Batch, g *avrofile.Group, dir string, st *stream, sel []int) []routing.ItemError {
	var fails []routing.ItemError
	pending := [][]int{sel}
	probed := false
	for len(pending) > 0 {
		r := pending[0]
		pending = pending[1:]
		err := s.commit(ctx, b, g, dir, st, r)
		if err == nil {
			continue
		}
		split := refusedUpload(err) && len(r) > 1
		if split && !probed {
			switch perr := s.probe(ctx, dir, r, b, g); {
			case perr == nil:
				probed = true
			case routing.Retryable(perr):
				// The cluster is in trouble: nothing is decided, all is retried.
				split, err = false, perr
			default:
				s.log.Debug("webhdfs: an empty upload is refused too: the refusal is about the directory", "dir", dir, "error", perr)
				split = false
			}
		}
		if split {
			half := len(r) / 2
			pending = append([][]int{r[:half], r[half:]}, pending...)
			s.log.Info("webhdfs: the store refused a file's content; writing it in smaller files to find the events concerned",
				"route", b.Route.Name, "dir", dir, "events", len(r), "error", err)
			continue
		}
		fails = avrofile.FailAll(fails, r, err)
		for _, rest := range pending {
			fails = avrofile.FailAll(fails, rest, &deferredError{cause: err})
		}
		return fails
	}
	return fails
}

// refusedUpload reports whether err is a permanent refusal of a file's data by the
// DataNode, the one failure that may depend on the content.
func refusedUpload(err error) bool {
	var re *RemoteError
	return errors.As(err, &re) && re.DataNode && re.Op == "CREATE" && !re.Retryable()
}

// probe uploads an empty temporary file next to where the refused file was going,
// and deletes it. It fails when the refusal is about the directory, not the content.
func (s *Sink) probe(ctx context.Context, dir string, sel []int, b *routing.Batch, g *avrofile.Group) error {
	name := avrofile.FileName(b.Events[sel[0]].Seq, b.Events[sel[len(sel)-1]].Seq, g.Key.SchemaID)
	tmp := dir + "/" + avrofile.TempName(name)
	err := s.c.create(ctx, tmp, nil, false)
	s.discard(ctx, tmp)
	return err
}

// discard deletes a temporary file, best effort: what stays behind is deleted when
// the stream's directory is next listed.
func (s *Sink) discard(ctx context.Context, p string) {
	if _, err := s.c.remove(ctx, p); err != nil {
		s.log.Debug("webhdfs: could not delete a temporary file; it goes with the next listing", "file", p, "error", err)
	}
}

// commit writes the events sel of a group as one file and commits it:
//
//  1. MKDIRS the directory (once per stream state);
//  2. CREATE <dir>/.tmp-<name>.<random> with overwrite=false (NameNode, then DataNode);
//  3. RENAME it to <dir>/<name> with renameoptions=NONE: atomic, never replacing;
//     an existing name means the file was committed before (a crash, or a lost
//     answer), checked against the events and kept;
//  4. write the manifest: CREATE a temporary name, RENAME with OVERWRITE.
func (s *Sink) commit(ctx context.Context, b *routing.Batch, g *avrofile.Group, dir string, st *stream, sel []int) error {
	events := avrofile.Events(b, sel)
	last := events[len(events)-1].Seq
	name := avrofile.FileName(events[0].Seq, last, g.Key.SchemaID)
	data, m, err := s.encodeFile(b.Route.Name, g, name, events)
	if err != nil {
		return fmt.Errorf("webhdfs: encoding %s: %w", name, err)
	}
	if !st.DirReady {
		if err := s.c.mkdirs(ctx, dir); err != nil {
			return err
		}
		st.DirReady = true
	}
	final := dir + "/" + name
	tmp := dir + "/" + avrofile.TempName(name)
	if err := s.c.create(ctx, tmp, data, false); err != nil {
		s.discard(ctx, tmp)
		return err
	}
	err = s.c.rename(ctx, tmp, final, false)
	existed := errors.Is(err, errExists)
	if err != nil && !existed {
		// Whether the rename happened is unknown (an answer may have been lost): the
		// next write lists the directory and knows.
		st.Loaded = false
		s.discard(ctx, tmp)
		return err
	}
	// The final name exists: everything up to last is committed.
	st.HWM = last
	if existed {
		s.discard(ctx, tmp)
		s.dirOf(ctx, dir).Adopt(b.Route.Name, name, events)
		st.Pending = append(st.Pending, name)
	} else if err := s.writeManifest(ctx, dir, name, m); err != nil {
		st.Pending = append(st.Pending, name)
		return err
	}
	s.log.Debug("webhdfs: committed", "route", b.Route.Name, "file", final, "events", len(events), "bytes", m.Bytes)
	return s.settlePending(ctx, dir, st)
}

// writeManifest writes <name>.manifest.json: a temporary file, then RENAME with
// OVERWRITE (replacing is fine: a manifest is derived from its data file).
func (s *Sink) writeManifest(ctx context.Context, dir, name string, m *avrofile.Manifest) error {
	final := dir + "/" + avrofile.ManifestName(name)
	tmp := dir + "/" + avrofile.TempName(avrofile.ManifestName(name))
	err := s.c.create(ctx, tmp, m.Marshal(), false)
	if err == nil {
		err = s.c.rename(ctx, tmp, final, true)
	}
	if err != nil {
		s.discard(ctx, tmp)
	}
	return err
}
