package webhdfs

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/waybill-data/waybill/integration/testserver/internal/netfault"
)

// Prefix is the path prefix of every WebHDFS URL.
const Prefix = "/webhdfs/v1"

// DefaultMaxFileSize bounds what one CREATE or APPEND may upload (the server keeps
// files in memory).
const DefaultMaxFileSize = 512 << 20

// Options configure a server.
type Options struct {
	// NameNodes is how many NameNode listeners share the namespace, as the NameNodes
	// of an HA pair do (default 1); SetStandby makes one answer StandbyException.
	NameNodes int
	// Tokens, when set, turns security on: every request must carry one of these
	// delegation tokens (delegation=...), which maps to the user it acts as. A request
	// without one gets 401, an unknown token 403 InvalidToken. When nil, requests act
	// as their user.name (or dr.who), as on a cluster with simple authentication.
	Tokens map[string]string
	// MaxFileSize bounds an upload (default DefaultMaxFileSize).
	MaxFileSize int64
	// TLS, when set, serves every NameNode and the DataNode over HTTPS only (as a
	// cluster with dfs.http.policy HTTPS_ONLY); redirects then name https:// DataNode URLs.
	TLS *tls.Config
}

// Request is one request the server received, for tests to inspect.
type Request struct {
	Role       string // "namenode" or "datanode"
	NameNode   int    // which NameNode listener (Role "namenode")
	Method     string
	Op         string // upper case, as the server understood it
	Path       string // HDFS path
	Query      url.Values
	User       string // the user.name parameter as sent ("" when absent)
	Delegation string // the delegation parameter as sent
	Status     int    // answered status (0 when the connection was reset)
	Reset      bool   // the connection was closed without an answer
	BodyBytes  int    // request body bytes read
}

// Fault makes matching write operations fail. It is checked where a write takes
// effect: CREATE and APPEND at the DataNode (so DataContains can look at the data),
// MKDIRS, RENAME and DELETE at the NameNode.
type Fault struct {
	Ops          []string // "CREATE", "APPEND", "MKDIRS", "RENAME", "DELETE"; empty: every write
	PathContains string   // the path or RENAME's destination contains it ("": any)
	DataContains []byte   // the uploaded data contains it (nil: any; never matches other ops)
	Exception    string   // the RemoteException to answer with (default IOException)
	Message      string   // its message (default: says it was injected)
	Status       int      // the HTTP status (default: Hadoop's for the exception)
	Reset        bool     // close the connection without an answer instead
	AfterApply   bool     // perform the write first, then fail: the client loses the answer
	Times        int      // writes to fail: 0 means 1, negative means all
}

// Server is the test server: NameNode listeners and one DataNode listener over one
// in-memory namespace. Its methods are safe for concurrent use.
type Server struct {
	opts    Options
	nnAddrs []string
	dnAddr  string

	lifeMu  sync.Mutex // serializes Down/Up/Close
	servers []*http.Server
	down    bool

	mu       sync.Mutex // guards everything below and the namespace
	ns       *namespace
	delay    time.Duration
	failNext []*remoteError
	resets   int
	faults   []*Fault
	standby  []bool
	requests []Request
}

// Start starts a server on free loopback ports.
func Start(opts Options) (*Server, error) {
	if opts.NameNodes <= 0 {
		opts.NameNodes = 1
	}
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = DefaultMaxFileSize
	}
	s := &Server{opts: opts, ns: newNamespace(), standby: make([]bool, opts.NameNodes)}
	var lns []net.Listener
	for i := 0; i <= opts.NameNodes; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return nil, fmt.Errorf("webhdfs test server: listen: %w", err)
		}
		lns = append(lns, ln)
		if i < opts.NameNodes {
			s.nnAddrs = append(s.nnAddrs, ln.Addr().String())
		} else {
			s.dnAddr = ln.Addr().String()
		}
	}
	s.serve(lns)
	return s, nil
}

func (s *Server) serve(lns []net.Listener) {
	s.servers = s.servers[:0]
	for i, ln := range lns {
		h := &handler{s: s, role: "namenode", nn: i}
		if i == len(s.nnAddrs) {
			h = &handler{s: s, role: "datanode"}
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, TLSConfig: s.opts.TLS}
		s.servers = append(s.servers, srv)
		if s.opts.TLS != nil {
			go func() { _ = srv.ServeTLS(ln, "", "") }()
			continue
		}
		go func() { _ = srv.Serve(ln) }()
	}
}

// URL is the first NameNode's base URL, e.g. "http://127.0.0.1:39211" (WebHDFS URLs
// are URL()+Prefix+path; https:// with Options.TLS).
func (s *Server) URL() string { return s.scheme() + "://" + s.nnAddrs[0] }

// NameNodeURL is the base URL of NameNode i.
func (s *Server) NameNodeURL(i int) string { return s.scheme() + "://" + s.nnAddrs[i] }

func (s *Server) scheme() string {
	if s.opts.TLS != nil {
		return "https"
	}
	return "http"
}

// DataNodeAddr is the DataNode listener's host:port.
func (s *Server) DataNodeAddr() string { return s.dnAddr }

func (s *Server) closeAll() error {
	var errs []error
	for _, srv := range s.servers {
		errs = append(errs, srv.Close())
	}
	return errors.Join(errs...)
}

// Close stops the server.
func (s *Server) Close() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.down {
		return nil
	}
	s.down = true
	return s.closeAll()
}

// Down stops every listener and closes every open connection: clients get connection
// refused until Up.
func (s *Server) Down() error { return s.Close() }

// Up listens again on the same addresses after Down, namespace intact. It retries
// binding for a few seconds, in case a port lingers.
func (s *Server) Up() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if !s.down {
		return nil
	}
	addrs := append(append([]string(nil), s.nnAddrs...), s.dnAddr)
	var lns []net.Listener
	deadline := time.Now().Add(5 * time.Second)
	for _, a := range addrs {
		ln, err := netfault.Relisten(a, time.Until(deadline))
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("webhdfs test server: %w", err)
		}
		lns = append(lns, ln)
	}
	s.down = false
	s.serve(lns)
	return nil
}

// SetDelay delays every answer by d (0 to stop).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// FailNext answers the next n requests (to any listener) with status and a
// RemoteException: RetriableException for 429 and 503 ("Server too busy"), and
// java.lang.RuntimeException for other statuses.
func (s *Server) FailNext(n, status int) {
	exc := "RuntimeException"
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		exc = "RetriableException"
	}
	s.FailNextWith(n, status, exc)
}

// FailNextWith answers the next n requests with status and the named exception (one
// of Hadoop's the server knows, e.g. "StandbyException", "SafeModeException").
func (s *Server) FailNextWith(n, status int, exception string) {
	e := remote(exception, "%s injected by the test server", exception).withStatus(status)
	s.mu.Lock()
	for range n {
		s.failNext = append(s.failNext, e)
	}
	s.mu.Unlock()
}

// ResetNext closes the connection of the next n requests without an answer.
func (s *Server) ResetNext(n int) {
	s.mu.Lock()
	s.resets += n
	s.mu.Unlock()
}

// FailWrites adds a write fault. Faults are checked in the order they were added; the
// first that matches a write applies.
func (s *Server) FailWrites(f Fault) {
	if f.Exception == "" {
		f.Exception = "IOException"
	}
	if _, ok := exceptions[f.Exception]; !ok {
		panic("webhdfs test server: unknown exception " + f.Exception)
	}
	if f.Times == 0 {
		f.Times = 1
	}
	s.mu.Lock()
	s.faults = append(s.faults, &f)
	s.mu.Unlock()
}

// ClearFaults removes every fault not yet used up (write faults, FailNext, ResetNext).
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.faults, s.failNext, s.resets = nil, nil, 0
	s.mu.Unlock()
}

// SetStandby makes NameNode i answer every request with 403 StandbyException, as the
// standby of an HA pair does, or become active again.
func (s *Server) SetStandby(i int, standby bool) {
	s.mu.Lock()
	s.standby[i] = standby
	s.mu.Unlock()
}

// Requests returns the requests received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// ClearRequests forgets the requests received so far.
func (s *Server) ClearRequests() {
	s.mu.Lock()
	s.requests = nil
	s.mu.Unlock()
}

// ReadFile returns a file's content, for tests.
func (s *Server) ReadFile(p string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, parts, err := cleanPath(p)
	if err != nil {
		return nil, false
	}
	n := s.ns.lookup(parts)
	if n == nil || n.dir {
		return nil, false
	}
	return bytes.Clone(n.data), true
}

// WriteFile creates or replaces a file (and its parents), for tests to set up a state.
func (s *Server) WriteFile(p string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	clean, parts, rerr := cleanPath(p)
	if rerr == nil {
		rerr = s.ns.create(clean, parts, bytes.Clone(data), true, 0o644, 0, 0, "hdfs", "test")
	}
	if rerr != nil {
		return rerr
	}
	return nil
}

// List returns the names in a directory, sorted (nil when it does not exist).
func (s *Server) List(dir string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, parts, err := cleanPath(dir)
	if err != nil {
		return nil
	}
	n := s.ns.lookup(parts)
	if n == nil || !n.dir {
		return nil
	}
	var out []string
	for _, st := range n.list() {
		out = append(out, st.PathSuffix)
	}
	return out
}

// handler serves one listener.
type handler struct {
	s    *Server
	role string
	nn   int
}

// statusWriter records the status answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// Unwrap lets http.ResponseController (netfault.Reset) reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

// call is one request being served.
type call struct {
	h    *handler
	w    http.ResponseWriter
	r    *http.Request
	rec  *Request
	q    url.Values
	op   string
	path string
	user string
}

func (h *handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	s := h.s
	q := r.URL.Query()
	rec := &Request{Role: h.role, NameNode: h.nn, Method: r.Method, Op: strings.ToUpper(q.Get("op")),
		Query: q, User: q.Get("user.name"), Delegation: q.Get("delegation")}
	w := &statusWriter{ResponseWriter: rw}
	defer func() {
		rec.Status = w.status
		s.mu.Lock()
		s.requests = append(s.requests, *rec)
		s.mu.Unlock()
	}()

	s.mu.Lock()
	delay := s.delay
	reset := false
	var fail *remoteError
	if s.resets > 0 {
		s.resets--
		reset = true
	} else if len(s.failNext) > 0 {
		fail, s.failNext = s.failNext[0], s.failNext[1:]
	}
	standby := h.role == "namenode" && s.standby[h.nn]
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay): // the injected slowness itself
		case <-r.Context().Done():
			return
		}
	}
	if reset {
		rec.Reset = true
		netfault.Reset(w)
		return
	}
	if fail != nil {
		writeRemote(w, fail)
		return
	}
	p, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok || p != "" && p[0] != '/' {
		http.NotFound(w, r)
		return
	}
	if p == "" {
		p = "/"
	}
	rec.Path = p
	c := &call{h: h, w: w, r: r, rec: rec, q: q, op: rec.Op, path: p}
	if standby {
		category := "WRITE"
		if r.Method == http.MethodGet {
			category = "READ"
		}
		writeRemote(w, remote("StandbyException", "Operation category %s is not supported in state standby. Visit https://s.apache.org/sbnn-error", category))
		return
	}
	user, authErr := s.authenticate(q)
	if authErr != nil {
		if authErr.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", "Negotiate")
		}
		writeRemote(w, authErr)
		return
	}
	c.user = user
	if err := c.checkMethod(); err != nil {
		writeRemote(w, err)
		return
	}
	var err *remoteError
	if h.role == "namenode" {
		err = c.nameNode()
	} else {
		err = c.dataNode()
	}
	if err != nil {
		writeRemote(w, err)
	}
}

// authenticate returns the user a request acts as.
func (s *Server) authenticate(q url.Values) (string, *remoteError) {
	name := q.Get("user.name")
	if s.opts.Tokens == nil {
		if name == "" {
			return "dr.who", nil
		}
		return name, nil
	}
	tok := q.Get("delegation")
	if tok == "" {
		return "", remote("SecurityException", "Authentication required").withStatus(http.StatusUnauthorized)
	}
	user, ok := s.opts.Tokens[tok]
	if !ok {
		return "", remote("InvalidToken", "token (HDFS_DELEGATION_TOKEN) can't be found in cache")
	}
	if name != "" && name != user {
		return "", remote("SecurityException", "Usernames not matched: name=%s != expected=%s", name, user)
	}
	return user, nil
}

// methods lists the operations of each HTTP method, as Hadoop's GetOpParam,
// PutOpParam, PostOpParam and DeleteOpParam do (those this server implements).
var methods = map[string][]string{
	http.MethodGet:    {"OPEN", "GETFILESTATUS", "LISTSTATUS", "GETCONTENTSUMMARY", "GETHOMEDIRECTORY"},
	http.MethodPut:    {"CREATE", "MKDIRS", "RENAME"},
	http.MethodPost:   {"APPEND"},
	http.MethodDelete: {"DELETE"},
}

var opParamClass = map[string]string{
	http.MethodGet: "GetOpParam", http.MethodPut: "PutOpParam", http.MethodPost: "PostOpParam", http.MethodDelete: "DeleteOpParam",
}

func (c *call) checkMethod() *remoteError {
	ops, ok := methods[c.r.Method]
	switch {
	case !ok:
		return remote("UnsupportedOperationException", "HTTP method %s is not supported", c.r.Method)
	case c.op == "":
		return remote("UnsupportedOperationException", "NULL is not supported")
	case !slices.Contains(ops, c.op):
		return invalidParam("op", c.q.Get("op"), "No enum constant org.apache.hadoop.hdfs.web.resources."+opParamClass[c.r.Method]+".Op.%s")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// takeFault returns the first write fault matching op on path (or dst) with data, and
// uses it up once. s.mu must be held.
func (s *Server) takeFault(op, path, dst string, data []byte, isData bool) *Fault {
	for i, f := range s.faults {
		if len(f.Ops) > 0 && !slices.Contains(f.Ops, op) {
			continue
		}
		if f.PathContains != "" && !strings.Contains(path, f.PathContains) && (dst == "" || !strings.Contains(dst, f.PathContains)) {
			continue
		}
		if f.DataContains != nil && (!isData || !bytes.Contains(data, f.DataContains)) {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
		}
		return f
	}
	return nil
}

// injected answers a matched fault; apply performs the write (for AfterApply).
func (c *call) injected(f *Fault, apply func() *remoteError) bool {
	if f == nil {
		return false
	}
	if f.AfterApply {
		if err := apply(); err != nil {
			writeRemote(c.w, err)
			return true
		}
	}
	if f.Reset {
		c.rec.Reset = true
		netfault.Reset(c.w)
		return true
	}
	msg := f.Message
	if msg == "" {
		msg = fmt.Sprintf("%s of %s failed (injected by the test server)", c.op, c.path)
	}
	e := remote(f.Exception, "%s", msg)
	if f.Status != 0 {
		e = e.withStatus(f.Status)
	}
	writeRemote(c.w, e)
	return true
}
