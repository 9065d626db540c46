package routing

import (
	"errors"
	"net/http"

	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/auth"
)

// Who may do what on the router, with a tokens file (Options.Authority):
//
//	POST /v1/events, /v1/events/{subject}   any valid credential; each event's contract
//	                                        must be one its team may produce to
//	                                        (auth.MayProduce: own contracts, grants, admin)
//	                                        or the event is rejected not_authorized
//	GET  /v1/ledger                         any valid credential (counts only)
//	GET  /v1/deadletters                    any valid credential; a team sees the dead
//	                                        letters of the contracts it owns, an admin all
//	POST /v1/deadletters/replay             admins only: a route's dead letters span
//	                                        contracts of many teams
//	POST /v1/erasure, GET /v1/erasure       the contract's owner team or an admin
//	/healthz, /readyz, /metrics             open
//
// A missing, unknown or expired credential is 401 for the whole request (with
// WWW-Authenticate: Bearer); a valid one that may not do this is 403. Tokens are never
// logged or echoed: messages name the team and the token entry at most.

// anonymous is the identity of every caller while authentication is off.
var anonymous = &auth.Identity{Name: "anonymous", Admin: true}

// authenticate identifies the caller. It answers 401 itself and returns ok=false when
// the credential is missing, unknown or expired; without an Authority every caller is
// anonymous and may do anything.
func (rt *Router) authenticate(w http.ResponseWriter, r *http.Request) (*auth.Identity, bool) {
	if rt.auth == nil {
		return anonymous, true
	}
	id, err := rt.auth.Authenticate(r)
	if err == nil {
		return id, true
	}
	challenge := `Bearer realm="waybill"`
	if !errors.Is(err, auth.ErrNoCredentials) {
		challenge += `, error="invalid_token"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	rt.metrics.unauthenticated.Inc()
	writeProblem(w, http.StatusUnauthorized, "unauthenticated: %v", err)
	return nil, false
}

// authorizeProduce rejects an event of contract c (subject) that id's team may not
// produce to.
func (rt *Router) authorizeProduce(id *auth.Identity, subject string, c *schemas.Contract) *rejection {
	if rt.auth == nil || rt.auth.MayProduce(id, subject, c.Owner) {
		return nil
	}
	return reject(ReasonNotAuthorized, "contract", "team %q may not produce to contract %q (owned by %q, and not granted to %q in the tokens file)", id.Team, subject, c.Owner, id.Team)
}

// mayAdminister reports whether id may erase keys of, or read the erasure trail of, a
// contract owned by owner.
func mayAdminister(id *auth.Identity, owner string) bool {
	return id.Admin || id.Team != "" && id.Team == owner
}

// forbid answers 403.
func forbid(w http.ResponseWriter, format string, args ...any) {
	writeProblem(w, http.StatusForbidden, format, args...)
}
