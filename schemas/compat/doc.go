// Package compat decides whether Avro schemas are compatible, and when they
// are not, lists every reason, each with the field path where it occurs.
//
// It owns two things:
//
//   - Pair(reader, writer): every Incompatibility met when a reader schema
//     reads data written with a writer schema. It does not stop at the first
//     problem, and its order is deterministic (a depth-first walk of the
//     reader schema, fields in declaration order).
//   - Check(level, candidate, previous): a compatibility Level, as in the
//     Confluent Schema Registry, applied to a candidate schema and the earlier
//     registered versions. BACKWARD means the candidate reads old data
//     (reader=candidate), FORWARD means old schemas read new data
//     (reader=previous), FULL means both. Non-transitive levels compare with
//     the latest version only, *_TRANSITIVE ones with every version, NONE
//     with none. Each Problem carries the Version and the Direction.
//
// The checker walks hamba/avro's parsed schema types itself. It does not use
// hamba's SchemaCompatibility, which stops at the first error, gives no
// paths, and caches results by canonical-form fingerprint across calls
// (canonical form drops defaults and aliases, so a cached answer can be wrong
// for a later pair). Callers should parse with avro.ParseWithCache and a
// fresh avro.SchemaCache per schema: avro.Parse shares a global cache, in
// which two versions of the same named type collide.
//
// # Rules
//
// These follow the "Schema Resolution" section of the Avro specification:
//
//   - Named types (record, enum, fixed) match if their unqualified names are
//     equal, namespaces being ignored, or if one of the reader's aliases is
//     the writer's full name. An alias may be written as a full name or
//     relative to the reader's namespace. Otherwise NAME_MISMATCH; the walk
//     still continues inside, so the other problems are listed too.
//   - Records: a reader field reads the writer field of the same name, or
//     failing that the first writer field named by one of the reader field's
//     aliases. Writer-only fields are ignored. A reader-only field needs a
//     default: READER_FIELD_MISSING_DEFAULT_VALUE, once per field.
//   - Enums: writer symbols missing from the reader are MISSING_ENUM_SYMBOLS
//     (one report per enum, naming all of them) unless the reader enum has a
//     default symbol.
//   - Fixed: the sizes must be equal, else FIXED_SIZE_MISMATCH.
//   - Primitives: identical types, or a promotion: int to long, float or
//     double; long to float or double; float to double; string to bytes and
//     bytes to string. Anything else is TYPE_MISMATCH, as is any pair of
//     different kinds (record vs map, array vs string, ...).
//   - Arrays and maps compare items and values; their paths gain "[]" and
//     "{}", e.g. "items[].price", "attrs{}.x". Nested records add dotted field
//     names: "customer.address.zip". The root is "".
//   - Unions: if the writer is a union, every writer branch must be readable
//     by the reader, union or not (a branch a plain reader cannot read is a
//     TYPE_MISMATCH; one no branch of a reader union reads is a
//     MISSING_UNION_BRANCH). If only the reader is a union, at least one
//     branch must read the writer; if none does, the problems of the branch
//     the writer would resolve to (same kind and name, else a promotion
//     target) are reported, with a step such as "payment<com.acme.Card>" in
//     the path for a named branch, and if there is no such branch,
//     MISSING_UNION_BRANCH.
//   - Recursive types: a (reader, writer) record pair met again while it is
//     still being checked is taken as compatible there; its problems are
//     reported at its first, shallower, path.
//
// A type used in several places (an Address under both "billing" and
// "shipping") is checked, and its problems reported, at each path.
//
// # Error types
//
//	TYPE_MISMATCH                      kinds differ and no promotion applies
//	NAME_MISMATCH                      named types' names differ, no alias helps
//	FIXED_SIZE_MISMATCH                fixed sizes differ
//	MISSING_ENUM_SYMBOLS               writer symbols unknown to a reader enum without default
//	READER_FIELD_MISSING_DEFAULT_VALUE reader-only field without default
//	MISSING_UNION_BRANCH               no reader union branch reads a writer type
//	LOGICAL_TYPE_MISMATCH              governed logical types differ (below)
//
// # Governance addition beyond Confluent
//
// Avro and Confluent ignore logical types when resolving: a
// decimal(10,2) reader "reads" decimal(12,4) bytes, and a timestamp-micros
// reader "reads" timestamp-millis longs, silently producing wrong numbers or
// times. Waybill rejects these with LOGICAL_TYPE_MISMATCH when the physical
// types are otherwise readable (same type or a promotion):
//
//   - decimal: precision or scale differ, or one side is a decimal and the
//     other is not (on bytes or fixed);
//   - timestamps: timestamp-millis, timestamp-micros, timestamp-nanos,
//     local-timestamp-millis, local-timestamp-micros and
//     local-timestamp-nanos are all different from each other, so unit and
//     local-ness must both match;
//   - times: time-millis and time-micros differ (even though int promotes to
//     long);
//   - for all three families, a logical type added or removed on one side.
//
// Other logical types (uuid, date, duration) follow their underlying type.
package compat
