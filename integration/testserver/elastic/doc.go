// Package elastic is a protocol-level TEST server, not Elasticsearch: an in-memory
// HTTP server that speaks enough of Elasticsearch 8's REST API, with its status codes
// and JSON shapes, for Waybill's Elasticsearch adapter and its conformance tests to run
// against, with fault injection a real cluster cannot offer. It is checked against an
// independent client (Debian's python3-elasticsearch) by its fidelity test.
//
// # What it serves
//
//	GET /                                  cluster info (version 8.x, tagline)
//	PUT /{index}                           create, with optional "mappings"
//	HEAD, GET, DELETE /{index}             exists, mappings, delete
//	GET, PUT /{index}/_mapping             read mappings, add fields
//	PUT, POST /{index}/_doc/{id}           index (op_type, version, version_type)
//	PUT, POST /{index}/_create/{id}        create
//	POST /{index}/_doc                     index with a generated id
//	GET, DELETE /{index}/_doc/{id}         get (realtime), delete
//	POST /_bulk, /{index}/_bulk            NDJSON index, create, update (doc), delete
//	POST /_mget, /{index}/_mget            multi-get by docs or ids
//	GET, POST /{index}/_search, /_search   term, match, match_all, ids, bool.filter/must;
//	                                       from, size, sort, hits.total
//	GET, POST /{index}/_count              same queries
//	POST /{index}/_refresh, /_refresh      make written documents searchable
//
// {index} may be a comma-separated list with '*' wildcards where ES allows one (search,
// count, refresh). Every response carries "X-Elastic-Product: Elasticsearch", without
// which the official clients refuse to talk to a server.
//
// # Semantics modelled
//
//   - Refresh: search and count see a document only after a refresh (POST _refresh, or
//     ?refresh=true|wait_for on the write); get and mget are realtime. Unlike a real
//     cluster there is no periodic refresh, so a client that forgets to refresh fails
//     deterministically; wait_for refreshes at once instead of waiting for one.
//   - Versions: internal versions count up from 1; version_type=external (and
//     external_gte) take the request's version, which must be strictly greater (greater
//     or equal) than the stored one, else 409 version_conflict_engine_exception;
//     op_type=create on an existing id is a 409 too. A plain "version" without an
//     external version_type is rejected (400) as in ES 8.
//   - Mappings: explicit mappings (text, keyword, long, integer, short, byte, double,
//     float, half_float, boolean, date, date_nanos, binary, object, nested, flattened)
//     and dynamic mapping as ES does it by default (integers → long, other numbers →
//     float, date-looking strings → date, other strings → text with a keyword
//     subfield, objects → object); "dynamic": "strict" and false are honoured. A value
//     that does not fit its field (a non-numeric string in a long, an object in a
//     keyword, a concrete value where an object is mapped, a non-finite float) is a 400
//     mapper_parsing_exception for that document alone, and nothing of it is stored.
//   - Bulk: per-item statuses and errors in ES's shape (201 created, 200 updated, 404
//     not_found or document_missing_exception, 409 version_conflict_engine_exception,
//     400 mapper_parsing_exception or invalid_index_name_exception), "errors" and
//     "took"; a missing index is created on index/create/update with doc_as_upsert.
//   - Index names are checked as ES does (lower case, no \ / * ? " < > | space , # :,
//     no leading _ - +, not . or .., at most 255 bytes): invalid_index_name_exception.
//   - Bodies larger than MaxContentLength (http.max_content_length, 100 MiB by default)
//     get 413 before being read.
//
// # Faults
//
// Down closes the listener and every open connection (clients get connection refused)
// and Up listens again on the same address, data intact. SetLatency delays every
// response; FailRequests answers the next n requests with 429
// es_rejected_execution_exception or 503 cluster_block_exception; ResetRequests closes
// the connection of the next n requests without an answer; FailItems makes the next
// write of each given document id fail on its own with 429 es_rejected_execution_exception
// or 400 mapper_parsing_exception (in a bulk request: that item only). Requests for
// "GET /" (the clients' product check) are never failed by FailRequests or
// ResetRequests.
package elastic
