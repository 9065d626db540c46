package webhdfs

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/waybill-data/waybill/routing"
)

func TestClassification(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		retryable bool
	}{
		{"standby", &RemoteError{Status: 403, Exception: "StandbyException"}, true},
		{"retriable", &RemoteError{Status: 403, Exception: "RetriableException"}, true},
		{"safe mode", &RemoteError{Status: 403, Exception: "SafeModeException"}, true},
		{"generic IOException (no DataNodes)", &RemoteError{Status: 403, Exception: "IOException"}, true},
		{"quota", &RemoteError{Status: 403, Exception: "DSQuotaExceededException"}, true},
		{"expired token", &RemoteError{Status: 403, Exception: "InvalidToken"}, true},
		{"vanished file", &RemoteError{Status: 404, Exception: "FileNotFoundException"}, true},
		{"429 without body", &RemoteError{Status: 429}, true},
		{"503 without body", &RemoteError{Status: 503}, true},
		{"401 without body", &RemoteError{Status: 401}, true},
		{"404 without body (webhdfs disabled, a proxy)", &RemoteError{Status: 404}, true},
		{"500 runtime", &RemoteError{Status: 500, Exception: "RuntimeException"}, true},
		{"access denied", &RemoteError{Status: 403, Exception: "AccessControlException"}, false},
		{"invalid path", &RemoteError{Status: 400, Exception: "InvalidPathException"}, false},
		{"file where a directory must be", &RemoteError{Status: 403, Exception: "ParentNotDirectoryException"}, false},
		{"component too long", &RemoteError{Status: 403, Exception: "PathComponentTooLongException"}, false},
		{"illegal argument", &RemoteError{Status: 400, Exception: "IllegalArgumentException"}, false},
		{"400 without body", &RemoteError{Status: 400}, false},
		{"transport", &TransportError{Op: "CREATE", Path: "/x", Err: context.DeadlineExceeded}, true},
		{"protocol", &ProtocolError{Op: "CREATE", Path: "/x", Problem: "no Location"}, true},
		{"deferred after a permanent failure", &deferredError{cause: routing.Permanent(errors.New("x"))}, true},
	}
	for _, tt := range tests {
		if got := routing.Retryable(tt.err); got != tt.retryable {
			t.Errorf("%s: Retryable = %v, want %v", tt.name, got, tt.retryable)
		}
	}
	e := &RemoteError{Op: "CREATE", Path: "/w/d/f", DataNode: true, Status: 403, Exception: "AccessControlException", Message: "Permission denied: user=etl"}
	if got := e.Error(); got != "webhdfs: CREATE /w/d/f (DataNode): HTTP 403 AccessControlException: Permission denied: user=etl" {
		t.Errorf("error text %q", got)
	}
	if got := (&RemoteError{Op: "MKDIRS", Path: "/w", Status: 502, Message: "Bad Gateway"}).Error(); got != "webhdfs: MKDIRS /w: HTTP 502 Bad Gateway" {
		t.Errorf("error text %q", got)
	}
	if !refusedUpload(e) || refusedUpload(&RemoteError{Op: "CREATE", DataNode: true, Status: 403, Exception: "RetriableException"}) ||
		refusedUpload(&RemoteError{Op: "CREATE", Status: 403, Exception: "AccessControlException"}) {
		t.Errorf("refusedUpload does not single out the DataNode's permanent refusals of CREATE")
	}
	te := &TransportError{Op: "OPEN", Path: "/x", Err: context.Canceled}
	if !errors.Is(te, context.Canceled) {
		t.Errorf("TransportError does not unwrap")
	}
}

func TestCheckComponents(t *testing.T) {
	for rel, ok := range map[string]bool{
		"":                                    true,
		"checkout.order_placed/dt=2024-03-01": true,
		"a//b":                                false,
		"a/./b":                               false,
		"a/../b":                              false,
		"a:b":                                 false,
		strings.Repeat("x", 255):              true,
		strings.Repeat("x", 256):              false,
	} {
		if err := checkComponents(rel); (err == nil) != ok {
			t.Errorf("checkComponents(%.30q) = %v, want ok=%v", rel, err, ok)
		}
	}
}
