package mongo

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"testing"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Server is an embedded FerretDB with a fault-injecting proxy in front of it.
type Server struct {
	db     *ferretdb.FerretDB
	direct string // FerretDB's own address, host:port
	proxy  *Proxy

	cancel context.CancelFunc
	done   chan struct{}
	logs   *syncBuffer

	closeOnce sync.Once
}

// Start starts FerretDB (SQLite backend in a temporary directory of tb) on a free
// 127.0.0.1 port and the proxy in front of it, and stops both when tb ends. FerretDB's
// log goes to tb's log only if tb failed.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := StartIn(tb.TempDir())
	if err != nil {
		tb.Fatalf("mongo test server: %v", err)
	}
	tb.Cleanup(func() {
		s.Close()
		if tb.Failed() {
			tb.Logf("FerretDB log:\n%s", s.logs.String())
		}
	})
	return s
}

// StartIn starts FerretDB with its SQLite databases in dir (which must exist) and the
// proxy in front of it, for programs that are not tests (integration/devstack). Close
// stops both; dir is left to the caller. FerretDB logs only warnings, kept in memory
// (Logs).
func StartIn(dir string) (*Server, error) {
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
	})
	if err != nil {
		return nil, fmt.Errorf("starting FerretDB: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{db: db, cancel: cancel, done: make(chan struct{}), logs: logs}
	go func() {
		defer close(s.done)
		_ = db.Run(ctx) // returns nil once ctx is cancelled and everything is closed
	}()
	// MongoDBURI waits until Run has bound the listener, so the port is never raced.
	u, err := url.Parse(db.MongoDBURI())
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("FerretDB's URI: %w", err)
	}
	s.direct = u.Host
	p, err := NewProxy(s.direct)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.proxy = p
	return s, nil
}

// URI is the mongodb:// URI of the proxy: what clients under test should use.
func (s *Server) URI() string { return "mongodb://" + s.proxy.Addr() + "/" }

// DirectURI is FerretDB's own URI, bypassing the proxy (for reading back what is stored
// while the proxy is down, and for benchmarks without the proxy's hop).
func (s *Server) DirectURI() string { return "mongodb://" + s.direct + "/" }

// Proxy is the fault-injecting proxy in front of FerretDB.
func (s *Server) Proxy() *Proxy { return s.proxy }

// Close stops the proxy and FerretDB and waits until FerretDB has closed its listener,
// connections and SQLite databases.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		if s.proxy != nil {
			s.proxy.Close()
		}
		s.cancel()
		<-s.done
	})
}

// Logs is what FerretDB logged (warnings and errors).
func (s *Server) Logs() string { return s.logs.String() }

// syncBuffer is a bytes.Buffer safe for FerretDB's concurrent logging.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
