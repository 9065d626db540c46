package elastic

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// maxResultWindow is index.max_result_window's default.
const maxResultWindow = 10000

// query tests a document; m is its index's mappings.
type query func(d *doc, m *mappings) bool

func parsingError(reason string) *esError {
	return badRequest("parsing_exception", reason)
}

// parseQuery reads a query DSL object: match_all, term, terms, match, ids, range and bool.
func parseQuery(raw any) (query, *esError) {
	if raw == nil {
		return func(*doc, *mappings) bool { return true }, nil
	}
	obj, ok := raw.(map[string]any)
	if !ok || len(obj) != 1 {
		return nil, parsingError("[_na] query malformed, must start with start_object")
	}
	for kind, body := range obj {
		switch kind {
		case "match_all":
			return func(*doc, *mappings) bool { return true }, nil
		case "term", "match":
			field, value, e := fieldQuery(kind, body)
			if e != nil {
				return nil, e
			}
			analyzed := kind == "match"
			return func(d *doc, m *mappings) bool {
				return anyValue(d, m, field, func(typ string, v any) bool { return matches(typ, v, value, analyzed) })
			}, nil
		case "terms":
			fields, ok := body.(map[string]any)
			if !ok || len(fields) != 1 {
				return nil, parsingError("[terms] query requires exactly one field")
			}
			for field, vs := range fields {
				values, ok := vs.([]any)
				if !ok {
					return nil, parsingError("[terms] query does not support [" + field + "]")
				}
				return func(d *doc, m *mappings) bool {
					return anyValue(d, m, field, func(typ string, v any) bool {
						for _, want := range values {
							if matches(typ, v, want, false) {
								return true
							}
						}
						return false
					})
				}, nil
			}
		case "ids":
			b, _ := body.(map[string]any)
			vs, ok := b["values"].([]any)
			if !ok {
				return nil, parsingError("[ids] query malformed, no values")
			}
			set := map[string]bool{}
			for _, v := range vs {
				set[fmt.Sprint(v)] = true
			}
			return func(d *doc, _ *mappings) bool { return set[d.id] }, nil
		case "bool":
			return parseBool(body)
		case "range":
			return parseRange(body)
		}
		return nil, parsingError(fmt.Sprintf("unknown query [%s]", kind))
	}
	return nil, nil
}

// parseRange reads {"field": {"gte"|"gt"|"lte"|"lt": bound, ...}}; dates compare as
// instants, numbers as numbers, everything else as text.
func parseRange(body any) (query, *esError) {
	b, ok := body.(map[string]any)
	if !ok || len(b) != 1 {
		return nil, parsingError("[range] query doesn't support multiple fields")
	}
	for field, raw := range b {
		bounds, ok := raw.(map[string]any)
		if !ok || len(bounds) == 0 {
			return nil, parsingError("[range] query malformed, no start_object after query name")
		}
		for op := range bounds {
			switch op {
			case "gte", "gt", "lte", "lt", "format", "time_zone":
			default:
				return nil, parsingError(fmt.Sprintf("[range] query does not support [%s]", op))
			}
		}
		return func(d *doc, m *mappings) bool {
			return anyValue(d, m, field, func(typ string, v any) bool {
				for op, bound := range bounds {
					if op == "format" || op == "time_zone" {
						continue
					}
					c, ok := compareTyped(typ, v, bound)
					if !ok {
						return false
					}
					switch {
					case op == "gte" && c < 0, op == "gt" && c <= 0, op == "lte" && c > 0, op == "lt" && c >= 0:
						return false
					}
				}
				return true
			})
		}, nil
	}
	return nil, nil
}

// compareTyped orders a stored value against a query value for a field type.
func compareTyped(typ string, stored, want any) (int, bool) {
	switch typ {
	case "long", "integer", "short", "byte", "double", "float", "half_float":
		a, err1 := strconv.ParseFloat(fmt.Sprint(stored), 64)
		b, err2 := strconv.ParseFloat(fmt.Sprint(want), 64)
		if err1 != nil || err2 != nil {
			return 0, false
		}
		return cmpFloat(a, b), true
	case "date", "date_nanos":
		a, ok1 := parseDate(stored)
		b, ok2 := parseDate(want)
		if !ok1 || !ok2 {
			return 0, false
		}
		return a.Compare(b), true
	}
	return strings.Compare(fmt.Sprint(stored), fmt.Sprint(want)), true
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func parseBool(body any) (query, *esError) {
	b, ok := body.(map[string]any)
	if !ok {
		return nil, parsingError("[bool] query malformed")
	}
	clauses := map[string][]query{}
	for occur, raw := range b {
		switch occur {
		case "must", "filter", "must_not", "should":
		default:
			return nil, parsingError(fmt.Sprintf("[bool] query does not support [%s]", occur))
		}
		list, ok := raw.([]any)
		if !ok {
			list = []any{raw}
		}
		for _, q := range list {
			pq, e := parseQuery(q)
			if e != nil {
				return nil, e
			}
			clauses[occur] = append(clauses[occur], pq)
		}
	}
	return func(d *doc, m *mappings) bool {
		for _, q := range append(clauses["must"], clauses["filter"]...) {
			if !q(d, m) {
				return false
			}
		}
		for _, q := range clauses["must_not"] {
			if q(d, m) {
				return false
			}
		}
		if len(clauses["should"]) == 0 || len(clauses["must"])+len(clauses["filter"]) > 0 {
			return true
		}
		for _, q := range clauses["should"] {
			if q(d, m) {
				return true
			}
		}
		return false
	}, nil
}

// fieldQuery reads {"field": value} or {"field": {"value"|"query": value}}.
func fieldQuery(kind string, body any) (string, any, *esError) {
	b, ok := body.(map[string]any)
	if !ok || len(b) != 1 {
		return "", nil, parsingError(fmt.Sprintf("[%s] query doesn't support multiple fields", kind))
	}
	for field, v := range b {
		if inner, ok := v.(map[string]any); ok {
			key := "value"
			if kind == "match" {
				key = "query"
			}
			val, ok := inner[key]
			if !ok {
				return "", nil, parsingError(fmt.Sprintf("[%s] query malformed, no %s specified", kind, key))
			}
			return field, val, nil
		}
		return field, v, nil
	}
	return "", nil, nil
}

// fieldType returns a path's mapped type, resolving multi-fields ("name.keyword").
func fieldType(m *mappings, path string) (typ, sourcePath string) {
	if f := m.fields[path]; f != nil {
		return f.Type, path
	}
	if i := strings.LastIndexByte(path, '.'); i > 0 {
		if f := m.fields[path[:i]]; f != nil && f.Fields[path[i+1:]] != nil {
			return f.Fields[path[i+1:]].Type, path[:i]
		}
	}
	for p := path; strings.Contains(p, "."); { // inside a flattened field: keywords
		p = p[:strings.LastIndexByte(p, '.')]
		if f := m.fields[p]; f != nil && f.Type == "flattened" {
			return "keyword", path
		}
	}
	return "", path
}

// anyValue reports whether any value of the field in the document satisfies f.
func anyValue(d *doc, m *mappings, field string, f func(typ string, v any) bool) bool {
	typ, path := fieldType(m, field)
	if typ == "" {
		return false
	}
	for _, v := range valuesAt(d.parsed, strings.Split(path, ".")) {
		if f(typ, v) {
			return true
		}
	}
	return false
}

// valuesAt collects the scalar values at a dotted path, through arrays and dotted keys.
func valuesAt(v any, segs []string) []any {
	switch x := v.(type) {
	case []any:
		var out []any
		for _, el := range x {
			out = append(out, valuesAt(el, segs)...)
		}
		return out
	case map[string]any:
		var out []any
		for j := 1; j <= len(segs); j++ {
			if child, ok := x[strings.Join(segs[:j], ".")]; ok {
				out = append(out, valuesAt(child, segs[j:])...)
			}
		}
		return out
	case nil:
		return nil
	}
	if len(segs) > 0 {
		return nil
	}
	return []any{v}
}

// matches compares one stored value with a query value for a field type.
func matches(typ string, stored, want any, analyzed bool) bool {
	switch typ {
	case "text":
		tokens := analyze(fmt.Sprint(stored))
		wants := []string{fmt.Sprint(want)}
		if analyzed {
			wants = analyze(fmt.Sprint(want))
		}
		for _, w := range wants {
			for _, t := range tokens {
				if t == w {
					return true
				}
			}
		}
		return false
	case "long", "integer", "short", "byte", "double", "float", "half_float":
		a, err1 := strconv.ParseFloat(fmt.Sprint(stored), 64)
		b, err2 := strconv.ParseFloat(fmt.Sprint(want), 64)
		return err1 == nil && err2 == nil && a == b
	case "date", "date_nanos":
		a, ok1 := parseDate(stored)
		b, ok2 := parseDate(want)
		return ok1 && ok2 && a.Equal(b)
	}
	return fmt.Sprint(stored) == fmt.Sprint(want)
}

// analyze is the standard analyzer, near enough: lower-cased runs of letters and digits.
func analyze(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// sortKey is one sort criterion.
type sortKey struct {
	field string
	desc  bool
}

func parseSort(raw any) ([]sortKey, *esError) {
	if raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		list = []any{raw}
	}
	var keys []sortKey
	for _, el := range list {
		switch x := el.(type) {
		case string:
			for _, part := range strings.Split(x, ",") {
				field, order, _ := strings.Cut(part, ":")
				keys = append(keys, sortKey{field: field, desc: order == "desc"})
			}
		case map[string]any:
			for field, spec := range x {
				order := fmt.Sprint(spec)
				if m, ok := spec.(map[string]any); ok {
					order = fmt.Sprint(m["order"])
				}
				keys = append(keys, sortKey{field: field, desc: order == "desc"})
			}
		default:
			return nil, parsingError("[sort] malformed")
		}
	}
	return keys, nil
}

// hit is a matching document with its index.
type hit struct {
	index    string
	d        *doc
	m        *mappings
	sortVals []any // the values of the request's sort keys
}

// search serves _search and _count.
func (s *Server) search(expr string, q url.Values, body []byte, count bool) (int, any) {
	req := map[string]any{}
	if len(strings.TrimSpace(string(body))) > 0 {
		var err error
		if req, err = decodeObject(body); err != nil {
			return errResp(parseFailed(err))
		}
	}
	qry, e := parseQuery(req["query"])
	if e != nil {
		return errResp(e)
	}
	if qs := q.Get("q"); qs != "" {
		field, value, _ := strings.Cut(qs, ":")
		qry = func(d *doc, m *mappings) bool {
			return anyValue(d, m, field, func(typ string, v any) bool { return matches(typ, v, value, true) })
		}
	}
	size, from := 10, 0
	intParam := func(name string) (int, bool, *esError) {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return 0, false, badRequest("illegal_argument_exception", fmt.Sprintf("[%s] must be a non-negative integer, got [%s]", name, v))
			}
			return n, true, nil
		}
		if v, ok := req[name].(json.Number); ok {
			n, err := strconv.Atoi(string(v))
			if err != nil || n < 0 {
				return 0, false, badRequest("illegal_argument_exception", fmt.Sprintf("[%s] must be a non-negative integer", name))
			}
			return n, true, nil
		}
		return 0, false, nil
	}
	if n, ok, e := intParam("size"); e != nil {
		return errResp(e)
	} else if ok {
		size = n
	}
	if n, ok, e := intParam("from"); e != nil {
		return errResp(e)
	} else if ok {
		from = n
	}
	if !count && from+size > maxResultWindow {
		return errResp(badRequest("illegal_argument_exception", fmt.Sprintf("Result window is too large, from + size must be less than or equal to: [%d] but was [%d]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.", maxResultWindow, from+size)))
	}
	keys, e := parseSort(req["sort"])
	if e != nil {
		return errResp(e)
	}
	if qs := q.Get("sort"); qs != "" {
		keys, _ = parseSort(qs)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	names, e := s.resolve(expr, true)
	if e != nil {
		return errResp(e)
	}
	sort.Strings(names)
	var hits []hit
	for _, n := range names {
		idx := s.indices[n]
		for _, d := range idx.searchable {
			if qry(d, idx.maps) {
				hits = append(hits, hit{index: n, d: d, m: idx.maps})
			}
		}
	}
	shards := map[string]any{"total": len(names), "successful": len(names), "skipped": 0, "failed": 0}
	if count {
		return http.StatusOK, map[string]any{"count": len(hits), "_shards": shards}
	}
	for _, k := range keys {
		if k.field == "_doc" || k.field == "_score" {
			continue
		}
		for _, n := range names {
			if typ, _ := fieldType(s.indices[n].maps, k.field); typ == "text" {
				return errResp(badRequest("illegal_argument_exception", fmt.Sprintf("Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set fielddata=true on [%s] in order to load field data by uninverting the inverted index. Note that this can use significant memory.", k.field)))
			}
		}
	}
	// Each hit's sort values are read once (a date is parsed once, not per comparison).
	for i := range hits {
		for _, k := range keys {
			hits[i].sortVals = append(hits[i].sortVals, firstValue(hits[i], k.field))
		}
	}
	sort.SliceStable(hits, func(i, j int) bool {
		for k, key := range keys {
			if c := compareValues(hits[i].sortVals[k], hits[j].sortVals[k]); c != 0 {
				return c < 0 != key.desc
			}
		}
		if hits[i].index != hits[j].index {
			return hits[i].index < hits[j].index
		}
		return hits[i].d.seqNo < hits[j].d.seqNo
	})
	if raw, ok := req["search_after"]; ok {
		after, ok := raw.([]any)
		if !ok || len(keys) == 0 || len(after) != len(keys) {
			return errResp(badRequest("illegal_argument_exception", "search_after needs a sort with as many fields as it has values"))
		}
		if from > 0 {
			return errResp(badRequest("illegal_argument_exception", "[from] parameter must be set to 0 when [search_after] is used"))
		}
		i := sort.Search(len(hits), func(i int) bool {
			for j, k := range keys {
				if c := compareValues(hits[i].sortVals[j], after[j]); c != 0 {
					return c > 0 != k.desc
				}
			}
			return false
		})
		hits = hits[i:]
	}
	total := len(hits)
	relation := "eq"
	if tth, ok := req["track_total_hits"].(bool); (!ok || !tth) && total > maxResultWindow {
		total, relation = maxResultWindow, "gte"
	}
	page := []any{}
	withSource := true
	var includes []string
	switch src := req["_source"].(type) {
	case bool:
		withSource = src
	case string:
		includes = []string{src}
	case []any:
		for _, f := range src {
			includes = append(includes, fmt.Sprint(f))
		}
	case map[string]any:
		if list, ok := src["includes"].([]any); ok {
			for _, f := range list {
				includes = append(includes, fmt.Sprint(f))
			}
		}
	}
	for i := from; i < len(hits) && i < from+size; i++ {
		h := map[string]any{"_index": hits[i].index, "_id": hits[i].d.id, "_score": 1.0}
		switch {
		case withSource && includes != nil:
			h["_source"] = filterSource(hits[i].d.parsed, includes)
		case withSource:
			h["_source"] = hits[i].d.source
		}
		if len(keys) > 0 {
			h["_score"] = nil
			h["sort"] = hits[i].sortVals
		}
		page = append(page, h)
	}
	var maxScore any = 1.0
	if len(hits) == 0 || len(keys) > 0 {
		maxScore = nil
	}
	return http.StatusOK, map[string]any{
		"took": 1, "timed_out": false, "_shards": shards,
		"hits": map[string]any{"total": map[string]any{"value": total, "relation": relation}, "max_score": maxScore, "hits": page},
	}
}

func firstValue(h hit, field string) any {
	if field == "_doc" {
		return h.d.seqNo
	}
	_, path := fieldType(h.m, field)
	vs := valuesAt(h.d.parsed, strings.Split(path, "."))
	if len(vs) == 0 {
		return nil
	}
	if t, ok := parseDate(vs[0]); ok {
		if typ, _ := fieldType(h.m, field); typ == "date" || typ == "date_nanos" {
			return t.UnixMilli()
		}
	}
	return vs[0]
}

// filterSource keeps the parts of a source at the include paths (dotted, exact).
func filterSource(src any, includes []string) map[string]any {
	out := map[string]any{}
	obj, _ := src.(map[string]any)
	for _, inc := range includes {
		segs := strings.Split(inc, ".")
		from, to := obj, out
		for i, seg := range segs {
			v, ok := from[seg]
			if !ok {
				break
			}
			if i == len(segs)-1 {
				to[seg] = v
				break
			}
			child, ok := v.(map[string]any)
			if !ok {
				break
			}
			next, _ := to[seg].(map[string]any)
			if next == nil {
				next = map[string]any{}
				to[seg] = next
			}
			from, to = child, next
		}
	}
	return out
}

// compareValues orders two sort values: numerically when both are numbers, else as
// text; missing values sort last.
func compareValues(x, y any) int {
	switch {
	case x == nil && y == nil:
		return 0
	case x == nil:
		return 1
	case y == nil:
		return -1
	}
	fx, err1 := strconv.ParseFloat(fmt.Sprint(x), 64)
	fy, err2 := strconv.ParseFloat(fmt.Sprint(y), 64)
	if err1 == nil && err2 == nil {
		switch {
		case fx < fy:
			return -1
		case fx > fy:
			return 1
		}
		return 0
	}
	return strings.Compare(fmt.Sprint(x), fmt.Sprint(y))
}
