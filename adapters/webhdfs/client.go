package webhdfs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/waybill-data/waybill/adapters/tlsopt"
)

// prefix is the path prefix of WebHDFS URLs.
const prefix = "/webhdfs/v1"

// Bounds on what the client reads: error and JSON bodies, and files it reads back
// (its own data files and manifests, to verify and heal them).
const (
	maxJSONBody = 64 << 20
	maxFileBody = 1 << 30
)

// client speaks the WebHDFS REST protocol to a cluster: NameNode operations with
// failover between NameNodes, and the two-step operations that continue at the
// DataNode the NameNode redirects to.
type client struct {
	nameNodes []string     // base URLs, without trailing '/'
	active    atomic.Int32 // index of the NameNode that answered last
	auth      url.Values   // user.name or delegation
	http      *http.Client
	timeout   time.Duration
	log       *slog.Logger
}

func newClient(cfg Config, log *slog.Logger) (*client, error) {
	tlsConfig, err := cfg.TLS.Load()
	if err != nil {
		return nil, fmt.Errorf("webhdfs: %w", err)
	}
	if cfg.TLS != nil && cfg.TLS.InsecureSkipVerify {
		log.Warn("webhdfs: " + tlsopt.ErrInsecure.Error())
	}
	c := &client{timeout: cfg.timeout(), log: log, auth: url.Values{}}
	for _, nn := range cfg.NameNodes {
		c.nameNodes = append(c.nameNodes, strings.TrimSuffix(nn, "/"))
	}
	if cfg.DelegationToken != "" {
		c.auth.Set("delegation", cfg.DelegationToken)
	} else {
		c.auth.Set("user.name", cfg.User)
	}
	c.http = &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   8,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: c.timeout,
			TLSClientConfig:       tlsConfig,
		},
		// The redirects of CREATE and OPEN are followed by hand: the first step must
		// not carry the data, and the second goes to the DataNode.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return c, nil
}

// answer is a response read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request and reads its answer (at most limit bytes of body). Errors
// are *TransportError, without the URL.
func (c *client) do(ctx context.Context, method, u string, body []byte, limit int64, op, p string) (*answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, &TransportError{Op: op, Path: p, Err: errors.New("cannot build the request")}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, &TransportError{Op: op, Path: p, Err: stripURL(err)}
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, limit+1))
	if err != nil {
		return nil, &TransportError{Op: op, Path: p, Err: fmt.Errorf("reading the answer: %w", stripURL(err))}
	}
	if int64(len(data)) > limit {
		return nil, &ProtocolError{Op: op, Path: p, Problem: fmt.Sprintf("answer larger than %d bytes", limit)}
	}
	return &answer{status: res.StatusCode, header: res.Header, body: data}, nil
}

// stripURL drops the request URL from a client error: it holds the delegation token.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// isDial reports whether a request failed before anything was sent (the NameNode
// could not be reached), so another NameNode may be tried.
func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// remoteError decodes an error answer.
func remoteError(a *answer, op, p string, dataNode bool) *RemoteError {
	e := &RemoteError{Op: op, Path: p, DataNode: dataNode, Status: a.status}
	var body struct {
		RemoteException struct {
			Exception string `json:"exception"`
			Message   string `json:"message"`
		} `json:"RemoteException"`
	}
	if json.Unmarshal(a.body, &body) == nil && body.RemoteException.Exception != "" {
		e.Exception, e.Message = body.RemoteException.Exception, body.RemoteException.Message
	} else {
		e.Message = http.StatusText(a.status)
	}
	return e
}

// opURL is the URL of op on path p at base.
func (c *client) opURL(base, op, p string, params url.Values) string {
	q := url.Values{"op": {op}}
	for k, v := range c.auth {
		q[k] = v
	}
	for k, v := range params {
		q[k] = v
	}
	return base + (&url.URL{Path: prefix + p}).EscapedPath() + "?" + q.Encode()
}

// nameNode sends op to the active NameNode and returns its answer, whatever the
// status. When the NameNode is a standby (StandbyException) or cannot be reached, the
// next one is tried, once around the list; the one that answers becomes active.
func (c *client) nameNode(ctx context.Context, method, op, p string, params url.Values, limit int64) (*answer, error) {
	n := len(c.nameNodes)
	start := int(c.active.Load())
	var lastErr error
	for i := range n {
		idx := (start + i) % n
		a, err := c.do(ctx, method, c.opURL(c.nameNodes[idx], op, p, params), nil, limit, op, p)
		switch {
		case err != nil && isDial(err) && ctx.Err() == nil:
			lastErr = err
		case err != nil:
			return nil, err
		case a.status == http.StatusForbidden && isException(remoteError(a, op, p, false), "StandbyException"):
			lastErr = remoteError(a, op, p, false)
		default:
			if idx != start {
				c.active.Store(int32(idx))
				c.log.Info("webhdfs: failed over to another NameNode", "namenode", c.nameNodes[idx], "after", lastErr)
			}
			return a, nil
		}
		if n > 1 {
			c.log.Debug("webhdfs: NameNode unavailable, trying the next", "namenode", c.nameNodes[idx], "error", lastErr)
		}
	}
	return nil, lastErr
}

// expect turns an answer with another status than want into an error.
func expect(a *answer, want int, op, p string, dataNode bool) error {
	if a.status == want {
		return nil
	}
	return remoteError(a, op, p, dataNode)
}

// redirect runs the first step of a two-step operation and returns the DataNode URL.
func (c *client) redirect(ctx context.Context, method, op, p string, params url.Values) (string, error) {
	a, err := c.nameNode(ctx, method, op, p, params, maxJSONBody)
	if err != nil {
		return "", err
	}
	var loc string
	switch a.status {
	case http.StatusTemporaryRedirect:
		loc = a.header.Get("Location")
	case http.StatusOK: // noredirect=true style, as some gateways answer
		var body struct{ Location string }
		_ = json.Unmarshal(a.body, &body)
		loc = body.Location
	default:
		return "", remoteError(a, op, p, false)
	}
	u, err := url.Parse(loc)
	if loc == "" || err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", &ProtocolError{Op: op, Path: p, Problem: fmt.Sprintf("the NameNode answered HTTP %d without a usable DataNode location", a.status)}
	}
	return loc, nil
}

// create writes a file with CREATE's two steps: the NameNode names a DataNode (307),
// the data goes there (201). Without overwrite an existing file is an error.
func (c *client) create(ctx context.Context, p string, data []byte, overwrite bool) error {
	loc, err := c.redirect(ctx, http.MethodPut, "CREATE", p, url.Values{"overwrite": {strconv.FormatBool(overwrite)}})
	if err != nil {
		return err
	}
	if data == nil {
		data = []byte{}
	}
	a, err := c.do(ctx, http.MethodPut, loc, data, maxJSONBody, "CREATE", p)
	if err != nil {
		return err
	}
	return expect(a, http.StatusCreated, "CREATE", p, true)
}

// open reads a whole file with OPEN's two steps.
func (c *client) open(ctx context.Context, p string) ([]byte, error) {
	loc, err := c.redirect(ctx, http.MethodGet, "OPEN", p, nil)
	if err != nil {
		return nil, err
	}
	a, err := c.do(ctx, http.MethodGet, loc, nil, maxFileBody, "OPEN", p)
	if err != nil {
		return nil, err
	}
	if err := expect(a, http.StatusOK, "OPEN", p, true); err != nil {
		return nil, err
	}
	return a.body, nil
}

// booleanOp runs an operation answering {"boolean": ...}.
func (c *client) booleanOp(ctx context.Context, method, op, p string, params url.Values) (bool, error) {
	a, err := c.nameNode(ctx, method, op, p, params, maxJSONBody)
	if err != nil {
		return false, err
	}
	if err := expect(a, http.StatusOK, op, p, false); err != nil {
		return false, err
	}
	var body struct {
		Boolean *bool `json:"boolean"`
	}
	if json.Unmarshal(a.body, &body) != nil || body.Boolean == nil {
		return false, &ProtocolError{Op: op, Path: p, Problem: fmt.Sprintf("answer %.100q is not {\"boolean\": ...}", a.body)}
	}
	return *body.Boolean, nil
}

// mkdirs creates a directory and its parents.
func (c *client) mkdirs(ctx context.Context, p string) error {
	ok, err := c.booleanOp(ctx, http.MethodPut, "MKDIRS", p, nil)
	if err == nil && !ok {
		err = &ProtocolError{Op: "MKDIRS", Path: p, Problem: "the NameNode answered false"}
	}
	return err
}

// remove deletes a file (not recursively); false when it did not exist.
func (c *client) remove(ctx context.Context, p string) (bool, error) {
	return c.booleanOp(ctx, http.MethodDelete, "DELETE", p, url.Values{"recursive": {"false"}})
}

// errExists is returned by rename when the destination exists.
var errExists = errors.New("destination exists")

// rename moves src to dst atomically with rename2 semantics: renameoptions=NONE fails
// (errExists) instead of replacing an existing dst; overwrite replaces it.
func (c *client) rename(ctx context.Context, src, dst string, overwrite bool) error {
	opt := "NONE"
	if overwrite {
		opt = "OVERWRITE"
	}
	a, err := c.nameNode(ctx, http.MethodPut, "RENAME", src, url.Values{"destination": {dst}, "renameoptions": {opt}}, maxJSONBody)
	if err != nil {
		return err
	}
	if a.status == http.StatusOK {
		// A server that ignores renameoptions answers FileSystem.rename's boolean;
		// false then means the destination (or its parent) is in the way.
		var body struct {
			Boolean *bool `json:"boolean"`
		}
		if json.Unmarshal(a.body, &body) == nil && body.Boolean != nil && !*body.Boolean {
			if _, exists, serr := c.status(ctx, dst); serr == nil && exists {
				return errExists
			}
			return &ProtocolError{Op: "RENAME", Path: src, Problem: "the NameNode answered false"}
		}
		return nil
	}
	rerr := remoteError(a, "RENAME", src, false)
	if rerr.Exception == "FileAlreadyExistsException" && !overwrite {
		return errExists
	}
	return rerr
}

// fileStatus is the part of Hadoop's FileStatus the sink uses.
type fileStatus struct {
	PathSuffix string `json:"pathSuffix"`
	Type       string `json:"type"` // FILE, DIRECTORY, SYMLINK
	Length     int64  `json:"length"`
}

// status returns a path's status; exists is false when it does not exist.
func (c *client) status(ctx context.Context, p string) (fileStatus, bool, error) {
	a, err := c.nameNode(ctx, http.MethodGet, "GETFILESTATUS", p, nil, maxJSONBody)
	if err != nil {
		return fileStatus{}, false, err
	}
	if a.status == http.StatusNotFound && isException(remoteError(a, "GETFILESTATUS", p, false), "FileNotFoundException") {
		return fileStatus{}, false, nil
	}
	if err := expect(a, http.StatusOK, "GETFILESTATUS", p, false); err != nil {
		return fileStatus{}, false, err
	}
	var body struct{ FileStatus fileStatus }
	if err := json.Unmarshal(a.body, &body); err != nil {
		return fileStatus{}, false, &ProtocolError{Op: "GETFILESTATUS", Path: p, Problem: "undecodable answer: " + err.Error()}
	}
	return body.FileStatus, true, nil
}

// list returns a directory's entries; exists is false when it does not exist. A file
// at p is an error: the sink needs a directory there.
func (c *client) list(ctx context.Context, p string) ([]fileStatus, bool, error) {
	a, err := c.nameNode(ctx, http.MethodGet, "LISTSTATUS", p, nil, maxJSONBody)
	if err != nil {
		return nil, false, err
	}
	if a.status == http.StatusNotFound && isException(remoteError(a, "LISTSTATUS", p, false), "FileNotFoundException") {
		return nil, false, nil
	}
	if err := expect(a, http.StatusOK, "LISTSTATUS", p, false); err != nil {
		return nil, false, err
	}
	var body struct {
		FileStatuses struct {
			FileStatus []fileStatus
		}
	}
	if err := json.Unmarshal(a.body, &body); err != nil {
		return nil, false, &ProtocolError{Op: "LISTSTATUS", Path: p, Problem: "undecodable answer: " + err.Error()}
	}
	entries := body.FileStatuses.FileStatus
	if len(entries) == 1 && entries[0].PathSuffix == "" && entries[0].Type != "DIRECTORY" {
		return nil, false, &RemoteError{Op: "LISTSTATUS", Path: p, Status: http.StatusOK, Exception: "ParentNotDirectoryException",
			Message: p + " is a file, not a directory"}
	}
	return entries, true, nil
}
