package schemas

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hamba/avro/v2"
)

// Contract is the governance record of a subject: who owns it, how its events are keyed
// and timed, where they may and must go, and how classified fields are handled per route.
type Contract struct {
	Owner       string      `json:"owner"`
	Description string      `json:"description,omitempty"`
	KeyField    string      `json:"key_field,omitempty"`
	TimeField   string      `json:"time_field,omitempty"`
	Routes      RoutePolicy `json:"routes"`
	// PII maps route -> field path -> handling (one of the Handling* constants). Paths
	// are named as Classification names them: "email", "address.street",
	// "items[].email" (inside an array's records), "attrs{}.ip" (inside a map's).
	// Handling a field covers everything inside it.
	PII       map[string]map[string]string `json:"pii,omitempty"`
	Retention string                       `json:"retention,omitempty"`
	// Classification is derived from the latest schema's field properties on read; it is
	// ignored on write so that the schema stays the single source of classification.
	Classification map[string]string `json:"classification,omitempty"`
}

// RoutePolicy lists the routes a contract's events may take.
type RoutePolicy struct {
	Allowed  []string `json:"allowed"`
	Required []string `json:"required,omitempty"`
	Default  []string `json:"default,omitempty"`
}

// PII handling modes per route and field.
const (
	HandlingAllow  = "allow"
	HandlingHash   = "hash"
	HandlingRedact = "redact"
	HandlingDrop   = "drop"
)

var (
	routeNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
	ownerPattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
)

// ValidationError is one problem in a contract, located by its JSON path.
type ValidationError struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (e ValidationError) String() string { return e.Path + ": " + e.Message }

// ValidationErrors is every problem found in a contract.
type ValidationErrors []ValidationError

func (es ValidationErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.String()
	}
	return strings.Join(parts, "; ")
}

// Validate checks a contract against the subject's latest schema and returns every
// problem, each with its path. It does no I/O.
func (c *Contract) Validate(latest avro.Schema) ValidationErrors {
	var errs ValidationErrors
	add := func(path, format string, args ...any) {
		errs = append(errs, ValidationError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	if c.Owner == "" {
		add("owner", "is required: name the team that owns this contract")
	} else if !ownerPattern.MatchString(c.Owner) {
		add("owner", "%q is not a valid team name (letters, digits, '.', '_', '-', at most 128)", c.Owner)
	}
	if c.KeyField != "" {
		if f, err := LookupField(latest, c.KeyField); err != nil {
			add("key_field", "%v", err)
		} else if why := unusableKey(f.Type()); why != "" {
			add("key_field", "field %q cannot be a key: %s", c.KeyField, why)
		}
	}
	if c.TimeField != "" {
		if f, err := LookupField(latest, c.TimeField); err != nil {
			add("time_field", "%v", err)
		} else if why := unusableTime(f.Type()); why != "" {
			add("time_field", "field %q cannot be the event time: %s", c.TimeField, why)
		}
	}
	allowed := map[string]bool{}
	checkRouteList := func(name string, routes []string, mustBeAllowed bool) {
		seen := map[string]bool{}
		for i, r := range routes {
			path := fmt.Sprintf("routes.%s[%d]", name, i)
			switch {
			case !routeNamePattern.MatchString(r):
				add(path, "%q is not a valid route name (lower-case letter first, then letters, digits, '_' or '-', at most 64)", r)
			case seen[r]:
				add(path, "route %q is listed twice", r)
			case mustBeAllowed && !allowed[r]:
				add(path, "route %q is not in routes.allowed", r)
			}
			seen[r] = true
		}
	}
	if len(c.Routes.Allowed) == 0 {
		add("routes.allowed", "must list at least one route")
	}
	checkRouteList("allowed", c.Routes.Allowed, false)
	for _, r := range c.Routes.Allowed {
		allowed[r] = true
	}
	checkRouteList("required", c.Routes.Required, true)
	checkRouteList("default", c.Routes.Default, true)

	for _, route := range sortedKeys(c.PII) {
		if !allowed[route] {
			add("pii."+route, "route %q is not in routes.allowed", route)
		}
		fields := c.PII[route]
		for _, field := range sortedKeys(fields) {
			path := "pii." + route + "." + field
			if _, err := LookupPath(latest, field); err != nil {
				add(path, "%v", err)
			}
			switch fields[field] {
			case HandlingAllow, HandlingHash, HandlingRedact, HandlingDrop:
			default:
				add(path, "unknown handling %q (use allow, hash, redact or drop)", fields[field])
			}
		}
	}
	if c.Retention != "" {
		if _, err := ParseRetention(c.Retention); err != nil {
			add("retention", "%v", err)
		}
	}
	return errs
}

// ParseRetention accepts Go durations plus a day suffix ("400d").
func ParseRetention(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%q is not a positive number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration (e.g. 400d, 720h)", s)
	}
	return d, nil
}

// unusableKey says why a field type cannot key runtime upserts, or "" when it can.
// Keys must be present and render to one stable string.
func unusableKey(s avro.Schema) string {
	switch t := deref(s).(type) {
	case *avro.PrimitiveSchema:
		switch t.Type() {
		case avro.String, avro.Int, avro.Long:
			return ""
		}
		return fmt.Sprintf("its type is %s (use string, int, long, enum or fixed)", t.Type())
	case *avro.EnumSchema, *avro.FixedSchema:
		return ""
	case *avro.UnionSchema:
		return "it is a union (possibly null), and a key must always be present"
	default:
		return fmt.Sprintf("its type is %s (use string, int, long, enum or fixed)", s.Type())
	}
}

// unusableTime says why a field type cannot carry the event time, or "" when it can.
func unusableTime(s avro.Schema) string {
	p, ok := deref(s).(*avro.PrimitiveSchema)
	if !ok {
		return fmt.Sprintf("its type is %s (use long with a timestamp logical type, or an RFC 3339 string)", s.Type())
	}
	if p.Type() == avro.String {
		return ""
	}
	if p.Type() == avro.Long && p.Logical() != nil {
		switch p.Logical().Type() {
		case avro.TimestampMillis, avro.TimestampMicros:
			return ""
		}
	}
	return fmt.Sprintf("its type is %s without a timestamp logical type (use long with timestamp-millis or timestamp-micros, or an RFC 3339 string)", p.Type())
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
