// Command router runs Waybill's delivery router: it accepts events with routing
// directions, validates each against its governed contract (read from the registry's
// etcd through a watch cache), makes it durable in a write-ahead log and delivers it to
// every route's store.
//
//	router --config router.yaml
//	router verify --config router.yaml [--since T] [--until T] [--contract C] [--wait D]
//
// verify reconciles what the running routers accepted (their ledgers in etcd) with
// what each route's store holds, prints a table with every difference explained, and
// exits 1 when there is any (2 for a bad configuration or usage).
//
// SIGTERM or SIGINT shuts it down gracefully: intake stops, in-flight requests get
// their answers, delivery loops stop after their current write, state is saved.
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
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/routing/audit"
	"github.com/waybill-data/waybill/routing/fleet"
	"github.com/waybill-data/waybill/schemas/cache"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var err error
	if len(os.Args) > 1 && os.Args[1] == "verify" {
		err = runVerify(ctx, os.Args[2:], os.Stdout, os.Stderr)
	} else {
		err = run(ctx, os.Args[1:], os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "router:", err)
		var ce configError
		if errors.As(err, &ce) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// configError marks a configuration the router refuses to start with.
type configError struct{ err error }

func (e configError) Error() string { return "invalid configuration:\n" + e.err.Error() }
func (e configError) Unwrap() error { return e.err }

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("router", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path of the router's YAML configuration (required)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *configPath == "" {
		return configError{errors.New("--config is required")}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return configError{fmt.Errorf("--log-level %q: use debug, info, warn or error", *logLevel)}
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg, err := routing.LoadConfig(*configPath)
	if err != nil {
		return configError{err}
	}
	kinds := sinkKinds()
	if err := cfg.Validate(kinds); err != nil {
		return configError{err}
	}
	authority, err := loadAuthority(ctx, cfg, log)
	if err != nil {
		return configError{err}
	}
	tlsConfig, err := listenerTLS(cfg.TLS)
	if err != nil {
		return configError{err}
	}

	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.EtcdEndpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("etcd client: %w", err)
	}
	defer cli.Close()
	contracts := cache.New(cli, cfg.EtcdPrefix, log)
	log.Info("loading contracts from etcd", "endpoints", cfg.EtcdEndpoints)
	if err := contracts.Start(ctx); err != nil {
		return fmt.Errorf("loading contracts: %w", err)
	}
	defer contracts.Close()

	sinks := map[string]routing.Sink{}
	defer func() {
		for name, s := range sinks {
			if err := s.Close(); err != nil {
				log.Warn("closing sink", "sink", name, "error", err)
			}
		}
	}()
	for name, sc := range cfg.Sinks {
		spec := sc.Spec
		s, err := kinds[sc.Kind].Open(&spec, log.With("sink", name))
		if err != nil {
			return fmt.Errorf("opening sink %s: %w", name, err)
		}
		sinks[name] = s
	}

	rt, err := routing.New(routing.Options{Config: cfg, Contracts: contracts, Freshness: contracts, Sinks: sinks, Logger: log,
		Authority: authority, Audit: audit.New(cli, cfg.EtcdPrefix)})
	if err != nil {
		return err
	}
	if err := rt.Start(); err != nil {
		rt.Close()
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		rt.Close()
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	routerID, err := fleet.RouterID(cfg.StateDir)
	if err != nil {
		rt.Close()
		return fmt.Errorf("router id: %w", err)
	}
	// The ledger goes to etcd so that `router verify` covers every running router.
	publisher := fleet.Start(fleet.Options{Client: cli, Prefix: fleet.Prefix(cfg.EtcdPrefix), RouterID: routerID,
		Logger: log.With("component", "fleet"), Snapshot: func() (fleet.Snapshot, error) {
			rows, err := rt.LedgerRows()
			return fleet.Snapshot{Listen: ln.Addr().String(), Rows: rows, Latest: rt.LatestSamples()}, err
		}})
	server := &http.Server{Handler: rt.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	serveErr := make(chan error, 1)
	go func() { serveErr <- server.Serve(ln) }()
	log.Info("router listening", "addr", ln.Addr().String(), "tls", tlsConfig != nil, "client_certificates", tlsConfig != nil && tlsConfig.ClientCAs != nil,
		"auth", authority != nil, "routes", len(cfg.Routes), "state_dir", cfg.StateDir, "router_id", routerID)

	select {
	case <-ctx.Done():
		log.Info("shutting down")
		rt.BeginShutdown() // /readyz answers 503 while in-flight requests finish
	case err := <-serveErr:
		_ = publisher.Close()
		rt.Close()
		return fmt.Errorf("serving: %w", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = server.Shutdown(shutdownCtx)
	if perr := publisher.Close(); perr != nil {
		log.Warn("last ledger publication to etcd failed", "error", perr)
	}
	if cerr := rt.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	log.Info("stopped")
	return err
}
