package etcdserver

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Config says where the embedded etcd keeps its data and listens.
type Config struct {
	DataDir string // required; created if absent
	// ClientAddr is host:port for clients (default 127.0.0.1:2379). Port 0 picks a free port.
	ClientAddr string
	// PeerAddr is host:port for the (unused, single-member) peer listener. Empty picks a
	// free port on the client host, so two embedded servers never collide on 2380.
	PeerAddr string
	// CompactionRetention keeps this many revisions (0: etcd's default of none).
	CompactionRetention string
	Logger              *zap.Logger // nil: warnings and errors to stderr
}

// Server is a running embedded etcd.
type Server struct {
	etcd    *embed.Etcd
	addr    string
	closing *atomic.Bool
}

// Start starts etcd and waits until it serves clients.
func Start(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("etcd data dir is required")
	}
	if cfg.ClientAddr == "" {
		cfg.ClientAddr = "127.0.0.1:2379"
	}
	host, port, err := net.SplitHostPort(cfg.ClientAddr)
	if err != nil {
		return nil, fmt.Errorf("etcd client address %q: %w", cfg.ClientAddr, err)
	}
	if port == "0" {
		if cfg.ClientAddr, err = freeAddr(host); err != nil {
			return nil, err
		}
	}
	if cfg.PeerAddr == "" {
		if cfg.PeerAddr, err = freeAddr(host); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating etcd data dir: %w", err)
	}
	ec := embed.NewConfig()
	ec.Name = "waybill"
	ec.Dir = filepath.Clean(cfg.DataDir)
	clientURL := url.URL{Scheme: "http", Host: cfg.ClientAddr}
	peerURL := url.URL{Scheme: "http", Host: cfg.PeerAddr}
	ec.ListenClientUrls = []url.URL{clientURL}
	ec.AdvertiseClientUrls = []url.URL{clientURL}
	ec.ListenPeerUrls = []url.URL{peerURL}
	ec.AdvertisePeerUrls = []url.URL{peerURL}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	if cfg.CompactionRetention != "" {
		ec.AutoCompactionMode = "revision"
		ec.AutoCompactionRetention = cfg.CompactionRetention
	}
	closing := &atomic.Bool{}
	logger := cfg.Logger
	if logger == nil {
		zc := zap.NewProductionConfig()
		zc.Level = zap.NewAtomicLevelAt(zapcore.WarnLevel)
		zc.OutputPaths = []string{"stderr"}
		if logger, err = zc.Build(); err != nil {
			return nil, fmt.Errorf("etcd logger: %w", err)
		}
		// etcd reports its own listeners closing as errors; during a shutdown we asked
		// for, those lines would make every clean stop look like a failure.
		logger = logger.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core {
			return quietWhileClosing{Core: c, closing: closing}
		}))
	}
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(logger)
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("starting embedded etcd in %s: %w", cfg.DataDir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd failed: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("embedded etcd did not become ready within 60s")
	}
	return &Server{etcd: e, addr: cfg.ClientAddr, closing: closing}, nil
}

// Addr is the host:port clients connect to.
func (s *Server) Addr() string { return s.addr }

// Endpoint is the client URL.
func (s *Server) Endpoint() string { return "http://" + s.addr }

// Err reports a fatal server error after start.
func (s *Server) Err() <-chan error { return s.etcd.Err() }

// Close stops etcd, waiting for in-flight requests.
func (s *Server) Close() {
	s.closing.Store(true)
	s.etcd.Close()
}

// quietWhileClosing drops etcd's log lines below panic level once Close has begun.
type quietWhileClosing struct {
	zapcore.Core
	closing *atomic.Bool
}

func (q quietWhileClosing) With(fields []zapcore.Field) zapcore.Core {
	return quietWhileClosing{Core: q.Core.With(fields), closing: q.closing}
}

func (q quietWhileClosing) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if q.closing.Load() && e.Level < zapcore.DPanicLevel {
		return ce
	}
	if q.Enabled(e.Level) {
		return ce.AddCore(e, q)
	}
	return ce
}

func freeAddr(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("finding a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}
