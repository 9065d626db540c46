package cassandra

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"

	"github.com/waybill-data/waybill/adapters/tlsopt"
	"github.com/waybill-data/waybill/routing"
)

// Defaults of the optional settings.
const (
	DefaultPort               = 9042
	DefaultTimeout            = 10 * time.Second
	DefaultConnectTimeout     = 5 * time.Second
	DefaultReconnectInterval  = 2 * time.Second
	DefaultMaxBatchStatements = 50
	DefaultMaxBatchBytes      = 32 << 10 // below Cassandra's batch_size_fail_threshold (50 KiB)
	DefaultConcurrency        = 8
	DefaultAnalyticCL         = "LOCAL_QUORUM"
	DefaultRuntimeCL          = "ONE"
)

// Config configures the Cassandra sink.
type Config struct {
	// Hosts are contact points: host names or IPs, each optionally with ":port".
	Hosts []string `yaml:"hosts"`
	// Port is the native protocol port of hosts given without one (default 9042).
	Port int `yaml:"port"`
	// Keyspace holds the sink's tables. It must exist: replication is the operator's
	// decision, not the router's.
	Keyspace string `yaml:"keyspace"`
	// LocalDC, when set, sends requests to that data center's nodes only (DC-aware,
	// token-aware load balancing); the LOCAL_* consistency levels refer to it.
	LocalDC string `yaml:"local_dc"`
	// Username and Password log in with PasswordAuthenticator. The password is never
	// shown (String, logs).
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// Consistency overrides the consistency level of writes per path class.
	Consistency ConsistencyConfig `yaml:"consistency"`
	// Timeout bounds each request (default 10s); the Write's context deadline applies too.
	Timeout routing.Duration `yaml:"timeout"`
	// ConnectTimeout bounds dialing and connection setup (default 5s).
	ConnectTimeout routing.Duration `yaml:"connect_timeout"`
	// ReconnectInterval is how often nodes marked down are tried again (default 2s).
	ReconnectInterval routing.Duration `yaml:"reconnect_interval"`
	// CreateTables creates each route's tables and user types from the contract's
	// schema on first use, and adds the columns of new schema versions, with the
	// layout and type mapping of the package documentation. When false the tables must
	// exist with that layout.
	CreateTables bool `yaml:"create_tables"`
	// MaxBatchStatements and MaxBatchBytes bound one unlogged batch (defaults 50 rows
	// and 32 KiB, estimated from the encoded events). Keep MaxBatchBytes below the
	// cluster's batch_size_fail_threshold.
	MaxBatchStatements int              `yaml:"max_batch_statements"`
	MaxBatchBytes      routing.ByteSize `yaml:"max_batch_bytes"`
	// Concurrency is how many requests one Write keeps in flight (default 8).
	Concurrency int `yaml:"concurrency"`
	// TLS turns on client-to-node encryption (package adapters/tlsopt): the CA that
	// signed the nodes' certificates (else the system's roots), a client certificate
	// when the cluster requires one, the server name to verify (default: each host
	// dialled). Without it the connection is plain.
	TLS *tlsopt.Config `yaml:"tls"`
}

// ConsistencyConfig names write consistency levels per path class: ONE, TWO, THREE,
// QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM or LOCAL_ONE (any case).
type ConsistencyConfig struct {
	Analytic string `yaml:"analytic"` // default LOCAL_QUORUM
	Runtime  string `yaml:"runtime"`  // default ONE
}

// String describes the configuration without its secrets.
func (c Config) String() string {
	pw := `""`
	if c.Password != "" {
		pw = "[REDACTED]"
	}
	return fmt.Sprintf("cassandra{hosts=%v port=%d keyspace=%q local_dc=%q username=%q password=%s consistency={analytic=%s runtime=%s} timeout=%s create_tables=%t tls=%s}",
		c.Hosts, c.port(), c.Keyspace, c.LocalDC, c.Username, pw, c.consistencyName(routing.Analytic), c.consistencyName(routing.Runtime), c.timeout(), c.CreateTables, c.TLS)
}

// GoString keeps secrets out of %#v too.
func (c Config) GoString() string { return c.String() }

// LogValue shows the configuration in logs as String does.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

func (c Config) port() int {
	if c.Port == 0 {
		return DefaultPort
	}
	return c.Port
}

func orDefault(d routing.Duration, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d.D()
}

func (c Config) timeout() time.Duration { return orDefault(c.Timeout, DefaultTimeout) }

func (c Config) maxBatchStatements() int {
	if c.MaxBatchStatements <= 0 {
		return DefaultMaxBatchStatements
	}
	return c.MaxBatchStatements
}

func (c Config) maxBatchBytes() int {
	if c.MaxBatchBytes <= 0 {
		return DefaultMaxBatchBytes
	}
	return int(c.MaxBatchBytes)
}

func (c Config) concurrency() int {
	if c.Concurrency <= 0 {
		return DefaultConcurrency
	}
	return c.Concurrency
}

// consistencyName is the configured level of a class, upper case.
func (c Config) consistencyName(class routing.Class) string {
	if class == routing.Runtime {
		if c.Consistency.Runtime != "" {
			return strings.ToUpper(c.Consistency.Runtime)
		}
		return DefaultRuntimeCL
	}
	if c.Consistency.Analytic != "" {
		return strings.ToUpper(c.Consistency.Analytic)
	}
	return DefaultAnalyticCL
}

// Consistency is the level writes of a class are made at; Validate has checked the
// names.
func (c Config) consistency(class routing.Class) gocql.Consistency {
	return writeConsistencies[c.consistencyName(class)]
}

// writeConsistencies are the levels a write may ask for. ANY is refused: a write
// acknowledged by a hint on the coordinator alone is neither readable nor durable on
// any replica, so the sink could not confirm it; SERIAL and LOCAL_SERIAL are for
// lightweight transactions only.
var writeConsistencies = map[string]gocql.Consistency{
	"ONE": gocql.One, "TWO": gocql.Two, "THREE": gocql.Three, "QUORUM": gocql.Quorum, "ALL": gocql.All,
	"LOCAL_QUORUM": gocql.LocalQuorum, "EACH_QUORUM": gocql.EachQuorum, "LOCAL_ONE": gocql.LocalOne,
}

// Validate checks the configuration without contacting the cluster. path is where the
// configuration sits (e.g. "sinks.timeline"); every error is prefixed with the path of
// the offending field, and every problem is reported.
func (c Config) Validate(path string) []error {
	at := func(field string) string { return routing.FieldPath(path, field) }
	var errs []error
	if len(c.Hosts) == 0 {
		errs = append(errs, fmt.Errorf("%s: at least one host is required", at("hosts")))
	}
	for i, h := range c.Hosts {
		if err := checkHost(h); err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %v", at("hosts"), i, err))
		}
	}
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("%s: %d is not a TCP port", at("port"), c.Port))
	}
	switch {
	case c.Keyspace == "":
		errs = append(errs, fmt.Errorf("%s: is required", at("keyspace")))
	case !validIdentifier(c.Keyspace):
		errs = append(errs, fmt.Errorf("%s: %q is not a keyspace name this sink accepts (lower-case letters, digits and _, starting with a letter, at most 48)", at("keyspace"), c.Keyspace))
	case strings.HasPrefix(c.Keyspace, "system"):
		errs = append(errs, fmt.Errorf("%s: %q is reserved for Cassandra's own keyspaces", at("keyspace"), c.Keyspace))
	}
	if c.Password != "" && c.Username == "" {
		errs = append(errs, fmt.Errorf("%s: a password needs a username", at("password")))
	}
	for _, cl := range []struct{ field, value string }{{"consistency.analytic", c.Consistency.Analytic}, {"consistency.runtime", c.Consistency.Runtime}} {
		if cl.value == "" {
			continue
		}
		if _, ok := writeConsistencies[strings.ToUpper(cl.value)]; !ok {
			errs = append(errs, fmt.Errorf("%s: %q is not a write consistency level the sink accepts (ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM or LOCAL_ONE; ANY cannot confirm a write)", at(cl.field), cl.value))
		}
	}
	for _, d := range []struct {
		field string
		value routing.Duration
	}{{"timeout", c.Timeout}, {"connect_timeout", c.ConnectTimeout}, {"reconnect_interval", c.ReconnectInterval}} {
		if d.value < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, got %s", at(d.field), d.value.D()))
		}
	}
	if c.MaxBatchStatements < 0 || c.MaxBatchStatements > 65535 {
		errs = append(errs, fmt.Errorf("%s: must be between 1 and 65535 (0 for the default %d), got %d", at("max_batch_statements"), DefaultMaxBatchStatements, c.MaxBatchStatements))
	}
	if c.MaxBatchBytes < 0 {
		errs = append(errs, fmt.Errorf("%s: must not be negative, got %d", at("max_batch_bytes"), c.MaxBatchBytes))
	}
	if c.Concurrency < 0 || c.Concurrency > 256 {
		errs = append(errs, fmt.Errorf("%s: must be between 1 and 256 (0 for the default %d), got %d", at("concurrency"), DefaultConcurrency, c.Concurrency))
	}
	errs = append(errs, c.TLS.Validate(at("tls"))...)
	return errs
}

// checkHost accepts a host name, an IPv4 or IPv6 address, or either with ":port"
// (IPv6 with a port in brackets).
func checkHost(h string) error {
	switch {
	case strings.TrimSpace(h) == "":
		return fmt.Errorf("empty host")
	case strings.ContainsAny(h, "/ @?#"):
		return fmt.Errorf("%q must be a host name or IP address, optionally with :port, not a URL", h)
	case net.ParseIP(h) != nil:
		return nil // IPv6 addresses hold colons
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		if strings.Contains(h, ":") {
			return fmt.Errorf("%q: %v", h, err)
		}
		return nil
	}
	if host == "" {
		return fmt.Errorf("%q has no host", h)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: %q is not a TCP port", h, port)
	}
	return nil
}

// validIdentifier reports whether s is an unquoted CQL name: [a-z][a-z0-9_]*, at most
// 48 characters (Cassandra folds unquoted names to lower case; the sink quotes names,
// so it accepts only names that mean the same either way).
func validIdentifier(s string) bool {
	if s == "" || len(s) > maxNameLen || !(s[0] >= 'a' && s[0] <= 'z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
