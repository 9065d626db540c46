// Package routing is Waybill's delivery router: event envelopes and routing directions,
// the intake API, the write-ahead log, one delivery loop per route with a durable
// cursor, retry by path class, dead letters and the ledger. It defines Sink, the small
// interface store adapters implement.
package routing
