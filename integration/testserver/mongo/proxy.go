package mongo

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/waybill-data/waybill/integration/testserver/internal/netfault"
)

// WriteFailure is a write error the proxy answers for one item of a write command, in
// the shape a real server reports per-item failures: an element of writeErrors with
// index, code and errmsg.
type WriteFailure struct {
	Code    int32
	Message string
}

var (
	// PermanentFailure is what a server answers for a document it rejects (BadValue).
	PermanentFailure = WriteFailure{Code: 2, Message: "BadValue: document rejected (injected by the test proxy)"}
	// RetryableFailure is what a server answers for the items of an unordered batch it
	// could not apply because it is shutting down (InterruptedAtShutdown).
	RetryableFailure = WriteFailure{Code: 11600, Message: "InterruptedAtShutdown: interrupted at shutdown (injected by the test proxy)"}
)

// Proxy is a TCP proxy in front of a MongoDB wire protocol server, for fault
// injection: outages (Down/Up), slow requests, reset connections and per-item write
// errors (FailNext).
type Proxy struct {
	target string
	addr   string

	mu     sync.Mutex
	ln     net.Listener // nil while down
	conns  map[*proxyConn]struct{}
	fail   map[string]WriteFailure // item id → failure for its next write
	closed bool

	delay     atomic.Int64 // time.Duration added before forwarding each request
	requestID atomic.Int32 // ids of the replies the proxy makes up itself
	wg        sync.WaitGroup
}

// NewProxy listens on a free 127.0.0.1 port and forwards every connection to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy listen: %w", err)
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), conns: map[*proxyConn]struct{}{}, fail: map[string]WriteFailure{}}
	p.serve(ln)
	return p, nil
}

// Addr is the proxy's host:port; it stays the same across Down and Up.
func (p *Proxy) Addr() string { return p.addr }

func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // the listener was closed by Down or Close
			}
			p.open(c)
		}
	}()
}

// Down closes the listening socket (new connections are refused) and resets every open
// connection, as a crashed server does.
func (p *Proxy) Down() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	p.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	p.ResetConnections()
}

// Up listens again on the same address.
func (p *Proxy) Up() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("proxy is closed")
	}
	if p.ln != nil {
		return nil
	}
	ln, err := netfault.Relisten(p.addr, 2*time.Second) // the port was ours a moment ago
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	p.serve(ln)
	return nil
}

// ResetConnections aborts every open connection with a TCP reset.
func (p *Proxy) ResetConnections() {
	p.mu.Lock()
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.reset()
	}
}

// SetDelay delays every request by d before it is forwarded (0 turns it off).
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// FailNext makes the next write of each item id fail with f instead of reaching the
// server. An item of an insert matches by its _id or _waybill.id; an update statement
// by its filter's _id or the _waybill.id it sets. The other items of the same command
// go to the server, and its reply is merged with the injected writeErrors.
func (p *Proxy) FailNext(ids []string, f WriteFailure) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		p.fail[id] = f
	}
}

// Pending lists the ids armed by FailNext that no write has hit yet.
func (p *Proxy) Pending() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.fail))
	for id := range p.fail {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Close stops listening, resets every connection and waits for the proxy's goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.Down()
	p.wg.Wait()
}

// proxyConn is one client connection and its connection to the server.
type proxyConn struct {
	p              *Proxy
	client, server *net.TCPConn

	writeMu sync.Mutex // replies to the client come from two goroutines
	patchMu sync.Mutex
	patches map[int32]*replyPatch // by the requestID of the rewritten request
}

func (p *Proxy) open(client net.Conn) {
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		abort(client)
		return
	}
	c := &proxyConn{p: p, client: client.(*net.TCPConn), server: server.(*net.TCPConn), patches: map[int32]*replyPatch{}}
	p.mu.Lock()
	if p.ln == nil {
		p.mu.Unlock()
		c.reset()
		return
	}
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	p.wg.Add(2)
	go func() { defer p.wg.Done(); c.requests() }()
	go func() { defer p.wg.Done(); c.replies() }()
}

func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close with RST, not FIN
	}
	_ = c.Close()
}

// reset aborts both connections with a TCP RST (Down, ResetConnections).
func (c *proxyConn) reset() {
	abort(c.client)
	abort(c.server)
	c.forget()
}

// close closes both connections normally, when either side has hung up: FerretDB then
// sees an orderly close, not a reset worth a warning.
func (c *proxyConn) close() {
	_ = c.client.Close()
	_ = c.server.Close()
	c.forget()
}

func (c *proxyConn) forget() {
	c.p.mu.Lock()
	delete(c.p.conns, c)
	c.p.mu.Unlock()
}

func (c *proxyConn) toClient(b []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_, err := c.client.Write(b)
	return err
}

// requests forwards client messages to the server, rewriting the write commands that
// carry items armed by FailNext.
func (c *proxyConn) requests() {
	defer c.close()
	for {
		m, err := readMessage(c.client)
		if err != nil {
			return
		}
		if d := time.Duration(c.p.delay.Load()); d > 0 {
			time.Sleep(d) // the injected slowness itself
		}
		fwd, reply := c.intercept(m)
		if reply != nil {
			if c.toClient(reply.bytes()) != nil {
				return
			}
			continue
		}
		if _, err := c.server.Write(fwd.bytes()); err != nil {
			return
		}
	}
}

// replies forwards server messages to the client, merging injected write errors into
// the replies of rewritten requests.
func (c *proxyConn) replies() {
	defer c.close()
	for {
		m, err := readMessage(c.server)
		if err != nil {
			return
		}
		c.patchMu.Lock()
		patch := c.patches[m.responseTo]
		delete(c.patches, m.responseTo)
		c.patchMu.Unlock()
		if patch != nil && m.opCode == opCodeMsg {
			if body, err := patch.apply(m.body); err == nil {
				m.body = body
			}
		}
		if c.toClient(m.bytes()) != nil {
			return
		}
	}
}

// itemArrays names, per write command, the array or document sequence of its items.
var itemArrays = map[string]string{"insert": "documents", "update": "updates"}

// intercept returns the message to forward, or a reply to send back at once when every
// item of a write command was failed by the proxy.
func (c *proxyConn) intercept(m *message) (forward, reply *message) {
	if m.opCode != opCodeMsg || !c.p.armed() {
		return m, nil
	}
	msg, err := parseOpMsg(m.body)
	if err != nil {
		return m, nil
	}
	field, ok := itemArrays[commandName(msg.command)]
	if !ok {
		return m, nil
	}
	items, put, err := msg.items(field)
	if err != nil {
		return m, nil
	}
	patch := &replyPatch{command: commandName(msg.command)}
	var kept []bson.Raw
	for i, item := range items {
		if f, ok := c.p.take(itemIDs(item)); ok {
			patch.injected = append(patch.injected, injectedError{index: i, failure: f})
			continue
		}
		patch.kept = append(patch.kept, i)
		kept = append(kept, item)
	}
	if len(patch.injected) == 0 {
		return m, nil
	}
	if len(kept) == 0 {
		body, err := patch.apply(nil)
		if err != nil {
			return m, nil
		}
		return nil, &message{requestID: c.p.requestID.Add(1), responseTo: m.requestID, opCode: opCodeMsg, body: body}
	}
	if err := put(kept); err != nil {
		return m, nil
	}
	c.patchMu.Lock()
	c.patches[m.requestID] = patch
	c.patchMu.Unlock()
	return &message{requestID: m.requestID, responseTo: m.responseTo, opCode: opCodeMsg, body: msg.encode()}, nil
}

func (p *Proxy) armed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.fail) > 0
}

// take consumes the failure armed for the first of ids that has one.
func (p *Proxy) take(ids []string) (WriteFailure, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		if f, ok := p.fail[id]; ok {
			delete(p.fail, id)
			return f, true
		}
	}
	return WriteFailure{}, false
}

// itemIDs are the ids FailNext matches an insert document or update statement by.
func itemIDs(item bson.Raw) []string {
	var ids []string
	for _, path := range [][]string{{"_id"}, {"_waybill", "id"}, {"q", "_id"}, {"u", "$set", "_waybill", "id"}, {"u", "_waybill", "id"}} {
		if v, err := item.LookupErr(path...); err == nil {
			if s, ok := v.StringValueOK(); ok {
				ids = append(ids, s)
			}
		}
	}
	return ids
}

// items returns the items of a write command, from its document sequence or its
// command document, and a function that replaces them.
func (m *opMsg) items(field string) ([]bson.Raw, func([]bson.Raw) error, error) {
	for i := range m.sequences {
		if m.sequences[i].identifier == field {
			s := &m.sequences[i]
			return s.docs, func(docs []bson.Raw) error { s.docs = docs; return nil }, nil
		}
	}
	arr, err := m.command.LookupErr(field)
	if err != nil {
		return nil, nil, err
	}
	values, err := arr.Array().Values()
	if err != nil {
		return nil, nil, err
	}
	docs := make([]bson.Raw, 0, len(values))
	for _, v := range values {
		d, ok := v.DocumentOK()
		if !ok {
			return nil, nil, fmt.Errorf("%s holds a non-document", field)
		}
		docs = append(docs, d)
	}
	put := func(kept []bson.Raw) error {
		var cmd bson.D
		if err := bson.Unmarshal(m.command, &cmd); err != nil {
			return err
		}
		for i := range cmd {
			if cmd[i].Key == field {
				a := make(bson.A, len(kept))
				for j, d := range kept {
					a[j] = d
				}
				cmd[i].Value = a
			}
		}
		raw, err := bson.Marshal(cmd)
		m.command = raw
		return err
	}
	return docs, put, nil
}

// replyPatch turns the server's reply to a rewritten write command into the reply to
// the original: item indexes mapped back, injected writeErrors added.
type replyPatch struct {
	command  string
	kept     []int // original index of each item forwarded, in order
	injected []injectedError
}

type injectedError struct {
	index   int
	failure WriteFailure
}

// apply rewrites an OP_MSG reply body; nil makes the reply of a command none of whose
// items reached the server.
func (rp *replyPatch) apply(body []byte) ([]byte, error) {
	reply := bson.D{{Key: "n", Value: int32(0)}}
	if rp.command == "update" {
		reply = append(reply, bson.E{Key: "nModified", Value: int32(0)})
	}
	reply = append(reply, bson.E{Key: "ok", Value: 1.0})
	if body != nil {
		msg, err := parseOpMsg(body)
		if err != nil {
			return nil, err
		}
		reply = nil
		if err := bson.Unmarshal(msg.command, &reply); err != nil {
			return nil, err
		}
	}
	var writeErrors bson.A
	for i := range reply {
		switch reply[i].Key {
		case "writeErrors", "upserted":
			a, ok := reply[i].Value.(bson.A)
			if !ok {
				return nil, fmt.Errorf("%s is %T", reply[i].Key, reply[i].Value)
			}
			for _, e := range a {
				if err := rp.remapIndex(e); err != nil {
					return nil, err
				}
			}
			if reply[i].Key == "writeErrors" {
				writeErrors = a
			}
		}
	}
	for _, inj := range rp.injected {
		writeErrors = append(writeErrors, bson.D{
			{Key: "index", Value: int32(inj.index)},
			{Key: "code", Value: inj.failure.Code},
			{Key: "errmsg", Value: inj.failure.Message},
		})
	}
	sort.SliceStable(writeErrors, func(i, j int) bool { return indexOf(writeErrors[i]) < indexOf(writeErrors[j]) })
	replaced := false
	for i := range reply {
		if reply[i].Key == "writeErrors" {
			reply[i].Value, replaced = writeErrors, true
		}
	}
	if !replaced { // before "ok", where servers put it
		at := len(reply)
		for i := range reply {
			if reply[i].Key == "ok" {
				at = i
			}
		}
		reply = append(reply[:at], append(bson.D{{Key: "writeErrors", Value: writeErrors}}, reply[at:]...)...)
	}
	raw, err := bson.Marshal(reply)
	if err != nil {
		return nil, err
	}
	return (&opMsg{command: raw}).encode(), nil
}

// remapIndex rewrites the "index" of a writeErrors or upserted element from the
// forwarded command's numbering to the original's.
func (rp *replyPatch) remapIndex(e any) error {
	d, ok := e.(bson.D)
	if !ok {
		return fmt.Errorf("element is %T", e)
	}
	for i := range d {
		if d[i].Key != "index" {
			continue
		}
		n, ok := toInt(d[i].Value)
		if !ok || n < 0 || n >= len(rp.kept) {
			return fmt.Errorf("index %v out of range", d[i].Value)
		}
		d[i].Value = int32(rp.kept[n])
	}
	return nil
}

func indexOf(e any) int {
	if d, ok := e.(bson.D); ok {
		for _, el := range d {
			if el.Key == "index" {
				n, _ := toInt(el.Value)
				return n
			}
		}
	}
	return -1
}

func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int32:
		return int(n), true
	case int64:
		return int(n), true
	case float64:
		return int(n), true
	}
	return 0, false
}
