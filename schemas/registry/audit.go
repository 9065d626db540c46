package registry

import (
	"net/http"
	"strconv"

	"github.com/waybill-data/waybill/schemas/etcdstore"
)

// Audit paging bounds.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// auditPage is the answer of GET /audit.
type auditPage struct {
	Records []etcdstore.AuditRecord `json:"records"`
	// More says whether further records match: after the last one (page on with
	// after=<its revision>), or before the first when paging with before=.
	More bool `json:"more"`
}

// getAudit serves GET /audit[?subject=S][&after=REV|&before=REV][&limit=N]: the audit
// trail in commit order, newest last.
func (reg *Registry) getAudit(w http.ResponseWriter, r *http.Request) error {
	q := etcdstore.AuditQuery{Limit: DefaultAuditLimit}
	params := r.URL.Query()
	if params.Has("subject") {
		s := params.Get("subject")
		if err := validSubject(s); err != nil {
			return err
		}
		q.Subject = s
	}
	for name, into := range map[string]*int64{"after": &q.After, "before": &q.Before} {
		if v := params.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				httpError(w, http.StatusBadRequest, "Invalid %s=%q: use an audit record's revision", name, v)
				return nil
			}
			*into = n
		}
	}
	if v := params.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxAuditLimit {
			httpError(w, http.StatusBadRequest, "Invalid limit=%q: use 1 to %d", v, MaxAuditLimit)
			return nil
		}
		q.Limit = n
	}
	recs, more, err := reg.store.Audit(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, auditPage{Records: recs, More: more})
	return nil
}
