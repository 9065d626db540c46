// Package stores runs the sink conformance suite (integration/sinktest) against every
// store adapter: against the project's local test servers by default, and against a
// real cluster when the store's environment variable names one
// (WAYBILL_TEST_MONGODB, WAYBILL_TEST_CASSANDRA, WAYBILL_TEST_ELASTICSEARCH,
// WAYBILL_TEST_WEBHDFS). Each store's Read goes through that store's own client, not
// the adapter, so the suite checks what the store really holds.
package stores
