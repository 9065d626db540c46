// Package routing is Waybill's delivery router: event envelopes and routing directions,
// the intake API with producer authorisation (auth.go), the write-ahead log, one
// delivery loop per route with a durable cursor, retry by path class, dead letters,
// the ledger and erasure (erasure.go). It defines Sink, the small interface store
// adapters implement, and Eraser, the one latest-mode adapters add.
package routing
