package routing

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/routing/avrojson"
	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/auth"
	"github.com/waybill-data/waybill/schemas/cache"
)

// Contracts is what intake needs from the registry's watch cache.
type Contracts interface {
	Latest(subject string) (*cache.Version, bool)
	SchemaByID(id int) (*cache.Schema, bool)
	Contract(subject string) (*schemas.Contract, bool)
	SubjectHasSchema(subject string, id int) bool
}

// Rejection reasons, machine-readable, in every rejected event's answer.
const (
	ReasonMalformed          = "malformed_envelope"
	ReasonUnknownContract    = "unknown_contract"
	ReasonUngoverned         = "ungoverned_contract"
	ReasonUnknownSchema      = "unknown_schema"
	ReasonSchemaNotInSubject = "schema_not_in_contract"
	ReasonInvalidData        = "invalid_data"
	ReasonInvalidID          = "invalid_id"
	ReasonInvalidKey         = "invalid_key"
	ReasonInvalidTime        = "invalid_time"
	ReasonNoRoutes           = "no_routes"
	ReasonRouteNotAllowed    = "route_not_allowed"
	ReasonRouteUnknown       = "route_not_configured"
	ReasonBackpressure       = "backpressure"
	ReasonDuplicateInFlight  = "duplicate_in_flight"
	ReasonNotAuthorized      = "not_authorized" // the caller's team may not produce to the contract (auth.go)
)

// rejection is why one event was not accepted.
type rejection struct {
	Reason  string
	Field   string
	Message string
}

func reject(reason, field, format string, args ...any) *rejection {
	return &rejection{Reason: reason, Field: field, Message: fmt.Sprintf(format, args...)}
}

// prepareJSON validates one JSON event of caller id and builds its record.
func (rt *Router) prepareJSON(id *auth.Identity, ev rawEvent, received time.Time) (*Record, *rejection) {
	if !json.Valid(ev.Text) {
		var probe any
		err := json.Unmarshal(ev.Text, &probe) // only for its precise message
		if ev.Line > 0 {
			return nil, reject(ReasonMalformed, "", "line %d is not valid JSON: %v", ev.Line, err)
		}
		return nil, reject(ReasonMalformed, "", "event is not valid JSON: %v", err)
	}
	env, rej := parseEnvelope(ev.Text)
	if rej != nil {
		return nil, rej
	}
	if env.Contract == "" {
		return nil, reject(ReasonMalformed, "contract", "contract is required")
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return nil, reject(ReasonInvalidData, "data", "data is required")
	}
	contract, version, schema, rej := rt.resolveContract(env.Contract, env.SchemaID)
	if rej != nil {
		return nil, rej
	}
	if rej := rt.authorizeProduce(id, env.Contract, contract); rej != nil {
		return nil, rej
	}
	// Straight from the JSON text to Avro binary: no intermediate Go values.
	data, err := avrojson.EncodeJSON(nil, schema.Avro, env.Data)
	if err != nil {
		return nil, dataRejection(err)
	}
	rec := &Record{Event: Event{ID: env.ID, Contract: env.Contract, SchemaID: version, Received: received, Data: data}}
	return rt.finishRecord(rec, contract, schema.Avro, env.Key, env.Time, env.Routes)
}

// prepareAvro validates one Confluent wire-format event of caller id with header
// directions.
func (rt *Router) prepareAvro(id *auth.Identity, subject string, body []byte, d directions, received time.Time) (*Record, *rejection) {
	if len(body) < 5 || body[0] != 0 {
		return nil, reject(ReasonMalformed, "body", "body is not in the Confluent wire format (magic byte 0x00, 4-byte schema id, Avro binary)")
	}
	schemaID := int(uint32(body[1])<<24 | uint32(body[2])<<16 | uint32(body[3])<<8 | uint32(body[4]))
	contract, version, schema, rej := rt.resolveContract(subject, &schemaID)
	if rej != nil {
		return nil, rej
	}
	if rej := rt.authorizeProduce(id, subject, contract); rej != nil {
		return nil, rej
	}
	data := body[5:]
	if err := avrojson.Validate(schema.Avro, data); err != nil {
		return nil, dataRejection(err)
	}
	rec := &Record{Event: Event{ID: d.id, Contract: subject, SchemaID: version, Received: received, Data: slices.Clone(data)}}
	return rt.finishRecord(rec, contract, schema.Avro, d.key, d.time, d.routes)
}

// resolveContract finds the governed contract and the schema an event is written with.
func (rt *Router) resolveContract(subject string, schemaID *int) (*schemas.Contract, int, *cache.Schema, *rejection) {
	latest, ok := rt.contracts.Latest(subject)
	if !ok {
		return nil, 0, nil, reject(ReasonUnknownContract, "contract", "unknown contract %q: no such subject in the registry", subject)
	}
	contract, ok := rt.contracts.Contract(subject)
	if !ok {
		return nil, 0, nil, reject(ReasonUngoverned, "contract", "contract %q has no governance record: routing needs a governed contract (PUT /contracts/%s on the registry)", subject, subject)
	}
	if schemaID == nil {
		return contract, latest.ID, latest.Schema, nil
	}
	s, ok := rt.contracts.SchemaByID(*schemaID)
	if !ok {
		return nil, 0, nil, reject(ReasonUnknownSchema, "schema_id", "schema id %d is not registered", *schemaID)
	}
	if !rt.contracts.SubjectHasSchema(subject, *schemaID) {
		return nil, 0, nil, reject(ReasonSchemaNotInSubject, "schema_id", "schema id %d is not a live version of contract %q", *schemaID, subject)
	}
	return contract, *schemaID, s, nil
}

func dataRejection(err error) *rejection {
	var fe *avrojson.FieldError
	if errors.As(err, &fe) {
		field := "data"
		if fe.Path != "" {
			field = "data." + fe.Path
		}
		return reject(ReasonInvalidData, field, "%s: %s", field, fe.Reason)
	}
	return reject(ReasonInvalidData, "data", "data: %v", err)
}

// finishRecord fills id, key, time and routes, applying the contract's rules. The key
// and time fields are read from the event's Avro data (rec.Data), so JSON and Avro
// intake derive them from the same bytes the sinks will get.
func (rt *Router) finishRecord(rec *Record, c *schemas.Contract, schema avro.Schema, key *string, timeText string, routes []string) (*Record, *rejection) {
	if rec.ID == "" {
		rec.ID = NewEventID(rec.Received)
	} else if err := validEventID(rec.ID); err != nil {
		return nil, reject(ReasonInvalidID, "id", "id %q: %v", rec.ID, err)
	} else {
		rec.producerID = true
	}
	if c.KeyField != "" {
		v, ok, err := fieldAt(schema, rec.Data, c.KeyField)
		if err != nil {
			return nil, reject(ReasonInvalidKey, "data."+c.KeyField, "key field %s: %v", c.KeyField, err)
		}
		if !ok {
			return nil, reject(ReasonInvalidKey, "data."+c.KeyField, "key field %s is missing", c.KeyField)
		}
		rec.Key = keyString(v)
		if key != nil && *key != rec.Key {
			return nil, reject(ReasonInvalidKey, "key", "key %q differs from the contract's key field %s = %q", *key, c.KeyField, rec.Key)
		}
	} else if key != nil {
		rec.Key = *key
	}
	if len(rec.Key) > 512 {
		return nil, reject(ReasonInvalidKey, "key", "key is %d bytes; at most 512", len(rec.Key))
	}
	switch {
	case timeText != "":
		t, err := time.Parse(time.RFC3339Nano, timeText)
		if err != nil {
			return nil, reject(ReasonInvalidTime, "time", "time %q is not RFC 3339 (e.g. 2026-11-22T10:00:00Z)", timeText)
		}
		rec.Time = t.UTC()
	case c.TimeField != "":
		v, _, err := fieldAt(schema, rec.Data, c.TimeField)
		if err != nil {
			return nil, reject(ReasonInvalidTime, "data."+c.TimeField, "time field %s: %v", c.TimeField, err)
		}
		t, err := eventTime(schema, c.TimeField, v)
		if err != nil {
			return nil, reject(ReasonInvalidTime, "data."+c.TimeField, "time field %s: %v", c.TimeField, err)
		}
		rec.Time = t
	default:
		rec.Time = rec.Received
	}
	resolved, rej := rt.resolveRoutes(rec.Contract, c, routes)
	if rej != nil {
		return nil, rej
	}
	rec.Routes = resolved
	return rec, nil
}

// resolveRoutes applies the contract: the event's routes, else the contract's defaults;
// each allowed by the contract and configured here; required routes always added.
func (rt *Router) resolveRoutes(subject string, c *schemas.Contract, asked []string) ([]string, *rejection) {
	routes := asked
	if len(routes) == 0 {
		routes = c.Routes.Default
	}
	out := make([]string, 0, len(routes)+len(c.Routes.Required))
	for i, r := range routes {
		if !slices.Contains(c.Routes.Allowed, r) {
			return nil, reject(ReasonRouteNotAllowed, fmt.Sprintf("routes[%d]", i), "route %q is not allowed by contract %q (allowed: %s)", r, subject, strings.Join(c.Routes.Allowed, ", "))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	for _, r := range c.Routes.Required {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, reject(ReasonNoRoutes, "routes", "the event names no routes and contract %q has no default or required routes", subject)
	}
	for _, r := range out {
		if _, ok := rt.routes[r]; !ok {
			if i := slices.Index(asked, r); i >= 0 {
				return nil, reject(ReasonRouteUnknown, fmt.Sprintf("routes[%d]", i), "route %q is not configured on this router", r)
			}
			why := "a default"
			if slices.Contains(c.Routes.Required, r) {
				why = "a required"
			}
			return nil, reject(ReasonRouteUnknown, "routes", "route %q, %s route of contract %q, is not configured on this router", r, why, subject)
		}
	}
	return out, nil
}

func keyString(v any) string {
	switch k := v.(type) {
	case string:
		return k
	case int:
		return strconv.Itoa(k)
	case int32:
		return strconv.FormatInt(int64(k), 10)
	case int64:
		return strconv.FormatInt(k, 10)
	case []byte:
		return fmt.Sprintf("%x", k)
	default:
		return fmt.Sprint(k)
	}
}

// eventTime interprets the contract's time field as fieldAt read it: a long or int
// with timestamp-millis (default) or -micros units, or an RFC 3339 string.
func eventTime(schema avro.Schema, path string, v any) (time.Time, error) {
	f, err := schemas.LookupField(schema, path)
	if err != nil {
		return time.Time{}, err
	}
	unit := time.Millisecond
	if p, ok := f.Type().(*avro.PrimitiveSchema); ok && p.Logical() != nil && p.Logical().Type() == avro.TimestampMicros {
		unit = time.Microsecond
	}
	switch t := v.(type) {
	case time.Time:
		return t.UTC(), nil
	case string:
		parsed, err := time.Parse(time.RFC3339Nano, t)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not RFC 3339", t)
		}
		return parsed.UTC(), nil
	case int64:
		return fromUnit(t, unit), nil
	case int32:
		return fromUnit(int64(t), unit), nil
	case nil:
		return time.Time{}, errors.New("is missing")
	}
	return time.Time{}, fmt.Errorf("unsupported value %T", v)
}

func fromUnit(n int64, unit time.Duration) time.Time {
	if unit == time.Microsecond {
		return time.UnixMicro(n).UTC()
	}
	if n > math.MaxInt64/int64(time.Millisecond) || n < math.MinInt64/int64(time.Millisecond) {
		return time.UnixMilli(0).UTC()
	}
	return time.UnixMilli(n).UTC()
}

// directions are routing directions carried in Waybill-* headers.
type directions struct {
	id, time string
	key      *string
	routes   []string
}
