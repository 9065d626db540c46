package lake

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/waybill-data/waybill/adapters/avrofile"
)

const lockName = ".waybill-lake.lock"

// Manifest describes one committed data file (see package avrofile).
type Manifest = avrofile.Manifest

// StoredEvent is one event read back from a data file.
type StoredEvent = avrofile.StoredEvent

// CommittedFile is a committed data file found by Scan.
type CommittedFile struct {
	Path     string    // absolute (or root-relative, as root was given) path of the file
	Dir      string    // rendered target directory, relative to the root, '/'-separated
	Name     string    // file name
	FirstSeq uint64    // from the name
	LastSeq  uint64    // from the name
	SchemaID int       // from the name
	Manifest *Manifest // nil when the manifest is missing
}

// Scan lists the committed data files under root with their manifests, ordered by
// directory, schema id and sequence. Hidden entries (temporary files, the lock file) and
// anything not named like a data file are ignored. A manifest that exists but cannot be
// parsed is an error.
func Scan(root string) ([]CommittedFile, error) {
	var out []CommittedFile
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		first, last, id, ok := avrofile.ParseFileName(d.Name())
		if !ok {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		cf := CommittedFile{Path: p, Dir: filepath.ToSlash(rel), Name: d.Name(), FirstSeq: first, LastSeq: last, SchemaID: id}
		m, err := readManifest(avrofile.ManifestName(p))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return err
		default:
			cf.Manifest = m
		}
		out = append(out, cf)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Dir != b.Dir {
			return a.Dir < b.Dir
		}
		if a.SchemaID != b.SchemaID {
			return a.SchemaID < b.SchemaID
		}
		return a.FirstSeq < b.FirstSeq
	})
	return out, nil
}

func readManifest(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := avrofile.ParseManifest(data)
	if err != nil {
		return nil, fmt.Errorf("lake: %s: %w", path, err)
	}
	return m, nil
}

// ReadFile decodes a data file and returns its events in file order; every record is
// decoded by hamba's decoder against the writer schema stored in the file
// (avrofile.Decode).
func ReadFile(path string) ([]StoredEvent, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	evs, err := avrofile.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("lake: %s: %w", path, err)
	}
	return evs, nil
}
