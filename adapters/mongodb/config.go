package mongodb

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/waybill-data/waybill/adapters/tlsopt"
	"github.com/waybill-data/waybill/routing"
)

// Decimal encodings (Config.Decimal).
const (
	DecimalDecimal128 = "decimal128" // BSON Decimal128 when the precision fits 34 digits (default)
	DecimalString     = "string"     // exact decimal text, for servers without Decimal128
)

// Defaults of the optional settings.
const (
	DefaultConnectTimeout         = 10 * time.Second
	DefaultServerSelectionTimeout = 10 * time.Second
	DefaultWriteTimeout           = 30 * time.Second
	DefaultMaxPoolSize            = 16
	DefaultLatestBulkWrites       = 1000
)

// Config configures the MongoDB sink.
type Config struct {
	// URI is the connection string, "mongodb://" or "mongodb+srv://". Credentials in it
	// are redacted wherever the configuration is shown (String).
	URI string `yaml:"uri"`
	// Database holds the route's collections.
	Database string `yaml:"database"`
	// ConnectTimeout bounds establishing one connection (default 10s).
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// ServerSelectionTimeout bounds waiting for a writable server (default 10s): how
	// long a Write waits during an outage before it reports a retryable error.
	ServerSelectionTimeout time.Duration `yaml:"server_selection_timeout"`
	// WriteTimeout bounds one Write, whatever the caller's context allows (default 30s).
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// MaxPoolSize is the most connections per server (default 16).
	MaxPoolSize uint64 `yaml:"max_pool_size"`
	// LatestBulkWrites bounds the conditional upserts of one latest-mode bulk write
	// (default 1000). MongoDB takes large bulks in its stride; FerretDB v1 applies them
	// one by one in ~7 ms each and can stall on a few hundred, so keep it small (32)
	// there.
	LatestBulkWrites int `yaml:"latest_bulk_writes"`
	// WriteConcern overrides the write concern per path class; see DefaultWriteConcern.
	WriteConcern WriteConcerns `yaml:"write_concern"`
	// Decimal is how Avro decimals are stored: "decimal128" (default) or "string".
	Decimal string `yaml:"decimal"`
	// TLS turns TLS on with these settings (package adapters/tlsopt): a CA file, a
	// client certificate (x.509 authentication), the server name. TLS may instead be
	// set in the URI (tls=true&tlsCAFile=...&tlsCertificateKeyFile=...), as the
	// driver documents; not both.
	TLS *tlsopt.Config `yaml:"tls"`
}

// WriteConcerns are the write concerns of the two path classes.
type WriteConcerns struct {
	Analytic WriteConcern `yaml:"analytic"`
	Runtime  WriteConcern `yaml:"runtime"`
}

// WriteConcern is a write concern; empty fields take the class default.
type WriteConcern struct {
	// W is "majority", a number of members of at least 1, or a custom write concern
	// name. 0 (unacknowledged) is refused: the sink could not know what was stored.
	W string `yaml:"w"`
	// Journal asks for acknowledgment after the journal write.
	Journal *bool `yaml:"journal"`
}

// DefaultWriteConcern is the write concern of a class unless configured: analytic
// routes wait for a journaled majority (consistent: an acknowledged event survives a
// failover); runtime routes for the primary alone (available: w:1).
func DefaultWriteConcern(class routing.Class) WriteConcern {
	yes := true
	if class == routing.Runtime {
		return WriteConcern{W: "1"}
	}
	return WriteConcern{W: "majority", Journal: &yes}
}

// writeConcern returns the driver's write concern for class.
func (c Config) writeConcern(class routing.Class) *writeconcern.WriteConcern {
	wc := DefaultWriteConcern(class)
	set := c.WriteConcern.Analytic
	if class == routing.Runtime {
		set = c.WriteConcern.Runtime
	}
	if set.W != "" {
		wc.W = set.W
	}
	if set.Journal != nil {
		wc.Journal = set.Journal
	}
	out := &writeconcern.WriteConcern{W: wc.W, Journal: wc.Journal}
	if n, err := strconv.Atoi(wc.W); err == nil {
		out.W = n
	}
	return out
}

func (c Config) connectTimeout() time.Duration {
	return orDefault(c.ConnectTimeout, DefaultConnectTimeout)
}

func (c Config) serverSelectionTimeout() time.Duration {
	return orDefault(c.ServerSelectionTimeout, DefaultServerSelectionTimeout)
}

func (c Config) writeTimeout() time.Duration { return orDefault(c.WriteTimeout, DefaultWriteTimeout) }

func (c Config) latestBulkWrites() int {
	if c.LatestBulkWrites <= 0 {
		return DefaultLatestBulkWrites
	}
	return c.LatestBulkWrites
}

func (c Config) maxPoolSize() uint64 {
	if c.MaxPoolSize == 0 {
		return DefaultMaxPoolSize
	}
	return c.MaxPoolSize
}

func (c Config) decimal() string {
	if c.Decimal == "" {
		return DecimalDecimal128
	}
	return c.Decimal
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Validate checks the configuration without contacting the server. path is where the
// configuration sits (e.g. "sinks.profiles"); every error is prefixed with the path of
// the offending field.
func (c Config) Validate(path string) []error {
	at := func(field string) string { return routing.FieldPath(path, field) }
	var errs []error
	if c.LatestBulkWrites < 0 {
		errs = append(errs, fmt.Errorf("%s: must not be negative, got %d", at("latest_bulk_writes"), c.LatestBulkWrites))
	}
	switch {
	case c.URI == "":
		errs = append(errs, fmt.Errorf("%s: is required", at("uri")))
	case !strings.HasPrefix(c.URI, "mongodb://") && !strings.HasPrefix(c.URI, "mongodb+srv://"):
		errs = append(errs, fmt.Errorf("%s: must start with mongodb:// or mongodb+srv://, got %q", at("uri"), RedactURI(c.URI)))
	default:
		if err := checkURI(c.URI); err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", at("uri"), err))
		}
	}
	if err := checkDatabaseName(c.Database); err != nil {
		errs = append(errs, fmt.Errorf("%s: %v", at("database"), err))
	}
	for _, d := range []struct {
		field string
		value time.Duration
	}{{"connect_timeout", c.ConnectTimeout}, {"server_selection_timeout", c.ServerSelectionTimeout}, {"write_timeout", c.WriteTimeout}} {
		if d.value < 0 {
			errs = append(errs, fmt.Errorf("%s: must not be negative, got %s", at(d.field), d.value))
		}
	}
	for _, wc := range []struct {
		field string
		value WriteConcern
	}{{"write_concern.analytic", c.WriteConcern.Analytic}, {"write_concern.runtime", c.WriteConcern.Runtime}} {
		if wc.value.W == "" {
			continue
		}
		if n, err := strconv.Atoi(wc.value.W); err == nil && n < 1 {
			errs = append(errs, fmt.Errorf("%s.w: must be \"majority\", a tag set name or at least 1, got %d (unacknowledged writes cannot be confirmed)", at(wc.field), n))
		}
	}
	switch c.Decimal {
	case "", DecimalDecimal128, DecimalString:
	default:
		errs = append(errs, fmt.Errorf("%s: unknown decimal encoding %q (want %q or %q)", at("decimal"), c.Decimal, DecimalDecimal128, DecimalString))
	}
	if c.TLS != nil {
		errs = append(errs, c.TLS.Validate(at("tls"))...)
		if uriSetsTLS(c.URI) {
			errs = append(errs, fmt.Errorf("%s: the uri sets TLS options (tls, ssl, tlsCAFile, tlsCertificateKeyFile, tlsInsecure...); configure TLS in one place", at("tls")))
		}
	}
	return errs
}

// checkDatabaseName applies MongoDB's database name rules.
func checkDatabaseName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("is required")
	case len(name) > 63:
		return fmt.Errorf("%q is longer than 63 bytes", name)
	case strings.ContainsAny(name, "/\\. \"$*<>:|?\x00"):
		return fmt.Errorf("%q contains a character MongoDB does not allow in database names (/\\. \"$*<>:|? or NUL)", name)
	}
	return nil
}

// String shows the configuration with credentials redacted.
func (c Config) String() string {
	return fmt.Sprintf("mongodb{uri=%s database=%s decimal=%s write_concern.analytic=%s write_concern.runtime=%s tls=%s}",
		RedactURI(c.URI), c.Database, c.decimal(), c.showWriteConcern(routing.Analytic), c.showWriteConcern(routing.Runtime), c.TLS)
}

func (c Config) showWriteConcern(class routing.Class) string {
	wc := c.writeConcern(class)
	s := fmt.Sprintf("w:%v", wc.W)
	if wc.Journal != nil {
		s += fmt.Sprintf(",j:%t", *wc.Journal)
	}
	return s
}
