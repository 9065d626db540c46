package webhdfs

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/waybill-data/waybill/adapters/avrofile"
	"github.com/waybill-data/waybill/adapters/tlsopt"
	"github.com/waybill-data/waybill/routing"
)

// Codecs of the object container files.
const (
	CodecNull    = avrofile.CodecNull    // uncompressed
	CodecDeflate = avrofile.CodecDeflate // raw DEFLATE (RFC 1951), the default
)

// DefaultTimeout bounds each HTTP request when Config.Timeout is not set.
const DefaultTimeout = 30 * time.Second

// maxComponent is HDFS's default dfs.namenode.fs-limits.max-component-length.
const maxComponent = 255

// Config configures the WebHDFS sink. How many events go into one file (the "roll")
// is the route's batching: one batch becomes one file per stream.
type Config struct {
	// NameNodes are the NameNodes' HTTP addresses, e.g. ["http://nn1:9870",
	// "http://nn2:9870"] for an HA pair; requests go to the one that last answered,
	// and fail over to the next on StandbyException or when it cannot be reached.
	NameNodes []string `yaml:"namenodes"`
	// Root is the absolute HDFS directory under which route targets are rendered,
	// e.g. /data/waybill. One router process at a time may write under it.
	Root string `yaml:"root"`
	// User is sent as user.name, for clusters with simple authentication.
	User string `yaml:"user"`
	// DelegationToken is sent as delegation= instead, for secure clusters (its
	// encoded form, as GETDELEGATIONTOKEN returns it). It is a secret: String
	// redacts it and no error or log line carries it. SPNEGO/Kerberos is not
	// supported yet: obtain a token outside Waybill and renew it there.
	DelegationToken string `yaml:"delegation_token"`
	// Timeout bounds each HTTP request (default 30s); the Write context's deadline
	// applies too.
	Timeout routing.Duration `yaml:"timeout"`
	// Codec compresses data blocks: "null" or "deflate" (default).
	Codec string `yaml:"codec"`
	// TLS configures https:// NameNodes and the DataNodes they redirect to
	// (dfs.http.policy HTTPS_ONLY): the cluster's CA, a client certificate, the server
	// name (package adapters/tlsopt). Without it, https:// is verified against the
	// system's roots.
	TLS *tlsopt.Config `yaml:"tls"`
}

// String describes the configuration without its secret.
func (c Config) String() string {
	tok := `""`
	if c.DelegationToken != "" {
		tok = "[REDACTED]"
	}
	return fmt.Sprintf("webhdfs{namenodes=%v root=%q user=%q delegation_token=%s timeout=%s codec=%s tls=%s}",
		c.NameNodes, c.Root, c.User, tok, c.timeout(), c.codec(), c.TLS)
}

// GoString keeps the secret out of %#v too.
func (c Config) GoString() string { return c.String() }

func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout.D()
}

func (c Config) codec() string { return avrofile.Codec(c.Codec) }

// Validate checks the configuration without contacting the cluster. path is where the
// configuration sits (e.g. "sinks.hdfs"); every error is prefixed with the path of the
// offending field.
func (c Config) Validate(path string) []error {
	at := func(field string) string { return routing.FieldPath(path, field) }
	var errs []error
	if len(c.NameNodes) == 0 {
		errs = append(errs, fmt.Errorf("%s: at least one NameNode address is required (e.g. http://namenode:9870)", at("namenodes")))
	}
	for i, a := range c.NameNodes {
		field := fmt.Sprintf("%s[%d]", at("namenodes"), i)
		u, err := url.Parse(a)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %q is not a URL: %v", field, a, err))
		case u.Scheme != "http" && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("%s: %q must be an http:// or https:// URL", field, a))
		case u.Host == "":
			errs = append(errs, fmt.Errorf("%s: %q has no host", field, a))
		case u.User != nil:
			errs = append(errs, fmt.Errorf("%s: credentials in the URL are not allowed; use user or delegation_token", field))
		case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "":
			errs = append(errs, fmt.Errorf("%s: %q must be the NameNode's base URL, without a path (/webhdfs/v1 is added) or query", field, u.Scheme+"://"+u.Host+"/..."))
		case c.TLS != nil && u.Scheme != "https":
			errs = append(errs, fmt.Errorf("%s: %q is not https:// but tls is configured; TLS settings apply to https:// NameNodes", field, a))
		}
	}
	errs = append(errs, c.TLS.Validate(at("tls"))...)
	if err := checkRoot(c.Root); err != nil {
		errs = append(errs, fmt.Errorf("%s: %v", at("root"), err))
	}
	switch {
	case c.User == "" && c.DelegationToken == "":
		errs = append(errs, fmt.Errorf("%s: a user (simple authentication) or a delegation_token is required; SPNEGO/Kerberos is not supported yet", at("user")))
	case c.User != "" && c.DelegationToken != "":
		errs = append(errs, fmt.Errorf("%s: use either user or delegation_token, not both (a token names its user)", at("delegation_token")))
	case strings.ContainsAny(c.User, "\x00\n\r&=/ "):
		errs = append(errs, fmt.Errorf("%s: %q is not a valid user name", at("user"), c.User))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%s: must not be negative, got %s", at("timeout"), c.Timeout.D()))
	}
	if err := avrofile.CheckCodec(c.Codec); err != nil {
		errs = append(errs, fmt.Errorf("%s: %v", at("codec"), err))
	}
	return errs
}

// checkRoot checks that root is an absolute, clean HDFS path HDFS accepts.
func checkRoot(root string) error {
	switch {
	case root == "":
		return fmt.Errorf("is required (an absolute HDFS directory, e.g. /data/waybill)")
	case !strings.HasPrefix(root, "/"):
		return fmt.Errorf("must be an absolute HDFS path, got %q", root)
	case root != "/" && strings.HasSuffix(root, "/") || strings.Contains(root, "//"):
		return fmt.Errorf("must be a clean path (no empty components or trailing '/'), got %q", root)
	}
	return checkComponents(strings.TrimPrefix(root, "/"))
}

// checkComponents checks the '/'-separated components of a relative path as HDFS
// does (DFSUtil.isValidName and the default component length limit).
func checkComponents(rel string) error {
	if rel == "" {
		return nil
	}
	for _, c := range strings.Split(rel, "/") {
		switch {
		case c == "" || c == "." || c == "..":
			return fmt.Errorf("%q: empty, \".\" and \"..\" components are not valid HDFS names", rel)
		case strings.ContainsAny(c, ":\x00"):
			return fmt.Errorf("%q: HDFS names cannot contain ':' or NUL", rel)
		case len(c) > maxComponent:
			return fmt.Errorf("%q: the component %.20q... is %d bytes, more than HDFS's default limit of %d", rel, c, len(c), maxComponent)
		}
	}
	return nil
}
