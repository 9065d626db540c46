package routing

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestConfigValidateReportsEveryErrorWithItsPath(t *testing.T) {
	kinds := map[string]SinkKind{"fake": {Validate: func(path string, _ *yaml.Node) []error { return nil }}}
	cases := []struct {
		name string
		yaml string
		want []string // every one must appear; none when valid
	}{
		{"valid", `
state_dir: /tmp/s
etcd_endpoints: [127.0.0.1:2379]
sinks: {lake: {kind: fake}}
routes:
  lake: {sink: lake, class: analytic, target: "{contract}/dt={date}"}
  scratch: {sink: lake, class: runtime, mode: latest, target: "runtime/{contract}", max_lag: 5m}
`, nil},
		{"everything wrong at once", `
listen: nowhere
etcd_endpoints: [bad]
etcd_prefix: waybill
max_body_bytes: 10
wal: {segment_bytes: 1KiB}
sinks: {Bad: {kind: nosuch}, x: {}}
routes:
  r1: {sink: missing, class: fast, mode: sideways, target: "{nope}", batch: {max_events: -1}}
  r2: {sink: x, class: analytic, target: "t", max_lag: 1m}
  R3: {sink: x, target: "t"}
`, []string{
			`listen: "nowhere" is not host:port`,
			"state_dir: is required",
			`etcd_endpoints[0]: "bad" is not host:port`,
			`etcd_prefix: "waybill" must start and end with '/'`,
			"max_body_bytes: 10 is too small",
			"wal.segment_bytes: 1024 is too small",
			`sinks.Bad: sink name "Bad" must be lower-case`,
			`sinks.Bad.kind: unknown kind "nosuch" (one of fake)`,
			"sinks.x.kind: is required (one of fake)",
			`routes.r1.sink: unknown sink "missing"`,
			`routes.r1.class: unknown class "fast"`,
			`routes.r1.mode: unknown mode "sideways"`,
			"routes.r1.target: ",
			"routes.r1.batch.max_events: must be at least 1",
			"routes.r2.max_lag: applies to runtime routes only",
			`routes.R3: route name "R3" must be lower-case`,
			"routes.R3.class: is required",
		}},
		{"nothing configured", `state_dir: /tmp/s
etcd_endpoints: [127.0.0.1:2379]
`, []string{"sinks: at least one sink is required", "routes: at least one route is required"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(c.yaml))
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate(kinds)
			if len(c.want) == 0 {
				if err != nil {
					t.Fatalf("valid config refused:\n%v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("invalid config accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("errors lack %q; got:\n%v", w, err)
				}
			}
		})
	}
}

func TestParseConfigRefusesUnknownKeys(t *testing.T) {
	_, err := ParseConfig([]byte("listen: 127.0.0.1:1\nlisten_addr: x\n"))
	if err == nil || !strings.Contains(err.Error(), "listen_addr") {
		t.Fatalf("unknown key: %v", err)
	}
}
