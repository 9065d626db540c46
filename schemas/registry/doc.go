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
//	GET    /audit[?subject=S][&after=R|&before=R][&limit=N]  (Waybill) audit trail
//	GET    /healthz                               (Waybill) liveness
//	GET    /readyz                                (Waybill) readiness: etcd answers (else 500/50001)
//
// Limits: request bodies over MaxBodyBytes get 413; a schema text over
// schemas.MaxSchemaBytes gets 42209.
//
// # Authentication and authorisation
//
// With WithAuthority (the registry's --tokens-file, see schemas/auth) every write needs a
// credential: a bearer token, the token as the HTTP Basic password (how Confluent
// clients send one), or a verified TLS client certificate listed in the tokens file.
// Reads stay open, lookups and compatibility checks included, so serializers read
// without credentials; GET /audit is the exception (it shows who changed what) and
// needs a credential of any team. Without an authority the registry is open and every
// change is recorded as "anonymous".
//
//	401 / 40101  no, unknown or expired credential (with WWW-Authenticate: Bearer)
//	403 / 40301  "team X may not change subject S, owned by team Y"
//
// Who may change what: a subject's owner is its contract's owner. A subject without a
// contract may be written by any authenticated team, and the first PUT /contracts
// claims it, for the caller's own team only. Afterwards its versions, deletes, config,
// mode and contract are changed by that team or an admin; a contract may name another
// owner only when an admin writes it. The registry-wide /config and /mode are admin
// only. Re-registering a schema that is already a live version changes nothing and
// answers its id to any authenticated caller, as a lookup would (serializers that
// auto-register still need a token of some team; or set auto.register.schemas=false,
// which only reads). The decision is made
// before the request is read and made again by the store on the snapshot it commits
// over (etcdstore.Change), so an owner changed meanwhile cannot be written past.
// Messages and logs name the team and the credential's label, never the token.
//
// # Audit trail
//
// Every change (register, delete_version, delete_subject, put_config, delete_config,
// put_mode, delete_mode, put_contract) is stored in the same etcd transaction as the
// change: {revision, time, who: {team, name}, action, subject, version, id,
// permanent, before, after, declassified}. before/after are the records as they were
// and are (null: absent); a registration's also carry the classification, a hard delete of
// a subject its versions, contract, config and mode. Records are never deleted, also
// not with their subject. GET /audit answers {"records": [...], "more": bool} in commit
// order, newest last: limit (default 100, at most 1000) records after the revision
// after= (from the start without it), or with before= the newest ones before it, to
// page back from the end. subject= narrows to one subject (also a deleted one);
// without it the answer holds every subject and the registry-wide records.
//
// # PII carry-across
//
// A new version must keep the pii classification of every field the latest live
// version classifies, unless the field is gone: a field that keeps its path must stay
// classified, a field that names it among its Avro aliases (or under a renamed
// enclosing field) must be classified, and a classified field may not be removed in the
// same change that adds an unclassified field of the same type (nullability aside),
// anywhere in the schema. That last rule is deliberately wide: it also refuses some
// changes that are not renames. Refusals are 422 / 42290 naming both fields. The
// subject's owner (or an admin) accepts a loss on purpose with
// ?declassify=field,... (paths as in the previous version); the audit record of the
// registration lists each. What a producer puts into other fields is beyond a schema
// check. IMPORT mode copies history verbatim and skips this check, as it skips
// compatibility.
package registry
