package webhdfs

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// boolParam parses a Boolean parameter as Hadoop's BooleanParam does.
func (c *call) boolParam(name string, def bool) (bool, *remoteError) {
	v := c.q.Get(name)
	switch strings.ToLower(v) {
	case "":
		return def, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalidParam(name, v, "Failed to parse \"%s\" to Boolean.")
}

// longParam parses a long parameter; def when absent.
func (c *call) longParam(name string, def, min int64) (int64, *remoteError) {
	v := c.q.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, invalidParam(name, v, "Failed to parse \"%s\" as a radix-10 long integer.")
	}
	if n < min {
		return 0, invalidParam(name, v, "Invalid parameter range: %s < "+strconv.FormatInt(min, 10))
	}
	return n, nil
}

// permParam parses a permission (radix 8, at most 01777).
func (c *call) permParam(def uint16) (uint16, *remoteError) {
	v := c.q.Get("permission")
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseUint(v, 8, 16)
	if err != nil || n > 0o1777 {
		return 0, invalidParam("permission", v, "Failed to parse \"%s\" as a radix-8 short integer.")
	}
	return uint16(n), nil
}

// target cleans the request path.
func (c *call) target() (string, []string, *remoteError) {
	p, err := url.PathUnescape(c.path)
	if err != nil {
		return "", nil, remote("IllegalArgumentException", "Invalid path %q", c.path)
	}
	return cleanPath(p)
}

// redirect answers a NameNode operation that moves to the DataNode: 307 with the
// DataNode URL in Location, or with noredirect=true 200 {"Location": ...}.
func (c *call) redirect(params url.Values) *remoteError {
	noredirect, err := c.boolParam("noredirect", false)
	if err != nil {
		return err
	}
	q := url.Values{"op": {c.op}, "namenoderpcaddress": {c.h.s.nnAddrs[c.h.nn]}}
	if t := c.q.Get("delegation"); t != "" {
		q.Set("delegation", t)
	} else if u := c.q.Get("user.name"); u != "" {
		q.Set("user.name", u)
	}
	for k, vs := range params {
		q[k] = vs
	}
	loc := (&url.URL{Scheme: c.h.s.scheme(), Host: c.h.s.dnAddr, Path: Prefix + c.path, RawQuery: q.Encode()}).String()
	if noredirect {
		body, _ := json.Marshal(map[string]string{"Location": loc})
		writeJSON(c.w, http.StatusOK, body)
		return nil
	}
	c.w.Header().Set("Location", loc)
	c.w.Header().Set("Content-Type", "application/octet-stream")
	c.w.WriteHeader(http.StatusTemporaryRedirect)
	return nil
}

// passOn copies the named parameters that are set.
func (c *call) passOn(names ...string) url.Values {
	out := url.Values{}
	for _, n := range names {
		if v := c.q.Get(n); v != "" {
			out.Set(n, v)
		}
	}
	return out
}

func booleanJSON(w http.ResponseWriter, b bool) {
	body, _ := json.Marshal(map[string]bool{"boolean": b})
	writeJSON(w, http.StatusOK, body)
}

// nameNode serves the NameNode's operations.
func (c *call) nameNode() *remoteError {
	s := c.h.s
	path, parts, err := c.target()
	if err != nil {
		return err
	}
	switch c.op {
	case "CREATE":
		// As on a real NameNode, nothing is checked here but the parameters: the
		// DataNode creates the file.
		if _, err := c.boolParam("overwrite", false); err != nil {
			return err
		}
		if _, err := c.permParam(0o644); err != nil {
			return err
		}
		return c.redirect(c.passOn("overwrite", "permission", "replication", "blocksize", "buffersize"))
	case "APPEND", "OPEN":
		offset, err := c.longParam("offset", 0, 0)
		if err != nil {
			return err
		}
		if _, err := c.longParam("length", -1, -1); err != nil {
			return err
		}
		s.mu.Lock()
		f, ferr := s.ns.file(path, parts, strings.ToLower(c.op))
		var size int64
		if f != nil {
			size = int64(len(f.data))
		}
		s.mu.Unlock()
		if ferr != nil {
			return ferr
		}
		if c.op == "OPEN" && size > 0 && offset >= size {
			return remote("IOException", "Offset=%d out of the range [0, %d); OPEN, path=%s", offset, size, path)
		}
		if c.op == "APPEND" {
			return c.redirect(c.passOn("buffersize"))
		}
		return c.redirect(c.passOn("offset", "length", "buffersize"))
	case "MKDIRS":
		perm, err := c.permParam(0o755)
		if err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if c.injected(s.takeFault("MKDIRS", path, "", nil, false), func() *remoteError { return s.ns.mkdirs(path, parts, perm, c.user) }) {
			return nil
		}
		if err := s.ns.mkdirs(path, parts, perm, c.user); err != nil {
			return err
		}
		booleanJSON(c.w, true)
		return nil
	case "RENAME":
		return c.rename(path, parts)
	case "DELETE":
		recursive, err := c.boolParam("recursive", false)
		if err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if c.injected(s.takeFault("DELETE", path, "", nil, false), func() *remoteError { _, err := s.ns.remove(path, parts, recursive); return err }) {
			return nil
		}
		ok, err := s.ns.remove(path, parts, recursive)
		if err != nil {
			return err
		}
		booleanJSON(c.w, ok)
		return nil
	case "GETFILESTATUS", "LISTSTATUS", "GETCONTENTSUMMARY":
		s.mu.Lock()
		defer s.mu.Unlock()
		n := s.ns.lookup(parts)
		var body any
		switch {
		case n == nil && c.op == "GETFILESTATUS":
			return remote("FileNotFoundException", "File does not exist: %s", path)
		case n == nil:
			return remote("FileNotFoundException", "File %s does not exist.", path)
		case c.op == "GETFILESTATUS":
			body = map[string]any{"FileStatus": n.status("")}
		case c.op == "LISTSTATUS":
			body = map[string]any{"FileStatuses": map[string]any{"FileStatus": n.list()}}
		default:
			body = map[string]any{"ContentSummary": n.summary()}
		}
		out, _ := json.Marshal(body)
		writeJSON(c.w, http.StatusOK, out)
		return nil
	case "GETHOMEDIRECTORY":
		out, _ := json.Marshal(map[string]string{"Path": "/user/" + c.user})
		writeJSON(c.w, http.StatusOK, out)
		return nil
	}
	return remote("UnsupportedOperationException", "%s is not supported", c.op)
}

// rename serves RENAME: without renameoptions FileSystem.rename's boolean answer,
// with them (NONE, OVERWRITE) rename2's exceptions and an empty 200.
func (c *call) rename(src string, sp []string) *remoteError {
	s := c.h.s
	dstParam := c.q.Get("destination")
	if dstParam == "" {
		return remote("IllegalArgumentException", "Required param destination for op: RENAME is null or empty")
	}
	if !strings.HasPrefix(dstParam, "/") {
		return invalidParam("destination", dstParam, "Invalid parameter value: destination = \"%s\" is not an absolute path.")
	}
	dst, dp, err := cleanPath(dstParam)
	if err != nil {
		return err
	}
	opts, hasOpts := c.q["renameoptions"]
	overwrite := false
	if hasOpts {
		for _, v := range strings.Split(strings.Join(opts, ","), ",") {
			switch strings.ToUpper(strings.TrimSpace(v)) {
			case "NONE", "":
			case "OVERWRITE":
				overwrite = true
			case "TO_TRASH":
			default:
				return invalidParam("renameoptions", v, "No enum constant org.apache.hadoop.fs.Options.Rename.%s")
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	apply := func() *remoteError {
		if hasOpts {
			return s.ns.rename2(src, sp, dst, dp, overwrite)
		}
		s.ns.rename(src, sp, dst, dp)
		return nil
	}
	if c.injected(s.takeFault("RENAME", src, dst, nil, false), apply) {
		return nil
	}
	if !hasOpts {
		booleanJSON(c.w, s.ns.rename(src, sp, dst, dp))
		return nil
	}
	if err := s.ns.rename2(src, sp, dst, dp, overwrite); err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "application/octet-stream")
	c.w.WriteHeader(http.StatusOK)
	return nil
}

// readBody reads an upload up to the size limit.
func (c *call) readBody() ([]byte, error) {
	limit := c.h.s.opts.MaxFileSize
	data, err := io.ReadAll(io.LimitReader(c.r.Body, limit+1))
	c.rec.BodyBytes = len(data)
	if err == nil && int64(len(data)) > limit {
		err = errTooLarge
	}
	return data, err
}

var errTooLarge = errors.New("upload larger than the test server's MaxFileSize")

// dataNode serves the DataNode's operations: the second step of CREATE, APPEND and
// OPEN, at the URL the NameNode redirected to.
func (c *call) dataNode() *remoteError {
	s := c.h.s
	if c.q.Get("namenoderpcaddress") == "" {
		return remote("IllegalArgumentException", "Invalid value for webhdfs parameter \"namenoderpcaddress\": namenoderpcaddress is not specified.")
	}
	path, parts, err := c.target()
	if err != nil {
		return err
	}
	client, _, _ := net.SplitHostPort(c.r.RemoteAddr)
	switch c.op {
	case "CREATE":
		overwrite, err := c.boolParam("overwrite", false)
		if err != nil {
			return err
		}
		perm, err := c.permParam(0o644)
		if err != nil {
			return err
		}
		repl, err := c.longParam("replication", 0, 1)
		if err != nil {
			return err
		}
		bs, err := c.longParam("blocksize", 0, 1)
		if err != nil {
			return err
		}
		data, rerr := c.readBody()
		s.mu.Lock()
		defer s.mu.Unlock()
		create := func() *remoteError {
			return s.ns.create(path, parts, data, overwrite, perm, int16(repl), bs, c.user, client)
		}
		if rerr != nil {
			if errors.Is(rerr, errTooLarge) {
				return remote("IOException", "%s: %v", path, rerr)
			}
			// The client went away mid-upload: like HDFS after lease recovery, the
			// file keeps what arrived.
			_ = create()
			return nil
		}
		if c.injected(s.takeFault("CREATE", path, "", data, true), create) {
			return nil
		}
		if err := create(); err != nil {
			return err
		}
		c.w.Header().Set("Location", "hdfs://"+c.q.Get("namenoderpcaddress")+path)
		c.w.Header().Set("Content-Length", "0")
		c.w.WriteHeader(http.StatusCreated)
		return nil
	case "APPEND":
		data, rerr := c.readBody()
		s.mu.Lock()
		defer s.mu.Unlock()
		appendData := func() *remoteError {
			f, err := s.ns.file(path, parts, "append")
			if err != nil {
				return err
			}
			f.data = append(f.data, data...)
			f.mtime = s.ns.now().UnixMilli()
			return nil
		}
		if rerr != nil {
			if errors.Is(rerr, errTooLarge) {
				return remote("IOException", "%s: %v", path, rerr)
			}
			_ = appendData()
			return nil
		}
		if c.injected(s.takeFault("APPEND", path, "", data, true), appendData) {
			return nil
		}
		if err := appendData(); err != nil {
			return err
		}
		c.w.WriteHeader(http.StatusOK)
		return nil
	case "OPEN":
		offset, err := c.longParam("offset", 0, 0)
		if err != nil {
			return err
		}
		length, err := c.longParam("length", -1, -1)
		if err != nil {
			return err
		}
		s.mu.Lock()
		f, ferr := s.ns.file(path, parts, "open")
		var data []byte
		if f != nil {
			data = f.data
			f.atime = s.ns.now().UnixMilli()
		}
		s.mu.Unlock()
		if ferr != nil {
			return ferr
		}
		offset = min(offset, int64(len(data)))
		end := int64(len(data))
		if length >= 0 && offset+length < end {
			end = offset + length
		}
		c.w.Header().Set("Content-Type", "application/octet-stream")
		c.w.Header().Set("Content-Length", strconv.FormatInt(end-offset, 10))
		c.w.WriteHeader(http.StatusOK)
		_, _ = c.w.Write(data[offset:end])
		return nil
	}
	return remote("IllegalArgumentException", "Invalid operation %s", c.op)
}
