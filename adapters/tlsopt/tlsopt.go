// Package tlsopt is the TLS section every store adapter's configuration shares
// (sinks.NAME.tls in the router's YAML):
//
//	tls:
//	  ca_file: /etc/waybill/store-ca.pem     # PEM roots to verify the server with (default: the system's)
//	  cert_file: /etc/waybill/client.pem     # client certificate, for stores that ask for one (mTLS)
//	  key_file: /etc/waybill/client-key.pem  # its private key; with cert_file, both or neither
//	  server_name: es.internal               # name to verify the server's certificate for (default: the host dialled)
//	  insecure_skip_verify: false            # no verification at all: tests only, logged loudly
//
// Validate only checks the settings themselves (no I/O); Load reads the files, and its
// errors name the file, never its content. A private key never appears in String or
// in logs.
package tlsopt

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Config is a store connection's TLS settings. A nil *Config means no TLS settings (a
// store may still use TLS with the system's roots, e.g. an https:// address).
type Config struct {
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Validate reports every problem, each prefixed with path (e.g. "sinks.search.tls").
func (c *Config) Validate(path string) []error {
	if c == nil {
		return nil
	}
	var errs []error
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, fmt.Errorf("%s: cert_file and key_file go together (a client certificate needs its key)", path))
	}
	if c.InsecureSkipVerify && (c.CAFile != "" || c.ServerName != "") {
		errs = append(errs, fmt.Errorf("%s.insecure_skip_verify: verifies nothing, so ca_file and server_name would be ignored; use one or the other", path))
	}
	return errs
}

// Load builds the *tls.Config: the CA file's roots (else the system's), the client key
// pair, the server name, TLS 1.2 at least. A nil c returns nil.
func (c *Config) Load() (*tls.Config, error) {
	if c == nil {
		return nil, nil
	}
	out := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // explicit opt-in
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", c.CAFile)
		}
		out.RootCAs = pool
	}
	if c.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			// The error of LoadX509KeyPair names what is wrong, not the key's bytes.
			return nil, fmt.Errorf("tls.cert_file %s / tls.key_file %s: %w", c.CertFile, c.KeyFile, err)
		}
		out.Certificates = []tls.Certificate{pair}
	}
	return out, nil
}

// String describes the settings (file names only).
func (c *Config) String() string {
	if c == nil {
		return "none"
	}
	return fmt.Sprintf("{ca_file=%q cert_file=%q key_file=%q server_name=%q insecure_skip_verify=%t}",
		c.CAFile, c.CertFile, c.KeyFile, c.ServerName, c.InsecureSkipVerify)
}

// ErrInsecure is what adapters log (as a warning) when insecure_skip_verify is on.
var ErrInsecure = errors.New("tls.insecure_skip_verify is on: the store's certificate is not verified, anyone in the path can impersonate it")
