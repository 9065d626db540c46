package lake

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/waybill-data/waybill/adapters/avrofile"
	"github.com/waybill-data/waybill/routing"
)

// Codecs of the object container files.
const (
	CodecNull    = avrofile.CodecNull    // uncompressed
	CodecDeflate = avrofile.CodecDeflate // raw DEFLATE (RFC 1951), the default
)

// Config configures the local-filesystem lake sink.
type Config struct {
	// Path is the lake's root directory, absolute. It is created if missing. One
	// process at a time may use it (New takes a lock file in it).
	Path string `yaml:"path"`
	// Codec compresses data blocks: "null" or "deflate" (default).
	Codec string `yaml:"codec"`
}

// codec returns the effective codec.
func (c Config) codec() string { return avrofile.Codec(c.Codec) }

// Validate checks the configuration without touching the file system. path is where
// the configuration sits (e.g. "sinks.lake"); every error is prefixed with the path of
// the offending field.
func (c Config) Validate(path string) []error {
	at := func(field string) string { return routing.FieldPath(path, field) }
	var errs []error
	switch {
	case c.Path == "":
		errs = append(errs, fmt.Errorf("%s: is required", at("path")))
	case strings.ContainsRune(c.Path, 0):
		errs = append(errs, fmt.Errorf("%s: must not contain a NUL byte", at("path")))
	case !filepath.IsAbs(c.Path):
		errs = append(errs, fmt.Errorf("%s: must be an absolute path, got %q", at("path"), c.Path))
	}
	if err := avrofile.CheckCodec(c.Codec); err != nil {
		errs = append(errs, fmt.Errorf("%s: %v", at("codec"), err))
	}
	return errs
}
