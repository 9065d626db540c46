package routing

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestConfigAuthAndTLS(t *testing.T) {
	kinds := map[string]SinkKind{"fake": {Validate: func(string, *yaml.Node) []error { return nil }}}
	base := `
state_dir: /tmp/s
etcd_endpoints: [127.0.0.1:2379]
sinks: {lake: {kind: fake}}
routes: {lake: {sink: lake, class: analytic, target: "{contract}"}}
`
	for _, tc := range []struct {
		name, yaml string
		want       string // "" when valid
	}{
		{"tokens file and full TLS", "auth: {tokens_file: /etc/waybill/tokens.yaml}\ntls: {cert_file: c.pem, key_file: k.pem, client_ca_file: ca.pem}\n", ""},
		{"TLS without client certificates", "tls: {cert_file: c.pem, key_file: k.pem}\n", ""},
		{"certificate without key", "tls: {cert_file: c.pem}\n", "tls: cert_file and key_file are both required"},
		{"key without certificate", "tls: {key_file: k.pem}\n", "tls: cert_file and key_file are both required"},
		{"client CA without TLS", "tls: {client_ca_file: ca.pem}\n", "tls.client_ca_file: needs tls.cert_file"},
		{"unknown key", "auth: {tokens: x}\n", "field tokens not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(base + tc.yaml))
			if err == nil {
				err = cfg.Validate(kinds)
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid configuration refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	cfg, err := ParseConfig([]byte(base + "auth: {tokens_file: /t.yaml}\ntls: {cert_file: c.pem, key_file: k.pem}\n"))
	if err != nil || cfg.Auth.TokensFile != "/t.yaml" || !cfg.TLS.Enabled() || cfg.TLS.KeyFile != "k.pem" {
		t.Fatalf("parsed %+v %+v, %v", cfg.Auth, cfg.TLS, err)
	}
}
