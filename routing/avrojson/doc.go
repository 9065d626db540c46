// Package avrojson validates event data against a contract's Avro schema and produces
// its Avro binary encoding, with errors that name the offending field.
//
// Encode and EncodeJSON take JSON (decoded with UseNumber, or raw text) and append the
// Avro binary encoding to a buffer; Validate checks that bytes are exactly one
// well-formed Avro datum of the schema. Each works straight from the JSON tokens or the
// bytes, with no reflection and no intermediate Avro values; schemas are compiled once
// (NewCodec, or implicitly by the package-level functions, which cache by schema).
//
// Errors are *FieldError: a path and a reason. Paths are dotted record fields, [i] for
// array items and {key} for map values: "customer.address.zip", "items[3].price",
// "attrs{color}"; "" is the whole value. A union adds nothing to the path.
//
// # JSON rules
//
//	Avro type                  accepted JSON                                           binary encoding
//	-------------------------  ------------------------------------------------------  ------------------------------------
//	record                     object; unknown or duplicate fields are errors; a       fields in schema order
//	                           missing field takes its default, else "required
//	                           field is missing"
//	null                       null                                                    nothing
//	boolean                    true, false                                             one byte, 0 or 1
//	int, long                  integral number within range ("1e3" and "10.0" are      zigzag varint
//	                           integral; 1.5 and out-of-range values are errors)
//	float, double              any number, or "NaN", "Infinity", "-Infinity"           IEEE 754 little-endian, 4 or 8 bytes
//	string                     string                                                  length (long) + UTF-8 bytes
//	bytes                      string of code points U+0000–U+00FF, one per byte       length (long) + bytes
//	fixed(n)                   as bytes, exactly n of them                             the n bytes
//	enum                       string naming a symbol (an enum default does not        symbol index (int)
//	                           excuse an unknown symbol)
//	array                      array                                                   one block: count, items; then 0
//	map                        object; duplicate keys are errors                       one block: count, (key, value)...;
//	                                                                                   then 0
//	union                      null: the null branch (error if none);                  branch index (long) + value
//	                           {"<branch>": v}: that branch, named by type name
//	                           or full name (or short name when unambiguous);
//	                           otherwise the first branch that accepts the value
//	                           (error lists every branch with its reason)
//	timestamp-millis, -micros  integer, or RFC 3339 string                             long; finer digits truncated
//	 (long)                    "2006-01-02T15:04:05.123Z", "...+02:00"
//	local-timestamp-millis,    integer, or "2006-01-02T15:04:05[.fraction]"            long; finer digits truncated
//	 -micros (long)
//	date (int)                 integer, or "YYYY-MM-DD"                                days since 1970-01-01
//	time-millis (int),         integer, or "HH:MM:SS[.fraction]" (00:00:00 to          units since midnight; finer
//	 time-micros (long)        23:59:59.999999999)                                     digits truncated
//	decimal(p,s)               number or numeric string; more than s fractional        unscaled value as big-endian
//	 (bytes or fixed)          digits, or more than p-s integer digits, is an          two's complement: minimal for
//	                           error (never rounded)                                   bytes, sign-extended to fixed
//	uuid (string)              "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (hex, any case)  as string
//
// A union value that is an object with a single key naming a branch is read in the
// wrapper form; if that fails, the object is tried as a plain value too, and if that
// also fails the wrapper's error is reported. When the plain value could only go to one
// branch (e.g. a non-null value for ["null", X]), that branch's error is returned
// as is, with its full path. Trying branches can visit a value more than once; the
// work spent is bounded (about 32 visits per JSON value) so that nested unions cannot
// make it exponential, and a value beyond the bound is rejected.
//
// Encode takes the value as encoding/json decodes it with UseNumber (float64 and Go
// integers are also accepted); given a json.RawMessage or []byte it is EncodeJSON.
// EncodeJSON requires one JSON value in valid UTF-8 (lone \u surrogates become U+FFFD,
// as in encoding/json) and rejects duplicate object keys. Encode sees Go maps, so it
// writes Avro map entries in sorted key order; EncodeJSON keeps the document's order.
// Field defaults come from the schema as hamba/avro parsed them (a long default beyond
// 2^53 may have lost precision there).
//
// Validate accepts what the Avro specification allows writers to produce, including
// blocks with negative counts followed by their byte size (as hamba/avro writes by
// default) and non-minimal varints of at most 5 (int) or 10 (long) bytes. It rejects
// data a decoder would misread or choke on; an array whose items encode to nothing may
// hold at most 2^20 of them.
package avrojson
