package cql

import "fmt"

// Parsed statements. Names are resolved (keyspace, type lookup) when executed.

type qname struct{ ks, name string } // ks "" means the connection's keyspace

type typeSpec struct {
	name   string // "int", "list", "map", "frozen", a UDT name, ...
	ks     string // for qualified UDT names
	args   []typeSpec
	frozen bool
}

type colDef struct {
	name    string
	typ     typeSpec
	primary bool // "col type PRIMARY KEY"
}

type useStmt struct{ ks string }

type createKeyspaceStmt struct {
	name        string
	ifNotExists bool
}

type createTypeStmt struct {
	name        qname
	ifNotExists bool
	fields      []colDef
}

type createTableStmt struct {
	name        qname
	ifNotExists bool
	cols        []colDef
	partition   []string
	clustering  []string
}

type alterStmt struct {
	what string // "table" or "type"
	name qname
	add  []colDef
}

type dropStmt struct {
	what     string // "keyspace", "table", "type"
	name     qname
	ifExists bool
}

type truncateStmt struct{ name qname }

// deleteStmt is a whole-partition DELETE: every partition key column restricted by =.
type deleteStmt struct {
	table     qname
	timestamp *term
	where     []relation
}

// termKind is the kind of a value in a statement.
type termKind int

const (
	kLiteral termKind = iota // tok holds it
	kNull
	kMarker // bind marker; index is its position among the statement's markers
	kList
	kSet   // also an empty {} and a UDT literal's or map's ambiguity is settled by the column type
	kMap   // keys/elems
	kTuple // (a, b)
	kUDT   // {field: v}
)

type term struct {
	kind   termKind
	tok    token
	index  int
	elems  []term
	keys   []term
	fields []string
}

type insertStmt struct {
	table       qname
	cols        []string
	vals        []term
	ifNotExists bool
	timestamp   *term
}

type selector struct {
	fn    string // "" (the column), "writetime", "ttl", "count"
	col   string
	alias string // AS name; "" for none
}

type relation struct {
	col  string
	in   bool
	vals []term // one for "=", several for IN (...); a single marker for "IN ?"
}

type selectStmt struct {
	table          qname
	star           bool
	sels           []selector
	where          []relation
	limit          *term
	allowFiltering bool
}

// parser is a recursive-descent parser over lexed tokens.
type parser struct {
	toks    []token
	pos     int
	markers int
}

// parse parses one CQL statement. Its errors are SyntaxError messages.
func parse(src string) (any, int, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, 0, err
	}
	p := &parser{toks: toks}
	st, err := p.statement()
	if err != nil {
		return nil, 0, err
	}
	p.accept(";")
	if p.peek().kind != tEOF {
		return nil, 0, p.errorf("extraneous input %s expecting end of statement", p.peek())
	}
	return st, p.markers, nil
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("line 1:%d %s", p.peek().pos, fmt.Sprintf(format, args...))
}

// is reports whether the next token is the keyword or punctuation s.
func (p *parser) is(s string) bool {
	t := p.peek()
	return (t.kind == tIdent || t.kind == tPunct) && t.text == s
}

func (p *parser) accept(s string) bool {
	if p.is(s) {
		p.pos++
		return true
	}
	return false
}

func (p *parser) expect(s string) error {
	if !p.accept(s) {
		return p.errorf("mismatched input %s expecting '%s'", p.peek(), s)
	}
	return nil
}

func (p *parser) ident() (string, error) {
	t := p.peek()
	if t.kind == tIdent || t.kind == tQIdent {
		p.pos++
		return t.text, nil
	}
	return "", p.errorf("no viable alternative at input %s (expecting an identifier)", t)
}

func (p *parser) qualified() (qname, error) {
	a, err := p.ident()
	if err != nil {
		return qname{}, err
	}
	if p.accept(".") {
		b, err := p.ident()
		return qname{a, b}, err
	}
	return qname{name: a}, nil
}

func (p *parser) ifNotExists() (bool, error) {
	if !p.accept("if") {
		return false, nil
	}
	if err := p.expect("not"); err != nil {
		return false, err
	}
	return true, p.expect("exists")
}

func (p *parser) ifExists() (bool, error) {
	if !p.accept("if") {
		return false, nil
	}
	return true, p.expect("exists")
}

// skipRest consumes options this server ignores (WITH replication = ..., table options).
func (p *parser) skipRest() {
	for p.peek().kind != tEOF && !p.is(";") {
		p.pos++
	}
}

func (p *parser) statement() (any, error) {
	switch {
	case p.accept("use"):
		ks, err := p.ident()
		return &useStmt{ks}, err
	case p.accept("create"):
		return p.create()
	case p.accept("alter"):
		return p.alter()
	case p.accept("drop"):
		return p.drop()
	case p.accept("truncate"):
		p.accept("table")
		n, err := p.qualified()
		return &truncateStmt{n}, err
	case p.accept("insert"):
		return p.insert()
	case p.accept("select"):
		return p.selectStmt()
	case p.accept("delete"):
		return p.deleteStmt()
	}
	return nil, p.errorf("no viable alternative at input %s", p.peek())
}

// deleteStmt parses DELETE FROM t [USING TIMESTAMP v] WHERE c = v [AND c = v ...].
func (p *parser) deleteStmt() (any, error) {
	if !p.accept("from") {
		return nil, p.errorf("mismatched input %s: this server supports only whole-row DELETE FROM (no column list)", p.peek())
	}
	st := &deleteStmt{}
	var err error
	if st.table, err = p.qualified(); err != nil {
		return nil, err
	}
	if p.accept("using") {
		if err := p.expect("timestamp"); err != nil {
			return nil, err
		}
		v, err := p.term()
		if err != nil {
			return nil, err
		}
		st.timestamp = &v
	}
	if err := p.expect("where"); err != nil {
		return nil, err
	}
	for {
		col, err := p.ident()
		if err != nil {
			return nil, err
		}
		if err := p.expect("="); err != nil {
			return nil, err
		}
		v, err := p.term()
		if err != nil {
			return nil, err
		}
		st.where = append(st.where, relation{col: col, vals: []term{v}})
		if !p.accept("and") {
			break
		}
	}
	return st, nil
}

func (p *parser) create() (any, error) {
	switch {
	case p.accept("keyspace"):
		ine, err := p.ifNotExists()
		if err != nil {
			return nil, err
		}
		name, err := p.ident()
		if err != nil {
			return nil, err
		}
		if err := p.expect("with"); err != nil {
			return nil, err
		}
		p.skipRest()
		return &createKeyspaceStmt{name, ine}, nil
	case p.accept("type"):
		ine, err := p.ifNotExists()
		if err != nil {
			return nil, err
		}
		name, err := p.qualified()
		if err != nil {
			return nil, err
		}
		fields, err := p.columnList(false)
		return &createTypeStmt{name: name, ifNotExists: ine, fields: fields}, err
	case p.accept("table"), p.accept("columnfamily"):
		return p.createTable()
	}
	return nil, p.errorf("no viable alternative at input %s (CREATE KEYSPACE, TABLE or TYPE)", p.peek())
}

func (p *parser) createTable() (any, error) {
	st := &createTableStmt{}
	var err error
	if st.ifNotExists, err = p.ifNotExists(); err != nil {
		return nil, err
	}
	if st.name, err = p.qualified(); err != nil {
		return nil, err
	}
	if err := p.expect("("); err != nil {
		return nil, err
	}
	for {
		if p.accept("primary") {
			if err := p.expect("key"); err != nil {
				return nil, err
			}
			if err := p.expect("("); err != nil {
				return nil, err
			}
			if p.accept("(") {
				if st.partition, err = p.identList(); err != nil {
					return nil, err
				}
			} else {
				c, err := p.ident()
				if err != nil {
					return nil, err
				}
				st.partition = []string{c}
			}
			for p.accept(",") {
				c, err := p.ident()
				if err != nil {
					return nil, err
				}
				st.clustering = append(st.clustering, c)
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
		} else {
			c, err := p.column(true)
			if err != nil {
				return nil, err
			}
			st.cols = append(st.cols, c)
		}
		if p.accept(")") {
			break
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
	}
	if p.accept("with") {
		p.skipRest()
	}
	for _, c := range st.cols {
		if c.primary {
			if st.partition != nil {
				return nil, fmt.Errorf("Multiple PRIMARY KEYs specified (exactly one required)")
			}
			st.partition = []string{c.name}
		}
	}
	if len(st.partition) == 0 {
		return nil, fmt.Errorf("No PRIMARY KEY specifed for table '%s' (exactly one required)", st.name.name)
	}
	return st, nil
}

// identList parses "a, b, c)" (the opening parenthesis already consumed).
func (p *parser) identList() ([]string, error) {
	var out []string
	for {
		c, err := p.ident()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		if p.accept(")") {
			return out, nil
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
	}
}

func (p *parser) columnList(allowPrimary bool) ([]colDef, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	var out []colDef
	for {
		c, err := p.column(allowPrimary)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		if p.accept(")") {
			return out, nil
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
	}
}

func (p *parser) column(allowPrimary bool) (colDef, error) {
	name, err := p.ident()
	if err != nil {
		return colDef{}, err
	}
	typ, err := p.typeSpec()
	if err != nil {
		return colDef{}, err
	}
	c := colDef{name: name, typ: typ}
	if allowPrimary && p.accept("primary") {
		c.primary = true
		if err := p.expect("key"); err != nil {
			return colDef{}, err
		}
	}
	return c, nil
}

func (p *parser) typeSpec() (typeSpec, error) {
	q, err := p.qualified()
	if err != nil {
		return typeSpec{}, err
	}
	t := typeSpec{name: q.name, ks: q.ks}
	if q.ks == "" && p.accept("<") {
		for {
			a, err := p.typeSpec()
			if err != nil {
				return typeSpec{}, err
			}
			t.args = append(t.args, a)
			if p.accept(">") {
				break
			}
			if err := p.expect(","); err != nil {
				return typeSpec{}, err
			}
		}
	}
	if t.name == "frozen" {
		if len(t.args) != 1 {
			return typeSpec{}, fmt.Errorf("frozen<> takes exactly one type")
		}
		inner := t.args[0]
		inner.frozen = true
		return inner, nil
	}
	return t, nil
}

func (p *parser) alter() (any, error) {
	st := &alterStmt{}
	switch {
	case p.accept("table"):
		st.what = "table"
	case p.accept("type"):
		st.what = "type"
	default:
		return nil, p.errorf("no viable alternative at input %s (ALTER TABLE or TYPE)", p.peek())
	}
	var err error
	if st.name, err = p.qualified(); err != nil {
		return nil, err
	}
	if err := p.expect("add"); err != nil {
		return nil, err
	}
	if p.is("(") {
		st.add, err = p.columnList(false)
		return st, err
	}
	c, err := p.column(false)
	st.add = []colDef{c}
	return st, err
}

func (p *parser) drop() (any, error) {
	st := &dropStmt{}
	switch {
	case p.accept("keyspace"):
		st.what = "keyspace"
	case p.accept("table"):
		st.what = "table"
	case p.accept("type"):
		st.what = "type"
	default:
		return nil, p.errorf("no viable alternative at input %s (DROP KEYSPACE, TABLE or TYPE)", p.peek())
	}
	var err error
	if st.ifExists, err = p.ifExists(); err != nil {
		return nil, err
	}
	if st.what == "keyspace" {
		st.name.name, err = p.ident()
		return st, err
	}
	st.name, err = p.qualified()
	return st, err
}

func (p *parser) insert() (any, error) {
	if err := p.expect("into"); err != nil {
		return nil, err
	}
	st := &insertStmt{}
	var err error
	if st.table, err = p.qualified(); err != nil {
		return nil, err
	}
	if err := p.expect("("); err != nil {
		return nil, err
	}
	if st.cols, err = p.identList(); err != nil {
		return nil, err
	}
	if err := p.expect("values"); err != nil {
		return nil, err
	}
	if err := p.expect("("); err != nil {
		return nil, err
	}
	for {
		v, err := p.term()
		if err != nil {
			return nil, err
		}
		st.vals = append(st.vals, v)
		if p.accept(")") {
			break
		}
		if err := p.expect(","); err != nil {
			return nil, err
		}
	}
	if len(st.vals) != len(st.cols) {
		return nil, fmt.Errorf("Unmatched column names/values")
	}
	if st.ifNotExists, err = p.ifNotExists(); err != nil {
		return nil, err
	}
	if p.accept("using") {
		for {
			switch {
			case p.accept("timestamp"):
				v, err := p.term()
				if err != nil {
					return nil, err
				}
				st.timestamp = &v
			case p.accept("ttl"):
				if _, err := p.term(); err != nil {
					return nil, err
				}
			default:
				return nil, p.errorf("mismatched input %s expecting TIMESTAMP or TTL", p.peek())
			}
			if !p.accept("and") {
				break
			}
		}
	}
	return st, nil
}

func (p *parser) selectStmt() (any, error) {
	st := &selectStmt{}
	p.accept("json")
	if p.accept("*") {
		st.star = true
	} else {
		for {
			name, err := p.ident()
			if err != nil {
				return nil, err
			}
			sel := selector{col: name}
			if p.accept("(") {
				sel.fn = name
				switch name {
				case "writetime", "ttl":
					if sel.col, err = p.ident(); err != nil {
						return nil, err
					}
				case "count":
					if !p.accept("*") {
						if _, err := p.ident(); err != nil {
							return nil, err
						}
					}
					sel.col = ""
				default:
					return nil, fmt.Errorf("Unknown function '%s'", name)
				}
				if err := p.expect(")"); err != nil {
					return nil, err
				}
			}
			if p.accept("as") {
				if sel.alias, err = p.ident(); err != nil {
					return nil, err
				}
			}
			st.sels = append(st.sels, sel)
			if !p.accept(",") {
				break
			}
		}
	}
	if err := p.expect("from"); err != nil {
		return nil, err
	}
	var err error
	if st.table, err = p.qualified(); err != nil {
		return nil, err
	}
	if p.accept("where") {
		for {
			col, err := p.ident()
			if err != nil {
				return nil, err
			}
			r := relation{col: col}
			switch {
			case p.accept("="):
				v, err := p.term()
				if err != nil {
					return nil, err
				}
				r.vals = []term{v}
			case p.accept("in"):
				r.in = true
				if p.is("?") {
					v, _ := p.term()
					r.vals = []term{v}
					break
				}
				if err := p.expect("("); err != nil {
					return nil, err
				}
				for !p.accept(")") {
					v, err := p.term()
					if err != nil {
						return nil, err
					}
					r.vals = append(r.vals, v)
					p.accept(",")
				}
			default:
				return nil, p.errorf("mismatched input %s: this server supports only = and IN relations", p.peek())
			}
			st.where = append(st.where, r)
			if !p.accept("and") {
				break
			}
		}
	}
	if p.accept("limit") {
		v, err := p.term()
		if err != nil {
			return nil, err
		}
		st.limit = &v
	}
	if p.accept("allow") {
		if err := p.expect("filtering"); err != nil {
			return nil, err
		}
		st.allowFiltering = true
	}
	return st, nil
}

// term parses a value: a literal, a bind marker or a collection, tuple or UDT literal.
func (p *parser) term() (term, error) {
	t := p.peek()
	switch t.kind {
	case tString, tNumber, tBlob, tUUID:
		p.pos++
		return term{kind: kLiteral, tok: t}, nil
	case tIdent:
		switch t.text {
		case "null":
			p.pos++
			return term{kind: kNull}, nil
		case "true", "false", "nan", "infinity":
			p.pos++
			return term{kind: kLiteral, tok: t}, nil
		}
	case tPunct:
		switch t.text {
		case "?":
			p.pos++
			p.markers++
			return term{kind: kMarker, index: p.markers - 1}, nil
		case "-":
			// -NaN, -Infinity
			p.pos++
			n := p.peek()
			if n.kind == tIdent && (n.text == "infinity" || n.text == "nan") {
				p.pos++
				return term{kind: kLiteral, tok: token{tIdent, "-" + n.text, t.pos}}, nil
			}
			return term{}, p.errorf("no viable alternative at input '-'")
		case "[":
			p.pos++
			elems, err := p.termsUntil("]")
			return term{kind: kList, elems: elems}, err
		case "(":
			p.pos++
			elems, err := p.termsUntil(")")
			return term{kind: kTuple, elems: elems}, err
		case "{":
			p.pos++
			return p.braced()
		}
	}
	return term{}, p.errorf("no viable alternative at input %s (expecting a value)", t)
}

func (p *parser) termsUntil(end string) ([]term, error) {
	var out []term
	for !p.accept(end) {
		if len(out) > 0 {
			if err := p.expect(","); err != nil {
				return nil, err
			}
		}
		v, err := p.term()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// braced parses what follows '{': a set, a map or a UDT literal.
func (p *parser) braced() (term, error) {
	if p.accept("}") {
		return term{kind: kSet}, nil
	}
	// A UDT literal starts with "name :".
	if t := p.peek(); (t.kind == tIdent || t.kind == tQIdent) && p.toks[p.pos+1].text == ":" && p.toks[p.pos+1].kind == tPunct {
		out := term{kind: kUDT}
		for {
			f, err := p.ident()
			if err != nil {
				return term{}, err
			}
			if err := p.expect(":"); err != nil {
				return term{}, err
			}
			v, err := p.term()
			if err != nil {
				return term{}, err
			}
			out.fields = append(out.fields, f)
			out.elems = append(out.elems, v)
			if p.accept("}") {
				return out, nil
			}
			if err := p.expect(","); err != nil {
				return term{}, err
			}
		}
	}
	first, err := p.term()
	if err != nil {
		return term{}, err
	}
	if p.accept(":") {
		out := term{kind: kMap}
		v, err := p.term()
		if err != nil {
			return term{}, err
		}
		out.keys, out.elems = []term{first}, []term{v}
		for !p.accept("}") {
			if err := p.expect(","); err != nil {
				return term{}, err
			}
			k, err := p.term()
			if err != nil {
				return term{}, err
			}
			if err := p.expect(":"); err != nil {
				return term{}, err
			}
			v, err := p.term()
			if err != nil {
				return term{}, err
			}
			out.keys, out.elems = append(out.keys, k), append(out.elems, v)
		}
		return out, nil
	}
	out := term{kind: kSet, elems: []term{first}}
	for !p.accept("}") {
		if err := p.expect(","); err != nil {
			return term{}, err
		}
		v, err := p.term()
		if err != nil {
			return term{}, err
		}
		out.elems = append(out.elems, v)
	}
	return out, nil
}
