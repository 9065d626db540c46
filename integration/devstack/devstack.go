// Package devstack starts the local stores Waybill is tried and tested against in one
// process, and a control endpoint to take each of them down and up again:
//
//   - mongodb: FerretDB v1.24.2 (a real MongoDB wire-protocol database) with its SQLite
//     backend in Dir/mongodb, behind the fault-injecting proxy of
//     integration/testserver/mongo;
//   - cassandra: the CQL native protocol v4 TEST server (integration/testserver/cql);
//   - elasticsearch: the Elasticsearch REST TEST server (integration/testserver/elastic);
//   - webhdfs: the WebHDFS TEST server (integration/testserver/webhdfs).
//
// The last three are protocol-level test servers written for this project, not the
// real systems: they keep data in memory and implement the parts of each protocol the
// adapters and their independent fidelity clients use.
//
// # stack.json
//
// Once every store listens, Start writes Dir/stack.json (atomically: temporary file,
// fsync, rename):
//
//	{"mongodb":"mongodb://127.0.0.1:40001/","cassandra":"127.0.0.1:40002",
//	 "elasticsearch":"http://127.0.0.1:40003","webhdfs":"http://127.0.0.1:40004",
//	 "control":"http://127.0.0.1:40005"}
//
// and Close removes it, so a stack.json that exists names a running stack.
//
// # Control endpoint
//
//	POST {control}/{store}/down   store unreachable: listeners closed, connections reset
//	POST {control}/{store}/up     listening again on the same address
//	GET  {control}/status         {"mongodb":"up","cassandra":"down",...}
//
// {store} is mongodb, cassandra, elasticsearch or webhdfs. Answers are JSON: 200 with
// the store's new state, 404 for an unknown store or path, 405 for a wrong method, 409
// when the store already is in that state.
package devstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/waybill-data/waybill/integration/testserver/cql"
	"github.com/waybill-data/waybill/integration/testserver/elastic"
	mongotest "github.com/waybill-data/waybill/integration/testserver/mongo"
	"github.com/waybill-data/waybill/integration/testserver/webhdfs"
)

// Addresses is the content of stack.json.
type Addresses struct {
	MongoDB       string `json:"mongodb"`       // mongodb:// URI
	Cassandra     string `json:"cassandra"`     // host:port
	Elasticsearch string `json:"elasticsearch"` // http:// base URL
	WebHDFS       string `json:"webhdfs"`       // http:// NameNode base URL
	Control       string `json:"control"`       // http:// base URL of the control endpoint
}

// FileName is the name of the addresses file in the stack's directory.
const FileName = "stack.json"

// Options configures Start.
type Options struct {
	// Dir holds stack.json and FerretDB's databases. Required; created if missing.
	// Every server listens on a free 127.0.0.1 port.
	Dir string
}

// store is one running server as the control endpoint drives it.
type store interface {
	Down() error
	Up() error
	Close() error
}

// Stack is a running set of local stores.
type Stack struct {
	addrs   Addresses
	dir     string
	control *http.Server
	done    chan struct{}

	mu     sync.Mutex
	stores map[string]store
	up     map[string]bool
	closed bool
}

// Start starts every store and the control endpoint and writes stack.json. On an
// error it stops what it had started.
func Start(opts Options) (st *Stack, err error) {
	if opts.Dir == "" {
		return nil, errors.New("devstack: a directory is required")
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	s := &Stack{dir: opts.Dir, stores: map[string]store{}, up: map[string]bool{}, done: make(chan struct{})}
	defer func() {
		if err != nil {
			s.closeStores()
		}
	}()

	mongoDir := filepath.Join(opts.Dir, "mongodb")
	if err := os.MkdirAll(mongoDir, 0o755); err != nil {
		return nil, fmt.Errorf("devstack: %w", err)
	}
	m, err := mongotest.StartIn(mongoDir)
	if err != nil {
		return nil, fmt.Errorf("devstack: mongodb: %w", err)
	}
	s.add("mongodb", mongoStore{m})
	s.addrs.MongoDB = m.URI()

	c, err := cql.Start(cql.Options{})
	if err != nil {
		return nil, fmt.Errorf("devstack: cassandra: %w", err)
	}
	s.add("cassandra", c)
	s.addrs.Cassandra = c.Addr()

	e, err := elastic.Start()
	if err != nil {
		return nil, fmt.Errorf("devstack: elasticsearch: %w", err)
	}
	s.add("elasticsearch", e)
	s.addrs.Elasticsearch = e.URL()

	h, err := webhdfs.Start(webhdfs.Options{})
	if err != nil {
		return nil, fmt.Errorf("devstack: webhdfs: %w", err)
	}
	s.add("webhdfs", h)
	s.addrs.WebHDFS = h.URL()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("devstack: control endpoint: %w", err)
	}
	s.addrs.Control = "http://" + ln.Addr().String()
	s.control = &http.Server{Handler: http.HandlerFunc(s.serveControl), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.control.Serve(ln)
	}()

	if err := writeFileAtomic(filepath.Join(opts.Dir, FileName), s.addrs); err != nil {
		_ = s.control.Close()
		<-s.done
		return nil, fmt.Errorf("devstack: %w", err)
	}
	return s, nil
}

func (s *Stack) add(name string, st store) {
	s.stores[name] = st
	s.up[name] = true
}

// Addresses returns where each store listens.
func (s *Stack) Addresses() Addresses { return s.addrs }

// Down takes a store down (see the package doc); Up brings it back.
func (s *Stack) Down(name string) error { return s.set(name, false) }

// Up brings a store back on its address.
func (s *Stack) Up(name string) error { return s.set(name, true) }

var (
	errUnknownStore = errors.New("unknown store")
	errSameState    = errors.New("already in that state")
)

func (s *Stack) set(name string, up bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.stores[name]
	if !ok || s.closed {
		return fmt.Errorf("%w %q (have %s)", errUnknownStore, name, strings.Join(s.names(), ", "))
	}
	if s.up[name] == up {
		return fmt.Errorf("%s is %w", name, errSameState)
	}
	var err error
	if up {
		err = st.Up()
	} else {
		err = st.Down()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	s.up[name] = up
	return nil
}

func (s *Stack) names() []string {
	names := make([]string, 0, len(s.stores))
	for n := range s.stores {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Status reports each store as "up" or "down".
func (s *Stack) Status() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for n := range s.stores {
		out[n] = state(s.up[n])
	}
	return out
}

func state(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

func (s *Stack) serveControl(w http.ResponseWriter, r *http.Request) {
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(status int, msg string) { reply(status, map[string]string{"error": msg}) }
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 1 && parts[0] == "status":
		if r.Method != http.MethodGet {
			fail(http.StatusMethodNotAllowed, "use GET /status")
			return
		}
		reply(http.StatusOK, s.Status())
	case len(parts) == 2 && (parts[1] == "down" || parts[1] == "up"):
		if r.Method != http.MethodPost {
			fail(http.StatusMethodNotAllowed, "use POST /"+parts[0]+"/"+parts[1])
			return
		}
		up := parts[1] == "up"
		err := s.set(parts[0], up)
		switch {
		case errors.Is(err, errUnknownStore):
			fail(http.StatusNotFound, err.Error())
		case errors.Is(err, errSameState):
			fail(http.StatusConflict, err.Error())
		case err != nil:
			fail(http.StatusInternalServerError, err.Error())
		default:
			reply(http.StatusOK, map[string]string{"store": parts[0], "state": state(up)})
		}
	default:
		fail(http.StatusNotFound, "no such endpoint: use POST /{store}/down, POST /{store}/up or GET /status")
	}
}

// Close stops the control endpoint and every store and removes stack.json.
func (s *Stack) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := s.control.Close()
	<-s.done
	if cerr := s.closeStores(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if rerr := os.Remove(filepath.Join(s.dir, FileName)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

func (s *Stack) closeStores() error {
	var errs []error
	for _, n := range s.names() {
		if err := s.stores[n].Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// ReadAddresses reads a running stack's stack.json from dir.
func ReadAddresses(dir string) (Addresses, error) {
	var a Addresses
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("%s: %w", filepath.Join(dir, FileName), err)
	}
	return a, nil
}

func writeFileAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// mongoStore adapts the FerretDB test server: down and up act on its proxy.
type mongoStore struct{ s *mongotest.Server }

func (m mongoStore) Down() error  { m.s.Proxy().Down(); return nil }
func (m mongoStore) Up() error    { return m.s.Proxy().Up() }
func (m mongoStore) Close() error { m.s.Close(); return nil }
