package main

import (
	"log/slog"

	"gopkg.in/yaml.v3"

	"github.com/waybill-data/waybill/adapters/cassandra"
	"github.com/waybill-data/waybill/adapters/elasticsearch"
	"github.com/waybill-data/waybill/adapters/lake"
	"github.com/waybill-data/waybill/adapters/mongodb"
	"github.com/waybill-data/waybill/adapters/webhdfs"
	"github.com/waybill-data/waybill/routing/verify"
)

// inventoryOpener opens a read-only recount of one sink's store for `router verify`.
type inventoryOpener func(spec *yaml.Node, log *slog.Logger) (verify.Inventory, error)

// inventoryKinds are the sink kinds `router verify` can recount, by kind. Each opens
// its adapter's Inventory from the same configuration as the sink.
func inventoryKinds() map[string]inventoryOpener {
	return map[string]inventoryOpener{
		"cassandra":     inventoryOf(cassandraInventory),
		"elasticsearch": inventoryOf(elasticsearchInventory),
		"lake":          inventoryOf(lakeInventory),
		"mongodb":       inventoryOf(mongodbInventory),
		"webhdfs":       inventoryOf(webhdfsInventory),
	}
}

// inventoryOf builds an opener from an adapter's Config type and inventory constructor.
func inventoryOf[C adapterConfig](open func(C, *slog.Logger) (verify.Inventory, error)) inventoryOpener {
	return func(spec *yaml.Node, log *slog.Logger) (verify.Inventory, error) {
		var c C
		if err := decodeAdapterConfig(spec, &c); err != nil {
			return nil, err
		}
		return open(c, log)
	}
}

func cassandraInventory(c cassandra.Config, log *slog.Logger) (verify.Inventory, error) {
	return cassandra.New(c, log)
}

func elasticsearchInventory(c elasticsearch.Config, log *slog.Logger) (verify.Inventory, error) {
	return elasticsearch.New(c, log)
}

// lakeInventory reads the lake without the sink's lock, beside a running router.
func lakeInventory(c lake.Config, log *slog.Logger) (verify.Inventory, error) {
	return lake.OpenInventory(c, log)
}

func mongodbInventory(c mongodb.Config, log *slog.Logger) (verify.Inventory, error) {
	return mongodb.New(c, log)
}

// webhdfsInventory reads HDFS beside a running router; it sees committed files only.
func webhdfsInventory(c webhdfs.Config, log *slog.Logger) (verify.Inventory, error) {
	return webhdfs.OpenInventory(c, log)
}
