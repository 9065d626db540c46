package avrofile

import (
	"log/slog"
	"strings"

	"github.com/waybill-data/waybill/routing"
)

// Scan reads a stream's state from the names in its directory: the high-water mark
// (the largest last sequence number among the stream's data files), its data files
// without a manifest, and its stale temporary files (made by TempName for a data file
// of the stream's schema id, or for its manifest). Other names are ignored.
func Scan(k StreamKey, names []string) (hwm uint64, unmanifested, stale []string) {
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	for _, name := range names {
		if strings.HasPrefix(name, TempPrefix) {
			if data, ok := TempTarget(name); ok {
				if _, _, id, _ := ParseFileName(data); id == k.SchemaID {
					stale = append(stale, name)
				}
			}
			continue
		}
		_, last, id, ok := ParseFileName(name)
		if !ok || id != k.SchemaID {
			continue
		}
		hwm = max(hwm, last)
		if !have[ManifestName(name)] {
			unmanifested = append(unmanifested, name)
		}
	}
	return hwm, unmanifested, stale
}

// SettlePending writes the manifests still pending, in order, with heal; at the first
// error the rest stay pending.
func (s *StreamState) SettlePending(heal func(name string) error) error {
	for len(s.Pending) > 0 {
		if err := heal(s.Pending[0]); err != nil {
			return err
		}
		s.Pending = s.Pending[1:]
	}
	return nil
}

// Dir is how a file sink reads and writes one target directory, for the recovery steps
// the sinks share.
type Dir struct {
	Store string       // "lake", "webhdfs": starts log messages
	Path  string       // the directory, as the sink names it in logs
	Log   *slog.Logger // the sink's logger
	// Read returns a data file's content; its errors are the store's (I/O, network).
	Read func(name string) ([]byte, error)
	// WriteManifest stores a data file's manifest, replacing any.
	WriteManifest func(name string, m *Manifest) error
}

func (d *Dir) file(name string) string { return d.Path + "/" + name }

// Heal writes the manifest of committed data file name from its content (a crash came
// between the commit and the manifest). A file that is not a valid data file gets none,
// which is logged: only Read's and WriteManifest's errors are returned, so one damaged
// file cannot block its stream.
func (d *Dir) Heal(name string) error {
	raw, err := d.Read(name)
	if err != nil {
		return err
	}
	sum, err := Summarize(name, raw)
	if err != nil {
		d.Log.Error(d.Store+": committed file is not a valid data file; no manifest written", "file", d.file(name), "error", err)
		return nil
	}
	if err := d.WriteManifest(name, &sum.Manifest); err != nil {
		return err
	}
	d.Log.Info(d.Store+": regenerated manifest", "file", d.file(name))
	return nil
}

// Adopt handles a commit that found its final name taken. Names are derived from the
// sequence range, so this is normally the same file committed before a crash (or
// before an answer was lost). The existing file is never replaced and the events count
// as committed; a file that holds other events is reported at error level, as it means
// the directory was changed behind the sink's back and an operator must look.
func (d *Dir) Adopt(route, name string, events []*routing.Event) {
	raw, err := d.Read(name)
	if err != nil {
		d.Log.Warn(d.Store+": a file already had this name and could not be read back to check it; its events count as committed",
			"route", route, "file", d.file(name), "error", err)
		return
	}
	sum, err := Summarize(name, raw)
	if err == nil && sum.Holds(events) {
		d.Log.Info(d.Store+": file was already committed", "route", route, "file", d.file(name), "events", len(events))
		return
	}
	d.Log.Error(d.Store+": a different file already has this name; it was not overwritten and the batch's events are treated as committed",
		"route", route, "file", d.file(name), "events", len(events), "first_seq", events[0].Seq,
		"last_seq", events[len(events)-1].Seq, "read_error", err)
}
