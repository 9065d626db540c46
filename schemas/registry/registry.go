package registry

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/auth"
	"github.com/waybill-data/waybill/schemas/compat"
	"github.com/waybill-data/waybill/schemas/etcdstore"
)

// DefaultCompatibility applies when neither the subject nor the registry configures one.
const DefaultCompatibility = compat.Backward

// Registry serves the registry API over a store.
type Registry struct {
	store *etcdstore.Store
	log   *slog.Logger
	auth  *auth.Authority // nil: open (no authentication)
}

// New returns a registry over store. logger nil discards logs. Without WithAuthority
// it is open: anyone may change anything.
func New(store *etcdstore.Store, logger *slog.Logger, opts ...Option) *Registry {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg := &Registry{store: store, log: logger}
	for _, o := range opts {
		o(reg)
	}
	return reg
}

// Handler returns the HTTP API.
func (reg *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, fn func(http.ResponseWriter, *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := fn(w, r); err != nil {
				writeError(w, err)
			}
		})
	}
	h("GET /{$}", func(w http.ResponseWriter, _ *http.Request) error { writeJSON(w, 200, map[string]any{}); return nil })
	h("GET /healthz", func(w http.ResponseWriter, _ *http.Request) error {
		writeJSON(w, 200, map[string]string{"status": "ok"})
		return nil
	})
	h("GET /readyz", func(w http.ResponseWriter, r *http.Request) error {
		if err := reg.store.Ping(r.Context()); err != nil {
			return err
		}
		writeJSON(w, 200, map[string]string{"status": "ready"})
		return nil
	})
	// Writes need a credential when authentication is on (guard); reads stay open so
	// that Confluent clients and serializers read without one.
	owner := func(fn func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
		return reg.guard(scopeOwner, fn)
	}
	h("GET /subjects", reg.listSubjects)
	h("POST /subjects/{subject}/versions", reg.guard(scopeOwnerInStore, reg.register))
	h("POST /subjects/{subject}", reg.lookup)
	h("DELETE /subjects/{subject}", owner(reg.deleteSubject))
	h("GET /subjects/{subject}/versions", reg.listVersions)
	h("GET /subjects/{subject}/versions/{version}", reg.getVersion)
	h("GET /subjects/{subject}/versions/{version}/schema", reg.getVersionSchema)
	h("DELETE /subjects/{subject}/versions/{version}", owner(reg.deleteVersion))
	h("GET /schemas/ids/{id}", reg.getSchemaByID)
	h("GET /schemas/ids/{id}/schema", reg.getRawSchemaByID)
	h("GET /schemas/ids/{id}/subjects", reg.getSubjectsByID)
	h("GET /schemas/ids/{id}/versions", reg.getVersionsByID)
	h("GET /schemas/types", func(w http.ResponseWriter, _ *http.Request) error {
		writeJSON(w, 200, []string{schemas.SchemaTypeAvro})
		return nil
	})
	h("POST /compatibility/subjects/{subject}/versions", reg.testCompatibility)
	h("POST /compatibility/subjects/{subject}/versions/{version}", reg.testCompatibility)
	h("GET /config", reg.getConfig)
	h("PUT /config", owner(reg.putConfig))
	h("DELETE /config", owner(reg.deleteConfig))
	h("GET /config/{subject}", reg.getConfig)
	h("PUT /config/{subject}", owner(reg.putConfig))
	h("DELETE /config/{subject}", owner(reg.deleteConfig))
	h("GET /mode", reg.getMode)
	h("PUT /mode", owner(reg.putMode))
	h("GET /mode/{subject}", reg.getMode)
	h("PUT /mode/{subject}", owner(reg.putMode))
	h("DELETE /mode/{subject}", owner(reg.deleteMode))
	h("GET /contracts/{subject}", reg.getContract)
	h("PUT /contracts/{subject}", owner(reg.putContract))
	h("GET /audit", reg.guard(scopeAuthenticated, reg.getAudit))
	return reg.middleware(mux)
}

// middleware adds panic recovery, a JSON 404/405 in Confluent's shape, and an access log
// line per request (method, path, status, duration; never bodies or credentials).
func (reg *Registry) middleware(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		who := &caller{}
		r = r.WithContext(context.WithValue(r.Context(), callerKey{}, who))
		defer func() {
			if p := recover(); p != nil {
				reg.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", p)
				writeError(rec, schemas.Errorf(50000, "Internal error"))
			}
			level := slog.LevelDebug
			if r.Method != http.MethodGet || rec.status >= 500 {
				level = slog.LevelInfo
			}
			attrs := []any{"method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start)}
			if who.id != nil {
				attrs = append(attrs, by(r))
			}
			reg.log.Log(r.Context(), level, "request", attrs...)
		}()
		h, pattern := mux.Handler(r)
		if pattern == "" {
			// ServeMux answers a path that exists under other methods with its own
			// plain-text 405 and an Allow header; keep both facts, in JSON.
			probe := &probeWriter{header: http.Header{}}
			h.ServeHTTP(probe, r)
			if probe.status == http.StatusMethodNotAllowed {
				rec.Header().Set("Allow", probe.header.Get("Allow"))
				httpError(rec, http.StatusMethodNotAllowed, "HTTP 405 Method Not Allowed: %s %s", r.Method, r.URL.Path)
				return
			}
			httpError(rec, http.StatusNotFound, "HTTP 404 Not Found: no route for %s %s", r.Method, r.URL.Path)
			return
		}
		mux.ServeHTTP(rec, r)
	})
}

// probeWriter records the status and headers a handler would send, discarding the body.
type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header         { return p.header }
func (p *probeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *probeWriter) WriteHeader(code int)        { p.status = code }

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// effectiveLevel is the subject's compatibility level, else the global one, else the default.
func (reg *Registry) effectiveLevel(ctx context.Context, subject string) (compat.Level, error) {
	for _, s := range []string{subject, ""} {
		rec, found, err := reg.store.Config(ctx, s)
		if err != nil {
			return "", err
		}
		if found {
			if l, ok := compat.ParseLevel(rec.CompatibilityLevel); ok {
				return l, nil
			}
		}
	}
	return DefaultCompatibility, nil
}

// effectiveMode is the subject's mode, else the global one, else READWRITE.
func (reg *Registry) effectiveMode(ctx context.Context, subject string) (string, error) {
	for _, s := range []string{subject, ""} {
		rec, found, err := reg.store.Mode(ctx, s)
		if err != nil {
			return "", err
		}
		if found {
			return rec.Mode, nil
		}
	}
	return schemas.ModeReadWrite, nil
}

// requireWritable refuses schema writes (register, delete) in read-only modes.
func (reg *Registry) requireWritable(ctx context.Context, subject string) (string, error) {
	mode, err := reg.effectiveMode(ctx, subject)
	if err != nil {
		return "", err
	}
	if mode == schemas.ModeReadOnly || mode == schemas.ModeReadOnlyOverride {
		return "", schemas.Errorf(schemas.CodeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	}
	return mode, nil
}

// previousSchemas parses the given versions' schemas for a compatibility check.
func (reg *Registry) previousSchemas(ctx context.Context, versions []schemas.VersionRecord) ([]compat.Previous, error) {
	out := make([]compat.Previous, 0, len(versions))
	for _, v := range versions {
		parsed, err := reg.parsedByID(ctx, v.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, compat.Previous{Version: v.Version, Schema: parsed})
	}
	return out, nil
}

func (reg *Registry) parsedByID(ctx context.Context, id int) (avro.Schema, error) {
	rec, err := reg.store.SchemaByID(ctx, id)
	if err != nil {
		return nil, err
	}
	return reg.store.Parsed(ctx, rec)
}
