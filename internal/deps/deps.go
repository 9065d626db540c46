//go:build tools

// Package deps pins the store client libraries and test-server dependencies while
// their packages are being built, so parallel work does not race on go.mod.
package deps

import (
	_ "github.com/FerretDB/FerretDB/ferretdb"
	_ "github.com/apache/cassandra-gocql-driver/v2"
	_ "github.com/datastax/go-cassandra-native-protocol/frame"
	_ "github.com/datastax/go-cassandra-native-protocol/message"
	_ "github.com/elastic/go-elasticsearch/v8"
	_ "go.mongodb.org/mongo-driver/v2/mongo"
)
