package registry

import (
	"net/http"
	"sort"

	"github.com/waybill-data/waybill/schemas"
)

// Schema records stay readable by id after their subjects are deleted: ids are never
// reused, and data written with an id must stay decodable.

func (reg *Registry) schemaByIDParam(r *http.Request) (*schemas.SchemaRecord, error) {
	id, err := parseID(r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	return reg.store.SchemaByID(r.Context(), id)
}

func (reg *Registry) getSchemaByID(w http.ResponseWriter, r *http.Request) error {
	rec, err := reg.schemaByIDParam(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		SchemaType string              `json:"schemaType,omitempty"`
		Schema     string              `json:"schema"`
		References []schemas.Reference `json:"references,omitempty"`
	}{Schema: rec.Schema, References: rec.References})
	return nil
}

func (reg *Registry) getRawSchemaByID(w http.ResponseWriter, r *http.Request) error {
	rec, err := reg.schemaByIDParam(r)
	if err != nil {
		return err
	}
	writeRawSchema(w, rec.Schema)
	return nil
}

// usesOf lists the subject versions that use a schema id.
func (reg *Registry) usesOf(r *http.Request) ([]schemas.VersionRecord, error) {
	rec, err := reg.schemaByIDParam(r)
	if err != nil {
		return nil, err
	}
	all, err := reg.store.AllVersions(r.Context())
	if err != nil {
		return nil, err
	}
	includeDeleted := boolParam(r, "deleted")
	var out []schemas.VersionRecord
	for _, v := range all {
		if v.ID == rec.ID && (includeDeleted || !v.Deleted) {
			out = append(out, v)
		}
	}
	return out, nil
}

func (reg *Registry) getSubjectsByID(w http.ResponseWriter, r *http.Request) error {
	uses, err := reg.usesOf(r)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	out := []string{}
	for _, v := range uses {
		if !seen[v.Subject] {
			seen[v.Subject] = true
			out = append(out, v.Subject)
		}
	}
	sort.Strings(out)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (reg *Registry) getVersionsByID(w http.ResponseWriter, r *http.Request) error {
	uses, err := reg.usesOf(r)
	if err != nil {
		return err
	}
	type subjectVersion struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
	}
	out := []subjectVersion{}
	for _, v := range uses {
		out = append(out, subjectVersion{Subject: v.Subject, Version: v.Version})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
