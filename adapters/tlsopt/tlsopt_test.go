package tlsopt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a self-signed certificate and its key to dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certFile, keyFile
}

func TestValidate(t *testing.T) {
	var none *Config
	if errs := none.Validate("x.tls"); errs != nil {
		t.Fatalf("nil: %v", errs)
	}
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{CAFile: "ca.pem", CertFile: "c.pem", KeyFile: "k.pem", ServerName: "db"}, ""},
		{Config{CertFile: "c.pem"}, "sinks.s.tls: cert_file and key_file go together"},
		{Config{KeyFile: "k.pem"}, "sinks.s.tls: cert_file and key_file go together"},
		{Config{InsecureSkipVerify: true, CAFile: "ca.pem"}, "sinks.s.tls.insecure_skip_verify"},
		{Config{InsecureSkipVerify: true}, ""},
	} {
		errs := tc.c.Validate("sinks.s.tls")
		if tc.want == "" && len(errs) != 0 || tc.want != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.c, errs, tc.want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	var none *Config
	if c, err := none.Load(); c != nil || err != nil {
		t.Fatalf("nil: %v %v", c, err)
	}
	c, err := (&Config{CAFile: cert, CertFile: cert, KeyFile: key, ServerName: "db.internal"}).Load()
	if err != nil || c.RootCAs == nil || len(c.Certificates) != 1 || c.ServerName != "db.internal" || c.InsecureSkipVerify || c.MinVersion == 0 {
		t.Fatalf("loaded %+v, %v", c, err)
	}
	keyPEM, _ := os.ReadFile(key)
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{CAFile: filepath.Join(dir, "missing.pem")}, "tls.ca_file"},
		{Config{CAFile: key}, "holds no PEM certificate"},
		{Config{CertFile: cert, KeyFile: filepath.Join(dir, "missing.pem")}, "tls.cert_file"},
		{Config{CertFile: key, KeyFile: cert}, "tls.cert_file"},
	} {
		_, err := tc.c.Load()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), strings.TrimSpace(string(keyPEM[30:60]))) {
			t.Errorf("an error shows the key: %v", err)
		}
	}
	if s := (&Config{CertFile: cert, KeyFile: key}).String(); !strings.Contains(s, "key.pem") || strings.Contains(s, "PRIVATE") {
		t.Fatalf("String %s", s)
	}
}
