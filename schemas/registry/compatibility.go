package registry

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/compat"
	"github.com/waybill-data/waybill/schemas/etcdstore"
)

// testCompatibility answers POST /compatibility/subjects/{s}/versions[/{v}]. Without a
// version the subject's level decides which versions are checked (latest, or all live
// ones for transitive levels); with one, only that version is checked, in the level's
// direction(s).
func (reg *Registry) testCompatibility(w http.ResponseWriter, r *http.Request) error {
	subject, err := subjectParam(r)
	if err != nil {
		return err
	}
	version := 0
	if vs := r.PathValue("version"); vs != "" {
		if version, err = parseVersion(vs); err != nil {
			return err
		}
	}
	var req schemaRequest
	if !decodeBody(w, r, &req) {
		return nil
	}
	ctx := r.Context()
	cand, err := reg.parseCandidate(ctx, &req)
	if err != nil {
		return err
	}
	level, err := reg.effectiveLevel(ctx, subject)
	if err != nil {
		return err
	}
	all, _, err := reg.store.Versions(ctx, subject)
	if err != nil {
		return err
	}
	var against []schemas.VersionRecord
	if version != 0 {
		v, err := etcdstore.PickVersion(subject, all, version, false)
		if err != nil {
			return err
		}
		against = []schemas.VersionRecord{*v}
		level = nonTransitive(level)
	} else {
		for _, v := range all {
			if !v.Deleted {
				against = append(against, v)
			}
		}
	}
	var problems []compat.Problem
	if len(against) > 0 && level != compat.None {
		prev, err := reg.previousSchemas(ctx, against)
		if err != nil {
			return err
		}
		problems = compat.Check(level, cand.parsed, prev)
	}
	resp := map[string]any{"is_compatible": len(problems) == 0}
	if boolParam(r, "verbose") {
		msgs := []string{}
		if len(problems) > 0 {
			msgs = problemMessages(level, problems)
		}
		resp["messages"] = msgs
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// nonTransitive maps a level to its single-version form: checking against one named
// version is the same whether or not the level is transitive.
func nonTransitive(l compat.Level) compat.Level {
	switch l {
	case compat.BackwardTransitive:
		return compat.Backward
	case compat.ForwardTransitive:
		return compat.Forward
	case compat.FullTransitive:
		return compat.Full
	}
	return l
}

// problemMessages renders problems in the shape of Confluent's verbose messages, one per
// incompatibility, each naming its path and the version it conflicts with, followed by
// the level that was applied.
func problemMessages(level compat.Level, problems []compat.Problem) []string {
	out := make([]string, 0, len(problems)+1)
	for _, p := range problems {
		path := p.Path
		if path == "" {
			path = "/"
		}
		out = append(out, fmt.Sprintf("{errorType:'%s', description:'%s', path:'%s', oldSchemaVersion: %d, direction:'%s'}",
			p.Type, quoteless(p.Message), path, p.Version, p.Direction))
	}
	return append(out, fmt.Sprintf("{compatibility: '%s'}", level))
}

// quoteless keeps a message from breaking the single-quoted rendering.
func quoteless(s string) string { return strings.ReplaceAll(s, "'", "\"") }
