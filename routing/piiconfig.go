package routing

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"regexp"

	"github.com/waybill-data/waybill/schemas"
)

// PIIConfig is the router's side of PII handling (pii.go): the key fields are hashed
// with and the handling of classified fields a contract says nothing about.
//
//	pii:
//	  hash_key_file: /etc/waybill/pii.key   # preferred: the key stays out of the config
//	  hash_key: "..."                       # or inline; not both
//	  key_id: k1                            # written into derived schemas
//	  defaults: {analytic: allow, runtime: drop}
//
// A route may override its class's default with pii_default.
type PIIConfig struct {
	// HashKeyFile holds the HMAC-SHA256 key: the file's bytes, without trailing
	// whitespace, at least 16 of them. Read when the router starts.
	HashKeyFile string `yaml:"hash_key_file"`
	// HashKey is the key inline, for tests and development.
	HashKey PIIKey `yaml:"hash_key"`
	// KeyID names the key; derived schemas carry it on hashed fields
	// (waybill.hash_key_id), so a reader can tell which key made a hash.
	KeyID    string      `yaml:"key_id"`
	Defaults PIIDefaults `yaml:"defaults"`
}

// PIIDefaults is the handling of classified fields without one in the contract, per
// path class.
type PIIDefaults struct {
	Analytic string `yaml:"analytic"` // default allow
	Runtime  string `yaml:"runtime"`  // default drop
}

// of returns the default of a class, with the built-in defaults where unset.
func (d PIIDefaults) of(c Class) string {
	switch {
	case c == Analytic && d.Analytic != "":
		return d.Analytic
	case c == Analytic:
		return schemas.HandlingAllow
	case d.Runtime != "":
		return d.Runtime
	}
	return schemas.HandlingDrop
}

// PIIKey is a secret: it formats, logs and marshals as "[redacted]".
type PIIKey string

const piiRedacted = "[redacted]"

func (PIIKey) String() string               { return piiRedacted }
func (PIIKey) GoString() string             { return piiRedacted }
func (PIIKey) LogValue() slog.Value         { return slog.StringValue(piiRedacted) }
func (PIIKey) MarshalText() ([]byte, error) { return []byte(piiRedacted), nil }
func (PIIKey) MarshalYAML() (any, error)    { return piiRedacted, nil }

// String, GoString and LogValue show the configuration with the key redacted.
func (c PIIConfig) String() string       { return c.GoString() }
func (c PIIConfig) LogValue() slog.Value { return slog.StringValue(c.GoString()) }
func (c PIIConfig) GoString() string {
	key := `""`
	if c.HashKey != "" {
		key = piiRedacted
	}
	return fmt.Sprintf("pii{hash_key_file: %q, hash_key: %s, key_id: %q, defaults: {analytic: %q, runtime: %q}}",
		c.HashKeyFile, key, c.KeyID, c.Defaults.Analytic, c.Defaults.Runtime)
}

// minPIIKeyBytes is the shortest key accepted: 128 bits.
const minPIIKeyBytes = 16

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func validHandling(m string) bool {
	switch m {
	case schemas.HandlingAllow, schemas.HandlingHash, schemas.HandlingRedact, schemas.HandlingDrop:
		return true
	}
	return false
}

// hasKey reports whether a key is configured (read or not).
func (c *PIIConfig) hasKey() bool { return c.HashKeyFile != "" || c.HashKey != "" }

// validate reports the problems of the pii section; it does no I/O (the key file is
// read by New).
func (c *PIIConfig) validate(add func(path, format string, args ...any)) {
	if c.HashKeyFile != "" && c.HashKey != "" {
		add("pii", "hash_key_file and hash_key are exclusive (prefer hash_key_file)")
	}
	if c.HashKey != "" && len(c.HashKey) < minPIIKeyBytes {
		add("pii.hash_key", "is %d bytes; at least %d", len(c.HashKey), minPIIKeyBytes)
	}
	if c.KeyID != "" && !keyIDPattern.MatchString(c.KeyID) {
		add("pii.key_id", "%q: letters, digits, '.', '_' or '-', at most 64", c.KeyID)
	}
	for path, m := range map[string]string{"pii.defaults.analytic": c.Defaults.Analytic, "pii.defaults.runtime": c.Defaults.Runtime} {
		c.validateDefault(path, m, add)
	}
}

func (c *PIIConfig) validateDefault(path, m string, add func(path, format string, args ...any)) {
	switch {
	case m == "":
	case !validHandling(m):
		add(path, "unknown handling %q (allow, hash, redact or drop)", m)
	case m == schemas.HandlingHash && !c.hasKey():
		add(path, "hash needs pii.hash_key_file or pii.hash_key")
	}
}

// loadKey returns the configured key, nil when there is none. A key file readable by
// others than its owner is logged as a warning.
func (c *PIIConfig) loadKey(log *slog.Logger) ([]byte, error) {
	if c.HashKey != "" {
		return []byte(c.HashKey), nil
	}
	if c.HashKeyFile == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(c.HashKeyFile)
	if err != nil {
		return nil, fmt.Errorf("pii.hash_key_file: %w", err)
	}
	key := bytes.TrimRight(raw, " \t\r\n")
	if len(key) < minPIIKeyBytes {
		return nil, fmt.Errorf("pii.hash_key_file %s: the key is %d bytes; at least %d", c.HashKeyFile, len(key), minPIIKeyBytes)
	}
	if fi, err := os.Stat(c.HashKeyFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("the PII hash key file is readable by others than its owner", "file", c.HashKeyFile, "mode", fi.Mode().Perm().String())
	}
	return key, nil
}
