package avrofile

import (
	"encoding/json"
	"fmt"
	"time"
)

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

// Marshal is the manifest as stored: indented JSON and a final newline.
func (m *Manifest) Marshal() []byte {
	data, _ := json.MarshalIndent(m, "", "  ") // a struct of plain fields always encodes
	return append(data, '\n')
}

// ParseManifest parses a stored manifest.
func ParseManifest(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return &m, nil
}
