// Package avrovalue decodes an Avro binary datum into neutral Go values, for the
// adapters that map events onto a store's own types (documents, rows, JSON) and for the
// tests that read them back. It owns that value model and nothing else; validation of
// incoming data is routing/avrojson's job, and data reaching an adapter has passed it.
//
// # Value model
//
//	Avro type                                    Go value
//	-------------------------------------------  ------------------------------------------
//	null                                         nil
//	boolean                                      bool
//	int, long                                    int32, int64
//	float, double                                float32, float64
//	string                                       string
//	bytes, fixed                                 []byte (a copy; never aliases the input)
//	enum                                         string, the symbol
//	array                                        []any
//	map                                          map[string]any
//	record                                       *Record: name and fields in schema order
//	union                                        the chosen branch's value, unwrapped
//	decimal (bytes or fixed)                     Decimal: unscaled big integer, scale, precision
//	timestamp-millis, -micros, -nanos (long)     time.Time in UTC
//	local-timestamp-millis, -micros (long)       LocalTimestamp: wall clock, no zone
//	date (int)                                   Date: days since 1970-01-01
//	time-millis (int), time-micros (long)        time.Duration since midnight
//	uuid (string)                                string
//
// Unknown logical types decode as their underlying type, as the Avro specification
// requires. A union does not say which branch it took: stores have no such notion, and
// a reader maps a stored value back through the union's branches in order.
//
// Equal compares value trees, decimals by numeric value (so 1.50 with scale 2 and 1.5
// with scale 1 differ only if their values differ) and float NaNs as equal to
// themselves.
package avrovalue
