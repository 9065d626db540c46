package schemas

import (
	"time"
)

// SchemaTypeAvro is the only schema type Waybill governs. Confluent's default when a
// request names no type.
const SchemaTypeAvro = "AVRO"

// Reference is a Confluent schema reference: a named type defined in another subject's
// version, imported by name.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// SchemaRecord is a schema by global id. Records are immutable once written; ids are
// never reused, so a reader that has seen an id can cache it forever.
type SchemaRecord struct {
	ID          int         `json:"id"`
	SchemaType  string      `json:"schemaType"`
	Schema      string      `json:"schema"` // canonical form (see Canonical)
	References  []Reference `json:"references,omitempty"`
	Fingerprint string      `json:"fingerprint"`
}

// VersionRecord is one version of a subject.
type VersionRecord struct {
	Subject    string    `json:"subject"`
	Version    int       `json:"version"`
	ID         int       `json:"id"`
	Deleted    bool      `json:"deleted,omitempty"`
	Registered time.Time `json:"registered"`
}

// ConfigRecord is a compatibility configuration (global or per subject).
type ConfigRecord struct {
	CompatibilityLevel string `json:"compatibilityLevel"`
}

// ModeRecord is a registry mode (global or per subject).
type ModeRecord struct {
	Mode string `json:"mode"`
}

// Registry modes, as in Confluent.
const (
	ModeReadWrite        = "READWRITE"
	ModeReadOnly         = "READONLY"
	ModeReadOnlyOverride = "READONLY_OVERRIDE"
	ModeImport           = "IMPORT"
)

// ValidMode reports whether m is one of the registry modes.
func ValidMode(m string) bool {
	switch m {
	case ModeReadWrite, ModeReadOnly, ModeReadOnlyOverride, ModeImport:
		return true
	}
	return false
}
