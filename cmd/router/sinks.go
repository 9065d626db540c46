package main

import (
	"bytes"
	"fmt"
	"log/slog"

	"gopkg.in/yaml.v3"

	"github.com/waybill-data/waybill/adapters/cassandra"
	"github.com/waybill-data/waybill/adapters/elasticsearch"
	"github.com/waybill-data/waybill/adapters/lake"
	"github.com/waybill-data/waybill/adapters/mongodb"
	"github.com/waybill-data/waybill/adapters/webhdfs"
	"github.com/waybill-data/waybill/routing"
)

// sinkKinds wires the store adapters this binary supports into the router: the value
// of a sink's `kind` key selects one, and the rest of its mapping is the adapter's
// Config.
func sinkKinds() map[string]routing.SinkKind {
	return map[string]routing.SinkKind{
		"lake":          kindOf(func(c lake.Config, log *slog.Logger) (routing.Sink, error) { return lake.New(c, log) }),
		"mongodb":       kindOf(func(c mongodb.Config, log *slog.Logger) (routing.Sink, error) { return mongodb.New(c, log) }),
		"elasticsearch": kindOf(func(c elasticsearch.Config, log *slog.Logger) (routing.Sink, error) { return elasticsearch.New(c, log) }),
		"cassandra":     kindOf(func(c cassandra.Config, log *slog.Logger) (routing.Sink, error) { return cassandra.New(c, log) }),
		"webhdfs":       kindOf(func(c webhdfs.Config, log *slog.Logger) (routing.Sink, error) { return webhdfs.New(c, log) }),
	}
}

// adapterConfig is what every adapter's Config provides: a pure validation that
// reports each problem prefixed with its path.
type adapterConfig interface {
	Validate(path string) []error
}

// kindOf builds a SinkKind from an adapter's Config type and constructor.
func kindOf[C adapterConfig](open func(C, *slog.Logger) (routing.Sink, error)) routing.SinkKind {
	return routing.SinkKind{
		Validate: func(path string, spec *yaml.Node) []error {
			var c C
			if err := decodeAdapterConfig(spec, &c); err != nil {
				return []error{fmt.Errorf("%s: %v", path, err)}
			}
			return c.Validate(path)
		},
		Open: func(spec *yaml.Node, log *slog.Logger) (routing.Sink, error) {
			var c C
			if err := decodeAdapterConfig(spec, &c); err != nil {
				return nil, err
			}
			return open(c, log)
		},
	}
}

// decodeAdapterConfig decodes a sink's mapping without its `kind` key into the
// adapter's Config, rejecting keys the Config does not know.
func decodeAdapterConfig(spec *yaml.Node, into any) error {
	n := *spec
	if n.Kind == yaml.MappingNode {
		n.Content = nil
		for i := 0; i+1 < len(spec.Content); i += 2 {
			if spec.Content[i].Value == "kind" {
				continue
			}
			n.Content = append(n.Content, spec.Content[i], spec.Content[i+1])
		}
	}
	raw, err := yaml.Marshal(&n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil {
		return err
	}
	return nil
}
