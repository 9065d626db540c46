package testproc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// readyInterval is how often WaitReady asks.
const readyInterval = 20 * time.Millisecond

// WaitReady polls url with GET until ready accepts the answer, the process exits, or
// the deadline passes, failing the test in the last two cases.
func WaitReady(t testing.TB, p *Proc, url string, within time.Duration, ready func(status int, body []byte) bool) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second}
	var last string
	ok := Poll(within, readyInterval, p.done, func() bool {
		resp, err := c.Get(url)
		if err != nil {
			last = err.Error()
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		return ready(resp.StatusCode, body)
	})
	if !ok {
		if p.Exited() {
			t.Fatalf("%s exited before becoming ready at %s: %v (last answer: %s)", p.Name, url, p.waitErr, last)
		}
		t.Fatalf("%s not ready at %s within %v (last answer: %s)", p.Name, url, within, last)
	}
}

var httpClient = &http.Client{Timeout: 20 * time.Second}

// Call sends a request with an optional JSON body (as application/json) and reads the
// whole answer; transport errors are returned.
func Call(ctx context.Context, method, url string, body any) (int, []byte, error) {
	return CallWith(ctx, nil, method, url, body)
}

// CallWith is Call with extra request headers. A Content-Type in header replaces
// application/json; it is only sent with a body.
func CallWith(ctx context.Context, header http.Header, method, url string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	for k, vs := range header {
		if http.CanonicalHeaderKey(k) == "Content-Type" {
			continue
		}
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if body != nil {
		ct := "application/json"
		if v := header.Get("Content-Type"); v != "" {
			ct = v
		}
		req.Header.Set("Content-Type", ct)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}
