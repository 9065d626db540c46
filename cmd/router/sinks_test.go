package main

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSinkKindsValidate(t *testing.T) {
	cases := []struct {
		name, kind, spec string
		want             []string // substrings of the errors, in order; none when valid
	}{
		{"valid lake", "lake", "{kind: lake, path: /data/lake, codec: null}", nil},
		{"unknown key", "lake", "{kind: lake, path: /data/lake, colour: blue}", []string{"sinks.lake: ", "field colour not found"}},
		{"every problem at once", "lake", "{kind: lake, path: relative, codec: zstd}", []string{"sinks.lake.path: must be an absolute path", "sinks.lake.codec: unknown codec"}},
		{"valid mongodb", "mongodb", "{kind: mongodb, uri: 'mongodb://127.0.0.1:27017', database: events, write_timeout: 15s}", nil},
		{"mongodb without uri", "mongodb", "{kind: mongodb, database: events}", []string{"sinks.lake.uri"}},
		{"valid elasticsearch", "elasticsearch", "{kind: elasticsearch, addresses: ['http://127.0.0.1:9200'], timeout: 5s}", nil},
		{"elasticsearch without addresses", "elasticsearch", "{kind: elasticsearch}", []string{"sinks.lake.addresses"}},
	}
	kinds := sinkKinds()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n yaml.Node
			if err := yaml.Unmarshal([]byte(c.spec), &n); err != nil {
				t.Fatal(err)
			}
			kind, ok := kinds[c.kind]
			if !ok {
				t.Fatalf("kind %s is not wired into the router", c.kind)
			}
			errs := kind.Validate("sinks.lake", n.Content[0])
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			joined := strings.Join(got, "\n")
			if len(c.want) == 0 && len(errs) != 0 {
				t.Fatalf("unexpected errors:\n%s", joined)
			}
			for _, w := range c.want {
				if !strings.Contains(joined, w) {
					t.Fatalf("errors lack %q:\n%s", w, joined)
				}
			}
		})
	}
}
