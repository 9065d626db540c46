package registry

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/auth"
	"github.com/waybill-data/waybill/schemas/etcdstore"
)

// Error codes of authentication and authorisation, in Confluent's scheme (Confluent's
// own security plugin answers 40101 for a missing or bad credential, 40301 for a
// forbidden operation).
const (
	CodeUnauthorized = 40101
	CodeForbidden    = 40301
)

// Option configures a Registry.
type Option func(*Registry)

// WithAuthority turns authentication and authorisation on: writes need a credential
// that a (nil: open, everything anonymous and allowed) identifies.
func WithAuthority(a *auth.Authority) Option { return func(reg *Registry) { reg.auth = a } }

// scope says what a write needs besides a credential.
type scope int

const (
	// scopeOwner: the subject's owner or an admin, checked before the request is read
	// and again in the store's transaction; global routes (no {subject}) need an admin.
	scopeOwner scope = iota
	// scopeOwnerInStore: as scopeOwner, but checked only in the store's transaction.
	// Registration uses it so that re-registering a live schema, which changes nothing,
	// is answered for any authenticated caller, as a lookup is (serializers with
	// auto.register.schemas call it on every start).
	scopeOwnerInStore
	// scopeAuthenticated: any authenticated caller (reading the audit trail).
	scopeAuthenticated
)

// caller holds the identity of a request, filled in by guard, read by the access log.
type caller struct{ id *auth.Identity }

type callerKey struct{}

func callerOf(ctx context.Context) *caller {
	c, _ := ctx.Value(callerKey{}).(*caller)
	if c == nil {
		return &caller{}
	}
	return c
}

// identity is the authenticated caller of the request (nil when authentication is off).
func identity(r *http.Request) *auth.Identity { return callerOf(r.Context()).id }

// guard authenticates a request to fn and, for scopeOwner, authorises it against the
// subject's current owner, answering 401 or 403 itself.
func (reg *Registry) guard(sc scope, fn func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if reg.auth == nil {
			return fn(w, r)
		}
		id, err := reg.auth.Authenticate(r)
		if err != nil {
			challenge := `Bearer realm="waybill-registry"`
			msg := "Authentication required: changes to this registry need a token; send Authorization: Bearer <token> (or the token as the HTTP Basic auth password)"
			if !errors.Is(err, auth.ErrNoCredentials) {
				challenge += `, error="invalid_token"`
				msg = "Authentication failed: " + err.Error()
			}
			reg.log.Warn("request refused: not authenticated", "method", r.Method, "path", r.URL.Path, "reason", err.Error())
			w.Header().Set("WWW-Authenticate", challenge)
			return schemas.Errorf(CodeUnauthorized, "%s", msg)
		}
		callerOf(r.Context()).id = id
		if sc == scopeOwner {
			subject, err := optionalSubject(r)
			if err != nil {
				return err
			}
			var contract *schemas.Contract
			if subject != "" {
				c, found, err := reg.store.Contract(r.Context(), subject)
				if err != nil {
					return err
				}
				if found {
					contract = &c
				}
			}
			if err := reg.authorizer(r, subject)(contract); err != nil {
				return err
			}
		}
		return fn(w, r)
	}
}

// authorizer decides whether the caller of r may change subject ("" = the global
// config or mode) given its governance record (nil: none). It is run by guard and again
// by the store on the snapshot it commits over.
func (reg *Registry) authorizer(r *http.Request, subject string) func(*schemas.Contract) error {
	id := identity(r)
	return func(c *schemas.Contract) error {
		if reg.auth == nil || id == nil {
			return nil
		}
		if subject == "" {
			if !id.Admin {
				return reg.forbidden(r, "team %s may not change the registry-wide %s: only admins may", id.Team, globalWhat(r))
			}
			return nil
		}
		owner := ""
		if c != nil {
			owner = c.Owner
		}
		if !auth.MayChange(id, owner) {
			return reg.forbidden(r, "team %s may not change subject %s, owned by team %s", id.Team, subject, owner)
		}
		return nil
	}
}

func globalWhat(r *http.Request) string {
	if strings.HasPrefix(r.URL.Path, "/mode") {
		return "mode"
	}
	return "compatibility config"
}

func (reg *Registry) forbidden(r *http.Request, format string, args ...any) error {
	err := schemas.Errorf(CodeForbidden, format, args...)
	id := identity(r)
	reg.log.Warn("request refused: not allowed", "method", r.Method, "path", r.URL.Path, "team", id.Team, "credential", id.Name, "reason", err.Message)
	return err
}

// change is what the store needs to authorise and record a write of subject by r.
func (reg *Registry) change(r *http.Request, subject string) etcdstore.Change {
	return etcdstore.Change{Who: actor(identity(r)), Authorize: reg.authorizer(r, subject)}
}

func actor(id *auth.Identity) etcdstore.Actor {
	if id == nil {
		return etcdstore.Anonymous
	}
	return etcdstore.Actor{Team: id.Team, Name: id.Name}
}

// by is the log attribute naming who made a change (never the credential itself).
func by(r *http.Request) slog.Attr {
	a := actor(identity(r))
	return slog.Group("by", "team", a.Team, "name", a.Name)
}
