package registry

// Authentication of the registry binary: a tokens file that is re-read while it runs,
// Confluent clients sending credentials their own way, and HTTPS with client
// certificates mapped to teams.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	hamba "github.com/hamba/avro/v2/registry"

	"github.com/waybill-data/waybill/integration/internal/testproc"
	"github.com/waybill-data/waybill/schemas/auth"
)

// tokenEntry is one line of a tokens file.
func tokenEntry(name, team, token string, admin bool) string {
	return fmt.Sprintf("  - {name: %s, team: %s, admin: %v, sha256: %s}\n", name, team, admin, auth.Digest(token))
}

// writeAtomically replaces a file the way an operator's tooling should: by rename.
func writeAtomically(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// send is one request through client with extra headers; transport errors are returned.
func send(client *http.Client, method, url string, header http.Header, body any) (reply, http.Header, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return reply{}, nil, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return reply{}, nil, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if body != nil {
		req.Header.Set("Content-Type", contentTypeV1)
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{Status: resp.StatusCode, Body: b}, resp.Header, err
}

func bearerHeader(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// expect sends and fails the test unless the answer has that status and error code
// (code 0: a success).
func expect(t *testing.T, client *http.Client, method, url string, header http.Header, body any, status, code int) (reply, http.Header) {
	t.Helper()
	r, h, err := send(client, method, url, header, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	if r.Status != status || (code != 0 && r.errorCode() != code) {
		t.Fatalf("%s %s: got %s, want HTTP %d code %d", method, url, r, status, code)
	}
	return r, h
}

// TestTokensFileHotReloadAndConfluentClients runs the registry with a tokens file,
// writes with bearer tokens and with two Confluent clients' Basic credentials, then adds
// a token, revokes one and breaks the file while the registry runs.
func TestTokensFileHotReloadAndConfluentClients(t *testing.T) {
	t.Parallel()
	const (
		tokA    = "itest-secret-team-a"
		tokB    = "itest-secret-team-b"
		tokRoot = "itest-secret-root"
	)
	tokens := filepath.Join(t.TempDir(), "tokens.yaml")
	writeAtomically(t, tokens, "tokens:\n"+tokenEntry("a-ci", "team-a", tokA, false)+tokenEntry("root", "platform", tokRoot, true))
	reg := startRegistry(t, "registry", registryOpts{TokensFile: tokens})
	c := http.DefaultClient
	const orders = "auth-orders-value"
	versions := reg.URL + "/subjects/" + orders + "/versions"

	// Reads are open, writes are not.
	expect(t, c, "GET", reg.URL+"/subjects", nil, nil, 200, 0)
	_, h := expect(t, c, "POST", versions, nil, schemaBody(orderV1), 401, 40101)
	if !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate %q", h.Get("WWW-Authenticate"))
	}
	expect(t, c, "POST", versions, bearerHeader(tokA+"x"), schemaBody(orderV1), 401, 40101)
	expect(t, c, "POST", versions, bearerHeader(tokA), schemaBody(orderV1), 200, 0)
	expect(t, c, "PUT", reg.URL+"/contracts/"+orders, bearerHeader(tokA),
		map[string]any{"owner": "team-a", "routes": map[string]any{"allowed": []string{"lake"}}}, 200, 0)

	// The Confluent Go client sends the token as the Basic auth password.
	conf := schemaregistry.NewConfigWithBasicAuthentication(reg.URL, "checkout-service", tokA)
	conf.MaxRetries = 0
	confluent, err := schemaregistry.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer confluent.Close()
	if _, err := confluent.Register(orders, schemaregistry.SchemaInfo{Schema: orderV2}, false); err != nil {
		t.Fatalf("Confluent client with Basic credentials: %v", err)
	}
	anonConf := schemaregistry.NewConfig(reg.URL)
	anonConf.MaxRetries = 0
	anon, err := schemaregistry.NewClient(anonConf)
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if _, err := anon.Register(orders, schemaregistry.SchemaInfo{Schema: orderIncompatible}, false); restCode(err) != 40101 {
		t.Fatalf("Confluent client without credentials: %v; want error code 40101", err)
	}
	if md, err := anon.GetLatestSchemaMetadata(orders); err != nil || md.Version != 2 {
		t.Fatalf("Confluent client reading without credentials: %+v, %v", md, err)
	}

	// A token added to the file works within a few seconds, without a restart.
	hambaB, err := hamba.NewClient(reg.URL, hamba.WithBasicAuth("web-service", tokB))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const web = "auth-web-value"
	if _, _, err := hambaB.CreateSchema(ctx, web, orderV1); !isHambaCode(err, 40101) {
		t.Fatalf("an unknown token: %v; want 40101", err)
	}
	writeAtomically(t, tokens, "tokens:\n"+tokenEntry("a-ci", "team-a", tokA, false)+tokenEntry("root", "platform", tokRoot, true)+tokenEntry("b-ci", "team-b", tokB, false))
	added := time.Now()
	waitFor(t, reg, "the added token is accepted", func() bool {
		_, _, err := hambaB.CreateSchema(ctx, web, orderV1)
		return err == nil
	})
	t.Logf("the added token was accepted %v after the file changed", time.Since(added).Round(time.Millisecond))
	// team-b may write its own subject, not team-a's.
	if _, _, err := hambaB.CreateSchema(ctx, orders, orderV1Spaced+" "); err != nil {
		t.Fatalf("re-registering a live schema (changes nothing) as another team: %v", err)
	}
	if _, _, err := hambaB.CreateSchema(ctx, orders, recordSchema("Order", `{"name":"id","type":"long"}`, `{"name":"amount","type":"double"}`, `{"name":"note","type":"string","default":""}`)); !isHambaCode(err, 40301) {
		t.Fatalf("team-b registering in team-a's subject: %v; want 40301", err)
	}

	// A token removed from the file stops working.
	writeAtomically(t, tokens, "tokens:\n"+tokenEntry("root", "platform", tokRoot, true)+tokenEntry("b-ci", "team-b", tokB, false))
	waitFor(t, reg, "the revoked token is refused", func() bool {
		r, _, err := send(c, "PUT", reg.URL+"/config/"+orders, bearerHeader(tokA), map[string]string{"compatibility": "FULL"})
		return err == nil && r.Status == 401 && r.errorCode() == 40101
	})

	// A broken file is refused and the last good one stays in force.
	writeAtomically(t, tokens, "tokens: [this is not a tokens file\n")
	waitFor(t, reg, "the broken file is reported", func() bool {
		return strings.Contains(reg.Out.String(), "tokens file not reloaded")
	})
	expect(t, c, "PUT", reg.URL+"/config/"+web, bearerHeader(tokB), map[string]string{"compatibility": "FULL"}, 200, 0)

	// The audit trail names each credential; no log line or answer shows a token.
	r, _ := expect(t, c, "GET", reg.URL+"/audit", bearerHeader(tokRoot), nil, 200, 0)
	for _, want := range []string{`"name":"a-ci"`, `"name":"b-ci"`, `"action":"put_contract"`} {
		if !strings.Contains(string(r.Body), want) {
			t.Errorf("audit trail lacks %s: %s", want, r.Body)
		}
	}
	for _, tok := range []string{tokA, tokB, tokRoot} {
		if strings.Contains(reg.Out.String(), tok) || strings.Contains(string(r.Body), tok) {
			t.Errorf("a token appears in the registry's output or audit trail")
		}
	}
}

func isHambaCode(err error, code int) bool {
	var e hamba.Error
	if errors.As(err, &e) {
		return e.Code == code
	}
	var pe *hamba.Error
	return errors.As(err, &pe) && pe.Code == code
}

// waitFor polls cond until it holds (10 s at most: the registry re-reads the tokens
// file every 2 s), failing if the registry exits meanwhile.
func waitFor(t *testing.T, reg *registryProc, what string, cond func() bool) {
	t.Helper()
	if !testproc.Poll(10*time.Second, 50*time.Millisecond, reg.Done(), cond) {
		t.Fatalf("%s: not within 10s", what)
	}
}

// TestOpenRegistrySaysSo: without a tokens file the registry warns at startup, loudly,
// and anyone may write.
func TestOpenRegistrySaysSo(t *testing.T) {
	t.Parallel()
	reg := startRegistry(t, "registry", registryOpts{})
	register(t, reg.URL, "open-value", orderV1)
	waitFor(t, reg, "the startup warning", func() bool {
		for _, line := range strings.Split(reg.Out.String(), "\n") {
			if strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "registry running WITHOUT authentication: anyone can change contracts") {
				return true
			}
		}
		return false
	})
}

// pki is a test certificate authority and the files of what it issued.
type pki struct {
	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	CAFile string
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{dir: t.TempDir(), caCert: cert, caKey: key}
	p.CAFile = p.write(t, name+"-ca.pem", "CERTIFICATE", der)
	return p
}

func (p *pki) write(t *testing.T, name, kind string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue makes a certificate for cn (a server's for 127.0.0.1 when server is true) and
// returns its certificate and key files.
func (p *pki) issue(t *testing.T, cn string, server bool) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, cn+".pem", "CERTIFICATE", der), p.write(t, cn+"-key.pem", "PRIVATE KEY", keyDER)
}

// tlsClient trusts roots and presents the certificate in certFile/keyFile, if given.
func tlsClient(t *testing.T, roots *pki, certFile, keyFile string) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(roots.caCert)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		// Always present it: Go's client would otherwise leave out a certificate whose
		// CA the server did not name, and the server's verification would go untested.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	}
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// TestTLSAndClientCertificates serves HTTPS with a certificate made here; a client
// certificate whose CN the tokens file lists acts as its team, bearer tokens still
// work beside it, and the Confluent client connects with either.
func TestTLSAndClientCertificates(t *testing.T) {
	t.Parallel()
	ca := newPKI(t, "waybill-test")
	serverCert, serverKey := ca.issue(t, "registry", true)
	robotCert, robotKey := ca.issue(t, "ci-robot", false)
	strangerCert, strangerKey := ca.issue(t, "stranger", false)
	other := newPKI(t, "elsewhere")
	foreignCert, foreignKey := other.issue(t, "ci-robot", false)
	const tokRoot = "itest-secret-tls-root"
	tokens := filepath.Join(t.TempDir(), "tokens.yaml")
	writeAtomically(t, tokens, "tokens:\n"+tokenEntry("root", "platform", tokRoot, true)+"clients:\n  - {cn: ci-robot, team: team-a}\n")

	plain := tlsClient(t, ca, "", "")
	reg := startRegistry(t, "registry", registryOpts{TokensFile: tokens, TLSCert: serverCert, TLSKey: serverKey, TLSClientCA: ca.CAFile, TLSClient: plain})
	if !strings.HasPrefix(reg.URL, "https://") {
		t.Fatalf("URL %s", reg.URL)
	}
	const subject = "tls-orders-value"
	versions := reg.URL + "/subjects/" + subject + "/versions"

	// A client that trusts the CA reads without a certificate, and writes need one or a token.
	expect(t, plain, "GET", reg.URL+"/subjects", nil, nil, 200, 0)
	expect(t, plain, "POST", versions, nil, schemaBody(orderV1), 401, 40101)
	robot := tlsClient(t, ca, robotCert, robotKey)
	expect(t, robot, "POST", versions, nil, schemaBody(orderV1), 200, 0)
	expect(t, robot, "PUT", reg.URL+"/contracts/"+subject, nil,
		map[string]any{"owner": "team-a", "routes": map[string]any{"allowed": []string{"lake"}}}, 200, 0)
	r, _ := expect(t, plain, "GET", reg.URL+"/audit?subject="+subject, bearerHeader(tokRoot), nil, 200, 0)
	if !strings.Contains(string(r.Body), `"who":{"team":"team-a","name":"cert:ci-robot"}`) {
		t.Errorf("audit trail does not name the certificate: %s", r.Body)
	}
	// A verified certificate the tokens file does not list is refused with its CN.
	r, _ = expect(t, tlsClient(t, ca, strangerCert, strangerKey), "POST", versions, nil, schemaBody(orderV2), 401, 40101)
	if !strings.Contains(string(r.Body), "stranger") {
		t.Errorf("refusal does not name the certificate: %s", r)
	}
	// A certificate from another CA fails the handshake, whatever its CN.
	if r, _, err := send(tlsClient(t, ca, foreignCert, foreignKey), "POST", versions, nil, schemaBody(orderV2)); err == nil {
		t.Errorf("a client certificate from an unknown CA was accepted: %s", r)
	} else if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a client certificate from an unknown CA: %v, want a handshake failure", err)
	}
	// A client that does not trust the registry's certificate refuses it; plain HTTP is not served.
	if _, _, err := send(&http.Client{Timeout: 10 * time.Second}, "GET", reg.URL+"/subjects", nil, nil); err == nil {
		t.Error("a client without the CA trusted the registry's certificate")
	}
	if r, _, err := send(http.DefaultClient, "GET", "http://"+reg.Listen+"/subjects", nil, nil); err == nil && r.Status == 200 {
		t.Error("plain HTTP was served on the TLS listener")
	}

	// The Confluent client over HTTPS: with the client certificate, and with a token.
	conf := schemaregistry.NewConfig(reg.URL)
	conf.MaxRetries = 0
	conf.SslCaLocation = ca.CAFile
	conf.SslCertificateLocation, conf.SslKeyLocation = robotCert, robotKey
	withCert, err := schemaregistry.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer withCert.Close()
	if _, err := withCert.Register(subject, schemaregistry.SchemaInfo{Schema: orderV2}, false); err != nil {
		t.Fatalf("Confluent client with a client certificate: %v", err)
	}
	conf = schemaregistry.NewConfigWithBasicAuthentication(reg.URL, "admin", tokRoot)
	conf.MaxRetries = 0
	conf.SslCaLocation = ca.CAFile
	withToken, err := schemaregistry.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	defer withToken.Close()
	if _, err := withToken.UpdateCompatibility(subject, schemaregistry.Full); err != nil {
		t.Fatalf("Confluent client over HTTPS with a token: %v", err)
	}
	if md, err := withToken.GetLatestSchemaMetadata(subject); err != nil || md.Version != 2 {
		t.Fatalf("latest over HTTPS: %+v, %v", md, err)
	}
}
