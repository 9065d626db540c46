package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/waybill-data/waybill/routing"
)

func TestLoadAuthority(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := loadAuthority(ctx, &routing.Config{}, log)
	if a != nil || err != nil || !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), "AUTHENTICATION IS OFF") {
		t.Fatalf("without a tokens file: %v %v, log %s", a, err, logs.String())
	}
	missing := filepath.Join(t.TempDir(), "tokens.yaml")
	if _, err := loadAuthority(ctx, &routing.Config{Auth: routing.AuthConfig{TokensFile: missing}}, log); err == nil ||
		!strings.Contains(err.Error(), "auth.tokens_file") || !strings.Contains(err.Error(), missing) {
		t.Fatalf("a missing tokens file: %v", err)
	}
	if err := os.WriteFile(missing, []byte("tokens: [{name: x}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadAuthority(ctx, &routing.Config{Auth: routing.AuthConfig{TokensFile: missing}}, log); err == nil || !strings.Contains(err.Error(), "tokens[0].team") {
		t.Fatalf("a tokens file that does not parse: %v", err)
	}
}

func TestListenerTLSFiles(t *testing.T) {
	if c, err := listenerTLS(routing.ListenerTLS{}); c != nil || err != nil {
		t.Fatalf("without TLS: %v %v", c, err)
	}
	dir := t.TempDir()
	_, err := listenerTLS(routing.ListenerTLS{CertFile: filepath.Join(dir, "c.pem"), KeyFile: filepath.Join(dir, "k.pem")})
	if err == nil || !strings.HasPrefix(err.Error(), "tls: ") || !strings.Contains(err.Error(), "c.pem") {
		t.Fatalf("missing certificate files: %v", err)
	}
}
