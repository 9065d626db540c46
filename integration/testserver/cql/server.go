package cql

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/datastax/go-cassandra-native-protocol/frame"
	"github.com/datastax/go-cassandra-native-protocol/message"
	"github.com/datastax/go-cassandra-native-protocol/primitive"
)

// Fault is an error the server answers a request with instead of executing it.
type Fault int

const (
	Unavailable  Fault = iota + 1 // UNAVAILABLE: not enough replicas alive for the consistency level
	WriteTimeout                  // WRITE_TIMEOUT: replicas did not acknowledge in time
	ReadTimeout                   // READ_TIMEOUT
	Overloaded                    // OVERLOADED: the coordinator is overloaded
	Invalid                       // INVALID: the request is rejected (a permanent failure)
	Reset                         // the connection is closed without an answer
)

func (f Fault) String() string {
	switch f {
	case Unavailable:
		return "Unavailable"
	case WriteTimeout:
		return "WriteTimeout"
	case ReadTimeout:
		return "ReadTimeout"
	case Overloaded:
		return "Overloaded"
	case Invalid:
		return "Invalid"
	case Reset:
		return "Reset"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// Request is what the server recorded of one QUERY, PREPARE, EXECUTE or BATCH.
type Request struct {
	Op          string // "QUERY", "PREPARE", "EXECUTE", "BATCH"
	Query       string // the statement (a batch's first statement)
	Consistency primitive.ConsistencyLevel
	BatchType   primitive.BatchType // for BATCH
	Statements  int                 // statements in a BATCH, 1 otherwise
	Prepared    bool                // EXECUTE, or a BATCH whose statements are all prepared ids
	System      bool                // reads a system keyspace (drivers' own queries)
}

type matchFault struct {
	needle string
	fault  Fault
	left   int // requests still to fail; negative: every one until ClearFaults
}

// Server is a protocol-level TEST server, not Cassandra: it speaks CQL native
// protocol v4 over TCP and keeps its tables in memory. See the package doc.
type Server struct {
	addr  string
	codec frame.RawCodec
	eng   *engine

	mu        sync.Mutex
	ln        net.Listener
	conns     map[net.Conn]bool
	delay     time.Duration
	failN     int
	failNext  Fault
	matches   []matchFault
	requests  []Request
	user      string
	password  string
	tls       *tls.Config
	closed    bool
	acceptors sync.WaitGroup
}

// Options configures Start.
type Options struct {
	// Addr to listen on; default "127.0.0.1:0".
	Addr string
	// DataCenter the node reports in system.local; default "datacenter1".
	DataCenter string
	// Username and Password, when set, require PasswordAuthenticator login.
	Username, Password string
	// TLS, when set, serves the native protocol over TLS only (as Cassandra's
	// client_encryption_options with enabled: true, optional: false).
	TLS *tls.Config
}

// Start listens and serves until Close.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.DataCenter == "" {
		opts.DataCenter = "datacenter1"
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("cql test server: %w", err)
	}
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	s := &Server{
		addr: ln.Addr().String(), codec: frame.NewRawCodec(),
		eng:   newEngine(localInfo{host: host, dc: opts.DataCenter}),
		conns: map[net.Conn]bool{}, user: opts.Username, password: opts.Password, tls: opts.TLS,
	}
	s.serve(ln)
	return s, nil
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return s.addr }

// Host and Port split Addr.
func (s *Server) Host() string { h, _, _ := net.SplitHostPort(s.addr); return h }
func (s *Server) Port() int {
	_, p, _ := net.SplitHostPort(s.addr)
	var n int
	fmt.Sscan(p, &n)
	return n
}

func (s *Server) serve(ln net.Listener) {
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.acceptors.Add(1)
	go func() {
		defer s.acceptors.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.ln != ln {
				s.mu.Unlock()
				c.Close()
				continue
			}
			s.conns[c] = true
			s.mu.Unlock()
			go s.handle(c)
		}
	}()
}

// Down closes the listener and every connection: clients see refused connections
// until Up.
func (s *Server) Down() error {
	s.mu.Lock()
	ln := s.ln
	s.ln = nil
	conns := s.conns
	s.conns = map[net.Conn]bool{}
	s.mu.Unlock()
	if ln == nil {
		return errors.New("cql test server: already down")
	}
	err := ln.Close()
	for c := range conns {
		c.Close()
	}
	s.acceptors.Wait()
	return err
}

// Up listens again on the same address.
func (s *Server) Up() error {
	s.mu.Lock()
	up := s.ln != nil
	s.mu.Unlock()
	if up {
		return errors.New("cql test server: already up")
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("cql test server: listening again on %s: %w", s.addr, err)
	}
	s.serve(ln)
	return nil
}

// Close stops the server.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	down := s.ln != nil
	s.mu.Unlock()
	if down {
		return s.Down()
	}
	return nil
}

// SetDelay delays every answer to a user request (not the drivers' system queries).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// FailNext makes the next n user requests (QUERY, EXECUTE or BATCH not on a system
// keyspace) fail with f.
func (s *Server) FailNext(n int, f Fault) {
	s.mu.Lock()
	s.failN, s.failNext = n, f
	s.mu.Unlock()
}

// FailMatching makes the next user request whose statement text or bound values
// contain needle fail with f (once). A batch fails as a whole when any of its
// statements matches, as Cassandra fails a batch.
func (s *Server) FailMatching(needle string, f Fault) { s.FailMatchingN(needle, f, 1) }

// FailMatchingN is FailMatching for the next n matching requests; with n < 0 every
// matching request fails until ClearFaults, as a value Cassandra refuses is refused
// every time it is sent.
func (s *Server) FailMatchingN(needle string, f Fault, n int) {
	if n == 0 {
		return
	}
	s.mu.Lock()
	s.matches = append(s.matches, matchFault{needle, f, n})
	s.mu.Unlock()
}

// ClearFaults disarms every fault FailNext and FailMatching armed.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	s.failN, s.matches = 0, nil
	s.mu.Unlock()
}

// PendingMatches returns the needles of FailMatching faults that have requests left
// to fail (those armed with n < 0 included).
func (s *Server) PendingMatches() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.matches {
		out = append(out, m.needle)
	}
	return out
}

// Requests returns what the server recorded of every QUERY, PREPARE, EXECUTE and BATCH
// so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Consistencies returns the consistency level of every user QUERY, EXECUTE and BATCH,
// in order (PREPARE carries none).
func (s *Server) Consistencies() []primitive.ConsistencyLevel {
	var out []primitive.ConsistencyLevel
	for _, r := range s.Requests() {
		if !r.System && r.Op != "PREPARE" {
			out = append(out, r.Consistency)
		}
	}
	return out
}

// conn is one client connection.
type conn struct {
	s        *Server
	c        net.Conn
	wmu      sync.Mutex
	ksMu     sync.Mutex
	keyspace string
	authed   bool
}

func (s *Server) handle(c net.Conn) {
	cn := &conn{s: s, c: c, authed: s.user == ""}
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	for {
		raw, err := s.codec.DecodeRawFrame(c)
		if err != nil {
			var pv *frame.ProtocolVersionErr
			if errors.As(err, &pv) {
				cn.send(primitive.ProtocolVersion4, 0, &message.ProtocolError{ErrorMessage: fmt.Sprintf("Invalid or unsupported protocol version (%d); supported versions are (3/v3, 4/v4)", pv.Version)})
			}
			return
		}
		if raw.Header.Version != primitive.ProtocolVersion4 {
			cn.send(primitive.ProtocolVersion4, raw.Header.StreamId, &message.ProtocolError{ErrorMessage: fmt.Sprintf("Invalid or unsupported protocol version (%d); supported versions are (3/v3, 4/v4)", raw.Header.Version)})
			continue
		}
		f, err := s.codec.ConvertFromRawFrame(raw)
		if err != nil {
			cn.send(raw.Header.Version, raw.Header.StreamId, &message.ProtocolError{ErrorMessage: err.Error()})
			continue
		}
		// Requests run concurrently; each answer carries its stream id.
		go cn.request(f)
	}
}

func (cn *conn) send(v primitive.ProtocolVersion, stream int16, msg message.Message) {
	f := frame.NewFrame(v, stream, msg)
	var buf bytes.Buffer
	if err := frame.NewCodec().EncodeFrame(f, &buf); err != nil {
		// An answer the codec cannot encode is a bug of this server: say so to the client.
		buf.Reset()
		_ = frame.NewCodec().EncodeFrame(frame.NewFrame(v, stream, &message.ServerError{ErrorMessage: "test server: encoding the answer: " + err.Error()}), &buf)
	}
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	_, _ = cn.c.Write(buf.Bytes())
}

func (cn *conn) request(f *frame.Frame) {
	stream := f.Header.StreamId
	reply := func(m message.Message) { cn.send(f.Header.Version, stream, m) }
	switch m := f.Body.Message.(type) {
	case *message.Options:
		reply(&message.Supported{Options: map[string][]string{"CQL_VERSION": {"3.4.4"}, "COMPRESSION": {}, "PROTOCOL_VERSIONS": {"3/v3", "4/v4"}}})
	case *message.Startup:
		if c, ok := m.Options["COMPRESSION"]; ok && c != "" {
			reply(&message.ProtocolError{ErrorMessage: "Unknown compression algorithm: " + c})
			return
		}
		if cn.s.user != "" {
			reply(&message.Authenticate{Authenticator: "org.apache.cassandra.auth.PasswordAuthenticator"})
			return
		}
		reply(&message.Ready{})
	case *message.AuthResponse:
		parts := bytes.Split(m.Token, []byte{0})
		if len(parts) == 3 && string(parts[1]) == cn.s.user && string(parts[2]) == cn.s.password {
			cn.authed = true
			reply(&message.AuthSuccess{})
			return
		}
		reply(&message.AuthenticationError{ErrorMessage: "Provided username and/or password are incorrect"})
	case *message.Register:
		reply(&message.Ready{})
	case *message.Query, *message.Prepare, *message.Execute, *message.Batch:
		if !cn.authed {
			reply(&message.Unauthorized{ErrorMessage: "You have not logged in"})
			return
		}
		if !cn.s.intercept(f, reply, cn) {
			reply(cn.execute(f.Body.Message))
		}
	default:
		reply(&message.ProtocolError{ErrorMessage: fmt.Sprintf("unexpected message %s", f.Body.Message)})
	}
}

// intercept records the request and applies an injected fault or delay; it reports
// whether it answered (or dropped the connection).
func (s *Server) intercept(f *frame.Frame, reply func(message.Message), cn *conn) bool {
	req, texts := s.describe(f.Body.Message)
	s.mu.Lock()
	s.requests = append(s.requests, req)
	if req.System || req.Op == "PREPARE" {
		s.mu.Unlock()
		return false
	}
	delay := s.delay
	var fault Fault
	if s.failN > 0 {
		s.failN--
		fault = s.failNext
	} else {
		for i, m := range s.matches {
			if containsAny(texts, m.needle) {
				fault = m.fault
				if m.left > 0 {
					if s.matches[i].left--; s.matches[i].left == 0 {
						s.matches = append(s.matches[:i], s.matches[i+1:]...)
					}
				}
				break
			}
		}
	}
	s.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay) // the injected slowness itself
	}
	if fault == 0 {
		return false
	}
	write := primitive.WriteTypeSimple
	if req.Op == "BATCH" {
		write = primitive.WriteTypeUnloggedBatch
		if req.BatchType == primitive.BatchTypeLogged {
			write = primitive.WriteTypeBatch
		}
	}
	switch fault {
	case Unavailable:
		reply(&message.Unavailable{ErrorMessage: "Cannot achieve consistency level " + req.Consistency.String() + " (injected)", Consistency: req.Consistency, Required: 2, Alive: 1})
	case WriteTimeout:
		reply(&message.WriteTimeout{ErrorMessage: "Operation timed out - received only 0 responses. (injected)", Consistency: req.Consistency, Received: 0, BlockFor: 1, WriteType: write})
	case ReadTimeout:
		reply(&message.ReadTimeout{ErrorMessage: "Operation timed out - received only 0 responses. (injected)", Consistency: req.Consistency, Received: 0, BlockFor: 1})
	case Overloaded:
		reply(&message.Overloaded{ErrorMessage: "Server is in overloaded state. Cannot accept more requests at this point (injected)"})
	case Invalid:
		reply(&message.Invalid{ErrorMessage: "injected invalid request"})
	case Reset:
		if tc, ok := cn.c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // an RST, not a FIN
		}
		cn.c.Close()
	}
	return true
}

func containsAny(texts [][]byte, needle string) bool {
	for _, t := range texts {
		if bytes.Contains(t, []byte(needle)) {
			return true
		}
	}
	return false
}

// describe summarizes a request and collects its statement texts and bound values.
func (s *Server) describe(m message.Message) (Request, [][]byte) {
	var texts [][]byte
	values := func(vs []*primitive.Value) {
		for _, v := range vs {
			if v != nil {
				texts = append(texts, v.Contents)
			}
		}
	}
	var req Request
	switch m := m.(type) {
	case *message.Query:
		req = Request{Op: "QUERY", Query: m.Query, Statements: 1}
		texts = append(texts, []byte(m.Query))
		if m.Options != nil {
			req.Consistency = m.Options.Consistency
			values(m.Options.PositionalValues)
		}
	case *message.Prepare:
		req = Request{Op: "PREPARE", Query: m.Query}
	case *message.Execute:
		req = Request{Op: "EXECUTE", Statements: 1, Prepared: true}
		s.eng.mu.Lock()
		if p := s.eng.prepared[string(m.QueryId)]; p != nil {
			req.Query = p.query
			texts = append(texts, []byte(p.query))
		}
		s.eng.mu.Unlock()
		if m.Options != nil {
			req.Consistency = m.Options.Consistency
			values(m.Options.PositionalValues)
		}
	case *message.Batch:
		req = Request{Op: "BATCH", Consistency: m.Consistency, BatchType: m.Type, Statements: len(m.Children), Prepared: true}
		for i, c := range m.Children {
			req.Prepared = req.Prepared && c.Id != nil
			q := c.Query
			if c.Id != nil {
				s.eng.mu.Lock()
				if p := s.eng.prepared[string(c.Id)]; p != nil {
					q = p.query
				}
				s.eng.mu.Unlock()
			}
			if i == 0 {
				req.Query = q
			}
			texts = append(texts, []byte(q))
			values(c.Values)
		}
	}
	req.System = isSystemQuery(req.Query)
	return req, texts
}

func isSystemQuery(q string) bool {
	l := strings.ToLower(q)
	return strings.Contains(l, " system.") || strings.Contains(l, " system_schema.") || strings.Contains(l, "system_virtual_schema") ||
		strings.HasPrefix(strings.TrimSpace(l), "use ")
}

// execute runs one request against the engine.
func (cn *conn) execute(m message.Message) message.Message {
	e := cn.s.eng
	cn.ksMu.Lock()
	ks := cn.keyspace
	cn.ksMu.Unlock()
	now := time.Now().UnixMicro()
	e.mu.Lock()
	defer e.mu.Unlock()
	var out message.Message
	var merr message.Error
	switch m := m.(type) {
	case *message.Query:
		st, _, err := parse(m.Query)
		if err != nil {
			return syntaxError(err)
		}
		out, merr = e.run(cn, ks, st, boundOf(m.Options, now))
		out = page(out, m.Options)
	case *message.Prepare:
		p, merr := e.prepare(ks, m.Query)
		if merr != nil {
			return merr
		}
		return &message.PreparedResult{PreparedQueryId: p.id, VariablesMetadata: p.vars, ResultMetadata: p.result}
	case *message.Execute:
		p := e.prepared[string(m.QueryId)]
		if p == nil {
			return &message.Unprepared{ErrorMessage: fmt.Sprintf("Prepared query with ID %x not found", m.QueryId), Id: m.QueryId}
		}
		b := boundOf(m.Options, now)
		if n := len(p.vars.Columns); len(b.values) != n {
			return invalid("There were %d markers(?) in CQL but %d bound variables", n, len(b.values))
		}
		out, merr = e.run(cn, p.ks, p.stmt, b)
		if m.Options != nil && m.Options.SkipMetadata {
			if r, ok := out.(*message.RowsResult); ok {
				r.Metadata.Columns = nil
			}
		}
		out = page(out, m.Options)
	case *message.Batch:
		out, merr = e.batch(cn, ks, m, now)
	}
	if merr != nil {
		return merr
	}
	return out
}

func boundOf(o *message.QueryOptions, now int64) *bound {
	b := &bound{ts: now}
	if o != nil {
		b.values = o.PositionalValues
		if o.DefaultTimestamp != nil {
			b.ts = *o.DefaultTimestamp
		}
	}
	return b
}

// batch applies every statement of a batch, or none: statements are checked against
// a dry run first, as Cassandra validates a whole batch before applying it.
func (e *engine) batch(cn *conn, ks string, m *message.Batch, now int64) (message.Message, message.Error) {
	type item struct {
		st any
		ks string
		b  *bound
	}
	var items []item
	ts := now
	if m.DefaultTimestamp != nil {
		ts = *m.DefaultTimestamp
	}
	for i, c := range m.Children {
		it := item{ks: ks, b: &bound{values: c.Values, ts: ts}}
		if c.Id != nil {
			p := e.prepared[string(c.Id)]
			if p == nil {
				return nil, &message.Unprepared{ErrorMessage: fmt.Sprintf("Prepared query with ID %x not found", c.Id), Id: c.Id}
			}
			it.st, it.ks = p.stmt, p.ks
		} else {
			st, _, err := parse(c.Query)
			if err != nil {
				return nil, syntaxError(err)
			}
			it.st = st
		}
		ins, ok := it.st.(*insertStmt)
		if !ok {
			return nil, invalid("Invalid statement in batch: only UPDATE, INSERT and DELETE statements are allowed (statement %d)", i)
		}
		if ins.ifNotExists {
			return nil, invalid("this test server does not run conditional statements in batches")
		}
		items = append(items, it)
	}
	// Dry run on a scratch copy is costly; instead validate each statement's values
	// before applying any.
	for _, it := range items {
		if merr := e.checkInsert(it.ks, it.st.(*insertStmt), it.b); merr != nil {
			return nil, merr
		}
	}
	for _, it := range items {
		if _, merr := e.insert(it.ks, it.st.(*insertStmt), it.b); merr != nil {
			return nil, merr
		}
	}
	return &message.VoidResult{}, nil
}

// checkInsert validates an INSERT's table, columns and values without writing.
func (e *engine) checkInsert(ks string, st *insertStmt, b *bound) message.Error {
	t, merr := e.table(ks, st.table)
	if merr != nil {
		return merr
	}
	for i, name := range st.cols {
		c := t.byName[name]
		if c == nil {
			return invalid("Undefined column name %s in table %s.%s", name, t.ks, t.name)
		}
		v, unset, merr := b.value(c.typ, st.vals[i], c.name)
		if merr != nil {
			return merr
		}
		if c.kind != kindRegular && (v == nil || unset) {
			return invalid("Invalid null value in condition for column %s", c.name)
		}
	}
	return nil
}

func (e *engine) run(cn *conn, ks string, st any, b *bound) (message.Message, message.Error) {
	switch s := st.(type) {
	case *useStmt:
		if e.keyspaces[s.ks] == nil {
			return nil, invalid("Keyspace '%s' does not exist", s.ks)
		}
		cn.ksMu.Lock()
		cn.keyspace = s.ks
		cn.ksMu.Unlock()
		return &message.SetKeyspaceResult{Keyspace: s.ks}, nil
	case *createKeyspaceStmt:
		return e.createKeyspace(s)
	case *createTypeStmt:
		return e.createType(ks, s)
	case *createTableStmt:
		return e.createTable(ks, s)
	case *alterStmt:
		return e.alter(ks, s)
	case *dropStmt:
		return e.drop(ks, s)
	case *truncateStmt:
		return e.truncate(ks, s)
	case *insertStmt:
		return e.insert(ks, s, b)
	case *deleteStmt:
		return e.deletePartition(ks, s, b)
	case *selectStmt:
		_, meta, rows, merr := e.selectRows(ks, s, b)
		if merr != nil {
			return nil, merr
		}
		return &message.RowsResult{Metadata: &message.RowsMetadata{ColumnCount: int32(len(meta)), Columns: meta}, Data: rows}, nil
	}
	return nil, invalid("unsupported statement %T", st)
}

// page cuts a rows result to the requested page; the paging state is the offset.
func page(out message.Message, o *message.QueryOptions) message.Message {
	r, ok := out.(*message.RowsResult)
	if !ok || o == nil {
		return out
	}
	start := 0
	if len(o.PagingState) == 4 {
		start = int(uint32(o.PagingState[0])<<24 | uint32(o.PagingState[1])<<16 | uint32(o.PagingState[2])<<8 | uint32(o.PagingState[3]))
	}
	if start > len(r.Data) {
		start = len(r.Data)
	}
	r.Data = r.Data[start:]
	if o.PageSize > 0 && len(r.Data) > int(o.PageSize) {
		r.Data = r.Data[:o.PageSize]
		next := start + int(o.PageSize)
		r.Metadata.PagingState = []byte{byte(next >> 24), byte(next >> 16), byte(next >> 8), byte(next)}
	}
	return r
}

var _ = io.EOF
