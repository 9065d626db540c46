// Package registry is the registry's HTTP API: the Confluent Schema Registry REST
// surface that existing clients and serializers use, plus Waybill's governance
// resource /contracts/{subject}. It owns request validation, the registry's rules
// (modes, compatibility before registration, Confluent's delete rules) and the exact
// error bodies {"error_code":N,"message":"..."}; storage is etcdstore's.
//
// Routes (Confluent-compatible unless marked):
//
//	GET    /subjects[?deleted=true]
//	POST   /subjects/{subject}/versions           register {schema, schemaType?, references?, id?, version?}
//	POST   /subjects/{subject}[?deleted=true]     look a schema up in a subject
//	DELETE /subjects/{subject}[?permanent=true]
//	GET    /subjects/{subject}/versions[?deleted=true]
//	GET    /subjects/{subject}/versions/{v}       v: 1..2^31-1, latest or -1
//	GET    /subjects/{subject}/versions/{v}/schema
//	DELETE /subjects/{subject}/versions/{v}[?permanent=true]
//	GET    /schemas/ids/{id}[/schema|/subjects|/versions]
//	GET    /schemas/types
//	POST   /compatibility/subjects/{subject}/versions[/{v}][?verbose=true]
//	GET|PUT|DELETE /config, /config/{subject}[?defaultToGlobal=true]
//	GET|PUT /mode, GET|PUT|DELETE /mode/{subject}
//	GET|PUT /contracts/{subject}                  (Waybill) governance record
//	GET    /healthz                               (Waybill) liveness
//	GET    /readyz                                (Waybill) readiness: etcd answers (else 500/50001)
//
// Limits: request bodies over MaxBodyBytes get 413; a schema text over
// schemas.MaxSchemaBytes gets 42209.
package registry
