package webhdfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/waybill-data/waybill/routing"
)

// fake is a scripted WebHDFS endpoint: answer decides each request's answer.
type fake struct {
	*httptest.Server
	mu     sync.Mutex
	seen   []string // "METHOD OP path query"
	answer func(w http.ResponseWriter, r *http.Request)
}

func newFake(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *fake {
	f := &fake{answer: answer}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.seen = append(f.seen, r.Method+" "+r.URL.Query().Get("op")+" "+r.URL.Path+" "+r.URL.RawQuery)
		f.mu.Unlock()
		f.answer(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fake) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.seen...)
}

func remoteBody(w http.ResponseWriter, status int, exception, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"RemoteException":{"exception":%q,"javaClassName":"x.%s","message":%q}}`, exception, exception, message)
}

func testClient(cfg Config, logs io.Writer) *client {
	if cfg.User == "" && cfg.DelegationToken == "" {
		cfg.User = "etl"
	}
	if logs == nil {
		logs = io.Discard
	}
	c, err := newClient(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		panic(err) // the tests' configurations have no TLS files to fail on
	}
	return c
}

// deadAddr is an address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestFailover(t *testing.T) {
	standby := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		remoteBody(w, 403, "StandbyException", "Operation category WRITE is not supported in state standby")
	})
	active := newFake(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"boolean":true}`) })
	var logs bytes.Buffer
	c := testClient(Config{NameNodes: []string{deadAddr(t), standby.URL, active.URL}}, &logs)
	if err := c.mkdirs(context.Background(), "/w/d"); err != nil {
		t.Fatalf("mkdirs across a dead and a standby NameNode: %v", err)
	}
	if err := c.mkdirs(context.Background(), "/w/e"); err != nil {
		t.Fatal(err)
	}
	// The second request went straight to the NameNode that answered.
	if n := len(standby.requests()); n != 1 {
		t.Errorf("the standby saw %d requests, want 1 (the active one is remembered)", n)
	}
	if n := len(active.requests()); n != 2 {
		t.Errorf("the active NameNode saw %d requests, want 2", n)
	}
	if !strings.Contains(logs.String(), "failed over") {
		t.Errorf("failover not logged:\n%s", logs.String())
	}

	// Every NameNode a standby: the StandbyException, retryable.
	c = testClient(Config{NameNodes: []string{standby.URL, standby.URL}}, nil)
	err := c.mkdirs(context.Background(), "/w")
	if !isException(err, "StandbyException") || !routing.Retryable(err) {
		t.Errorf("all standby: %v", err)
	}
	// A request that reached the NameNode and failed otherwise is not sent elsewhere.
	denied := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		remoteBody(w, 403, "AccessControlException", "Permission denied")
	})
	other := newFake(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"boolean":true}`) })
	c = testClient(Config{NameNodes: []string{denied.URL, other.URL}}, nil)
	if err := c.mkdirs(context.Background(), "/w"); !isException(err, "AccessControlException") || routing.Retryable(err) || len(other.requests()) != 0 {
		t.Errorf("access denied: %v (other NameNode saw %d requests)", err, len(other.requests()))
	}
}

func TestTwoSteps(t *testing.T) {
	var dn *fake
	dn = newFake(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method == http.MethodPut && string(body) == "refuse me":
			remoteBody(w, 403, "AccessControlException", "no")
		case r.Method == http.MethodPut:
			w.WriteHeader(http.StatusCreated)
		case r.Method == http.MethodGet:
			fmt.Fprint(w, "file bytes")
		}
	})
	mode := "307"
	nn := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if n, _ := io.Copy(io.Discard, r.Body); n != 0 {
			t.Errorf("the NameNode step carried %d bytes", n)
		}
		loc := dn.URL + r.URL.Path + "?" + r.URL.RawQuery + "&namenoderpcaddress=nn:8020"
		switch mode {
		case "307":
			http.Redirect(w, r, loc, http.StatusTemporaryRedirect)
		case "json":
			fmt.Fprintf(w, `{"Location":%q}`, loc)
		case "no location":
			w.WriteHeader(http.StatusTemporaryRedirect)
		}
	})
	c := testClient(Config{NameNodes: []string{nn.URL}, User: "etl"}, nil)
	ctx := context.Background()
	for _, m := range []string{"307", "json"} {
		mode = m
		if err := c.create(ctx, "/w/f", []byte("data"), false); err != nil {
			t.Errorf("create (%s): %v", m, err)
		}
		if got, err := c.open(ctx, "/w/f"); err != nil || string(got) != "file bytes" {
			t.Errorf("open (%s): %q, %v", m, got, err)
		}
	}
	reqs := dn.requests()
	if len(reqs) != 4 || !strings.Contains(reqs[0], "op=CREATE") || !strings.Contains(reqs[0], "overwrite=false") || !strings.Contains(reqs[0], "user.name=etl") {
		t.Errorf("DataNode requests %q", reqs)
	}
	mode = "no location"
	var pe *ProtocolError
	if err := c.create(ctx, "/w/f", []byte("x"), false); !errors.As(err, &pe) || !routing.Retryable(err) {
		t.Errorf("a redirect without Location: %v", err)
	}
	mode = "307"
	err := c.create(ctx, "/w/f", []byte("refuse me"), false)
	var re *RemoteError
	if !errors.As(err, &re) || !re.DataNode || re.Op != "CREATE" || !refusedUpload(err) {
		t.Errorf("a DataNode refusal: %v", err)
	}
}

func TestRenameAnswers(t *testing.T) {
	answer := ""
	nn := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Query().Get("op") == "GETFILESTATUS":
			fmt.Fprint(w, `{"FileStatus":{"type":"FILE","length":3,"pathSuffix":""}}`)
		case answer == "exists":
			remoteBody(w, 403, "FileAlreadyExistsException", "rename destination /w/g already exists.")
		case answer == "false":
			fmt.Fprint(w, `{"boolean":false}`)
		case answer == "standby":
			remoteBody(w, 403, "StandbyException", "standby")
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	c := testClient(Config{NameNodes: []string{nn.URL}}, nil)
	ctx := context.Background()
	for _, tt := range []struct {
		answer    string
		overwrite bool
		check     func(error) bool
	}{
		{"", false, func(err error) bool { return err == nil }},
		{"exists", false, func(err error) bool { return errors.Is(err, errExists) }},
		{"exists", true, func(err error) bool { return isException(err, "FileAlreadyExistsException") }},
		{"false", false, func(err error) bool { return errors.Is(err, errExists) }}, // a server ignoring renameoptions
		{"standby", false, func(err error) bool { return isException(err, "StandbyException") && routing.Retryable(err) }},
	} {
		answer = tt.answer
		if err := c.rename(ctx, "/w/.tmp-g", "/w/g", tt.overwrite); !tt.check(err) {
			t.Errorf("rename with answer %q overwrite=%v: %v", tt.answer, tt.overwrite, err)
		}
	}
	last := nn.requests()
	if q := last[0]; !strings.Contains(q, "renameoptions=NONE") || !strings.Contains(q, "destination=%2Fw%2Fg") {
		t.Errorf("RENAME request %q", q)
	}
}

func TestListing(t *testing.T) {
	answer := ""
	nn := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		switch answer {
		case "missing":
			remoteBody(w, 404, "FileNotFoundException", "File /w does not exist.")
		case "file":
			fmt.Fprint(w, `{"FileStatuses":{"FileStatus":[{"pathSuffix":"","type":"FILE","length":1}]}}`)
		case "garbage":
			fmt.Fprint(w, `<html>`)
		default:
			fmt.Fprint(w, `{"FileStatuses":{"FileStatus":[{"pathSuffix":"a","type":"FILE","length":1},{"pathSuffix":"sub","type":"DIRECTORY","length":0}]}}`)
		}
	})
	c := testClient(Config{NameNodes: []string{nn.URL}}, nil)
	ctx := context.Background()
	entries, exists, err := c.list(ctx, "/w")
	if err != nil || !exists || len(entries) != 2 || entries[0].PathSuffix != "a" || entries[1].Type != "DIRECTORY" {
		t.Errorf("list: %+v %v %v", entries, exists, err)
	}
	answer = "missing"
	if entries, exists, err := c.list(ctx, "/w"); err != nil || exists || entries != nil {
		t.Errorf("list of a missing directory: %v %v %v", entries, exists, err)
	}
	answer = "file"
	if _, _, err := c.list(ctx, "/w"); err == nil || routing.Retryable(err) {
		t.Errorf("list of a file: %v, want a permanent error", err)
	}
	answer = "garbage"
	var pe *ProtocolError
	if _, _, err := c.list(ctx, "/w"); !errors.As(err, &pe) {
		t.Errorf("list answered with HTML: %v", err)
	}
}

// TestTokenNeverShown: with a delegation token, requests carry it (and no user.name),
// and neither errors nor logs ever show it, even when they concern a request URL.
func TestTokenNeverShown(t *testing.T) {
	const token = "SECRETTOKEN-Abc123"
	dead := deadAddr(t)
	nn := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("op") == "CREATE" {
			// Redirect to a DataNode that is down: the client's error is about a URL
			// holding the token.
			http.Redirect(w, r, dead+r.URL.Path+"?"+r.URL.RawQuery, http.StatusTemporaryRedirect)
			return
		}
		remoteBody(w, 403, "StandbyException", "standby")
	})
	var logs bytes.Buffer
	c := testClient(Config{NameNodes: []string{nn.URL, dead}, DelegationToken: token}, &logs)
	ctx := context.Background()
	var errs []error
	errs = append(errs, c.create(ctx, "/w/f", []byte("x"), false))
	errs = append(errs, c.mkdirs(ctx, "/w"))
	for _, err := range errs {
		if err == nil {
			t.Fatalf("expected failures")
		}
		if strings.Contains(err.Error(), token) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), token) {
			t.Errorf("error shows the token: %v", err)
		}
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("logs show the token:\n%s", logs.String())
	}
	for _, q := range nn.requests() {
		if !strings.Contains(q, "delegation="+token) || strings.Contains(q, "user.name") {
			t.Errorf("request %q does not authenticate with the token alone", q)
		}
	}
}
