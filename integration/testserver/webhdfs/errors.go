package webhdfs

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// exception is a Java exception the server can answer with, and the HTTP status
// Hadoop's ExceptionHandler maps it to: 404 for FileNotFoundException, 403 for every
// other IOException (and for SecurityException and AuthorizationException), 400 for
// IllegalArgumentException and UnsupportedOperationException, 500 for anything else.
type exception struct {
	class  string // javaClassName
	status int
}

var exceptions = map[string]exception{
	"FileNotFoundException":            {"java.io.FileNotFoundException", http.StatusNotFound},
	"FileAlreadyExistsException":       {"org.apache.hadoop.fs.FileAlreadyExistsException", http.StatusForbidden},
	"ParentNotDirectoryException":      {"org.apache.hadoop.fs.ParentNotDirectoryException", http.StatusForbidden},
	"PathIsNotEmptyDirectoryException": {"org.apache.hadoop.fs.PathIsNotEmptyDirectoryException", http.StatusForbidden},
	"AccessControlException":           {"org.apache.hadoop.security.AccessControlException", http.StatusForbidden},
	"IOException":                      {"java.io.IOException", http.StatusForbidden},
	"StandbyException":                 {"org.apache.hadoop.ipc.StandbyException", http.StatusForbidden},
	"RetriableException":               {"org.apache.hadoop.ipc.RetriableException", http.StatusForbidden},
	"SafeModeException":                {"org.apache.hadoop.hdfs.server.namenode.SafeModeException", http.StatusForbidden},
	"DSQuotaExceededException":         {"org.apache.hadoop.hdfs.protocol.DSQuotaExceededException", http.StatusForbidden},
	"InvalidToken":                     {"org.apache.hadoop.security.token.SecretManager$InvalidToken", http.StatusForbidden},
	"SecurityException":                {"java.lang.SecurityException", http.StatusForbidden},
	"InvalidPathException":             {"org.apache.hadoop.fs.InvalidPathException", http.StatusBadRequest},
	"IllegalArgumentException":         {"java.lang.IllegalArgumentException", http.StatusBadRequest},
	"UnsupportedOperationException":    {"java.lang.UnsupportedOperationException", http.StatusBadRequest},
	"RuntimeException":                 {"java.lang.RuntimeException", http.StatusInternalServerError},
	"NullPointerException":             {"java.lang.NullPointerException", http.StatusInternalServerError},
}

// remoteError is an answer in Hadoop's error shape:
// {"RemoteException":{"exception":...,"javaClassName":...,"message":...}}.
type remoteError struct {
	status    int
	exception string
	message   string
}

func (e *remoteError) Error() string { return e.exception + ": " + e.message }

// remote builds an error for a known exception with Hadoop's status for it.
func remote(name, format string, args ...any) *remoteError {
	ex, ok := exceptions[name]
	if !ok {
		panic("webhdfs test server: unknown exception " + name)
	}
	return &remoteError{status: ex.status, exception: name, message: fmt.Sprintf(format, args...)}
}

// withStatus is the same error answered with another status (what an injected fault
// or a proxy in front of the cluster may do).
func (e *remoteError) withStatus(status int) *remoteError {
	c := *e
	c.status = status
	return &c
}

func (e *remoteError) body() []byte {
	b, _ := json.Marshal(map[string]any{"RemoteException": map[string]string{
		"exception":     e.exception,
		"javaClassName": exceptions[e.exception].class,
		"message":       e.message,
	}})
	return b
}

func writeRemote(w http.ResponseWriter, e *remoteError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_, _ = w.Write(e.body())
}

// invalidParam is Hadoop's answer to a query parameter that does not parse.
func invalidParam(name, value, why string) *remoteError {
	return remote("IllegalArgumentException", "Invalid value for webhdfs parameter %q: %s", name, fmt.Sprintf(why, value))
}
