// Package netfault holds the network faults and recoveries the protocol-level test
// servers share: aborting a connection without an answer, and listening again on the
// address a downed server gave up.
package netfault

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Reset closes the client's connection under w without a response, with SO_LINGER 0
// where possible so that the client sees a reset. w (or what it wraps, through
// Unwrap) must support hijacking; otherwise the handler is aborted.
func Reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if errors.Is(err, http.ErrNotSupported) {
		panic(http.ErrAbortHandler)
	}
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// Relisten listens on addr again, retrying until within has passed while the port,
// just closed, lingers.
func Relisten(addr string, within time.Duration) (net.Listener, error) {
	deadline := time.Now().Add(within)
	for {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			return ln, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("listening again on %s: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // retry backoff for the port to be free
	}
}
