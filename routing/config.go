package routing

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/waybill-data/waybill/routing/target"
)

// Config is the router's YAML configuration.
type Config struct {
	Listen        string   `yaml:"listen"`
	StateDir      string   `yaml:"state_dir"`
	EtcdEndpoints []string `yaml:"etcd_endpoints"`
	EtcdPrefix    string   `yaml:"etcd_prefix"`
	MaxBodyBytes  ByteSize `yaml:"max_body_bytes"`
	MaxEvents     int      `yaml:"max_events_per_request"`
	// ContractsMaxStaleness is how long the contract cache may go without hearing from
	// etcd before /readyz answers 503. Intake keeps serving from the cache meanwhile.
	ContractsMaxStaleness Duration               `yaml:"contracts_max_staleness"`
	WAL                   WALConfig              `yaml:"wal"`
	Dedup                 DedupConfig            `yaml:"dedup"`
	Sinks                 map[string]SinkConfig  `yaml:"sinks"`
	Routes                map[string]RouteConfig `yaml:"routes"`
	// Auth turns on authentication (bearer tokens, client certificates) and producer
	// authorisation; without a tokens file the router runs open.
	Auth AuthConfig `yaml:"auth"`
	// TLS serves the listener over TLS.
	TLS ListenerTLS `yaml:"tls"`
	// PII is the hash key and the default handling of classified fields (piiconfig.go).
	PII PIIConfig `yaml:"pii"`
}

// AuthConfig names the tokens file (package schemas/auth) the registry shares.
type AuthConfig struct {
	TokensFile string `yaml:"tokens_file"`
}

// ListenerTLS is the listener's certificate and, optionally, the CA that client
// certificates are verified against (mTLS is then offered, not required: bearer tokens
// keep working).
type ListenerTLS struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
}

// Enabled reports whether the listener serves TLS.
func (t ListenerTLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" }

// WALConfig sizes the write-ahead log.
type WALConfig struct {
	SegmentBytes ByteSize `yaml:"segment_bytes"`
	MaxBytes     ByteSize `yaml:"max_bytes"` // disk budget; intake answers 507 past it
	// ReserveBytes is free space the WAL leaves on its file system for the rest of the
	// state (cursors, ledger, dead letters), so that delivery can free space again;
	// intake answers 507 past it. 0 means the default, 64MiB.
	ReserveBytes ByteSize `yaml:"reserve_bytes"`
}

// DedupConfig bounds how far back intake recognises a resent event id (dedup.go).
type DedupConfig struct {
	Window Duration `yaml:"window"`  // default 10m
	MaxIDs int      `yaml:"max_ids"` // default 500000 (about 100 bytes of memory each)
}

// SinkConfig is one store connection: its kind picks the adapter, which decodes the
// rest of the mapping itself.
type SinkConfig struct {
	Kind string
	Spec yaml.Node
}

// UnmarshalYAML keeps the whole mapping for the adapter and reads only its kind.
func (s *SinkConfig) UnmarshalYAML(n *yaml.Node) error {
	var head struct {
		Kind string `yaml:"kind"`
	}
	if err := n.Decode(&head); err != nil {
		return err
	}
	s.Kind, s.Spec = head.Kind, *n
	return nil
}

// RouteConfig is one named route.
type RouteConfig struct {
	Sink    string        `yaml:"sink"`
	Class   Class         `yaml:"class"`
	Mode    Mode          `yaml:"mode"`
	Target  string        `yaml:"target"`
	Batch   BatchConfig   `yaml:"batch"`
	Roll    *RollConfig   `yaml:"roll"` // file sinks: how big a file gets before it is committed
	MaxLag  Duration      `yaml:"max_lag"`
	Backlog BacklogConfig `yaml:"backlog"`
	Retry   RetryConfig   `yaml:"retry"`
	// PIIDefault is the handling of classified fields the contract declares none for on
	// this route; empty: pii.defaults of the route's class.
	PIIDefault string `yaml:"pii_default"`
}

// BatchConfig bounds one sink write.
type BatchConfig struct {
	MaxEvents int      `yaml:"max_events"`
	MaxBytes  ByteSize `yaml:"max_bytes"`
	MaxWait   Duration `yaml:"max_wait"`
}

// RollConfig is BatchConfig in file terms: one batch becomes one committed file per
// partition, so a file rolls when the batch does.
type RollConfig struct {
	MaxEvents int      `yaml:"max_events"`
	MaxBytes  ByteSize `yaml:"max_bytes"`
	MaxAge    Duration `yaml:"max_age"`
}

// BacklogConfig is an analytic route's budget of undelivered events; past it, intake
// refuses new events routed there with 503 (and only those).
type BacklogConfig struct {
	MaxEvents int64    `yaml:"max_events"`
	MaxBytes  ByteSize `yaml:"max_bytes"`
}

// RetryConfig is the exponential backoff between delivery attempts.
type RetryConfig struct {
	InitialBackoff Duration `yaml:"initial_backoff"`
	MaxBackoff     Duration `yaml:"max_backoff"`
}

// Defaults.
const (
	DefaultListen         = "127.0.0.1:8080"
	DefaultMaxBodyBytes   = 16 << 20
	DefaultMaxEvents      = 10_000
	DefaultMaxStaleness   = 30 * time.Second
	DefaultSegmentBytes   = 64 << 20
	DefaultBatchEvents    = 1000
	DefaultBatchBytes     = 8 << 20
	DefaultBatchWait      = 200 * time.Millisecond
	DefaultMaxLag         = 5 * time.Minute
	DefaultReserveBytes   = 64 << 20
	DefaultDedupWindow    = 10 * time.Minute
	DefaultDedupMaxIDs    = 500_000
	DefaultBacklogEvents  = 1_000_000
	DefaultBacklogBytes   = 1 << 30
	DefaultInitialBackoff = 100 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
)

// SinkKind knows how to validate and open one kind of sink from its YAML mapping.
// cmd/router registers the adapters; routing never imports them.
type SinkKind struct {
	// Validate decodes the mapping and reports every problem, each prefixed by path. Pure.
	Validate func(path string, spec *yaml.Node) []error
	// Open builds the sink. Called only after Validate passed.
	Open func(spec *yaml.Node, log *slog.Logger) (Sink, error)
}

// LoadConfig reads and parses a YAML file (unknown keys are errors) and applies defaults.
// It does not validate; call Validate.
func LoadConfig(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return ParseConfig(raw)
}

// ParseConfig parses YAML config text and applies defaults.
func ParseConfig(raw []byte) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("parsing config: %w", err)
	}
	cfg.applyDefaults()
	return &cfg, nil
}

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxEvents == 0 {
		c.MaxEvents = DefaultMaxEvents
	}
	if c.Dedup.Window == 0 {
		c.Dedup.Window = Duration(DefaultDedupWindow)
	}
	if c.Dedup.MaxIDs == 0 {
		c.Dedup.MaxIDs = DefaultDedupMaxIDs
	}
	if c.WAL.ReserveBytes == 0 {
		c.WAL.ReserveBytes = DefaultReserveBytes
	}
	if c.WAL.SegmentBytes == 0 {
		c.WAL.SegmentBytes = DefaultSegmentBytes
	}
	if c.ContractsMaxStaleness == 0 {
		c.ContractsMaxStaleness = Duration(DefaultMaxStaleness)
	}
	for name, r := range c.Routes {
		if r.Mode == "" {
			r.Mode = Append
		}
		if r.Roll != nil {
			// A roll is a batch; explicit batch settings win only where roll is silent.
			if r.Batch.MaxEvents == 0 {
				r.Batch.MaxEvents = r.Roll.MaxEvents
			}
			if r.Batch.MaxBytes == 0 {
				r.Batch.MaxBytes = r.Roll.MaxBytes
			}
			if r.Batch.MaxWait == 0 {
				r.Batch.MaxWait = r.Roll.MaxAge
			}
		}
		if r.Batch.MaxEvents == 0 {
			r.Batch.MaxEvents = DefaultBatchEvents
		}
		if r.Batch.MaxBytes == 0 {
			r.Batch.MaxBytes = DefaultBatchBytes
		}
		if r.Batch.MaxWait == 0 {
			r.Batch.MaxWait = Duration(DefaultBatchWait)
		}
		if r.Class == Runtime && r.MaxLag == 0 {
			r.MaxLag = Duration(DefaultMaxLag)
		}
		if r.Backlog.MaxEvents == 0 {
			r.Backlog.MaxEvents = DefaultBacklogEvents
		}
		if r.Backlog.MaxBytes == 0 {
			r.Backlog.MaxBytes = DefaultBacklogBytes
		}
		if r.Retry.InitialBackoff == 0 {
			r.Retry.InitialBackoff = Duration(DefaultInitialBackoff)
		}
		if r.Retry.MaxBackoff == 0 {
			r.Retry.MaxBackoff = Duration(DefaultMaxBackoff)
		}
		c.Routes[name] = r
	}
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// Validate reports every problem in the configuration, each with its path. It does no
// I/O. kinds are the sink kinds this binary supports.
func (c *Config) Validate(kinds map[string]SinkKind) error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen", "%q is not host:port", c.Listen)
	}
	if c.StateDir == "" {
		add("state_dir", "is required (the WAL, cursors, dead letters and ledger live there)")
	}
	if len(c.EtcdEndpoints) == 0 {
		add("etcd_endpoints", "is required: the etcd where the registry keeps contracts")
	}
	for i, e := range c.EtcdEndpoints {
		if _, _, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(e, "http://"), "https://")); err != nil {
			add(fmt.Sprintf("etcd_endpoints[%d]", i), "%q is not host:port", e)
		}
	}
	if c.EtcdPrefix != "" && (!strings.HasPrefix(c.EtcdPrefix, "/") || !strings.HasSuffix(c.EtcdPrefix, "/")) {
		add("etcd_prefix", "%q must start and end with '/'", c.EtcdPrefix)
	}
	if c.MaxBodyBytes < 1024 {
		add("max_body_bytes", "%d is too small (at least 1KiB)", c.MaxBodyBytes)
	}
	if c.MaxEvents < 1 {
		add("max_events_per_request", "must be at least 1")
	}
	if c.ContractsMaxStaleness < Duration(time.Second) {
		add("contracts_max_staleness", "%s is too short: at least 1s (the contract cache notices a silent etcd after about 2s)", c.ContractsMaxStaleness.D())
	}
	if c.WAL.SegmentBytes < 64<<10 {
		add("wal.segment_bytes", "%d is too small (at least 64KiB)", c.WAL.SegmentBytes)
	}
	if c.Dedup.Window < 0 {
		add("dedup.window", "must be positive")
	}
	if c.Dedup.MaxIDs < 0 {
		add("dedup.max_ids", "must be positive")
	}
	if c.WAL.ReserveBytes < 0 {
		add("wal.reserve_bytes", "must not be negative")
	}
	if c.WAL.MaxBytes != 0 && c.WAL.MaxBytes < 2*c.WAL.SegmentBytes {
		add("wal.max_bytes", "must be 0 (unlimited) or at least twice wal.segment_bytes")
	}
	if c.TLS.Enabled() && (c.TLS.CertFile == "" || c.TLS.KeyFile == "") {
		add("tls", "cert_file and key_file are both required to serve TLS")
	}
	if c.TLS.ClientCAFile != "" && !c.TLS.Enabled() {
		add("tls.client_ca_file", "needs tls.cert_file and tls.key_file: client certificates are only offered over TLS")
	}
	c.PII.validate(add)
	if len(c.Sinks) == 0 {
		add("sinks", "at least one sink is required")
	}
	for _, name := range sortedNames(c.Sinks) {
		s := c.Sinks[name]
		path := "sinks." + name
		if !nameRE.MatchString(name) {
			add(path, "sink name %q must be lower-case letters, digits, '_' or '-'", name)
		}
		kind, ok := kinds[s.Kind]
		switch {
		case s.Kind == "":
			add(path+".kind", "is required (one of %s)", strings.Join(sortedNames(kinds), ", "))
		case !ok:
			add(path+".kind", "unknown kind %q (one of %s)", s.Kind, strings.Join(sortedNames(kinds), ", "))
		default:
			spec := s.Spec
			errs = append(errs, kind.Validate(path, &spec)...)
		}
	}
	if len(c.Routes) == 0 {
		add("routes", "at least one route is required")
	}
	for _, name := range sortedNames(c.Routes) {
		c.validateRoute(name, c.Routes[name], add)
	}
	return errors.Join(errs...)
}

func (c *Config) validateRoute(name string, r RouteConfig, add func(path, format string, args ...any)) {
	path := "routes." + name
	if !nameRE.MatchString(name) {
		add(path, "route name %q must be lower-case letters, digits, '_' or '-' (it appears in contracts)", name)
	}
	if r.Sink == "" {
		add(path+".sink", "is required")
	} else if _, ok := c.Sinks[r.Sink]; !ok {
		add(path+".sink", "unknown sink %q", r.Sink)
	}
	switch r.Class {
	case Analytic, Runtime:
	case "":
		add(path+".class", "is required: analytic or runtime")
	default:
		add(path+".class", "unknown class %q: analytic or runtime", r.Class)
	}
	switch r.Mode {
	case Append, Latest:
	default:
		add(path+".mode", "unknown mode %q: append or latest", r.Mode)
	}
	if r.Target == "" {
		add(path+".target", "is required")
	} else if _, err := target.Parse(r.Target); err != nil {
		add(path+".target", "%v", err)
	}
	if r.Class == Analytic && r.MaxLag != 0 {
		add(path+".max_lag", "applies to runtime routes only: analytic routes never skip")
	}
	if r.MaxLag < 0 {
		add(path+".max_lag", "must be positive")
	}
	if r.Batch.MaxEvents < 1 {
		add(path+".batch.max_events", "must be at least 1")
	}
	if r.Batch.MaxBytes < 1 {
		add(path+".batch.max_bytes", "must be positive")
	}
	if r.Batch.MaxWait <= 0 {
		add(path+".batch.max_wait", "must be positive")
	}
	if r.Backlog.MaxEvents < 1 || r.Backlog.MaxBytes < 1 {
		add(path+".backlog", "max_events and max_bytes must be positive")
	}
	if r.Retry.InitialBackoff <= 0 || r.Retry.MaxBackoff < r.Retry.InitialBackoff {
		add(path+".retry", "need 0 < initial_backoff <= max_backoff")
	}
	c.PII.validateDefault(path+".pii_default", r.PIIDefault, add)
}

// FieldPath is where a field of a configuration section sits: "sinks.lake" and "path"
// make "sinks.lake.path"; an empty section path leaves the field alone. Adapters'
// Validate methods prefix every error with it.
func FieldPath(section, field string) string {
	if section == "" {
		return field
	}
	return section + "." + field
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Duration is a time.Duration written as "60s", "5m" in YAML.
type Duration time.Duration

func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 500ms, 60s, 5m)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ByteSize is a size written as 1048576, "64KiB", "128MiB", "1GiB" (also KB/MB/GB as
// powers of 1000) in YAML.
type ByteSize int64

var byteUnits = map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}

var byteSizeRE = regexp.MustCompile(`^\s*([0-9]+)\s*([A-Za-z]*)\s*$`)

func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}

// ParseByteSize parses "128MiB" and friends.
func ParseByteSize(s string) (ByteSize, error) {
	m := byteSizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size (e.g. 65536, 64KiB, 128MiB, 1GiB)", s)
	}
	unit, ok := byteUnits[m[2]]
	if !ok {
		return 0, fmt.Errorf("%q has an unknown unit %q (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)", s, m[2])
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n > (1<<62)/unit {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return ByteSize(n * unit), nil
}
