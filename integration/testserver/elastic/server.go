package elastic

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/waybill-data/waybill/integration/testserver/internal/netfault"
)

// Version is the Elasticsearch version the server reports.
const Version = "8.19.7"

// DefaultMaxContentLength is ES's default http.max_content_length.
const DefaultMaxContentLength = 100 << 20

// Server is the test server. Its methods are safe for concurrent use.
type Server struct {
	// MaxContentLength is the largest request body accepted (413 above it). Set it
	// before the first request; Start sets the default when it is 0.
	MaxContentLength int64

	addr string
	tls  *tls.Config // StartTLS: HTTPS only

	lifeMu sync.Mutex // serializes Down/Up/Close
	http   *http.Server
	down   bool

	mu       sync.Mutex // guards the fields below and all index data
	indices  map[string]*index
	latency  time.Duration
	failReqs []int          // statuses of the next failed requests, in order
	resets   int            // next requests to reset
	failIDs  map[string]int // document id → status of its next write
	uuidSeq  int
}

// Start starts a server on a free loopback port.
func Start() (*Server, error) { return StartTLS(nil) }

// StartTLS starts a server that speaks HTTPS only with cfg (plain HTTP when nil), as
// a cluster with xpack.security.http.ssl enabled.
func StartTLS(cfg *tls.Config) (*Server, error) {
	s := &Server{indices: map[string]*index{}, failIDs: map[string]int{}, MaxContentLength: DefaultMaxContentLength, tls: cfg}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("elastic test server: listen: %w", err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	return s, nil
}

// URL is the server's base URL, e.g. "http://127.0.0.1:39211" ("https://" with TLS).
func (s *Server) URL() string {
	if s.tls != nil {
		return "https://" + s.addr
	}
	return "http://" + s.addr
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

func (s *Server) serve(ln net.Listener) {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, TLSConfig: s.tls}
	s.http = srv
	if s.tls != nil {
		go func() { _ = srv.ServeTLS(ln, "", "") }()
		return
	}
	go func() { _ = srv.Serve(ln) }()
}

// Close stops the server.
func (s *Server) Close() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	s.down = true
	return s.http.Close()
}

// Down stops listening and closes every open connection: clients get connection
// refused until Up.
func (s *Server) Down() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.down {
		return nil
	}
	s.down = true
	return s.http.Close()
}

// Up listens again on the same address after Down. It retries binding for a few
// seconds, in case the port lingers.
func (s *Server) Up() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if !s.down {
		return nil
	}
	ln, err := netfault.Relisten(s.addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("elastic test server: %w", err)
	}
	s.down = false
	s.serve(ln)
	return nil
}

// SetLatency delays every response by d (0 to stop).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
}

// FailRequests answers the next n requests (GET / excepted) with status: 429
// (es_rejected_execution_exception) or any 5xx (503: cluster_block_exception).
func (s *Server) FailRequests(n, status int) {
	s.mu.Lock()
	for i := 0; i < n; i++ {
		s.failReqs = append(s.failReqs, status)
	}
	s.mu.Unlock()
}

// ResetRequests closes the connection of the next n requests (GET / excepted)
// without answering.
func (s *Server) ResetRequests(n int) {
	s.mu.Lock()
	s.resets += n
	s.mu.Unlock()
}

// FailItems makes the next write (index, create, update, delete; single or in a bulk)
// of each document id fail on its own with status: 429 es_rejected_execution_exception
// or 400 mapper_parsing_exception.
func (s *Server) FailItems(status int, ids ...string) error {
	if status != http.StatusTooManyRequests && status != http.StatusBadRequest {
		return fmt.Errorf("elastic test server: FailItems supports 429 and 400, not %d", status)
	}
	s.mu.Lock()
	for _, id := range ids {
		s.failIDs[id] = status
	}
	s.mu.Unlock()
	return nil
}

// takeItemFault returns the injected status for a write of id (0: none), once.
// s.mu must be held.
func (s *Server) takeItemFault(id string) int {
	st, ok := s.failIDs[id]
	if ok {
		delete(s.failIDs, id)
	}
	return st
}

// itemFaultError is the error object of an injected per-item failure.
func itemFaultError(status int, idx, id string) *esError {
	if status == http.StatusTooManyRequests {
		return &esError{Status: status, Type: "es_rejected_execution_exception",
			Reason: fmt.Sprintf("rejected execution of primary operation [shard_detail=[%s][0][P], shard_operation_bytes=1024, max_operation_bytes=0] (injected by the test server)", idx),
			Index:  idx}
	}
	return &esError{Status: status, Type: "mapper_parsing_exception",
		Reason: fmt.Sprintf("failed to parse field [injected] of type [long] in document with id '%s'. Preview of field's value: 'injected by the test server'", id),
		Index:  idx}
}

// ServeHTTP handles one request: headers every answer carries, faults, size limit,
// then the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	productCheck := r.Method == http.MethodGet && r.URL.Path == "/"
	s.mu.Lock()
	latency := s.latency
	var failStatus int
	reset := false
	if !productCheck {
		if s.resets > 0 {
			s.resets--
			reset = true
		} else if len(s.failReqs) > 0 {
			failStatus = s.failReqs[0]
			s.failReqs = s.failReqs[1:]
		}
	}
	s.mu.Unlock()
	if latency > 0 {
		select {
		case <-time.After(latency): // the injected slowness itself
		case <-r.Context().Done():
			return
		}
	}
	if reset {
		netfault.Reset(w)
		return
	}
	if failStatus != 0 {
		writeError(w, r, requestFaultError(failStatus))
		return
	}
	if r.ContentLength > s.MaxContentLength {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, s.MaxContentLength+1))
		if err != nil {
			return
		}
		if int64(len(b)) > s.MaxContentLength {
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		body = b
	}
	status, resp := s.route(r, body)
	writeJSON(w, r, status, resp)
}

func requestFaultError(status int) *esError {
	if status == http.StatusTooManyRequests {
		return &esError{Status: status, Type: "es_rejected_execution_exception",
			Reason: "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1024, max_coordinating_and_primary_bytes=0] (injected by the test server)"}
	}
	return &esError{Status: status, Type: "cluster_block_exception",
		Reason: "blocked by: [SERVICE_UNAVAILABLE/2/no master]; (injected by the test server)"}
}

// route dispatches to the API handlers. It returns the status and the JSON body (nil
// for none).
func (s *Server) route(r *http.Request, body []byte) (int, any) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) == 1 && parts[0] == "" {
		parts = nil
	}
	q := r.URL.Query()
	m := r.Method
	switch {
	case len(parts) == 0 && (m == http.MethodGet || m == http.MethodHead):
		return s.info()
	case len(parts) == 1 && parts[0] == "_bulk" && (m == http.MethodPost || m == http.MethodPut):
		return s.bulk("", q, body)
	case len(parts) == 1 && parts[0] == "_mget" && (m == http.MethodPost || m == http.MethodGet):
		return s.mget("", body)
	case len(parts) == 1 && parts[0] == "_refresh" && (m == http.MethodPost || m == http.MethodGet):
		return s.refresh("_all")
	case len(parts) == 1 && (parts[0] == "_search" || parts[0] == "_count"):
		return s.search("_all", q, body, parts[0] == "_count")
	case len(parts) == 1 && parts[0] == "_mapping" && m == http.MethodGet:
		return s.getMapping("_all")
	case len(parts) == 1 && strings.HasPrefix(parts[0], "_"):
		return errResp(badRequest("invalid_index_name_exception", fmt.Sprintf("Invalid index name [%s], must not start with '_', '-', or '+'", parts[0])))
	case len(parts) == 1:
		switch m {
		case http.MethodPut:
			return s.createIndex(parts[0], body)
		case http.MethodHead:
			return s.indexExists(parts[0])
		case http.MethodGet:
			return s.getIndex(parts[0])
		case http.MethodDelete:
			return s.deleteIndex(parts[0])
		}
	case len(parts) == 2:
		idx, op := parts[0], parts[1]
		switch {
		case op == "_bulk" && (m == http.MethodPost || m == http.MethodPut):
			return s.bulk(idx, q, body)
		case op == "_mget" && (m == http.MethodPost || m == http.MethodGet):
			return s.mget(idx, body)
		case op == "_refresh" && (m == http.MethodPost || m == http.MethodGet):
			return s.refresh(idx)
		case op == "_search" || op == "_count":
			return s.search(idx, q, body, op == "_count")
		case op == "_mapping" && m == http.MethodGet:
			return s.getMapping(idx)
		case op == "_mapping" && (m == http.MethodPut || m == http.MethodPost):
			return s.putMapping(idx, body)
		case op == "_doc" && m == http.MethodPost:
			return s.indexDoc(idx, "", q, body, false)
		}
	case len(parts) == 3:
		idx, op, id := parts[0], parts[1], parts[2]
		switch {
		case op == "_doc" && (m == http.MethodPut || m == http.MethodPost):
			return s.indexDoc(idx, id, q, body, q.Get("op_type") == "create")
		case op == "_create" && (m == http.MethodPut || m == http.MethodPost):
			return s.indexDoc(idx, id, q, body, true)
		case op == "_doc" && (m == http.MethodGet || m == http.MethodHead):
			return s.getDoc(idx, id)
		case op == "_doc" && m == http.MethodDelete:
			return s.deleteDoc(idx, id, q)
		}
	}
	return errResp(&esError{Status: http.StatusMethodNotAllowed, Type: "illegal_argument_exception",
		Reason: fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s], or the endpoint is not supported by this test server", r.URL.RequestURI(), m)})
}

func (s *Server) info() (int, any) {
	return http.StatusOK, map[string]any{
		"name":         "waybill-es-testserver",
		"cluster_name": "waybill-test",
		"cluster_uuid": "d2F5YmlsbC10ZXN0LXNydg",
		"version": map[string]any{
			"number":                              Version,
			"build_flavor":                        "default",
			"build_type":                          "tar",
			"build_hash":                          "0000000000000000000000000000000000000000",
			"build_date":                          "2025-01-01T00:00:00.000Z",
			"build_snapshot":                      false,
			"lucene_version":                      "9.12.0",
			"minimum_wire_compatibility_version":  "7.17.0",
			"minimum_index_compatibility_version": "7.0.0",
		},
		"tagline": "You Know, for Search",
	}
}

// refreshParam reports whether a write asks for a refresh (true, "", wait_for).
func refreshParam(v string, present bool) (bool, *esError) {
	if !present {
		return false, nil
	}
	switch v {
	case "", "true", "wait_for":
		return true, nil
	case "false":
		return false, nil
	}
	return false, badRequest("illegal_argument_exception", fmt.Sprintf("Unknown value for refresh: [%s].", v))
}

// parseVersionParams reads version, version_type and op_type of a write.
func parseVersionParams(version, versionType string) (writeOpts, *esError) {
	var o writeOpts
	switch versionType {
	case "", "internal":
		o.versionType = "internal"
	case "external", "external_gt":
		o.versionType = "external"
	case "external_gte":
		o.versionType = "external_gte"
	default:
		return o, badRequest("illegal_argument_exception", fmt.Sprintf("No version type match [%s]", versionType))
	}
	if version != "" {
		v, err := strconv.ParseInt(version, 10, 64)
		if err != nil {
			return o, badRequest("illegal_argument_exception", fmt.Sprintf("failed to parse [version]: [%s]", version))
		}
		if o.versionType == "internal" {
			return o, badRequest("action_request_validation_exception", "Validation Failed: 1: internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead;")
		}
		if v < 0 {
			return o, badRequest("action_request_validation_exception", fmt.Sprintf("Validation Failed: 1: illegal version value [%d] for version type [%s];", v, strings.ToUpper(o.versionType)))
		}
		o.version = v
		o.hasVersion = true
	} else if o.versionType != "internal" {
		return o, badRequest("action_request_validation_exception", fmt.Sprintf("Validation Failed: 1: illegal version value [-3] for version type [%s];", strings.ToUpper(o.versionType)))
	}
	return o, nil
}
