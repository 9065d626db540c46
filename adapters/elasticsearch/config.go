package elasticsearch

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/waybill-data/waybill/adapters/tlsopt"
	"github.com/waybill-data/waybill/routing"
)

// Refresh policies of the bulk requests (ES's refresh parameter).
const (
	RefreshFalse   = "false"    // documents become searchable at the cluster's next refresh (default)
	RefreshTrue    = "true"     // refresh the shards concerned after each bulk request
	RefreshWaitFor = "wait_for" // answer once a refresh has made the documents searchable
)

// Mapping policies.
const (
	// MappingsSchema creates each index on first use with explicit mappings derived
	// from the contract's Avro schema, and adds the fields of new schema versions
	// (the default).
	MappingsSchema = "schema"
	// MappingsDynamic leaves mappings to the cluster (dynamic mapping or an index
	// template the operator installed).
	MappingsDynamic = "dynamic"
)

// Defaults.
const (
	DefaultTimeout      = 30 * time.Second
	DefaultMaxBulkBytes = 5 << 20
)

// Config configures the Elasticsearch sink.
type Config struct {
	// Addresses are the cluster's HTTP endpoints, e.g. ["http://es1:9200"].
	Addresses []string `yaml:"addresses"`
	// Username and Password authenticate with HTTP basic auth; APIKey (the base64
	// "id:key" credential) instead with an API key. At most one of the two.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	APIKey   string `yaml:"api_key"`
	// Timeout bounds each HTTP request (default 30s); the Write context's deadline
	// applies too.
	Timeout routing.Duration `yaml:"timeout"`
	// Refresh is the bulk requests' refresh policy: "false" (default), "true" or
	// "wait_for".
	Refresh string `yaml:"refresh"`
	// Mappings is "schema" (default) or "dynamic"; see the package documentation.
	Mappings string `yaml:"mappings"`
	// MaxBulkBytes bounds one bulk request body (default 5 MiB); a batch is split into
	// as many requests as needed. Keep it below the cluster's http.max_content_length.
	MaxBulkBytes routing.ByteSize `yaml:"max_bulk_bytes"`
	// TLS configures https:// addresses: a CA to verify the cluster with, a client
	// certificate (PKI realm), the server name (package adapters/tlsopt). Without it,
	// https:// addresses are verified against the system's roots.
	TLS *tlsopt.Config `yaml:"tls"`
}

// String describes the configuration without its secrets.
func (c Config) String() string {
	return fmt.Sprintf("elasticsearch{addresses=%v username=%q password=%s api_key=%s timeout=%s refresh=%s mappings=%s max_bulk_bytes=%d tls=%s}",
		c.Addresses, c.Username, redacted(c.Password), redacted(c.APIKey), c.timeout(), c.refresh(), c.mappings(), c.maxBulkBytes(), c.TLS)
}

// GoString keeps secrets out of %#v too.
func (c Config) GoString() string { return c.String() }

func redacted(secret string) string {
	if secret == "" {
		return `""`
	}
	return "[REDACTED]"
}

func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout.D()
}

func (c Config) refresh() string {
	if c.Refresh == "" {
		return RefreshFalse
	}
	return c.Refresh
}

func (c Config) mappings() string {
	if c.Mappings == "" {
		return MappingsSchema
	}
	return c.Mappings
}

func (c Config) maxBulkBytes() int {
	if c.MaxBulkBytes <= 0 {
		return DefaultMaxBulkBytes
	}
	return int(c.MaxBulkBytes)
}

// Validate checks the configuration without contacting the cluster. path is where the
// configuration sits (e.g. "sinks.search"); every error is prefixed with the path of
// the offending field.
func (c Config) Validate(path string) []error {
	at := func(field string) string { return routing.FieldPath(path, field) }
	var errs []error
	if len(c.Addresses) == 0 {
		errs = append(errs, fmt.Errorf("%s: at least one address is required (e.g. http://localhost:9200)", at("addresses")))
	}
	for i, a := range c.Addresses {
		field := fmt.Sprintf("%s[%d]", at("addresses"), i)
		u, err := url.Parse(a)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %q is not a URL: %v", field, a, err))
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("%s: %q must be an http:// or https:// URL", field, a))
		case u.Host == "":
			errs = append(errs, fmt.Errorf("%s: %q has no host", field, a))
		case u.User != nil:
			errs = append(errs, fmt.Errorf("%s: credentials in the URL are not allowed; use username/password or api_key", field))
		case u.RawQuery != "" || u.Fragment != "":
			errs = append(errs, fmt.Errorf("%s: %q must not have a query or fragment", field, redactURL(a)))
		case c.TLS != nil && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("%s: %q is not https:// but tls is configured; TLS settings apply to https:// addresses", field, a))
		}
	}
	errs = append(errs, c.TLS.Validate(at("tls"))...)
	if c.Password != "" && c.Username == "" {
		errs = append(errs, fmt.Errorf("%s: a password needs a username", at("password")))
	}
	if c.APIKey != "" && (c.Username != "" || c.Password != "") {
		errs = append(errs, fmt.Errorf("%s: use either api_key or username/password, not both", at("api_key")))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%s: must not be negative, got %s", at("timeout"), c.Timeout.D()))
	}
	switch c.Refresh {
	case "", RefreshFalse, RefreshTrue, RefreshWaitFor:
	default:
		errs = append(errs, fmt.Errorf("%s: unknown refresh policy %q (want %q, %q or %q)", at("refresh"), c.Refresh, RefreshFalse, RefreshTrue, RefreshWaitFor))
	}
	switch c.Mappings {
	case "", MappingsSchema, MappingsDynamic:
	default:
		errs = append(errs, fmt.Errorf("%s: unknown mappings policy %q (want %q or %q)", at("mappings"), c.Mappings, MappingsSchema, MappingsDynamic))
	}
	if c.MaxBulkBytes < 0 || c.MaxBulkBytes > 0 && c.MaxBulkBytes < 64<<10 {
		errs = append(errs, fmt.Errorf("%s: must be at least 64KiB, got %d", at("max_bulk_bytes"), c.MaxBulkBytes))
	}
	return errs
}

// redactURL drops anything after the host, for error messages.
func redactURL(a string) string {
	if i := strings.Index(a, "?"); i >= 0 {
		return a[:i] + "?..."
	}
	return a
}
