package lake

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
)

const (
	filePrefix     = "part-"
	fileSuffix     = ".avro"
	manifestSuffix = ".manifest.json"
	tmpPrefix      = ".tmp-"
	lockName       = ".waybill-lake.lock"
	seqDigits      = 20
)

// FileName is the name of the file holding the events with sequence numbers
// first..last of one schema id: part-{first:020d}-{last:020d}-s{schemaID}.avro. The
// zero padding makes names sort in sequence order.
func FileName(first, last uint64, schemaID int) string {
	return fmt.Sprintf("%s%0*d-%0*d-s%d%s", filePrefix, seqDigits, first, seqDigits, last, schemaID, fileSuffix)
}

// ParseFileName parses a name made by FileName; ok is false for any other name.
func ParseFileName(name string) (first, last uint64, schemaID int, ok bool) {
	rest, found := strings.CutPrefix(name, filePrefix)
	if !found {
		return 0, 0, 0, false
	}
	rest, found = strings.CutSuffix(rest, fileSuffix)
	if !found || len(rest) < 2*seqDigits+3 || rest[seqDigits] != '-' || rest[2*seqDigits+1] != '-' || rest[2*seqDigits+2] != 's' {
		return 0, 0, 0, false
	}
	f, err1 := strconv.ParseUint(rest[:seqDigits], 10, 64)
	l, err2 := strconv.ParseUint(rest[seqDigits+1:2*seqDigits+1], 10, 64)
	ids := rest[2*seqDigits+3:]
	id, err3 := strconv.Atoi(ids)
	if err1 != nil || err2 != nil || err3 != nil || f > l || id < 0 || strconv.Itoa(id) != ids {
		return 0, 0, 0, false
	}
	return f, l, id, true
}

// Manifest describes one committed data file. It is stored next to it as
// <file>.manifest.json.
type Manifest struct {
	File      string    `json:"file"`                // data file name
	Count     int       `json:"count"`               // events in the file
	FirstSeq  uint64    `json:"first_seq"`           // smallest WAL sequence number
	LastSeq   uint64    `json:"last_seq"`            // largest WAL sequence number
	MinTime   time.Time `json:"min_time"`            // earliest event time (RFC 3339, UTC, microseconds)
	MaxTime   time.Time `json:"max_time"`            // latest event time
	SchemaID  int       `json:"schema_id"`           // registry id of the data field's schema
	Contract  string    `json:"contract"`            // the file's contract; "" when it holds several
	Contracts []string  `json:"contracts,omitempty"` // all contracts, sorted, when it holds several
	Route     string    `json:"route"`               // route that wrote the file
	Codec     string    `json:"codec"`               // null or deflate
	Bytes     int64     `json:"bytes"`               // size of the data file
	SHA256    string    `json:"sha256"`              // hex SHA-256 of the data file
}

// setContracts fills Contract and Contracts from a sorted, de-duplicated list.
func (m *Manifest) setContracts(cs []string) {
	m.Contract, m.Contracts = "", nil
	if len(cs) == 1 {
		m.Contract = cs[0]
	} else if len(cs) > 1 {
		m.Contracts = cs
	}
}

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
		first, last, id, ok := ParseFileName(d.Name())
		if !ok {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		cf := CommittedFile{Path: p, Dir: filepath.ToSlash(rel), Name: d.Name(), FirstSeq: first, LastSeq: last, SchemaID: id}
		m, err := readManifest(p + manifestSuffix)
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
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("lake: manifest %s: %w", path, err)
	}
	return &m, nil
}

// StoredEvent is one event read back from a data file.
type StoredEvent struct {
	Seq      uint64
	ID       string
	Key      string
	Time     time.Time // UTC, microsecond precision
	Received time.Time // UTC, microsecond precision
	SchemaID int
	Data     map[string]any // the contract record as hamba decodes it into Go values
}

type storedRecord struct {
	Seq      int64          `avro:"seq"`
	ID       string         `avro:"id"`
	Key      string         `avro:"key"`
	Time     time.Time      `avro:"time"`
	Received time.Time      `avro:"received"`
	SchemaID int            `avro:"schema_id"`
	Data     map[string]any `avro:"data"`
}

// readConfig decodes stored files: hamba's defaults, with room for large values.
var readConfig = avro.Config{MaxByteSliceSize: 256 << 20}.Freeze()

// ReadFile decodes a data file and returns its events in file order. The container
// framing (header, blocks, sync markers, codec) is parsed by this package; every record
// is decoded by hamba's decoder against the writer schema stored in the file, so the
// values are checked independently of the writer. (hamba's ocf package would also parse
// the framing, but it pulls in compression modules this module does not require.)
func ReadFile(path string) ([]StoredEvent, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := parseContainer(raw)
	if err != nil {
		return nil, fmt.Errorf("lake: %s: %w", path, err)
	}
	// A fresh schema cache per file: two files may hold different versions of one
	// named type, which hamba's global cache would mix up.
	ws, err := avro.ParseWithCache(string(c.meta[metaSchema]), "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("lake: %s: writer schema: %w", path, err)
	}
	var out []StoredEvent
	for bi, blk := range c.blocks {
		r := bytes.NewReader(blk.data)
		dec := readConfig.NewDecoder(ws, r)
		for i := int64(0); i < blk.count; i++ {
			var rec storedRecord
			if err := dec.Decode(&rec); err != nil {
				return nil, fmt.Errorf("lake: %s: block %d: event %d: %w", path, bi, len(out), err)
			}
			out = append(out, StoredEvent{
				Seq: uint64(rec.Seq), ID: rec.ID, Key: rec.Key,
				Time: rec.Time.UTC(), Received: rec.Received.UTC(),
				SchemaID: rec.SchemaID, Data: rec.Data,
			})
		}
	}
	return out, nil
}

// fileSummary is what this package's own reader learns from a data file: enough to
// rebuild its manifest and to compare it with a batch.
type fileSummary struct {
	manifest Manifest
	seqs     []uint64
	ids      []string
}

// summarize reads a data file with this package's container reader, checking every
// record against the wrapper schema, and returns its manifest. I/O failures are
// *IOError; anything else means the file is not a valid lake file.
func summarize(path string) (*fileSummary, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, ioError("read", path, err)
	}
	sum := sha256.Sum256(raw)
	c, err := parseContainer(raw)
	if err != nil {
		return nil, fmt.Errorf("lake: %s: %w", path, err)
	}
	ws, err := avro.ParseWithCache(string(c.meta[metaSchema]), "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("lake: %s: writer schema: %w", path, err)
	}
	data, err := dataSchema(ws)
	if err != nil {
		return nil, fmt.Errorf("lake: %s: %w", path, err)
	}
	sm := &fileSummary{manifest: Manifest{
		File:  filepath.Base(path),
		Codec: c.codec,
		Bytes: int64(len(raw)),
		Route: string(c.meta[metaRoute]),
	}}
	m := &sm.manifest
	m.SHA256 = hex.EncodeToString(sum[:])
	var contracts []string
	if v, ok := c.meta[metaContracts]; ok {
		if err := json.Unmarshal(v, &contracts); err != nil {
			return nil, fmt.Errorf("lake: %s: metadata %s: %w", path, metaContracts, err)
		}
	}
	m.setContracts(contracts)
	var minT, maxT int64
	for _, blk := range c.blocks {
		r := &cursor{b: blk.data}
		for i := int64(0); i < blk.count; i++ {
			seq := r.long()
			id := r.bytes()
			r.bytes() // key
			t := r.long()
			r.long() // received
			schemaID := r.int()
			r.skip(data)
			if r.err != nil {
				return nil, fmt.Errorf("lake: %s: event %d: %w", path, m.Count, r.err)
			}
			if m.Count == 0 {
				m.FirstSeq, m.SchemaID, minT, maxT = uint64(seq), int(schemaID), t, t
			}
			m.LastSeq = uint64(seq)
			minT, maxT = min(minT, t), max(maxT, t)
			m.Count++
			sm.seqs = append(sm.seqs, uint64(seq))
			sm.ids = append(sm.ids, string(id))
		}
		if len(r.b) != 0 {
			return nil, fmt.Errorf("lake: %s: %d stray byte(s) at the end of a block", path, len(r.b))
		}
	}
	if m.Count == 0 {
		return nil, fmt.Errorf("lake: %s: no events", path)
	}
	m.MinTime, m.MaxTime = time.UnixMicro(minT).UTC(), time.UnixMicro(maxT).UTC()
	return sm, nil
}

// cursor reads binary values with a sticky error.
type cursor struct {
	b   []byte
	err error
}

func (c *cursor) long() int64 {
	if c.err != nil {
		return 0
	}
	var v int64
	v, c.b, c.err = readLong(c.b)
	return v
}

func (c *cursor) int() int64 {
	if c.err != nil {
		return 0
	}
	var v int64
	v, c.b, c.err = readInt(c.b)
	return v
}

func (c *cursor) bytes() []byte {
	if c.err != nil {
		return nil
	}
	var v []byte
	v, c.b, c.err = readBytes(c.b)
	return v
}

func (c *cursor) skip(s avro.Schema) {
	if c.err == nil {
		c.b, c.err = skipDatum(s, c.b, 0)
	}
}

// dataSchema returns the schema of the wrapper's data field, checking that the fields
// before it are the envelope this package writes.
func dataSchema(ws avro.Schema) (avro.Schema, error) {
	rec, ok := ws.(*avro.RecordSchema)
	if !ok {
		return nil, errors.New("writer schema is not a record")
	}
	want := []struct {
		name string
		typ  avro.Type
	}{{"seq", avro.Long}, {"id", avro.String}, {"key", avro.String}, {"time", avro.Long}, {"received", avro.Long}, {"schema_id", avro.Int}, {"data", ""}}
	fields := rec.Fields()
	if len(fields) != len(want) {
		return nil, fmt.Errorf("writer schema has %d fields, want %d", len(fields), len(want))
	}
	for i, w := range want {
		if fields[i].Name() != w.name || (w.typ != "" && fields[i].Type().Type() != w.typ) {
			return nil, fmt.Errorf("writer schema field %d is %s %s, want %s %s", i, fields[i].Name(), fields[i].Type().Type(), w.name, w.typ)
		}
	}
	return fields[len(fields)-1].Type(), nil
}

type block struct {
	count int64
	data  []byte // decompressed
}

type container struct {
	meta   map[string][]byte
	codec  string
	blocks []block
}

// parseContainer parses an object container file held in memory.
func parseContainer(b []byte) (*container, error) {
	if len(b) < len(magic) || !bytes.Equal(b[:len(magic)], magic[:]) {
		return nil, errors.New("not an Avro object container file (bad magic)")
	}
	b = b[len(magic):]
	c := &container{meta: map[string][]byte{}}
	var err error
	for {
		var n int64
		if n, b, err = readLong(b); err != nil {
			return nil, fmt.Errorf("metadata: %w", err)
		}
		if n == 0 {
			break
		}
		if n < 0 {
			if _, b, err = readLong(b); err != nil { // block byte size
				return nil, fmt.Errorf("metadata: %w", err)
			}
			n = -n
		}
		for ; n > 0; n-- {
			var k, v []byte
			if k, b, err = readBytes(b); err != nil {
				return nil, fmt.Errorf("metadata: %w", err)
			}
			if v, b, err = readBytes(b); err != nil {
				return nil, fmt.Errorf("metadata: %w", err)
			}
			c.meta[string(k)] = v
		}
	}
	if len(b) < syncSize {
		return nil, errors.New("header: missing sync marker")
	}
	sync := b[:syncSize]
	b = b[syncSize:]
	c.codec = string(c.meta[metaCodec])
	if c.codec == "" {
		c.codec = CodecNull
	}
	if c.codec != CodecNull && c.codec != CodecDeflate {
		return nil, fmt.Errorf("unsupported codec %q", c.codec)
	}
	for len(b) > 0 {
		var count int64
		var data []byte
		if count, b, err = readLong(b); err != nil {
			return nil, fmt.Errorf("block %d: %w", len(c.blocks), err)
		}
		if data, b, err = readBytes(b); err != nil {
			return nil, fmt.Errorf("block %d: %w", len(c.blocks), err)
		}
		if count < 0 {
			return nil, fmt.Errorf("block %d: negative count %d", len(c.blocks), count)
		}
		if len(b) < syncSize || !bytes.Equal(b[:syncSize], sync) {
			return nil, fmt.Errorf("block %d: sync marker mismatch", len(c.blocks))
		}
		b = b[syncSize:]
		if c.codec == CodecDeflate {
			if data, err = io.ReadAll(flate.NewReader(bytes.NewReader(data))); err != nil {
				return nil, fmt.Errorf("block %d: inflate: %w", len(c.blocks), err)
			}
		}
		c.blocks = append(c.blocks, block{count: count, data: data})
	}
	return c, nil
}
