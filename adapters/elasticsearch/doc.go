// Package elasticsearch is Waybill's Elasticsearch sink: a routing.Sink that indexes
// events as JSON documents through the bulk API of the official client
// (github.com/elastic/go-elasticsearch/v8), reading every item's result.
//
// # Index names
//
// A route's target template (package routing/target, e.g. "events-{contract}" or
// "events-{contract}-{yyyy.MM}") is rendered per event and lower-cased; the result must
// be a valid index name, else the event fails permanently with the reason: no \ / * ?
// " < > | space , # or :, no leading _ - +, not "." or "..", at most 255 bytes. The
// name is not otherwise rewritten, so two targets never silently share an index ('/'
// of file-store templates is refused: use '-' or '_'). Latest-mode targets must not
// use time placeholders ({date}, {hour}, {yyyy}, {MM}, {dd}, {yyyy.MM}), or a key
// would have one document per index; such a route fails permanently as a whole.
//
// # Documents
//
// The document is the contract's record as a JSON object, field by field in schema
// order, plus the envelope under "_waybill":
//
//	{"order_id": "o-1", ..., "_waybill": {"id": "<event id>", "key": "<entity key>",
//	 "contract": "<subject>", "time": "2024-03-01T09:00:00.000000Z",
//	 "received": "2024-03-01T09:00:01.250000Z", "schema_id": 7}}
//
// time and received are RFC 3339 UTC with microseconds. A contract with a field named
// "_waybill" cannot be stored (permanent error). Kibana hides fields starting with '_'
// by default; they are ordinary fields to Elasticsearch. Avro types map as
// docs/STORE_TYPES.md (## elasticsearch) lists: timestamps as RFC 3339 strings (3, 6 or
// 9 fractional digits for millis, micros, nanos), decimals as exact strings, bytes and
// fixed as base64, enums and uuids as strings, unions of null and one type as that
// type's value or null, unions of several types as {"<branch>": value} (the branch
// named as in Avro's JSON encoding), maps and records as objects. NaN and infinite
// floats, and times outside the years 0000-9999, cannot be stored: permanent errors.
//
// # Mappings
//
// With mappings: schema (the default) the sink makes sure, before the first write of
// each (index, schema) in a process, that the index exists with explicit mappings
// derived from the schema (create index; if it exists, put mapping to add new fields).
// The schema is the one the batch resolves the event's schema id to, which the router
// may derive per route from the contract's PII handling.
// Explicit mappings matter: dynamic mapping would map a double first seen as 1.5 to
// float and then reject 1e300, or map a union's branches onto one field. int and long
// both map to long and float and double to double, so Avro's type promotions stay
// compatible; a schema change Elasticsearch cannot merge (a field changing type) is a
// permanent failure of those events, with ES's reason. With mappings: dynamic the
// sink leaves mappings to the cluster (dynamic mapping or the operator's template).
//
// # Writes
//
// append mode: _id is the event id and the action is "index", so a re-delivered event
// overwrites its own document with the same content: never a duplicate.
//
// latest mode: _id is the entity key, version_type=external and version the event time
// in microseconds since 1970 (events before 1970 fail permanently: ES versions are
// non-negative). ES keeps the document only if its version is strictly greater, so an
// older event never overwrites a newer one; its 409 counts as delivered. Ties (the
// same microsecond) follow the router's order (time, then event id): the sink reads
// the stored document's _waybill.id with one _mget for all conflicts of the batch; an
// equal id (a re-delivery) or a greater one keeps the stored document, a smaller one
// is replaced by writing again with version_type=external_gte, which still refuses
// anything strictly newer that arrived meanwhile. Event times are compared to the
// microsecond.
//
// A batch goes out as bulk requests of at most max_bulk_bytes; a 413 answer splits the
// request in halves, and a single document too large for the cluster fails
// permanently. refresh (false by default) is passed on to the bulk requests.
//
// # Errors
//
// Per item: 408, 429 and 5xx (es_rejected_execution_exception...) are retryable; any
// other status (mapper_parsing_exception, invalid_index_name_exception...) is a
// permanent *ItemError carrying "type: reason", so the event is dead-lettered with it.
// Events the sink cannot encode fail permanently on their own. Whole requests: no
// answer (refused, reset, timeout) is a retryable *TransportError; a status is a
// *RequestError, retryable for 408, 429, 5xx and also 401/403 (credentials an operator
// fixes); when every event of a batch failed with the same such error, Write returns it
// instead of a *routing.BatchError. The client's own retries are off: the router
// retries with backoff, and each request is bounded by timeout and by the Write's
// context.
//
// # Erasure
//
// The sink is a routing.Eraser: Erase deletes a latest route's document of an entity
// key (DELETE /{index}/_doc/{key}, with the refresh policy; 404 is already erased). The
// router calls it in WAL order (routing's erasure.go), so the delete is not versioned.
//
// # TLS
//
// https:// addresses are verified against the system's roots, or with a tls section
// (package adapters/tlsopt) against the cluster's CA (ca_file), with a client
// certificate for the PKI realm (cert_file, key_file), server_name or, for tests only,
// insecure_skip_verify (logged as a warning). A tls section with an http:// address is
// refused by Validate.
//
// # Not yet
//
// Data streams and ingest pipelines.
package elasticsearch
