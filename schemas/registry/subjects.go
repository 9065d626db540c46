package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/hamba/avro/v2"

	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/compat"
	"github.com/waybill-data/waybill/schemas/etcdstore"
)

// schemaRequest is the body of register, lookup and compatibility requests.
// metadata and ruleSet (Confluent data contracts) are accepted and ignored: Waybill's
// governance lives under /contracts.
type schemaRequest struct {
	Schema     string              `json:"schema"`
	SchemaType string              `json:"schemaType"`
	References []schemas.Reference `json:"references"`
	ID         int                 `json:"id"`
	Version    int                 `json:"version"`
	Metadata   json.RawMessage     `json:"metadata"`
	RuleSet    json.RawMessage     `json:"ruleSet"`
}

// versionResponse is a subject version as Confluent returns it (schemaType omitted for AVRO).
type versionResponse struct {
	Subject    string              `json:"subject"`
	ID         int                 `json:"id"`
	Version    int                 `json:"version"`
	SchemaType string              `json:"schemaType,omitempty"`
	References []schemas.Reference `json:"references,omitempty"`
	Schema     string              `json:"schema"`
}

// candidate is a schema from a request, parsed and identified.
type candidate struct {
	parsed      avro.Schema
	canonical   string
	fingerprint string
	refs        []schemas.Reference
}

func (reg *Registry) parseCandidate(ctx context.Context, req *schemaRequest) (*candidate, error) {
	if req.SchemaType != "" && !strings.EqualFold(req.SchemaType, schemas.SchemaTypeAvro) {
		return nil, schemas.Errorf(schemas.CodeInvalidSchema, "Invalid schema type %q: this registry governs AVRO schemas only", req.SchemaType)
	}
	if len(req.Schema) > schemas.MaxSchemaBytes {
		return nil, schemas.Errorf(schemas.CodeSchemaTooLarge, "Schema is %d bytes, over the %d-byte limit", len(req.Schema), schemas.MaxSchemaBytes)
	}
	if strings.TrimSpace(req.Schema) == "" {
		return nil, schemas.Errorf(schemas.CodeInvalidSchema, "Invalid schema: the \"schema\" field is missing or empty")
	}
	refs, err := reg.resolveLatestRefs(ctx, req.References)
	if err != nil {
		return nil, err
	}
	deps, err := reg.store.ResolveReferences(ctx, refs)
	if err != nil {
		return nil, err
	}
	parsed, err := schemas.ParseAvro(req.Schema, deps...)
	if err != nil {
		return nil, schemas.Errorf(schemas.CodeInvalidSchema, "Invalid schema: %v", err)
	}
	canonical, err := schemas.Canonical(parsed)
	if err != nil {
		return nil, schemas.Errorf(schemas.CodeInvalidSchema, "Invalid schema: %v", err)
	}
	return &candidate{
		parsed:      parsed,
		canonical:   canonical,
		fingerprint: schemas.Fingerprint(schemas.SchemaTypeAvro, canonical, refs),
		refs:        refs,
	}, nil
}

// resolveLatestRefs validates references and pins "latest" (-1) to a concrete version,
// so a stored schema always means the same thing.
func (reg *Registry) resolveLatestRefs(ctx context.Context, refs []schemas.Reference) ([]schemas.Reference, error) {
	out := make([]schemas.Reference, 0, len(refs))
	for i, r := range refs {
		if r.Name == "" || r.Subject == "" {
			return nil, schemas.Errorf(schemas.CodeInvalidSchema, "Invalid schema: references[%d] needs a name and a subject", i)
		}
		if r.Version == -1 {
			v, err := reg.store.Version(ctx, r.Subject, -1, false)
			if err != nil {
				return nil, schemas.Errorf(schemas.CodeInvalidSchema, "Invalid schema: references[%d]: %v", i, err)
			}
			r.Version = v.Version
		} else if r.Version < 1 {
			return nil, schemas.Errorf(schemas.CodeInvalidSchema, "Invalid schema: references[%d] has version %d; use a version number or -1 for latest", i, r.Version)
		}
		out = append(out, r)
	}
	return out, nil
}

func (reg *Registry) listSubjects(w http.ResponseWriter, r *http.Request) error {
	subjects, err := reg.store.Subjects(r.Context(), boolParam(r, "deleted"))
	if err != nil {
		return err
	}
	if prefix := r.URL.Query().Get("subjectPrefix"); prefix != "" {
		kept := subjects[:0]
		for _, s := range subjects {
			if strings.HasPrefix(s, prefix) {
				kept = append(kept, s)
			}
		}
		subjects = kept
	}
	writeJSON(w, http.StatusOK, subjects)
	return nil
}

func (reg *Registry) register(w http.ResponseWriter, r *http.Request) error {
	subject, err := subjectParam(r)
	if err != nil {
		return err
	}
	var req schemaRequest
	if !decodeBody(w, r, &req) {
		return nil
	}
	ctx := r.Context()
	mode, err := reg.requireWritable(ctx, subject)
	if err != nil {
		return err
	}
	importing := mode == schemas.ModeImport
	if (req.ID != 0 || req.Version != 0) && !importing {
		return schemas.Errorf(schemas.CodeOperationNotPermitted, "Subject %s is not in import mode: an explicit id or version can only be given in IMPORT mode", subject)
	}
	if importing && req.ID <= 0 {
		return schemas.Errorf(schemas.CodeOperationNotPermitted, "Subject %s is in import mode: the request must give the schema's id", subject)
	}
	if req.Version < 0 {
		return schemas.ErrInvalidVersion(fmt.Sprint(req.Version))
	}
	cand, err := reg.parseCandidate(ctx, &req)
	if err != nil {
		return err
	}
	level, err := reg.effectiveLevel(ctx, subject)
	if err != nil {
		return err
	}
	ack := declassifyParam(r)
	// Set by Check on each attempt, for the audit record of the one that commits.
	var prevInfo map[string]any
	var declassified []etcdstore.Declassified
	change := reg.change(r, subject)
	change.Annotate = func(rec *etcdstore.AuditRecord) {
		if prevInfo != nil {
			rec.Before = mustJSON(prevInfo)
		}
		rec.After = mustJSON(map[string]any{"version": rec.Version, "id": rec.ID, "classification": schemas.Classification(cand.parsed)})
		rec.Declassified = declassified
	}
	res, err := reg.store.Register(ctx, etcdstore.RegisterRequest{
		Subject:     subject,
		SchemaType:  schemas.SchemaTypeAvro,
		Canonical:   cand.canonical,
		References:  cand.refs,
		Fingerprint: cand.fingerprint,
		ID:          req.ID,
		Version:     req.Version,
		Change:      change,
		Check: func(ctx context.Context, live []schemas.VersionRecord) error {
			prevInfo, declassified = nil, nil
			var prev avro.Schema
			prevVersion := 0
			if n := len(live); n > 0 {
				var err error
				if prev, err = reg.parsedByID(ctx, live[n-1].ID); err != nil {
					return err
				}
				prevVersion = live[n-1].Version
				prevInfo = map[string]any{"version": prevVersion, "id": live[n-1].ID, "classification": schemas.Classification(prev)}
			}
			if importing {
				return nil // IMPORT copies another registry's history verbatim.
			}
			if err := reg.checkAgainst(ctx, subject, level, cand.parsed, live); err != nil {
				return err
			}
			var err error
			if declassified, err = checkPIICarried(subject, prevVersion, prev, cand.parsed, ack); err != nil {
				return err
			}
			return reg.checkContractStillHolds(ctx, subject, cand.parsed)
		},
	})
	if err != nil {
		return err
	}
	if res.Created {
		reg.log.Info("schema registered", "subject", subject, "id", res.ID, "version", res.Version, by(r))
		for _, d := range declassified {
			reg.log.Warn("pii classification removed on purpose", "subject", subject, "version", res.Version, "field", d.Field, "now", d.Now, "rule", d.Reason, by(r))
		}
	}
	writeJSON(w, http.StatusOK, map[string]int{"id": res.ID, "version": res.Version})
	return nil
}

// checkAgainst enforces the compatibility level against the live versions.
func (reg *Registry) checkAgainst(ctx context.Context, subject string, level compat.Level, cand avro.Schema, live []schemas.VersionRecord) error {
	if level == compat.None || len(live) == 0 {
		return nil
	}
	prev, err := reg.previousSchemas(ctx, live)
	if err != nil {
		return err
	}
	problems := compat.Check(level, cand, prev)
	if len(problems) == 0 {
		return nil
	}
	return schemas.Errorf(schemas.CodeIncompatible,
		"Schema being registered is incompatible with an earlier schema for subject \"%s\", details: [%s]",
		subject, strings.Join(problemMessages(level, problems), ", "))
}

// checkContractStillHolds refuses a schema that would break the subject's governance
// record (for example by removing its key field): routing depends on it.
func (reg *Registry) checkContractStillHolds(ctx context.Context, subject string, cand avro.Schema) error {
	contract, found, err := reg.store.Contract(ctx, subject)
	if err != nil || !found {
		return err
	}
	if errs := contract.Validate(cand); len(errs) > 0 {
		return schemas.Errorf(schemas.CodeInvalidContract, "Schema breaks the contract of subject '%s': %s", subject, errs.Error())
	}
	return nil
}

func (reg *Registry) lookup(w http.ResponseWriter, r *http.Request) error {
	subject, err := subjectParam(r)
	if err != nil {
		return err
	}
	var req schemaRequest
	if !decodeBody(w, r, &req) {
		return nil
	}
	ctx := r.Context()
	includeDeleted := boolParam(r, "deleted")
	all, _, err := reg.store.Versions(ctx, subject)
	if err != nil {
		return err
	}
	if _, err := etcdstore.PickVersion(subject, all, -1, includeDeleted); err != nil {
		return err // 40401 when the subject does not exist
	}
	cand, err := reg.parseCandidate(ctx, &req)
	if err != nil {
		return err
	}
	id, found, err := reg.store.IDByFingerprint(ctx, cand.fingerprint)
	if err != nil {
		return err
	}
	if found {
		for i := len(all) - 1; i >= 0; i-- {
			v := all[i]
			if v.ID == id && (includeDeleted || !v.Deleted) {
				writeJSON(w, http.StatusOK, versionResponse{Subject: subject, ID: id, Version: v.Version, References: cand.refs, Schema: cand.canonical})
				return nil
			}
		}
	}
	return schemas.ErrSchemaNotFound()
}

func (reg *Registry) listVersions(w http.ResponseWriter, r *http.Request) error {
	subject, err := subjectParam(r)
	if err != nil {
		return err
	}
	includeDeleted := boolParam(r, "deleted")
	all, _, err := reg.store.Versions(r.Context(), subject)
	if err != nil {
		return err
	}
	out := []int{}
	for _, v := range all {
		if includeDeleted || !v.Deleted {
			out = append(out, v.Version)
		}
	}
	if len(out) == 0 {
		return schemas.ErrSubjectNotFound(subject)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// resolveVersion finds the version a request names, with its schema record.
func (reg *Registry) resolveVersion(r *http.Request) (*schemas.VersionRecord, *schemas.SchemaRecord, error) {
	subject, err := subjectParam(r)
	if err != nil {
		return nil, nil, err
	}
	version, err := parseVersion(r.PathValue("version"))
	if err != nil {
		return nil, nil, err
	}
	v, err := reg.store.Version(r.Context(), subject, version, boolParam(r, "deleted"))
	if err != nil {
		return nil, nil, err
	}
	rec, err := reg.store.SchemaByID(r.Context(), v.ID)
	if err != nil {
		return nil, nil, err
	}
	return v, rec, nil
}

func (reg *Registry) getVersion(w http.ResponseWriter, r *http.Request) error {
	v, rec, err := reg.resolveVersion(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, versionResponse{Subject: v.Subject, ID: v.ID, Version: v.Version, References: rec.References, Schema: rec.Schema})
	return nil
}

func (reg *Registry) getVersionSchema(w http.ResponseWriter, r *http.Request) error {
	_, rec, err := reg.resolveVersion(r)
	if err != nil {
		return err
	}
	writeRawSchema(w, rec.Schema)
	return nil
}

// writeRawSchema answers with the schema itself as the JSON document, as Confluent does.
func writeRawSchema(w http.ResponseWriter, schema string) {
	w.Header().Set("Content-Type", contentTypeV1)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(schema))
}

func (reg *Registry) deleteSubject(w http.ResponseWriter, r *http.Request) error {
	subject, err := subjectParam(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := reg.requireWritable(ctx, subject); err != nil {
		return err
	}
	var versions []int
	if boolParam(r, "permanent") {
		versions, err = reg.store.HardDeleteSubject(ctx, subject, reg.change(r, subject))
	} else {
		versions, err = reg.store.SoftDeleteSubject(ctx, subject, reg.change(r, subject))
	}
	if err != nil {
		return err
	}
	reg.log.Info("subject deleted", "subject", subject, "permanent", boolParam(r, "permanent"), "versions", versions, by(r))
	writeJSON(w, http.StatusOK, versions)
	return nil
}

func (reg *Registry) deleteVersion(w http.ResponseWriter, r *http.Request) error {
	subject, err := subjectParam(r)
	if err != nil {
		return err
	}
	version, err := parseVersion(r.PathValue("version"))
	if err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := reg.requireWritable(ctx, subject); err != nil {
		return err
	}
	var deleted int
	if boolParam(r, "permanent") {
		deleted, err = reg.store.HardDeleteVersion(ctx, subject, version, reg.change(r, subject))
	} else {
		deleted, err = reg.store.SoftDeleteVersion(ctx, subject, version, reg.change(r, subject))
	}
	if err != nil {
		return err
	}
	reg.log.Info("version deleted", "subject", subject, "version", deleted, "permanent", boolParam(r, "permanent"), by(r))
	writeJSON(w, http.StatusOK, deleted)
	return nil
}

// mustJSON encodes a value built here from JSON-safe parts.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
