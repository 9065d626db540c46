package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecurityFlags(t *testing.T) {
	base := []string{"--data-dir", "d"}
	cases := []struct {
		args []string
		err  string // "" = accepted
	}{
		{[]string{"--tokens-file", "t.yaml"}, ""},
		{[]string{"--tls-cert", "c.pem", "--tls-key", "k.pem"}, ""},
		{[]string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-client-ca", "ca.pem", "--tokens-file", "t.yaml"}, ""},
		{[]string{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-key", "k.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-client-ca", "ca.pem", "--tokens-file", "t.yaml"}, "--tls-client-ca needs --tls-cert"},
		{[]string{"--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-client-ca", "ca.pem"}, "--tls-client-ca needs --tokens-file"},
	}
	for _, c := range cases {
		_, err := parseFlags(append(base, c.args...), io.Discard)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%v: %v", c.args, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%v: %v, want %q", c.args, err, c.err)
		}
	}
}

// TestBadSecurityFilesStopTheStart: a tokens file or certificate that does not load
// stops the registry before it serves anything.
func TestBadSecurityFilesStopTheStart(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "tokens.yaml")
	if err := os.WriteFile(bad, []byte("tokens: [oops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"--tokens-file", bad}, bad},
		{[]string{"--tokens-file", filepath.Join(dir, "missing.yaml")}, "missing.yaml"},
		{[]string{"--tls-cert", filepath.Join(dir, "c.pem"), "--tls-key", filepath.Join(dir, "k.pem")}, "--tls-cert"},
	} {
		args := append([]string{"--data-dir", filepath.Join(dir, "etcd"), "--listen", "127.0.0.1:0"}, c.args...)
		err := run(context.Background(), args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%v: %v, want an error naming %q", c.args, err, c.err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "etcd")); !os.IsNotExist(err) {
		t.Errorf("the embedded etcd was started anyway: %v", err)
	}
}
