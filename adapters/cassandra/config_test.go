package cassandra

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"gopkg.in/yaml.v3"

	"github.com/waybill-data/waybill/routing"
)

func TestValidate(t *testing.T) {
	ok := Config{Hosts: []string{"cass1"}, Keyspace: "events"}
	tests := []struct {
		name string
		cfg  func(c *Config)
		want []string // substrings, one per expected error, in order
	}{
		{"minimal", func(c *Config) {}, nil},
		{"everything set", func(c *Config) {
			c.Hosts = []string{"10.0.0.1", "cass2.example.com:9142", "::1", "[fe80::1]:9042"}
			c.Port, c.LocalDC, c.Username, c.Password = 9043, "dc1", "app", "secret"
			c.Consistency = ConsistencyConfig{Analytic: "each_quorum", Runtime: "LOCAL_ONE"}
			c.Timeout, c.ConnectTimeout, c.ReconnectInterval = routing.Duration(time.Second), routing.Duration(time.Second), routing.Duration(time.Second)
			c.CreateTables, c.MaxBatchStatements, c.MaxBatchBytes, c.Concurrency = true, 10, 1<<20, 4
		}, nil},
		{"missing", func(c *Config) { *c = Config{} }, []string{"sinks.c.hosts: at least one host is required", "sinks.c.keyspace: is required"}},
		{"hosts", func(c *Config) { c.Hosts = []string{"", "http://x:9042", "h:port", "h:70000", ":9042"} }, []string{
			"sinks.c.hosts[0]: empty host", `sinks.c.hosts[1]: "http://x:9042" must be a host name`, `sinks.c.hosts[2]: "h:port": "port" is not a TCP port`,
			`sinks.c.hosts[3]: "h:70000": "70000" is not a TCP port`, `sinks.c.hosts[4]: ":9042" has no host`}},
		{"port", func(c *Config) { c.Port = 70000 }, []string{"sinks.c.port: 70000 is not a TCP port"}},
		{"keyspace case", func(c *Config) { c.Keyspace = "Events" }, []string{`sinks.c.keyspace: "Events" is not a keyspace name`}},
		{"keyspace too long", func(c *Config) { c.Keyspace = strings.Repeat("k", 49) }, []string{"sinks.c.keyspace: "}},
		{"keyspace system", func(c *Config) { c.Keyspace = "system_auth" }, []string{`"system_auth" is reserved`}},
		{"password without user", func(c *Config) { c.Password = "secret" }, []string{"sinks.c.password: a password needs a username"}},
		{"consistency", func(c *Config) { c.Consistency = ConsistencyConfig{Analytic: "ANY", Runtime: "serial"} }, []string{
			`sinks.c.consistency.analytic: "ANY" is not a write consistency level`, `sinks.c.consistency.runtime: "serial" is not a write consistency level`}},
		{"negative durations", func(c *Config) {
			c.Timeout, c.ConnectTimeout, c.ReconnectInterval = -1, routing.Duration(-time.Second), -2
		}, []string{"sinks.c.timeout: must not be negative", "sinks.c.connect_timeout: must not be negative", "sinks.c.reconnect_interval: must not be negative"}},
		{"batch limits", func(c *Config) { c.MaxBatchStatements, c.MaxBatchBytes, c.Concurrency = -1, -1, 1000 }, []string{
			"sinks.c.max_batch_statements: must be between 1 and 65535", "sinks.c.max_batch_bytes: must not be negative", "sinks.c.concurrency: must be between 1 and 256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.cfg(&c)
			errs := c.Validate("sinks.c")
			if len(errs) != len(tt.want) {
				t.Fatalf("Validate = %v, want %d error(s) %q", errs, len(tt.want), tt.want)
			}
			for i, err := range errs {
				if !strings.Contains(err.Error(), tt.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, err, tt.want[i])
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %d leaks the password: %q", i, err)
				}
			}
		})
	}
	if errs := (Config{}).Validate(""); len(errs) == 0 || !strings.HasPrefix(errs[0].Error(), "hosts: ") {
		t.Errorf("Validate(\"\") = %v, want errors without a path prefix", errs)
	}
}

func TestConfigFromYAML(t *testing.T) {
	const doc = `
hosts: [cass1, "cass2:9142"]
keyspace: events
local_dc: dc1
username: app
password: s3cret
consistency: {analytic: quorum}
timeout: 3s
create_tables: true
max_batch_bytes: 16KiB
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if errs := c.Validate(""); len(errs) > 0 {
		t.Fatalf("Validate: %v", errs)
	}
	if c.Timeout.D() != 3*time.Second || !c.CreateTables || c.maxBatchBytes() != 16<<10 || c.LocalDC != "dc1" {
		t.Errorf("decoded %+v", c)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("config", "config", c)
	for _, shown := range []string{c.String(), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), logged.String()} {
		if strings.Contains(shown, "s3cret") {
			t.Errorf("the password leaks: %s", shown)
		}
	}
	for _, want := range []string{`password=[REDACTED]`, "consistency={analytic=QUORUM runtime=ONE}", "create_tables=true", `username="app"`} {
		if !strings.Contains(c.String(), want) {
			t.Errorf("String() = %s, want it to contain %s", c.String(), want)
		}
	}
	if got := (Config{}).String(); !strings.Contains(got, `password=""`) {
		t.Errorf("String() without a password = %s", got)
	}
}

func TestConsistencyPerClass(t *testing.T) {
	tests := []struct {
		name     string
		set      ConsistencyConfig
		analytic gocql.Consistency
		runtime  gocql.Consistency
	}{
		{"defaults", ConsistencyConfig{}, gocql.LocalQuorum, gocql.One},
		{"overrides", ConsistencyConfig{Analytic: "QUORUM", Runtime: "local_one"}, gocql.Quorum, gocql.LocalOne},
		{"each quorum", ConsistencyConfig{Analytic: "EACH_QUORUM"}, gocql.EachQuorum, gocql.One},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Consistency: tt.set}
			if got := c.consistency(routing.Analytic); got != tt.analytic {
				t.Errorf("analytic = %s, want %s", got, tt.analytic)
			}
			if got := c.consistency(routing.Runtime); got != tt.runtime {
				t.Errorf("runtime = %s, want %s", got, tt.runtime)
			}
		})
	}
	if readConsistency(gocql.EachQuorum) != gocql.LocalQuorum || readConsistency(gocql.One) != gocql.One {
		t.Error("readConsistency: EACH_QUORUM reads must become LOCAL_QUORUM, others stay")
	}
}

func TestClusterConfig(t *testing.T) {
	c := Config{Hosts: []string{"h1", "h2:9142"}, Port: 9043, Keyspace: "k", LocalDC: "dc1", Username: "u", Password: "p",
		Timeout: routing.Duration(3 * time.Second)}
	cl := c.cluster(slog.New(slog.DiscardHandler), nil)
	if cl.Port != 9043 || cl.ProtoVersion != 4 || cl.Timeout != 3*time.Second || cl.ConnectTimeout != DefaultConnectTimeout ||
		cl.Consistency != gocql.LocalQuorum || strings.Join(cl.Hosts, ",") != "h1,h2:9142" {
		t.Errorf("cluster config %+v", cl)
	}
	if rp, ok := cl.RetryPolicy.(*gocql.SimpleRetryPolicy); !ok || rp.NumRetries != 0 {
		t.Errorf("retry policy %#v, want no driver retries", cl.RetryPolicy)
	}
	if a, ok := cl.Authenticator.(gocql.PasswordAuthenticator); !ok || a.Username != "u" || a.Password != "p" {
		t.Errorf("authenticator %#v", cl.Authenticator)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, err := New(Config{Hosts: []string{"h"}, Password: "secret"}, nil)
	if err == nil || !strings.Contains(err.Error(), "keyspace: is required") || !strings.Contains(err.Error(), "password: a password needs a username") ||
		strings.Contains(err.Error(), "secret") {
		t.Fatalf("New = %v, want every error, without the password", err)
	}
}
