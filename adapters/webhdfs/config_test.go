package webhdfs

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/waybill-data/waybill/routing"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{NameNodes: []string{"http://nn1:9870"}, Root: "/data/waybill", User: "etl"}
	with := func(f func(*Config)) Config {
		c := ok
		c.NameNodes = append([]string(nil), ok.NameNodes...)
		f(&c)
		return c
	}
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings, one per expected error, in order
	}{
		{"ok", ok, nil},
		{"ok: HA pair, token, codec, timeout", with(func(c *Config) {
			c.NameNodes = []string{"http://nn1:9870", "https://nn2:9871/"}
			c.User, c.DelegationToken, c.Codec, c.Timeout = "", "tok", CodecNull, routing.Duration(time.Second)
		}), nil},
		{"ok: root /", with(func(c *Config) { c.Root = "/" }), nil},
		{"no namenode", with(func(c *Config) { c.NameNodes = nil }), []string{"s.namenodes: at least one NameNode"}},
		{"bad scheme", with(func(c *Config) { c.NameNodes = []string{"webhdfs://nn:9870"} }), []string{`s.namenodes[0]: "webhdfs://nn:9870" must be an http://`}},
		{"no host", with(func(c *Config) { c.NameNodes = []string{"http://"} }), []string{"s.namenodes[0]: \"http://\" has no host"}},
		{"credentials", with(func(c *Config) { c.NameNodes = []string{"http://u:p@nn:9870"} }), []string{"s.namenodes[0]: credentials in the URL"}},
		{"path", with(func(c *Config) { c.NameNodes = []string{"http://nn:9870/webhdfs/v1"} }), []string{"s.namenodes[0]: \"http://nn:9870/...\" must be the NameNode's base URL"}},
		{"query", with(func(c *Config) { c.NameNodes = []string{"http://nn:9870?user.name=x"} }), []string{"must be the NameNode's base URL"}},
		{"second bad", with(func(c *Config) { c.NameNodes = append(c.NameNodes, "nn2") }), []string{"s.namenodes[1]:"}},
		{"no root", with(func(c *Config) { c.Root = "" }), []string{"s.root: is required"}},
		{"relative root", with(func(c *Config) { c.Root = "data" }), []string{`s.root: must be an absolute HDFS path, got "data"`}},
		{"unclean root", with(func(c *Config) { c.Root = "/data//w/" }), []string{"s.root: must be a clean path"}},
		{"dot-dot root", with(func(c *Config) { c.Root = "/data/../w" }), []string{`s.root: "data/../w": empty, "." and ".." components`}},
		{"colon root", with(func(c *Config) { c.Root = "/data/a:b" }), []string{"s.root: \"data/a:b\": HDFS names cannot contain ':'"}},
		{"long root", with(func(c *Config) { c.Root = "/" + strings.Repeat("x", 256) }), []string{"more than HDFS's default limit of 255"}},
		{"no user", with(func(c *Config) { c.User = "" }), []string{"s.user: a user (simple authentication) or a delegation_token is required; SPNEGO/Kerberos is not supported yet"}},
		{"both", with(func(c *Config) { c.DelegationToken = "tok" }), []string{"s.delegation_token: use either user or delegation_token"}},
		{"bad user", with(func(c *Config) { c.User = "a&b" }), []string{`s.user: "a&b" is not a valid user name`}},
		{"negative timeout", with(func(c *Config) { c.Timeout = -1 }), []string{"s.timeout: must not be negative"}},
		{"codec", with(func(c *Config) { c.Codec = "snappy" }), []string{`s.codec: unknown codec "snappy" (want "null" or "deflate")`}},
		{"everything", Config{Codec: "x", Timeout: -1}, []string{"s.namenodes", "s.root", "s.user", "s.timeout", "s.codec"}},
	}
	for _, tt := range tests {
		errs := tt.cfg.Validate("s")
		if len(errs) != len(tt.want) {
			t.Errorf("%s: got %v, want %d errors", tt.name, errs, len(tt.want))
			continue
		}
		for i, w := range tt.want {
			if !strings.Contains(errs[i].Error(), w) {
				t.Errorf("%s: error %q lacks %q", tt.name, errs[i], w)
			}
		}
	}
	if errs := (Config{}).Validate(""); len(errs) == 0 || !strings.HasPrefix(errs[0].Error(), "namenodes: ") {
		t.Errorf("empty prefix: %v", errs)
	}
	if _, err := New(Config{}, nil); err == nil || !strings.Contains(err.Error(), "webhdfs.namenodes") {
		t.Errorf("New with a bad config: %v", err)
	}
}

func TestConfigDefaultsAndRedaction(t *testing.T) {
	c := Config{NameNodes: []string{"http://nn:9870"}, Root: "/w", DelegationToken: "HAAHdXNlcjEAAA-secret-token"}
	if c.timeout() != DefaultTimeout || c.codec() != CodecDeflate {
		t.Errorf("defaults: timeout %s codec %s", c.timeout(), c.codec())
	}
	for _, s := range []string{c.String(), c.GoString(), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
		if strings.Contains(s, "secret") {
			t.Errorf("config text leaks the token: %s", s)
		}
		if !strings.Contains(s, "[REDACTED]") {
			t.Errorf("config text does not say a token is set: %s", s)
		}
	}
	c.DelegationToken = ""
	if !strings.Contains(c.String(), `delegation_token=""`) {
		t.Errorf("no token: %s", c.String())
	}
}

// TestConfigYAML: the router decodes a sink's mapping into Config with unknown keys
// refused (cmd/router's kindOf); the keys are the yaml tags.
func TestConfigYAML(t *testing.T) {
	const spec = `
namenodes: [http://nn1:9870, http://nn2:9870]
root: /data/waybill
delegation_token: tok
timeout: 5s
codec: "null"
`
	dec := yaml.NewDecoder(strings.NewReader(spec))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	want := Config{NameNodes: []string{"http://nn1:9870", "http://nn2:9870"}, Root: "/data/waybill", DelegationToken: "tok",
		Timeout: routing.Duration(5 * time.Second), Codec: CodecNull}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("decoded %s, want %s", c, want)
	}
	if errs := c.Validate("sinks.hdfs"); len(errs) != 0 {
		t.Errorf("a valid spec: %v", errs)
	}
	dec = yaml.NewDecoder(strings.NewReader("namenodes: [http://nn:9870]\nroot: /w\nuser: etl\nkerberos: true\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&Config{}); err == nil || !strings.Contains(err.Error(), "kerberos") {
		t.Errorf("an unknown key: %v", err)
	}
}
