package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{"", time.Time{}, false},
		{"2026-11-22T10:30:00+01:00", time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC), false},
		{"2026-11-22T10", time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), false},
		{"2026-11-22", time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), false},
		{"24h", now.Add(-24 * time.Hour), false},
		{"-5m", time.Time{}, true},
		{"yesterday", time.Time{}, true},
	}
	for _, c := range cases {
		got, err := parseWhen(c.in, now)
		if (err != nil) != c.err || !got.Equal(c.want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v (error %v)", c.in, got, err, c.want, c.err)
		}
	}
}

func TestVerifyRefusesBadUsage(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "router.yaml")
	if err := os.WriteFile(cfg, []byte("state_dir: /tmp/x\netcd_endpoints: [127.0.0.1:1]\nsinks: {}\nroutes: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{nil, "--config is required"},
		{[]string{"--config", cfg, "extra"}, "verify takes no arguments"},
		{[]string{"--config", cfg, "--since", "soon"}, "--since"},
		{[]string{"--config", cfg, "--since", "2026-11-22T10", "--until", "2026-11-22T09"}, "--until must be after --since"},
		{[]string{"--config", cfg}, "at least one sink is required"},
	}
	for _, c := range cases {
		var stdout, stderr bytes.Buffer
		err := runVerify(t.Context(), c.args, &stdout, &stderr)
		var ce configError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("verify %v: %v; want a configuration error saying %q", c.args, err, c.want)
		}
	}
}
