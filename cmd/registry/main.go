// Command registry runs Waybill's schema registry: governed Avro contracts in etcd,
// served over the Confluent Schema Registry REST API.
//
//	registry --listen 127.0.0.1:8081 --data-dir DIR [--etcd-listen 127.0.0.1:2379]
//	registry --listen 127.0.0.1:8081 --etcd-endpoints host:2379,host2:2379
//
// With --data-dir it runs an embedded etcd kept in DIR and serves etcd clients (routers)
// on --etcd-listen. With --etcd-endpoints it uses an external etcd cluster instead.
// SIGTERM or SIGINT shuts it down gracefully: in-flight requests finish first.
//
// Security:
//
//	--tokens-file FILE   bearer tokens by team (schemas/auth), re-read every 2 s; writes
//	                     then need a token. Without it the registry runs open and says so.
//	--tls-cert, --tls-key   serve HTTPS with this certificate and key (PEM)
//	--tls-client-ca FILE    also accept client certificates signed by these CAs; their
//	                     subject CN is mapped to a team by the tokens file's clients:
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/auth"
	"github.com/waybill-data/waybill/schemas/etcdserver"
	"github.com/waybill-data/waybill/schemas/etcdstore"
	"github.com/waybill-data/waybill/schemas/registry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "registry:", err)
		os.Exit(1)
	}
}

type options struct {
	listen        string
	dataDir       string
	etcdListen    string
	etcdEndpoints []string
	prefix        string
	logLevel      slog.Level
	opTimeout     time.Duration
	tokensFile    string
	tlsCert       string
	tlsKey        string
	tlsClientCA   string
}

// tokensReload is how often the tokens file is re-read.
const tokensReload = 2 * time.Second

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("registry", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	var endpoints, level string
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8081", "address the registry API listens on")
	fs.StringVar(&o.dataDir, "data-dir", "", "directory of the embedded etcd (required unless --etcd-endpoints is given)")
	fs.StringVar(&o.etcdListen, "etcd-listen", "127.0.0.1:2379", "client address of the embedded etcd, for routers to watch")
	fs.StringVar(&endpoints, "etcd-endpoints", "", "comma-separated host:port list of an external etcd cluster (disables the embedded one)")
	fs.StringVar(&o.prefix, "etcd-prefix", schemas.DefaultPrefix, "etcd key prefix of this registry's data")
	fs.StringVar(&level, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&o.opTimeout, "store-timeout", etcdstore.DefaultTimeout, "bound on one etcd operation; past it the request fails with 50001")
	fs.StringVar(&o.tokensFile, "tokens-file", "", "YAML file of bearer tokens by team (SHA-256 digests), re-read every 2s; without it the registry runs WITHOUT authentication")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate (chain) to serve HTTPS with; needs --tls-key")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&o.tlsClientCA, "tls-client-ca", "", "PEM CA certificates whose client certificates are accepted (mTLS); their CN maps to a team in --tokens-file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments: %v", fs.Args()))
	}
	for _, e := range strings.Split(endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			o.etcdEndpoints = append(o.etcdEndpoints, e)
		}
	}
	if len(o.etcdEndpoints) == 0 && o.dataDir == "" {
		problems = append(problems, "--data-dir is required to run the embedded etcd (or give --etcd-endpoints)")
	}
	if len(o.etcdEndpoints) > 0 && o.dataDir != "" {
		problems = append(problems, "--data-dir and --etcd-endpoints exclude each other")
	}
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		problems = append(problems, fmt.Sprintf("--listen %q: %v", o.listen, err))
	}
	if err := o.logLevel.UnmarshalText([]byte(level)); err != nil {
		problems = append(problems, fmt.Sprintf("--log-level %q: use debug, info, warn or error", level))
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		problems = append(problems, "--tls-cert and --tls-key go together")
	}
	if o.tlsClientCA != "" && o.tlsCert == "" {
		problems = append(problems, "--tls-client-ca needs --tls-cert and --tls-key: client certificates are only seen over TLS")
	}
	if o.tlsClientCA != "" && o.tokensFile == "" {
		problems = append(problems, "--tls-client-ca needs --tokens-file: it maps client certificate CNs to teams")
	}
	if !strings.HasPrefix(o.prefix, "/") || !strings.HasSuffix(o.prefix, "/") {
		problems = append(problems, fmt.Sprintf("--etcd-prefix %q must start and end with '/'", o.prefix))
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return o, nil
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))

	// Credentials and certificates first: a mistake there must stop the start, before
	// anything is served.
	var authority *auth.Authority
	if o.tokensFile != "" {
		if authority, err = auth.Load(o.tokensFile); err != nil {
			return err
		}
		go authority.Watch(ctx, tokensReload, log)
		log.Info("authentication on: writes need a token", "tokens_file", o.tokensFile, "reload_every", tokensReload)
	} else {
		log.Warn("registry running WITHOUT authentication: anyone can change contracts; give --tokens-file to require tokens")
	}
	tlsConfig, err := listenerTLS(o)
	if err != nil {
		return err
	}
	endpoints := o.etcdEndpoints
	if len(endpoints) == 0 {
		srv, err := etcdserver.Start(etcdserver.Config{DataDir: o.dataDir, ClientAddr: o.etcdListen})
		if err != nil {
			return err
		}
		defer srv.Close()
		endpoints = []string{srv.Addr()}
		log.Info("embedded etcd started", "data_dir", o.dataDir, "client_addr", srv.Addr())
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("connecting to etcd %v: %w", endpoints, err)
	}
	defer cli.Close()

	store := etcdstore.New(cli, o.prefix, o.opTimeout)
	reg := registry.New(store, log, registry.WithAuthority(authority))
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", o.listen, err)
	}
	scheme := "http"
	if tlsConfig != nil {
		ln, scheme = tls.NewListener(ln, tlsConfig), "https"
	}
	server := &http.Server{
		Handler:           reg.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         tlsConfig,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelInfo), // e.g. failed TLS handshakes
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- server.Serve(ln) }()
	log.Info("registry listening", "addr", ln.Addr().String(), "scheme", scheme, "client_certificates", o.tlsClientCA != "", "etcd", endpoints, "prefix", o.prefix)

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-serveErr:
		return fmt.Errorf("serving: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := server.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// listenerTLS is the API listener's TLS configuration (nil without --tls-cert). With a
// client CA, a client certificate is verified when one is sent but not required, so
// bearer tokens keep working beside mTLS.
func listenerTLS(o *options) (*tls.Config, error) {
	if o.tlsCert == "" {
		return nil, nil
	}
	cfg, err := auth.ServerTLS(o.tlsCert, o.tlsKey, o.tlsClientCA)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key/--tls-client-ca: %w", err)
	}
	return cfg, nil
}
