package avrofile

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"
)

// Codecs of the object container files.
const (
	CodecNull    = "null"    // uncompressed
	CodecDeflate = "deflate" // raw DEFLATE (RFC 1951), the sinks' default
)

// Codec is the codec a sink's configured codec means: deflate when unset.
func Codec(configured string) string {
	if configured == "" {
		return CodecDeflate
	}
	return configured
}

// CheckCodec checks a configured codec ("" is the default).
func CheckCodec(configured string) error {
	switch configured {
	case "", CodecNull, CodecDeflate:
		return nil
	}
	return fmt.Errorf("unknown codec %q (want %q or %q)", configured, CodecNull, CodecDeflate)
}

// Object container file constants (Avro specification, "Object Container Files").
var magic = [4]byte{'O', 'b', 'j', 1}

const (
	syncSize = 16

	// Metadata keys of the container header.
	MetaSchema    = "avro.schema"
	MetaCodec     = "avro.codec"
	MetaContracts = "waybill.contracts" // JSON array of the contracts in the file
	MetaRoute     = "waybill.route"     // route that wrote the file
	MetaSchemaID  = "waybill.schema_id" // registry id of the data field's schema

	// blockTarget is the uncompressed size after which a data block is closed. Blocks
	// bound the memory a reader needs and let splitting readers seek by sync marker.
	blockTarget = 1 << 20

	wrapperNamespace = "waybill"
	wrapperName      = "Event"
)

// wrapperFields are the fields before "data", in order; the binary encoding of a
// wrapper datum is their encodings followed by Event.Data verbatim.
const wrapperFields = `{"name":"seq","type":"long","doc":"WAL sequence number"},` +
	`{"name":"id","type":"string","doc":"event id (idempotency key)"},` +
	`{"name":"key","type":"string","doc":"entity key, empty when the contract has none"},` +
	`{"name":"time","type":{"type":"long","logicalType":"timestamp-micros"},"doc":"event time"},` +
	`{"name":"received","type":{"type":"long","logicalType":"timestamp-micros"},"doc":"when the router accepted the event"},` +
	`{"name":"schema_id","type":"int","doc":"registry id of the schema of data"}`

// Wrapper is the writer schema of files holding one contract schema.
type Wrapper struct {
	contract avro.Schema // the data field's schema, as resolved
	json     []byte      // the wrapper schema text written as avro.schema
}

// Contract is the schema of the wrapper's data field.
func (w *Wrapper) Contract() avro.Schema { return w.contract }

// JSON is the wrapper schema's text, as written to avro.schema.
func (w *Wrapper) JSON() []byte { return w.json }

// NewWrapper builds the waybill.Event wrapper schema around a contract schema and
// checks that it parses. The contract is embedded in hamba's full JSON form, which keeps
// logical types, defaults and custom properties. Named types of a contract without a
// namespace inherit the wrapper's namespace ("waybill") once embedded; if one of them
// would then collide with the wrapper's own name, the wrapper is named Event1, Event2...
// instead.
func NewWrapper(contract avro.Schema) (*Wrapper, error) {
	inner, err := json.Marshal(contract)
	if err != nil {
		return nil, fmt.Errorf("encoding the contract schema: %w", err)
	}
	taken := map[string]bool{}
	collectNames(contract, taken, map[avro.Schema]bool{})
	name := wrapperName
	for i := 1; taken[wrapperNamespace+"."+name]; i++ {
		name = wrapperName + strconv.Itoa(i)
	}
	text := `{"type":"record","name":"` + name + `","namespace":"` + wrapperNamespace + `",` +
		`"doc":"One Waybill event: envelope fields and the contract record.","fields":[` +
		wrapperFields + `,{"name":"data","type":` + string(inner) + `}]}`
	if _, err := avro.ParseWithCache(text, "", &avro.SchemaCache{}); err != nil {
		return nil, fmt.Errorf("embedding the contract schema in the %s.%s wrapper: %w", wrapperNamespace, name, err)
	}
	return &Wrapper{contract: contract, json: []byte(text)}, nil
}

// collectNames adds the full names the named types of s get once embedded in the
// wrapper: names without a namespace move into the wrapper's.
func collectNames(s avro.Schema, names map[string]bool, seen map[avro.Schema]bool) {
	if seen[s] {
		return
	}
	seen[s] = true
	if n, ok := s.(avro.NamedSchema); ok {
		full := n.FullName()
		if !strings.Contains(full, ".") {
			full = wrapperNamespace + "." + full
		}
		names[full] = true
	}
	switch s := s.(type) {
	case *avro.RecordSchema:
		for _, f := range s.Fields() {
			collectNames(f.Type(), names, seen)
		}
	case *avro.ArraySchema:
		collectNames(s.Items(), names, seen)
	case *avro.MapSchema:
		collectNames(s.Values(), names, seen)
	case *avro.UnionSchema:
		for _, t := range s.Types() {
			collectNames(t, names, seen)
		}
	}
}
