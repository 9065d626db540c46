package main

import (
	"bytes"
	"fmt"
	"log/slog"

	"gopkg.in/yaml.v3"

	"github.com/waybill-data/waybill/adapters/lake"
	"github.com/waybill-data/waybill/routing"
)

// sinkKinds wires the store adapters this binary supports into the router.
func sinkKinds() map[string]routing.SinkKind {
	return map[string]routing.SinkKind{
		"lake": {
			Validate: func(path string, spec *yaml.Node) []error {
				var c lakeSpec
				if err := decodeStrict(spec, &c); err != nil {
					return []error{fmt.Errorf("%s: %v", path, err)}
				}
				return c.Config.Validate(path)
			},
			Open: func(spec *yaml.Node, log *slog.Logger) (routing.Sink, error) {
				var c lakeSpec
				if err := decodeStrict(spec, &c); err != nil {
					return nil, err
				}
				return lake.New(c.Config, log)
			},
		},
	}
}

type lakeSpec struct {
	Kind        string `yaml:"kind"`
	lake.Config `yaml:",inline"`
}

// decodeStrict decodes a YAML mapping, rejecting keys the target does not know.
func decodeStrict(n *yaml.Node, into any) error {
	raw, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	return dec.Decode(into)
}
