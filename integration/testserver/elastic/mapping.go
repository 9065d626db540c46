package elastic

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// fieldMapping is one mapped field.
type fieldMapping struct {
	Type   string
	Format string // date formats, echoed only
	// Fields are multi-fields (e.g. "keyword" of a dynamically mapped text field).
	Fields map[string]*fieldMapping
	// IgnoreAbove is a keyword's ignore_above, echoed only.
	IgnoreAbove int
}

func (m *fieldMapping) isObject() bool { return m.Type == "object" || m.Type == "nested" }

// knownTypes are the field types the server accepts in mappings.
var knownTypes = map[string]bool{
	"text": true, "keyword": true, "long": true, "integer": true, "short": true, "byte": true,
	"double": true, "float": true, "half_float": true, "boolean": true, "date": true,
	"date_nanos": true, "binary": true, "object": true, "nested": true, "flattened": true,
}

// mappings are an index's mappings: fields by dotted path.
type mappings struct {
	dynamic string // "true", "false" or "strict"
	fields  map[string]*fieldMapping
}

func newMappings() *mappings { return &mappings{dynamic: "true", fields: map[string]*fieldMapping{}} }

// parseMappings reads a "mappings" object into a dynamic setting and flat fields.
func parseMappings(raw any) (dynamic string, fields map[string]*fieldMapping, e *esError) {
	fields = map[string]*fieldMapping{}
	if raw == nil {
		return "", fields, nil
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return "", nil, badRequest("mapper_parsing_exception", "Failed to parse mapping: Expected map for property [mappings]")
	}
	if d, ok := obj["dynamic"]; ok {
		switch fmt.Sprint(d) {
		case "true", "false", "strict":
			dynamic = fmt.Sprint(d)
		default:
			return "", nil, badRequest("mapper_parsing_exception", fmt.Sprintf("Failed to parse mapping: Could not convert [dynamic] to boolean or [strict]: %v", d))
		}
	}
	for k := range obj {
		switch k {
		case "dynamic", "properties", "_source", "date_detection", "dynamic_templates", "_meta":
		default:
			return "", nil, badRequest("mapper_parsing_exception", fmt.Sprintf("Failed to parse mapping: Root mapping definition has unsupported parameters:  [%s : %v]", k, obj[k]))
		}
	}
	if props, ok := obj["properties"]; ok {
		if e := parseProperties("", props, fields); e != nil {
			return "", nil, e
		}
	}
	return dynamic, fields, nil
}

func parseProperties(prefix string, raw any, out map[string]*fieldMapping) *esError {
	props, ok := raw.(map[string]any)
	if !ok {
		return badRequest("mapper_parsing_exception", fmt.Sprintf("Failed to parse mapping: Expected map for property [properties] on field [%s]", prefix))
	}
	for name, def := range props {
		if name == "" || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
			return badRequest("mapper_parsing_exception", fmt.Sprintf("Failed to parse mapping: field name cannot be empty or contain empty parts [%s]", name))
		}
		path := joinPath(prefix, name)
		// A dotted name stands for objects: "a.b" is b inside object a.
		segs := strings.Split(name, ".")
		for j := 1; j < len(segs); j++ {
			if anc := joinPath(prefix, strings.Join(segs[:j], ".")); out[anc] == nil {
				out[anc] = &fieldMapping{Type: "object"}
			}
		}
		d, ok := def.(map[string]any)
		if !ok {
			return badRequest("mapper_parsing_exception", fmt.Sprintf("Failed to parse mapping: Expected map for property [fields] on field [%s] but got a class java.lang.String", name))
		}
		typ, _ := d["type"].(string)
		if typ == "" {
			typ = "object"
		}
		if !knownTypes[typ] {
			return badRequest("mapper_parsing_exception", fmt.Sprintf("Failed to parse mapping: No handler for type [%s] declared on field [%s]", typ, name))
		}
		m := &fieldMapping{Type: typ}
		if f, ok := d["format"].(string); ok {
			m.Format = f
		}
		if ia, ok := d["ignore_above"].(json.Number); ok {
			n, _ := ia.Int64()
			m.IgnoreAbove = int(n)
		}
		if subs, ok := d["fields"].(map[string]any); ok {
			m.Fields = map[string]*fieldMapping{}
			for sub, sd := range subs {
				sdm, _ := sd.(map[string]any)
				st, _ := sdm["type"].(string)
				if !knownTypes[st] || st == "object" || st == "nested" {
					return badRequest("mapper_parsing_exception", fmt.Sprintf("Failed to parse mapping: No handler for type [%s] declared on field [%s]", st, sub))
				}
				sm := &fieldMapping{Type: st}
				if ia, ok := sdm["ignore_above"].(json.Number); ok {
					n, _ := ia.Int64()
					sm.IgnoreAbove = int(n)
				}
				m.Fields[sub] = sm
			}
		}
		out[path] = m
		if sub, ok := d["properties"]; ok {
			if !m.isObject() {
				return badRequest("mapper_parsing_exception", fmt.Sprintf("Failed to parse mapping: unknown parameter [properties] on mapper [%s] of type [%s]", name, typ))
			}
			if e := parseProperties(path, sub, out); e != nil {
				return e
			}
		}
	}
	return nil
}

// merge adds fields to m, failing without change when a field would change type.
func (m *mappings) merge(dynamic string, fields map[string]*fieldMapping) *esError {
	for path, f := range fields {
		old, ok := m.fields[path]
		if !ok || old.Type == f.Type {
			continue
		}
		if old.isObject() != f.isObject() {
			return badRequest("illegal_argument_exception", fmt.Sprintf("can't merge a non object mapping [%s] with an object mapping", path))
		}
		return badRequest("illegal_argument_exception", fmt.Sprintf("mapper [%s] cannot be changed from type [%s] to [%s]", path, old.Type, f.Type))
	}
	for path, f := range fields {
		if old, ok := m.fields[path]; ok && old.Fields != nil && f.Fields == nil {
			f.Fields = old.Fields
		}
		m.fields[path] = f
	}
	if dynamic != "" {
		m.dynamic = dynamic
	}
	return nil
}

// render returns the mappings as ES shows them: nested properties.
func (m *mappings) render() map[string]any {
	root := map[string]any{}
	paths := make([]string, 0, len(m.fields))
	for p := range m.fields {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		f := m.fields[p]
		node := root
		parts := strings.Split(p, ".")
		for _, part := range parts[:len(parts)-1] {
			props, _ := node["properties"].(map[string]any)
			if props == nil {
				props = map[string]any{}
				node["properties"] = props
			}
			child, _ := props[part].(map[string]any)
			if child == nil {
				child = map[string]any{}
				props[part] = child
			}
			node = child
		}
		props, _ := node["properties"].(map[string]any)
		if props == nil {
			props = map[string]any{}
			node["properties"] = props
		}
		def, _ := props[parts[len(parts)-1]].(map[string]any)
		if def == nil {
			def = map[string]any{}
			props[parts[len(parts)-1]] = def
		}
		if f.Type != "object" {
			def["type"] = f.Type
		}
		if f.Format != "" {
			def["format"] = f.Format
		}
		if f.IgnoreAbove > 0 {
			def["ignore_above"] = f.IgnoreAbove
		}
		if len(f.Fields) > 0 {
			subs := map[string]any{}
			for name, sf := range f.Fields {
				sd := map[string]any{"type": sf.Type}
				if sf.IgnoreAbove > 0 {
					sd["ignore_above"] = sf.IgnoreAbove
				}
				subs[name] = sd
			}
			def["fields"] = subs
		}
	}
	if m.dynamic != "true" {
		root["dynamic"] = m.dynamic
	}
	return root
}

func joinPath(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// docParser checks one document against an index's mappings, collecting the dynamic
// mappings it would add; they are applied only if the whole document is accepted.
type docParser struct {
	m     *mappings
	id    string
	index string
	added map[string]*fieldMapping
}

func (p *docParser) lookup(path string) *fieldMapping {
	if f, ok := p.added[path]; ok {
		return f
	}
	return p.m.fields[path]
}

// parseDoc checks source (a JSON object, decoded with UseNumber) and returns the
// mappings it adds.
func parseDoc(m *mappings, index, id string, source map[string]any) (map[string]*fieldMapping, *esError) {
	p := &docParser{m: m, id: id, index: index, added: map[string]*fieldMapping{}}
	for _, meta := range []string{"_id", "_index", "_source", "_routing", "_version", "_seq_no", "_primary_term", "_field_names", "_ignored", "_tier", "_doc_count", "_data_stream_timestamp"} {
		if _, ok := source[meta]; ok {
			return nil, p.fail(fmt.Sprintf("Field [%s] is a metadata field and cannot be added inside a document. Use the index API request parameters.", meta))
		}
	}
	if e := p.object("", source); e != nil {
		return nil, e
	}
	return p.added, nil
}

func (p *docParser) fail(reason string) *esError {
	return &esError{Status: 400, Type: "mapper_parsing_exception", Reason: reason, Index: p.index}
}

// dynamicField decides what to do with an unmapped field: add it (true), ignore its
// value (false, dynamic: false) or fail (strict).
func (p *docParser) dynamicField(path string) (bool, *esError) {
	switch p.m.dynamic {
	case "strict":
		return false, &esError{Status: 400, Type: "strict_dynamic_mapping_exception", Index: p.index,
			Reason: fmt.Sprintf("[_doc] mapping set to strict, dynamic introduction of [%s] within [_doc] is not allowed", lastPart(path))}
	case "false":
		return false, nil
	}
	return true, nil
}

func lastPart(path string) string { return path[strings.LastIndexByte(path, '.')+1:] }

func (p *docParser) object(prefix string, obj map[string]any) *esError {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys) // deterministic errors; ES parses in document order
	for _, k := range keys {
		if k == "" || strings.HasPrefix(k, ".") || strings.HasSuffix(k, ".") || strings.Contains(k, "..") {
			return p.fail(fmt.Sprintf("field name cannot contain only whitespace or be empty or contain empty parts: ['%s']", k))
		}
		path := joinPath(prefix, k)
		if strings.Contains(k, ".") { // "a.b": b inside object a
			segs := strings.Split(k, ".")
			stop := false
			for j := 1; j < len(segs) && !stop; j++ {
				var e *esError
				if stop, e = p.ensureObject(joinPath(prefix, strings.Join(segs[:j], "."))); e != nil {
					return e
				}
			}
			if stop {
				continue
			}
		}
		if e := p.value(path, obj[k]); e != nil {
			return e
		}
	}
	return nil
}

// ensureObject makes sure path is (or becomes) an object; stop says the value below it
// is not to be checked (a flattened field, or an unmapped one with dynamic: false).
func (p *docParser) ensureObject(path string) (stop bool, e *esError) {
	f := p.lookup(path)
	if f == nil {
		add, e := p.dynamicField(path)
		if e != nil || !add {
			return true, e
		}
		p.added[path] = &fieldMapping{Type: "object"}
		return false, nil
	}
	switch {
	case f.isObject():
		return false, nil
	case f.Type == "flattened":
		return true, nil
	}
	return true, p.fail(fmt.Sprintf("Could not dynamically add mapping for field [%s]. Existing mapping for [%s] must be of type object but found [%s].", path, path, f.Type))
}

func (p *docParser) value(path string, v any) *esError {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		for _, el := range x {
			if e := p.value(path, el); e != nil {
				return e
			}
		}
		return nil
	case map[string]any:
		f := p.lookup(path)
		if f == nil {
			add, e := p.dynamicField(path)
			if e != nil || !add {
				return e
			}
			p.added[path] = &fieldMapping{Type: "object"}
			return p.object(path, x)
		}
		switch {
		case f.Type == "flattened":
			return nil
		case f.isObject():
			return p.object(path, x)
		}
		return p.parseFailure(path, f.Type, preview(x), "illegal_state_exception", "Can't get text on a START_OBJECT")
	}
	f := p.lookup(path)
	if f == nil {
		add, e := p.dynamicField(path)
		if e != nil || !add {
			return e
		}
		p.added[path] = dynamicMapping(v)
		return nil
	}
	if f.isObject() {
		return p.fail(fmt.Sprintf("object mapping for [%s] tried to parse field [%s] as object, but found a concrete value", path, lastPart(path)))
	}
	if causeType, cause := checkValue(f.Type, v); cause != "" {
		return p.parseFailure(path, f.Type, preview(v), causeType, cause)
	}
	return nil
}

func (p *docParser) parseFailure(path, typ, value, causeType, cause string) *esError {
	e := p.fail(fmt.Sprintf("failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%s'", path, typ, p.id, value))
	e.CausedBy = &esError{Type: causeType, Reason: cause}
	return e
}

func preview(v any) string {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + preview(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

// dynamicMapping is the mapping ES's default dynamic mapping gives a new scalar.
func dynamicMapping(v any) *fieldMapping {
	switch x := v.(type) {
	case bool:
		return &fieldMapping{Type: "boolean"}
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			return &fieldMapping{Type: "float"}
		}
		return &fieldMapping{Type: "long"}
	case string:
		if isDate(x) {
			return &fieldMapping{Type: "date"}
		}
	}
	return &fieldMapping{Type: "text", Fields: map[string]*fieldMapping{"keyword": {Type: "keyword", IgnoreAbove: 256}}}
}

// checkValue checks a scalar against a field type, returning the cause of a failure
// ("" when the value is accepted).
func checkValue(typ string, v any) (causeType, cause string) {
	text := fmt.Sprint(v)
	switch typ {
	case "long", "integer", "short", "byte":
		if _, isBool := v.(bool); isBool {
			return "illegal_argument_exception", fmt.Sprintf("Current token (VALUE_%s) not numeric, can not use numeric value accessors", strings.ToUpper(text))
		}
		bits := map[string]int{"long": 64, "integer": 32, "short": 16, "byte": 8}[typ]
		if _, err := strconv.ParseInt(text, 10, bits); err == nil {
			return "", ""
		}
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return "number_format_exception", fmt.Sprintf("For input string: \"%s\"", text)
		}
		limit := math.Ldexp(1, bits-1)
		if math.Trunc(f) < -limit || math.Trunc(f) >= limit {
			return "illegal_argument_exception", fmt.Sprintf("Value [%s] is out of range for a %s", text, typ)
		}
	case "double", "float", "half_float":
		if _, isBool := v.(bool); isBool {
			return "illegal_argument_exception", fmt.Sprintf("Current token (VALUE_%s) not numeric, can not use numeric value accessors", strings.ToUpper(text))
		}
		bits := 64
		if typ != "double" {
			bits = 32
		}
		f, err := strconv.ParseFloat(text, bits)
		if err != nil && !isRangeErr(err) {
			return "number_format_exception", fmt.Sprintf("For input string: \"%s\"", text)
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return "illegal_argument_exception", fmt.Sprintf("[%s] supports only finite values, but got [%s]", typ, infText(f))
		}
	case "boolean":
		switch text {
		case "true", "false", "":
		default:
			return "illegal_argument_exception", fmt.Sprintf("Failed to parse value [%s] as only [true] or [false] are allowed.", text)
		}
	case "date", "date_nanos":
		switch x := v.(type) {
		case json.Number:
			if _, err := strconv.ParseInt(string(x), 10, 64); err == nil {
				return "", ""
			}
		case string:
			if isDate(x) {
				return "", ""
			}
		}
		return "illegal_argument_exception", fmt.Sprintf("failed to parse date field [%s] with format [strict_date_optional_time||epoch_millis]", text)
	case "binary":
		if _, ok := v.(string); !ok {
			return "illegal_argument_exception", "Current token (" + tokenName(v) + ") not VALUE_STRING or VALUE_EMBEDDED_OBJECT, can not access as binary"
		}
	}
	return "", ""
}

func tokenName(v any) string {
	switch v.(type) {
	case bool:
		return "VALUE_" + strings.ToUpper(fmt.Sprint(v))
	case json.Number:
		return "VALUE_NUMBER_INT"
	}
	return "VALUE_STRING"
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func infText(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case f > 0:
		return "Infinity"
	}
	return "-Infinity"
}

// dateRE is strict_date_optional_time: a date, optionally with time, fraction and offset.
var dateRE = regexp.MustCompile(`^([+-]?\d{4,9})-(\d{2})-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$`)

// isDate reports whether s parses as strict_date_optional_time (ES's default dynamic
// date format) with valid field ranges.
func isDate(s string) bool {
	m := dateRE.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	mon, _ := strconv.Atoi(m[2])
	day, _ := strconv.Atoi(m[3])
	year, _ := strconv.Atoi(m[1])
	if mon < 1 || mon > 12 || day < 1 || day > daysIn(year, time.Month(mon)) {
		return false
	}
	for i, limit := range map[int]int{4: 23, 5: 59, 6: 59} {
		if m[i] != "" {
			if n, _ := strconv.Atoi(m[i]); n > limit {
				return false
			}
		}
	}
	return true
}

// parseDate returns the instant of a strict_date_optional_time string or epoch millis.
func parseDate(v any) (time.Time, bool) {
	switch x := v.(type) {
	case json.Number:
		ms, err := strconv.ParseInt(string(x), 10, 64)
		return time.UnixMilli(ms).UTC(), err == nil
	case string:
		if !isDate(x) {
			return time.Time{}, false
		}
		m := dateRE.FindStringSubmatch(x)
		year, _ := strconv.Atoi(m[1])
		mon, _ := strconv.Atoi(m[2])
		day, _ := strconv.Atoi(m[3])
		hh, _ := strconv.Atoi(m[4])
		mm, _ := strconv.Atoi(m[5])
		ss, _ := strconv.Atoi(m[6])
		ns := 0
		if m[7] != "" {
			frac := (m[7] + "000000000")[:9]
			ns, _ = strconv.Atoi(frac)
		}
		t := time.Date(year, time.Month(mon), day, hh, mm, ss, ns, time.UTC)
		if off := m[8]; off != "" && off != "Z" {
			sign := 1
			if off[0] == '-' {
				sign = -1
			}
			digits := strings.ReplaceAll(off[1:], ":", "")
			oh, _ := strconv.Atoi(digits[:2])
			om := 0
			if len(digits) == 4 {
				om, _ = strconv.Atoi(digits[2:])
			}
			t = t.Add(-time.Duration(sign) * (time.Duration(oh)*time.Hour + time.Duration(om)*time.Minute))
		}
		return t, true
	}
	return time.Time{}, false
}

func daysIn(year int, m time.Month) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
