package webhdfs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// noFollow is a client that shows redirects instead of following them.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// remoteException decodes a RemoteException body.
func (a answer) remoteException(t *testing.T) (exception, class, message string) {
	t.Helper()
	var e struct {
		RemoteException struct {
			Exception     string `json:"exception"`
			JavaClassName string `json:"javaClassName"`
			Message       string `json:"message"`
		} `json:"RemoteException"`
	}
	if err := json.Unmarshal(a.body, &e); err != nil || e.RemoteException.Exception == "" {
		t.Fatalf("HTTP %d body %q is not a RemoteException (%v)", a.status, a.body, err)
	}
	return e.RemoteException.Exception, e.RemoteException.JavaClassName, e.RemoteException.Message
}

func send(t *testing.T, method, u string, body []byte) answer {
	t.Helper()
	a, err := trySend(context.Background(), method, u, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return a
}

func trySend(ctx context.Context, method, u string, body []byte) (answer, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return answer{}, err
	}
	res, err := noFollow.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, b}, err
}

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	srv, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// op is the NameNode URL of an operation.
func op(srv *Server, path, op string, params ...string) string {
	q := url.Values{"op": {op}, "user.name": {"alice"}}
	for i := 0; i+1 < len(params); i += 2 {
		q.Set(params[i], params[i+1])
	}
	return srv.URL() + Prefix + path + "?" + q.Encode()
}

// create writes a file with the two-step protocol and returns the DataNode's answer.
func create(t *testing.T, srv *Server, path string, data []byte, params ...string) answer {
	t.Helper()
	a := send(t, http.MethodPut, op(srv, path, "CREATE", params...), nil)
	if a.status != http.StatusTemporaryRedirect {
		t.Fatalf("CREATE %s at the NameNode: HTTP %d %s, want 307", path, a.status, a.body)
	}
	return send(t, http.MethodPut, a.header.Get("Location"), data)
}

func TestCreateTwoSteps(t *testing.T) {
	srv := start(t, Options{})
	a := send(t, http.MethodPut, op(srv, "/a/b/f.txt", "create", "overwrite", "false", "permission", "640"), []byte("ignored by the NameNode"))
	if a.status != http.StatusTemporaryRedirect {
		t.Fatalf("CREATE: HTTP %d, want 307", a.status)
	}
	loc, err := url.Parse(a.header.Get("Location"))
	if err != nil || loc.Host != srv.DataNodeAddr() || loc.Path != Prefix+"/a/b/f.txt" {
		t.Fatalf("Location %q does not point at the DataNode", a.header.Get("Location"))
	}
	for k, v := range map[string]string{"op": "CREATE", "user.name": "alice", "overwrite": "false", "permission": "640", "namenoderpcaddress": srv.URL()[len("http://"):]} {
		if got := loc.Query().Get(k); got != v {
			t.Errorf("Location %s=%q, want %q", k, got, v)
		}
	}
	if srv.List("/a") != nil {
		t.Errorf("the NameNode step created something")
	}
	dn := send(t, http.MethodPut, loc.String(), []byte("hello"))
	if dn.status != http.StatusCreated || dn.header.Get("Location") != "hdfs://"+loc.Query().Get("namenoderpcaddress")+"/a/b/f.txt" {
		t.Fatalf("DataNode CREATE: HTTP %d Location %q", dn.status, dn.header.Get("Location"))
	}
	if data, ok := srv.ReadFile("/a/b/f.txt"); !ok || string(data) != "hello" {
		t.Fatalf("file holds %q, %v", data, ok)
	}
	var st struct{ FileStatus FileStatus }
	if err := json.Unmarshal(send(t, http.MethodGet, op(srv, "/a/b/f.txt", "GETFILESTATUS"), nil).body, &st); err != nil {
		t.Fatal(err)
	}
	if f := st.FileStatus; f.Type != "FILE" || f.Length != 5 || f.Permission != "640" || f.Owner != "alice" || f.Group != "supergroup" || f.Replication != 3 || f.BlockSize != 128<<20 {
		t.Errorf("status %+v", f)
	}

	// noredirect=true answers the Location as JSON.
	a = send(t, http.MethodPut, op(srv, "/a/g.txt", "CREATE", "noredirect", "true"), nil)
	var nr struct{ Location string }
	if a.status != http.StatusOK || json.Unmarshal(a.body, &nr) != nil || !strings.Contains(nr.Location, srv.DataNodeAddr()) {
		t.Fatalf("noredirect: HTTP %d %s", a.status, a.body)
	}
	if dn := send(t, http.MethodPut, nr.Location, []byte("g")); dn.status != http.StatusCreated {
		t.Fatalf("noredirect upload: HTTP %d", dn.status)
	}

	// overwrite=false (the default) refuses an existing file at the DataNode.
	for _, params := range [][]string{{"overwrite", "false"}, nil} {
		dn = create(t, srv, "/a/b/f.txt", []byte("other"), params...)
		exc, class, msg := dn.remoteException(t)
		if dn.status != http.StatusForbidden || exc != "FileAlreadyExistsException" || class != "org.apache.hadoop.fs.FileAlreadyExistsException" ||
			msg != "/a/b/f.txt for client 127.0.0.1 already exists" {
			t.Errorf("CREATE over a file %v: HTTP %d %s %s %q", params, dn.status, exc, class, msg)
		}
	}
	if dn := create(t, srv, "/a/b/f.txt", []byte("replaced"), "overwrite", "true"); dn.status != http.StatusCreated {
		t.Errorf("CREATE overwrite=true: HTTP %d", dn.status)
	}
	if data, _ := srv.ReadFile("/a/b/f.txt"); string(data) != "replaced" {
		t.Errorf("after overwrite: %q", data)
	}
	if dn := create(t, srv, "/a/b", nil); dn.status != http.StatusForbidden {
		t.Errorf("CREATE over a directory: HTTP %d", dn.status)
	}
	if dn := create(t, srv, "/a/b/f.txt/x", nil); dn.status != http.StatusForbidden {
		t.Errorf("CREATE under a file: HTTP %d", dn.status)
	} else if exc, _, _ := dn.remoteException(t); exc != "ParentNotDirectoryException" {
		t.Errorf("CREATE under a file: %s", exc)
	}

	// The DataNode only takes what a NameNode redirected.
	direct := "http://" + srv.DataNodeAddr() + Prefix + "/a/x?op=CREATE&user.name=alice"
	if a := send(t, http.MethodPut, direct, []byte("x")); a.status != http.StatusBadRequest {
		t.Errorf("DataNode without namenoderpcaddress: HTTP %d", a.status)
	}
}

func TestAppendOpen(t *testing.T) {
	srv := start(t, Options{})
	create(t, srv, "/f", []byte("0123456789"))
	a := send(t, http.MethodPost, op(srv, "/f", "APPEND"), nil)
	if a.status != http.StatusTemporaryRedirect {
		t.Fatalf("APPEND: HTTP %d", a.status)
	}
	if dn := send(t, http.MethodPost, a.header.Get("Location"), []byte("abc")); dn.status != http.StatusOK {
		t.Fatalf("APPEND at the DataNode: HTTP %d", dn.status)
	}
	read := func(params ...string) answer {
		a := send(t, http.MethodGet, op(srv, "/f", "OPEN", params...), nil)
		if a.status != http.StatusTemporaryRedirect {
			return a
		}
		return send(t, http.MethodGet, a.header.Get("Location"), nil)
	}
	for _, c := range []struct {
		params []string
		want   string
	}{
		{nil, "0123456789abc"},
		{[]string{"offset", "3"}, "3456789abc"},
		{[]string{"offset", "3", "length", "4"}, "3456"},
		{[]string{"length", "0"}, ""},
	} {
		if a := read(c.params...); a.status != http.StatusOK || string(a.body) != c.want {
			t.Errorf("OPEN %v: HTTP %d %q, want %q", c.params, a.status, a.body, c.want)
		}
	}
	if a := read("offset", "13"); a.status != http.StatusForbidden {
		t.Errorf("OPEN past the end: HTTP %d %s", a.status, a.body)
	}
	for name, u := range map[string]string{
		"OPEN missing":   op(srv, "/nope", "OPEN"),
		"APPEND missing": op(srv, "/nope", "APPEND"),
	} {
		method := http.MethodGet
		if strings.HasPrefix(name, "APPEND") {
			method = http.MethodPost
		}
		a := send(t, method, u, nil)
		if exc, _, _ := a.remoteException(t); a.status != http.StatusNotFound || exc != "FileNotFoundException" {
			t.Errorf("%s: HTTP %d %s", name, a.status, exc)
		}
	}
}

func TestNamespaceOps(t *testing.T) {
	srv := start(t, Options{})
	mk := send(t, http.MethodPut, op(srv, "/d/e", "MKDIRS", "permission", "700"), nil)
	if mk.status != http.StatusOK || string(mk.body) != `{"boolean":true}` {
		t.Fatalf("MKDIRS: HTTP %d %s", mk.status, mk.body)
	}
	create(t, srv, "/d/e/f1", []byte("11"))
	create(t, srv, "/d/e/f0", []byte("0"))
	var ls struct {
		FileStatuses struct{ FileStatus []FileStatus }
	}
	if err := json.Unmarshal(send(t, http.MethodGet, op(srv, "/d/e", "LISTSTATUS"), nil).body, &ls); err != nil {
		t.Fatal(err)
	}
	if got := ls.FileStatuses.FileStatus; len(got) != 2 || got[0].PathSuffix != "f0" || got[1].PathSuffix != "f1" || got[1].Length != 2 || got[0].Type != "FILE" {
		t.Errorf("LISTSTATUS %+v", got)
	}
	var d struct{ FileStatus FileStatus }
	json.Unmarshal(send(t, http.MethodGet, op(srv, "/d/e", "GETFILESTATUS"), nil).body, &d)
	if d.FileStatus.Type != "DIRECTORY" || d.FileStatus.Permission != "700" || d.FileStatus.ChildrenNum != 2 {
		t.Errorf("directory status %+v", d.FileStatus)
	}
	var cs struct{ ContentSummary ContentSummary }
	json.Unmarshal(send(t, http.MethodGet, op(srv, "/d", "GETCONTENTSUMMARY"), nil).body, &cs)
	if c := cs.ContentSummary; c.DirectoryCount != 2 || c.FileCount != 2 || c.Length != 3 || c.SpaceConsumed != 9 || c.Quota != -1 {
		t.Errorf("content summary %+v", c)
	}
	if a := send(t, http.MethodGet, op(srv, "/nope", "LISTSTATUS"), nil); a.status != http.StatusNotFound {
		t.Errorf("LISTSTATUS of a missing directory: HTTP %d", a.status)
	}
	if a := send(t, http.MethodPut, op(srv, "/d/e/f0/x", "MKDIRS"), nil); a.status != http.StatusForbidden {
		t.Errorf("MKDIRS under a file: HTTP %d", a.status)
	}
	if a := send(t, http.MethodPut, op(srv, "/d/e/f0", "MKDIRS"), nil); a.status != http.StatusForbidden {
		t.Errorf("MKDIRS of a file: HTTP %d", a.status)
	}

	del := func(path string, params ...string) answer {
		return send(t, http.MethodDelete, op(srv, path, "DELETE", params...), nil)
	}
	if a := del("/d"); a.status != http.StatusForbidden {
		t.Errorf("DELETE of a non-empty directory: HTTP %d", a.status)
	} else if exc, _, _ := a.remoteException(t); exc != "PathIsNotEmptyDirectoryException" {
		t.Errorf("DELETE of a non-empty directory: %s", exc)
	}
	if a := del("/d/e/f0"); string(a.body) != `{"boolean":true}` {
		t.Errorf("DELETE of a file: %s", a.body)
	}
	if a := del("/d/e/f0"); string(a.body) != `{"boolean":false}` {
		t.Errorf("DELETE of a missing file: %s", a.body)
	}
	if a := del("/d", "recursive", "true"); string(a.body) != `{"boolean":true}` || srv.List("/d") != nil {
		t.Errorf("recursive DELETE: %s", a.body)
	}

	// Requests Hadoop refuses.
	for name, c := range map[string]struct {
		method, url, exception string
		status                 int
	}{
		"colon in a name":    {http.MethodPut, op(srv, "/a:b", "MKDIRS"), "InvalidPathException", 400},
		"dot-dot":            {http.MethodPut, op(srv, "/a/../b", "MKDIRS"), "InvalidPathException", 400},
		"op of another verb": {http.MethodGet, op(srv, "/a", "CREATE"), "IllegalArgumentException", 400},
		"unknown op":         {http.MethodPut, op(srv, "/a", "FROB"), "IllegalArgumentException", 400},
		"no op":              {http.MethodGet, srv.URL() + Prefix + "/a", "UnsupportedOperationException", 400},
		"bad permission":     {http.MethodPut, op(srv, "/a", "MKDIRS", "permission", "999"), "IllegalArgumentException", 400},
		"bad boolean":        {http.MethodDelete, op(srv, "/a", "DELETE", "recursive", "yes"), "IllegalArgumentException", 400},
	} {
		a := send(t, c.method, c.url, nil)
		if exc, _, _ := a.remoteException(t); a.status != c.status || exc != c.exception {
			t.Errorf("%s: HTTP %d %s, want %d %s", name, a.status, exc, c.status, c.exception)
		}
	}
}

func TestRename(t *testing.T) {
	type want struct {
		status    int
		body      string // exact body for 200
		exception string
	}
	cases := []struct {
		name     string
		src, dst string
		options  string // "" = no renameoptions
		want     want
		after    map[string]string // path → content ("dir" for a directory, "" for absent)
	}{
		{"old: to a new name", "/s/f", "/t/g", "-", want{200, `{"boolean":true}`, ""}, map[string]string{"/s/f": "", "/t/g": "f"}},
		{"old: into an existing directory", "/s/f", "/t", "-", want{200, `{"boolean":true}`, ""}, map[string]string{"/t/f": "f"}},
		{"old: onto an existing file", "/s/f", "/t/x", "-", want{200, `{"boolean":false}`, ""}, map[string]string{"/s/f": "f", "/t/x": "x"}},
		{"old: missing source", "/s/nope", "/t/g", "-", want{200, `{"boolean":false}`, ""}, nil},
		{"old: missing destination parent", "/s/f", "/nope/g", "-", want{200, `{"boolean":false}`, ""}, map[string]string{"/s/f": "f"}},
		{"old: under itself", "/s", "/s/sub", "-", want{200, `{"boolean":false}`, ""}, nil},
		{"NONE: to a new name", "/s/f", "/t/g", "NONE", want{200, "", ""}, map[string]string{"/s/f": "", "/t/g": "f"}},
		{"NONE: onto an existing file", "/s/f", "/t/x", "NONE", want{403, "", "FileAlreadyExistsException"}, map[string]string{"/s/f": "f", "/t/x": "x"}},
		{"NONE: onto an existing directory", "/s/f", "/t", "NONE", want{403, "", "FileAlreadyExistsException"}, map[string]string{"/s/f": "f"}},
		{"NONE: missing source", "/s/nope", "/t/g", "NONE", want{404, "", "FileNotFoundException"}, nil},
		{"NONE: missing destination parent", "/s/f", "/nope/g", "NONE", want{404, "", "FileNotFoundException"}, nil},
		{"NONE: destination parent is a file", "/s/f", "/t/x/g", "NONE", want{403, "", "ParentNotDirectoryException"}, nil},
		{"NONE: same path", "/s/f", "/s/f", "NONE", want{403, "", "FileAlreadyExistsException"}, nil},
		{"NONE: under itself", "/s", "/s/sub", "NONE", want{403, "", "IOException"}, nil},
		{"OVERWRITE: onto an existing file", "/s/f", "/t/x", "OVERWRITE", want{200, "", ""}, map[string]string{"/s/f": "", "/t/x": "f"}},
		{"OVERWRITE: file onto a directory", "/s/f", "/t", "OVERWRITE", want{403, "", "IOException"}, map[string]string{"/s/f": "f"}},
		{"bad option", "/s/f", "/t/g", "SIDEWAYS", want{400, "", "IllegalArgumentException"}, map[string]string{"/s/f": "f"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := start(t, Options{})
			create(t, srv, "/s/f", []byte("f"))
			create(t, srv, "/t/x", []byte("x"))
			params := []string{"destination", c.dst}
			if c.options != "-" {
				params = append(params, "renameoptions", c.options)
			}
			a := send(t, http.MethodPut, op(srv, c.src, "RENAME", params...), nil)
			if a.status != c.want.status {
				t.Fatalf("HTTP %d %s, want %d", a.status, a.body, c.want.status)
			}
			if c.want.status == 200 && string(a.body) != c.want.body {
				t.Errorf("body %q, want %q", a.body, c.want.body)
			}
			if c.want.exception != "" {
				if exc, _, _ := a.remoteException(t); exc != c.want.exception {
					t.Errorf("exception %s, want %s", exc, c.want.exception)
				}
			}
			for p, content := range c.after {
				data, ok := srv.ReadFile(p)
				if content == "" && ok || content != "" && string(data) != content {
					t.Errorf("%s holds %q (exists %v), want %q", p, data, ok, content)
				}
			}
		})
	}
	srv := start(t, Options{})
	if a := send(t, http.MethodPut, op(srv, "/s", "RENAME"), nil); a.status != http.StatusBadRequest {
		t.Errorf("RENAME without destination: HTTP %d", a.status)
	}
	if a := send(t, http.MethodPut, op(srv, "/s", "RENAME", "destination", "relative"), nil); a.status != http.StatusBadRequest {
		t.Errorf("RENAME to a relative destination: HTTP %d", a.status)
	}
}

func TestFaults(t *testing.T) {
	srv := start(t, Options{})
	list := op(srv, "/", "LISTSTATUS")

	srv.FailNext(1, http.StatusTooManyRequests)
	srv.FailNext(1, http.StatusServiceUnavailable)
	srv.FailNext(1, http.StatusInternalServerError)
	srv.FailNextWith(1, http.StatusForbidden, "SafeModeException")
	for _, w := range []struct {
		status    int
		exception string
	}{{429, "RetriableException"}, {503, "RetriableException"}, {500, "RuntimeException"}, {403, "SafeModeException"}, {200, ""}} {
		a := send(t, http.MethodGet, list, nil)
		if a.status != w.status {
			t.Fatalf("HTTP %d, want %d", a.status, w.status)
		}
		if w.exception != "" {
			if exc, _, _ := a.remoteException(t); exc != w.exception {
				t.Errorf("HTTP %d: %s, want %s", a.status, exc, w.exception)
			}
		}
	}

	srv.ResetNext(1)
	// On a fresh connection: net/http retries an idempotent request that a reused
	// connection lost, which would hide the reset.
	noFollow.CloseIdleConnections()
	if _, err := trySend(context.Background(), http.MethodGet, list, nil); err == nil {
		t.Errorf("a reset request got an answer")
	}
	if a := send(t, http.MethodGet, list, nil); a.status != http.StatusOK {
		t.Errorf("after the reset: HTTP %d", a.status)
	}

	srv.SetDelay(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := trySend(ctx, http.MethodGet, list, nil)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a delayed answer: %v, want the client's deadline", err)
	}
	srv.SetDelay(0)

	create(t, srv, "/keep", []byte("k"))
	if err := srv.Down(); err != nil {
		t.Fatal(err)
	}
	_, err = trySend(context.Background(), http.MethodGet, list, nil)
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		t.Errorf("while down: %v, want connection refused", err)
	}
	if err := srv.Up(); err != nil {
		t.Fatal(err)
	}
	if data, _ := srv.ReadFile("/keep"); string(data) != "k" {
		t.Errorf("after Up: /keep = %q", data)
	}
	if a := send(t, http.MethodGet, list, nil); a.status != http.StatusOK {
		t.Errorf("after Up: HTTP %d", a.status)
	}
}

func TestWriteFaults(t *testing.T) {
	srv := start(t, Options{})
	// By path, every time, with an exception and a status of its own.
	srv.FailWrites(Fault{Ops: []string{"CREATE"}, PathContains: "denied", Exception: "AccessControlException", Times: -1})
	for range 2 {
		a := create(t, srv, "/x/denied/f", []byte("d"))
		if exc, _, _ := a.remoteException(t); a.status != http.StatusForbidden || exc != "AccessControlException" {
			t.Errorf("CREATE under a denied path: HTTP %d %s", a.status, exc)
		}
	}
	// By content, once.
	srv.FailWrites(Fault{DataContains: []byte("poison"), Exception: "IOException", Status: 500})
	if a := create(t, srv, "/x/p", []byte("a poison pill")); a.status != 500 {
		t.Errorf("CREATE of poisoned data: HTTP %d", a.status)
	}
	if a := create(t, srv, "/x/p", []byte("a poison pill")); a.status != http.StatusCreated {
		t.Errorf("second CREATE of poisoned data: HTTP %d (the fault was for one write)", a.status)
	}
	if a := create(t, srv, "/x/q", []byte("clean")); a.status != http.StatusCreated {
		t.Errorf("CREATE of clean data: HTTP %d", a.status)
	}
	// The first matching fault applies: a rename that happens but whose answer is lost.
	srv.FailWrites(Fault{Ops: []string{"RENAME"}, PathContains: "/x/q2", Reset: true, AfterApply: true})
	srv.FailWrites(Fault{Ops: []string{"RENAME"}, Exception: "RetriableException"})
	_, err := trySend(context.Background(), http.MethodPut, op(srv, "/x/q", "RENAME", "destination", "/x/q2", "renameoptions", "NONE"), nil)
	if err == nil {
		t.Errorf("RENAME with a lost answer got an answer")
	}
	if data, _ := srv.ReadFile("/x/q2"); string(data) != "clean" {
		t.Errorf("the rename whose answer was lost did not happen")
	}
	if a := send(t, http.MethodPut, op(srv, "/x/q2", "RENAME", "destination", "/x/q3"), nil); a.status != http.StatusForbidden {
		t.Errorf("second fault: HTTP %d", a.status)
	}
	srv.ClearFaults()
	if a := create(t, srv, "/x/denied/f", []byte("d")); a.status != http.StatusCreated {
		t.Errorf("after ClearFaults: HTTP %d", a.status)
	}
	var reset int
	for _, r := range srv.Requests() {
		if r.Reset {
			reset++
		}
	}
	if reset != 1 {
		t.Errorf("%d requests recorded as reset, want 1", reset)
	}
}

func TestStandbyNameNodes(t *testing.T) {
	srv := start(t, Options{NameNodes: 2})
	srv.SetStandby(0, true)
	a := send(t, http.MethodPut, srv.NameNodeURL(0)+Prefix+"/ha?op=MKDIRS", nil)
	if exc, class, msg := a.remoteException(t); a.status != http.StatusForbidden || exc != "StandbyException" ||
		class != "org.apache.hadoop.ipc.StandbyException" || !strings.Contains(msg, "Operation category WRITE is not supported in state standby") {
		t.Fatalf("standby: HTTP %d %s %s", a.status, exc, msg)
	}
	if a := send(t, http.MethodPut, srv.NameNodeURL(1)+Prefix+"/ha?op=MKDIRS", nil); a.status != http.StatusOK {
		t.Fatalf("active NameNode: HTTP %d", a.status)
	}
	srv.SetStandby(0, false)
	srv.SetStandby(1, true)
	if a := send(t, http.MethodGet, srv.NameNodeURL(0)+Prefix+"/ha?op=GETFILESTATUS", nil); a.status != http.StatusOK {
		t.Errorf("the other NameNode does not see the namespace: HTTP %d", a.status)
	}
	for _, r := range srv.Requests() {
		if r.User != "" {
			t.Errorf("request without user.name recorded user %q", r.User)
		}
	}
}

func TestDelegationTokens(t *testing.T) {
	srv := start(t, Options{Tokens: map[string]string{"tok-1": "etl"}})
	base := srv.URL() + Prefix + "/sec"
	a := send(t, http.MethodPut, base+"?op=MKDIRS&user.name=etl", nil)
	if exc, _, _ := a.remoteException(t); a.status != http.StatusUnauthorized || a.header.Get("WWW-Authenticate") != "Negotiate" || exc != "SecurityException" {
		t.Errorf("without a token: HTTP %d %q %s", a.status, a.header.Get("WWW-Authenticate"), exc)
	}
	a = send(t, http.MethodPut, base+"?op=MKDIRS&delegation=wrong", nil)
	if exc, _, msg := a.remoteException(t); a.status != http.StatusForbidden || exc != "InvalidToken" || strings.Contains(msg, "wrong") {
		t.Errorf("unknown token: HTTP %d %s %q", a.status, exc, msg)
	}
	if a := send(t, http.MethodPut, base+"?op=MKDIRS&delegation=tok-1&user.name=mallory", nil); a.status != http.StatusForbidden {
		t.Errorf("token of another user: HTTP %d", a.status)
	}
	a = send(t, http.MethodPut, base+"/f?op=CREATE&delegation=tok-1", nil)
	loc, _ := url.Parse(a.header.Get("Location"))
	if a.status != http.StatusTemporaryRedirect || loc.Query().Get("delegation") != "tok-1" || loc.Query().Has("user.name") {
		t.Fatalf("CREATE with a token: HTTP %d Location %s", a.status, loc)
	}
	if dn := send(t, http.MethodPut, loc.String(), []byte("s")); dn.status != http.StatusCreated {
		t.Fatalf("DataNode with the token: HTTP %d %s", dn.status, dn.body)
	}
	var st struct{ FileStatus FileStatus }
	json.Unmarshal(send(t, http.MethodGet, base+"/f?op=GETFILESTATUS&delegation=tok-1", nil).body, &st)
	if st.FileStatus.Owner != "etl" {
		t.Errorf("a file created with etl's token is owned by %q", st.FileStatus.Owner)
	}
}
