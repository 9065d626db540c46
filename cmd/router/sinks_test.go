package main

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSinkKindsValidate(t *testing.T) {
	cases := []struct {
		name, spec string
		want       []string // substrings of the errors, in order; none when valid
	}{
		{"valid lake", "{kind: lake, path: /data/lake, codec: null}", nil},
		{"unknown key", "{kind: lake, path: /data/lake, colour: blue}", []string{"sinks.lake: ", "field colour not found"}},
		{"every problem at once", "{kind: lake, path: relative, codec: zstd}", []string{"sinks.lake.path: must be an absolute path", "sinks.lake.codec: unknown codec"}},
	}
	kinds := sinkKinds()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var n yaml.Node
			if err := yaml.Unmarshal([]byte(c.spec), &n); err != nil {
				t.Fatal(err)
			}
			errs := kinds["lake"].Validate("sinks.lake", n.Content[0])
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
