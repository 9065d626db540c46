package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/waybill-data/waybill/routing"
	"github.com/waybill-data/waybill/schemas/auth"
)

// tokensReload is how often the tokens file is checked for changes.
const tokensReload = 2 * time.Second

// loadAuthority loads auth.tokens_file and keeps it reloaded until ctx ends; without
// one the router runs open, and says so loudly.
func loadAuthority(ctx context.Context, cfg *routing.Config, log *slog.Logger) (*auth.Authority, error) {
	if cfg.Auth.TokensFile == "" {
		log.Warn("AUTHENTICATION IS OFF: no auth.tokens_file is configured, so anyone who can reach this router may send events to every contract, replay dead letters and erase keys; configure a tokens file for any deployment beyond a laptop")
		return nil, nil
	}
	a, err := auth.Load(cfg.Auth.TokensFile)
	if err != nil {
		return nil, fmt.Errorf("auth.tokens_file: %w", err)
	}
	go a.Watch(ctx, tokensReload, log.With("component", "auth", "path", cfg.Auth.TokensFile))
	log.Info("authentication on: bearer tokens (and listed client certificates) from the tokens file", "path", cfg.Auth.TokensFile)
	return a, nil
}

// listenerTLS builds the listener's TLS configuration (nil without tls.cert_file); see
// auth.ServerTLS for client certificates.
func listenerTLS(t routing.ListenerTLS) (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	cfg, err := auth.ServerTLS(t.CertFile, t.KeyFile, t.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return cfg, nil
}
