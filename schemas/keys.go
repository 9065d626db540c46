package schemas

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// DefaultPrefix is the etcd key prefix under which the registry keeps everything.
const DefaultPrefix = "/waybill/"

// Keys builds and parses the etcd keys of one registry namespace. The layout is
// documented in doc.go; writers (etcdstore) and readers (cache) share it here so the
// two can never disagree.
type Keys struct{ Prefix string }

// idWidth zero-pads ids and versions so lexical order in etcd is numeric order.
const idWidth = 10

func pad(n int) string { return fmt.Sprintf("%0*d", idWidth, n) }

// escape makes a subject safe as one key segment: subjects may contain '/'.
func escape(subject string) string { return url.PathEscape(subject) }

func (k Keys) NextID() string               { return k.Prefix + "ids/next" }
func (k Keys) SchemasPrefix() string        { return k.Prefix + "schemas/" }
func (k Keys) Schema(id int) string         { return k.SchemasPrefix() + pad(id) }
func (k Keys) Fingerprint(fp string) string { return k.Prefix + "fingerprints/" + fp }
func (k Keys) SubjectsPrefix() string       { return k.Prefix + "subjects/" }
func (k Keys) SubjectPrefix(subject string) string {
	return k.SubjectsPrefix() + escape(subject) + "/"
}
func (k Keys) Version(subject string, version int) string {
	return k.SubjectPrefix(subject) + "versions/" + pad(version)
}
func (k Keys) GlobalConfig() string                { return k.Prefix + "config/global" }
func (k Keys) SubjectConfigPrefix() string         { return k.Prefix + "config/subjects/" }
func (k Keys) SubjectConfig(subject string) string { return k.SubjectConfigPrefix() + escape(subject) }
func (k Keys) GlobalMode() string                  { return k.Prefix + "mode/global" }
func (k Keys) SubjectModePrefix() string           { return k.Prefix + "mode/subjects/" }
func (k Keys) SubjectMode(subject string) string   { return k.SubjectModePrefix() + escape(subject) }
func (k Keys) ContractsPrefix() string             { return k.Prefix + "contracts/" }
func (k Keys) Contract(subject string) string      { return k.ContractsPrefix() + escape(subject) }

// AuditPrefix holds the audit trail (etcdstore's audit.go); readers of contracts skip it.
func (k Keys) AuditPrefix() string { return k.Prefix + "audit/" }

// KeyKind says what a key under the prefix holds.
type KeyKind int

const (
	KindUnknown KeyKind = iota
	KindSchema
	KindVersion
	KindContract
	KindConfig
	KindMode
	KindOther // ids/next, fingerprints: bookkeeping readers ignore
)

// ParsedKey is a key split into its parts.
type ParsedKey struct {
	Kind    KeyKind
	ID      int    // KindSchema
	Subject string // KindVersion, KindContract, per-subject KindConfig/KindMode ("" = global)
	Version int    // KindVersion
}

// Parse classifies a key. Unknown shapes return KindUnknown so that a newer writer's
// keys never crash an older reader.
func (k Keys) Parse(key string) ParsedKey {
	rest, ok := strings.CutPrefix(key, k.Prefix)
	if !ok {
		return ParsedKey{}
	}
	parts := strings.Split(rest, "/")
	unesc := func(s string) (string, bool) {
		u, err := url.PathUnescape(s)
		return u, err == nil
	}
	switch {
	case len(parts) == 2 && parts[0] == "schemas":
		id, err := strconv.Atoi(parts[1])
		if err != nil {
			return ParsedKey{}
		}
		return ParsedKey{Kind: KindSchema, ID: id}
	case len(parts) == 4 && parts[0] == "subjects" && parts[2] == "versions":
		s, ok := unesc(parts[1])
		v, err := strconv.Atoi(parts[3])
		if !ok || err != nil {
			return ParsedKey{}
		}
		return ParsedKey{Kind: KindVersion, Subject: s, Version: v}
	case len(parts) == 2 && parts[0] == "contracts":
		s, ok := unesc(parts[1])
		if !ok {
			return ParsedKey{}
		}
		return ParsedKey{Kind: KindContract, Subject: s}
	case len(parts) == 2 && (parts[0] == "config" || parts[0] == "mode") && parts[1] == "global":
		return ParsedKey{Kind: kindOf(parts[0])}
	case len(parts) == 3 && (parts[0] == "config" || parts[0] == "mode") && parts[1] == "subjects":
		s, ok := unesc(parts[2])
		if !ok {
			return ParsedKey{}
		}
		return ParsedKey{Kind: kindOf(parts[0]), Subject: s}
	case parts[0] == "ids" || parts[0] == "fingerprints":
		return ParsedKey{Kind: KindOther}
	}
	return ParsedKey{}
}

func kindOf(segment string) KeyKind {
	if segment == "config" {
		return KindConfig
	}
	return KindMode
}
