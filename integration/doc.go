// Package integration holds Waybill's integration tests: tests that run the real
// programs, as separate processes, and talk to them only over the network, the way
// producers, consumers and operators do.
//
//   - registry/ tests the schema registry. Each test package builds cmd/registry once
//     (in TestMain) and starts it as a subprocess on free ports, waits for GET /healthz,
//     and kills every subprocess it started when the test ends (their output goes to
//     the test log when a test fails). The etcd servers are real too: the etcd that
//     the registry embeds (--data-dir), and Debian's etcd-server package
//     (/usr/bin/etcd, etcd 3.4) started as a separate process for --etcd-endpoints.
//     The registry is driven by real Confluent Schema Registry clients:
//     github.com/hamba/avro/v2/registry and
//     github.com/confluentinc/confluent-kafka-go/v2/schemaregistry in-process, and
//     the npm package @kafkajs/confluent-schema-registry through clients/node.
//   - router/ tests the delivery router the same way: it builds cmd/router (and
//     cmd/registry for contracts), sends events over HTTP and kills the router with
//     SIGKILL under load to prove that every acknowledged event is delivered exactly
//     once.
//   - internal/testproc is the harness both share: build a command once, start it on
//     free ports, wait for an HTTP endpoint, capture its output for failing tests,
//     and kill its whole process group when the test ends.
//   - clients/node/ is the npm project of the Node.js client (conformance.js), with a
//     committed package-lock.json. It is installed by `make deps` (npm ci).
//
// Run them with `make test`, which first runs scripts/install-test-deps.sh (Debian's
// etcd-server, npm ci); without it the Node.js test fails asking for `make deps`, and
// the Debian etcd test skips (or fails when the CI environment variable is set).
package integration
