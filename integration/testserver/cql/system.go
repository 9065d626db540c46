package cql

import (
	"fmt"
	"sort"

	"github.com/datastax/go-cassandra-native-protocol/datacodec"
	"github.com/datastax/go-cassandra-native-protocol/datatype"
)

// ReleaseVersion is the Cassandra version the server claims in system.local. Drivers
// pick their schema queries by it; 3.11 has no system.peers_v2 and no virtual tables.
const ReleaseVersion = "3.11.17"

// systemTables are the tables drivers read at connect and for schema metadata, as
// Cassandra 3.11 defines them.
var systemTables = []string{
	`CREATE TABLE system.local (key text PRIMARY KEY, bootstrapped text, broadcast_address inet, cluster_name text,
	  cql_version text, data_center text, gossip_generation int, host_id uuid, listen_address inet,
	  native_protocol_version text, partitioner text, rack text, release_version text, rpc_address inet,
	  schema_version uuid, thrift_version text, tokens set<text>, truncated_at map<uuid, blob>)`,
	`CREATE TABLE system.peers (peer inet PRIMARY KEY, data_center text, host_id uuid, preferred_ip inet, rack text,
	  release_version text, rpc_address inet, schema_version uuid, tokens set<text>)`,
	`CREATE TABLE system_schema.keyspaces (keyspace_name text PRIMARY KEY, durable_writes boolean,
	  replication frozen<map<text, text>>)`,
	`CREATE TABLE system_schema.tables (keyspace_name text, table_name text, bloom_filter_fp_chance double,
	  caching frozen<map<text, text>>, cdc boolean, comment text, compaction frozen<map<text, text>>,
	  compression frozen<map<text, text>>, crc_check_chance double, dclocal_read_repair_chance double,
	  default_time_to_live int, extensions frozen<map<text, blob>>, flags frozen<set<text>>,
	  gc_grace_seconds int, id uuid, max_index_interval int, memtable_flush_period_in_ms int,
	  min_index_interval int, read_repair_chance double, speculative_retry text,
	  PRIMARY KEY (keyspace_name, table_name))`,
	`CREATE TABLE system_schema.columns (keyspace_name text, table_name text, column_name text,
	  clustering_order text, column_name_bytes blob, kind text, position int, type text,
	  PRIMARY KEY (keyspace_name, table_name, column_name))`,
	`CREATE TABLE system_schema.types (keyspace_name text, type_name text, field_names frozen<list<text>>,
	  field_types frozen<list<text>>, PRIMARY KEY (keyspace_name, type_name))`,
	`CREATE TABLE system_schema.functions (keyspace_name text, function_name text, argument_types frozen<list<text>>,
	  argument_names frozen<list<text>>, body text, called_on_null_input boolean, language text, return_type text,
	  PRIMARY KEY (keyspace_name, function_name, argument_types))`,
	`CREATE TABLE system_schema.aggregates (keyspace_name text, aggregate_name text, argument_types frozen<list<text>>,
	  final_func text, initcond text, return_type text, state_func text, state_type text,
	  PRIMARY KEY (keyspace_name, aggregate_name, argument_types))`,
	`CREATE TABLE system_schema.triggers (keyspace_name text, table_name text, trigger_name text,
	  options frozen<map<text, text>>, PRIMARY KEY (keyspace_name, table_name, trigger_name))`,
	`CREATE TABLE system_schema.indexes (keyspace_name text, table_name text, index_name text, kind text,
	  options frozen<map<text, text>>, PRIMARY KEY (keyspace_name, table_name, index_name))`,
	`CREATE TABLE system_schema.views (keyspace_name text, view_name text, base_table_id uuid, base_table_name text,
	  bloom_filter_fp_chance double, caching frozen<map<text, text>>, cdc boolean, comment text,
	  compaction frozen<map<text, text>>, compression frozen<map<text, text>>, crc_check_chance double,
	  dclocal_read_repair_chance double, default_time_to_live int, extensions frozen<map<text, blob>>,
	  gc_grace_seconds int, id uuid, include_all_columns boolean, max_index_interval int,
	  memtable_flush_period_in_ms int, min_index_interval int, read_repair_chance double,
	  speculative_retry text, where_clause text, PRIMARY KEY (keyspace_name, view_name))`,
	`CREATE TABLE system_schema.dropped_columns (keyspace_name text, table_name text, column_name text,
	  dropped_time timestamp, type text, PRIMARY KEY (keyspace_name, table_name, column_name))`,
}

const schemaVersion = "a1b2c3d4-0000-4000-8000-00000000cafe"
const hostID = "5b1e0d3a-7c1f-4e8a-9d2b-000000000001"

func mustEncode(dt datatype.DataType, v any) []byte {
	codec, err := datacodec.NewCodec(dt)
	if err != nil {
		panic(err)
	}
	b, err := codec.Encode(v, version)
	if err != nil {
		panic(fmt.Sprintf("encoding %v as %s: %v", v, dt, err))
	}
	return b
}

func (e *engine) createSystemTables() {
	for _, ks := range []string{"system", "system_schema", "system_auth", "system_distributed", "system_traces"} {
		e.keyspaces[ks] = &keyspace{name: ks, tables: map[string]*table{}, types: map[string]*datatype.UserDefined{}}
	}
	for _, ddl := range systemTables {
		st, _, err := parse(ddl)
		if err != nil {
			panic(fmt.Sprintf("system table %s: %v", ddl, err))
		}
		if _, merr := e.createTable("", st.(*createTableStmt)); merr != nil {
			panic(fmt.Sprintf("system table: %v", merr))
		}
	}
	text := func(s string) []byte { return []byte(s) }
	local := e.keyspaces["system"].tables["local"]
	vals := map[string][]byte{
		"key": text("local"), "bootstrapped": text("COMPLETED"),
		"broadcast_address": mustEncode(datatype.Inet, e.local.host), "cluster_name": text("waybill-test"),
		"cql_version": text("3.4.4"), "data_center": text(e.local.dc),
		"gossip_generation": mustEncode(datatype.Int, int32(1)), "host_id": mustEncode(datatype.Uuid, hostID),
		"listen_address": mustEncode(datatype.Inet, e.local.host), "native_protocol_version": text("4"),
		"partitioner": text("org.apache.cassandra.dht.Murmur3Partitioner"), "rack": text("rack1"),
		"release_version": text(ReleaseVersion), "rpc_address": mustEncode(datatype.Inet, e.local.host),
		"schema_version": mustEncode(datatype.Uuid, schemaVersion), "thrift_version": text("20.1.0"),
		"tokens": mustEncode(datatype.NewSet(datatype.Varchar), []string{"0"}),
	}
	r := &row{key: [][]byte{vals["key"]}, hasMkr: true, cells: map[string]cell{}}
	for name, v := range vals {
		if name != "key" {
			r.cells[name] = cell{value: v}
		}
	}
	local.parts[encodeKey(r.key)] = &partition{rows: map[string]*row{encodeKey(nil): r}}

	schema := e.keyspaces["system_schema"].tables
	schema["keyspaces"].virtual = (*engine).keyspaceRows
	schema["tables"].virtual = (*engine).tableRows
	schema["columns"].virtual = (*engine).columnRows
	schema["types"].virtual = (*engine).typeRows
}

func (e *engine) sortedKeyspaces() []*keyspace {
	out := make([]*keyspace, 0, len(e.keyspaces))
	for _, k := range e.keyspaces {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func sortedTables(k *keyspace) []*table {
	out := make([]*table, 0, len(k.tables))
	for _, t := range k.tables {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// virtualRow builds a row of a system_schema table from column values by name.
func virtualRow(t *table, vals map[string][]byte) [][]byte {
	out := make([][]byte, len(t.cols))
	for i, c := range t.cols {
		out[i] = vals[c.name]
	}
	return out
}

func (e *engine) keyspaceRows() [][][]byte {
	t := e.keyspaces["system_schema"].tables["keyspaces"]
	var out [][][]byte
	for _, k := range e.sortedKeyspaces() {
		repl := map[string]string{"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "1"}
		if k.name == "system" || k.name == "system_schema" {
			repl = map[string]string{"class": "org.apache.cassandra.locator.LocalStrategy"}
		}
		out = append(out, virtualRow(t, map[string][]byte{
			"keyspace_name":  []byte(k.name),
			"durable_writes": {1},
			"replication":    mustEncode(datatype.NewMap(datatype.Varchar, datatype.Varchar), repl),
		}))
	}
	return out
}

func (e *engine) tableRows() [][][]byte {
	t := e.keyspaces["system_schema"].tables["tables"]
	var out [][][]byte
	for _, k := range e.sortedKeyspaces() {
		for _, tb := range sortedTables(k) {
			out = append(out, virtualRow(t, map[string][]byte{
				"keyspace_name": []byte(k.name), "table_name": []byte(tb.name),
				"bloom_filter_fp_chance": mustEncode(datatype.Double, 0.01), "comment": []byte{},
				"crc_check_chance": mustEncode(datatype.Double, 1.0), "dclocal_read_repair_chance": mustEncode(datatype.Double, 0.0),
				"default_time_to_live": mustEncode(datatype.Int, int32(0)), "gc_grace_seconds": mustEncode(datatype.Int, int32(864000)),
				"flags":                       mustEncode(datatype.NewSet(datatype.Varchar), []string{"compound"}),
				"id":                          mustEncode(datatype.Uuid, hostID),
				"max_index_interval":          mustEncode(datatype.Int, int32(2048)),
				"memtable_flush_period_in_ms": mustEncode(datatype.Int, int32(0)),
				"min_index_interval":          mustEncode(datatype.Int, int32(128)),
				"read_repair_chance":          mustEncode(datatype.Double, 0.0),
				"speculative_retry":           []byte("99PERCENTILE"),
			}))
		}
	}
	return out
}

func (e *engine) columnRows() [][][]byte {
	t := e.keyspaces["system_schema"].tables["columns"]
	var out [][][]byte
	for _, k := range e.sortedKeyspaces() {
		for _, tb := range sortedTables(k) {
			cols := append([]*column(nil), tb.cols...)
			sort.Slice(cols, func(i, j int) bool { return cols[i].name < cols[j].name })
			for _, c := range cols {
				order := "none"
				if c.kind == kindClustering {
					order = "asc"
				}
				out = append(out, virtualRow(t, map[string][]byte{
					"keyspace_name": []byte(k.name), "table_name": []byte(tb.name), "column_name": []byte(c.name),
					"clustering_order": []byte(order), "column_name_bytes": []byte(c.name), "kind": []byte(c.kind),
					"position": mustEncode(datatype.Int, int32(c.position)), "type": []byte(cqlType(c.typ)),
				}))
			}
		}
	}
	return out
}

func (e *engine) typeRows() [][][]byte {
	t := e.keyspaces["system_schema"].tables["types"]
	var out [][][]byte
	for _, k := range e.sortedKeyspaces() {
		names := append([]string(nil), k.order...)
		sort.Strings(names)
		for _, n := range names {
			u := k.types[n]
			var types []string
			for _, ft := range u.FieldTypes {
				types = append(types, cqlType(ft))
			}
			out = append(out, virtualRow(t, map[string][]byte{
				"keyspace_name": []byte(k.name), "type_name": []byte(n),
				"field_names": mustEncode(datatype.NewList(datatype.Varchar), u.FieldNames),
				"field_types": mustEncode(datatype.NewList(datatype.Varchar), types),
			}))
		}
	}
	return out
}
