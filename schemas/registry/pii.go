package registry

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/etcdstore"
)

// PII carry-across. A new version must keep the PII classification of every field the
// latest live version classifies, unless the field is gone. What a schema can say about
// where a field's data went is checked, and nothing more:
//
//	kept      the field keeps its path: it must still be classified pii
//	renamed   a field of the new version names it among its Avro aliases (its own or
//	          an enclosing field's): that field must be classified pii
//	replaced  the field is gone, and the change adds a field (a path no earlier name of
//	          which existed) of the same type, nullability aside, that is not
//	          classified: refused as a likely rename, even where it is not one
//
// The last rule errs towards refusing: dropping a PII string and adding an unrelated
// string in one change is refused too. The owning team (or an admin) can accept each
// loss on purpose with ?declassify=path,... (paths as in the previous version); the
// acknowledgement is recorded in the audit trail. The registry cannot see data a
// producer puts in a field of another type or in a field that existed already.

// Rules of piiLoss.
const (
	lossKept     = "kept without classification"
	lossRenamed  = "renamed by alias"
	lossReplaced = "replaced by a new field of the same type"
)

// piiLoss is one PII classification a new version would lose.
type piiLoss struct {
	Field string // path in the previous version
	Now   string // the field of the new version that takes its place
	Rule  string
}

func (l piiLoss) String() string {
	switch l.Rule {
	case lossKept:
		return fmt.Sprintf("field '%s' is no longer classified pii", l.Field)
	case lossRenamed:
		return fmt.Sprintf("field '%s' (pii) is renamed to '%s' (an alias names it) without its classification", l.Field, l.Now)
	default:
		return fmt.Sprintf("field '%s' (pii) is removed and '%s', a new field of the same type, is not classified", l.Field, l.Now)
	}
}

// piiLosses compares the classification of prev with that of next.
func piiLosses(prev, next avro.Schema) []piiLoss {
	prevFields := schemas.Fields(prev)
	existed := map[string]bool{}
	var classified []schemas.FieldAt
	seen := map[string]bool{}
	for _, f := range prevFields {
		existed[f.Path] = true
		if f.Class == schemas.ClassPII && !seen[f.Path] {
			seen[f.Path] = true
			classified = append(classified, f)
		}
	}
	nextFields := schemas.Fields(next)
	atPath := map[string][]schemas.FieldAt{}
	claims := map[string][]schemas.FieldAt{} // former path -> fields of next that name it by alias
	var added []schemas.FieldAt              // unclassified fields of next with no former path in prev
	for _, f := range nextFields {
		atPath[f.Path] = append(atPath[f.Path], f)
		isNew := true
		for i, p := range f.Former {
			if i > 0 {
				claims[p] = append(claims[p], f)
			}
			if existed[p] {
				isNew = false
			}
		}
		if isNew && f.Class != schemas.ClassPII {
			added = append(added, f)
		}
	}
	var out []piiLoss
	for _, p := range classified {
		at, kept := atPath[p.Path]
		for _, f := range at {
			if f.Class != schemas.ClassPII {
				out = append(out, piiLoss{Field: p.Path, Now: f.Path, Rule: lossKept})
				break
			}
		}
		renamed := false
		for _, f := range claims[p.Path] {
			if f.Path == p.Path {
				continue
			}
			renamed = true
			if f.Class != schemas.ClassPII {
				out = append(out, piiLoss{Field: p.Path, Now: f.Path, Rule: lossRenamed})
			}
		}
		if kept || renamed {
			continue
		}
		want := typeKey(p.Field.Type())
		for _, f := range added {
			if typeKey(f.Field.Type()) == want {
				out = append(out, piiLoss{Field: p.Path, Now: f.Path, Rule: lossReplaced})
			}
		}
	}
	return out
}

// typeKey identifies a field type for the replaced rule: primitives by type and
// logical type, fixed by size, records and enums by full name, arrays and maps by what
// they hold; a union of null and one type is that type, so making a field nullable
// does not hide it.
func typeKey(s avro.Schema) string {
	if r, ok := s.(*avro.RefSchema); ok {
		s = r.Schema()
	}
	logical := func(ls avro.LogicalSchema) string {
		if ls == nil {
			return ""
		}
		return "/" + string(ls.Type())
	}
	switch t := s.(type) {
	case *avro.PrimitiveSchema:
		return string(t.Type()) + logical(t.Logical())
	case *avro.FixedSchema:
		return fmt.Sprintf("fixed(%d)%s", t.Size(), logical(t.Logical()))
	case *avro.ArraySchema:
		return "array<" + typeKey(t.Items()) + ">"
	case *avro.MapSchema:
		return "map<" + typeKey(t.Values()) + ">"
	case *avro.UnionSchema:
		var keys []string
		for _, b := range t.Types() {
			if b.Type() != avro.Null {
				keys = append(keys, typeKey(b))
			}
		}
		if len(keys) == 1 {
			return keys[0]
		}
		return "union<" + strings.Join(keys, ",") + ">"
	case avro.NamedSchema:
		return string(s.Type()) + ":" + t.FullName()
	}
	return string(s.Type())
}

// declassifyParam is the set of paths in ?declassify=a,b (repeatable).
func declassifyParam(r *http.Request) map[string]bool {
	out := map[string]bool{}
	for _, v := range r.URL.Query()["declassify"] {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out[p] = true
			}
		}
	}
	return out
}

// checkPIICarried refuses a version that loses PII classifications of prev (the latest
// live version) unless each loss is acknowledged; it returns the acknowledged ones.
func checkPIICarried(subject string, prevVersion int, prev, next avro.Schema, ack map[string]bool) ([]etcdstore.Declassified, error) {
	var losses []piiLoss
	if prev != nil {
		losses = piiLosses(prev, next)
	}
	var refused []string
	var accepted []etcdstore.Declassified
	matched := map[string]bool{}
	for _, l := range losses {
		if ack[l.Field] {
			matched[l.Field] = true
			accepted = append(accepted, etcdstore.Declassified{Field: l.Field, Now: l.Now, Reason: l.Rule})
			continue
		}
		refused = append(refused, l.String())
	}
	var unknown []string
	for p := range ack {
		if !matched[p] {
			unknown = append(unknown, p)
		}
	}
	sort.Strings(unknown)
	if len(refused) > 0 {
		return nil, schemas.Errorf(schemas.CodeInvalidContract,
			"Schema would drop PII classification in subject '%s' (compared with version %d): %s. Classify the field as pii (\"waybill.classification\": \"pii\"), or, as the owning team, acknowledge with ?declassify=<field as in version %d>",
			subject, prevVersion, strings.Join(refused, "; "), prevVersion)
	}
	if len(unknown) > 0 {
		return nil, schemas.Errorf(schemas.CodeInvalidContract,
			"?declassify names %s, which this schema does not declassify in subject '%s'", strings.Join(unknown, ", "), subject)
	}
	return accepted, nil
}
