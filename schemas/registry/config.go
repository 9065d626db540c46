package registry

import (
	"net/http"
	"strings"

	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/compat"
)

func invalidLevel() error {
	names := make([]string, 0, 7)
	for _, l := range compat.Levels() {
		names = append(names, strings.ToLower(string(l)))
	}
	return schemas.Errorf(schemas.CodeInvalidCompatibilityLevel,
		"Invalid compatibility level. Valid values are %s, and %s", strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
}

// optionalSubject returns the {subject} path value if the route has one ("" = global).
func optionalSubject(r *http.Request) (string, error) {
	if r.PathValue("subject") == "" {
		return "", nil
	}
	return subjectParam(r)
}

func (reg *Registry) getConfig(w http.ResponseWriter, r *http.Request) error {
	subject, err := optionalSubject(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	rec, found, err := reg.store.Config(ctx, subject)
	if err != nil {
		return err
	}
	if !found && subject != "" {
		if !boolParam(r, "defaultToGlobal") {
			return schemas.Errorf(schemas.CodeSubjectCompatNotConfigured, "Subject '%s' does not have subject-level compatibility configured", subject)
		}
		rec, found, err = reg.store.Config(ctx, "")
		if err != nil {
			return err
		}
	}
	if !found {
		rec = schemas.ConfigRecord{CompatibilityLevel: string(DefaultCompatibility)}
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

func (reg *Registry) putConfig(w http.ResponseWriter, r *http.Request) error {
	subject, err := optionalSubject(r)
	if err != nil {
		return err
	}
	var req struct {
		Compatibility string `json:"compatibility"`
	}
	if !decodeBody(w, r, &req) {
		return nil
	}
	level, ok := compat.ParseLevel(req.Compatibility)
	if !ok {
		return invalidLevel()
	}
	// A subject's level may be set before its first version, as in Confluent.
	if err := reg.store.PutConfig(r.Context(), subject, schemas.ConfigRecord{CompatibilityLevel: string(level)}, reg.change(r, subject)); err != nil {
		return err
	}
	reg.log.Info("compatibility configured", "subject", subject, "level", level, by(r))
	writeJSON(w, http.StatusOK, map[string]string{"compatibility": string(level)})
	return nil
}

func (reg *Registry) deleteConfig(w http.ResponseWriter, r *http.Request) error {
	subject, err := optionalSubject(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	prev, found, err := reg.store.Config(ctx, subject)
	if err != nil {
		return err
	}
	if !found {
		if subject != "" {
			return schemas.Errorf(schemas.CodeSubjectCompatNotConfigured, "Subject '%s' does not have subject-level compatibility configured", subject)
		}
		prev = schemas.ConfigRecord{CompatibilityLevel: string(DefaultCompatibility)}
	}
	if _, err := reg.store.DeleteConfig(ctx, subject, reg.change(r, subject)); err != nil {
		return err
	}
	reg.log.Info("compatibility configuration deleted", "subject", subject, by(r))
	writeJSON(w, http.StatusOK, prev)
	return nil
}

func (reg *Registry) getMode(w http.ResponseWriter, r *http.Request) error {
	subject, err := optionalSubject(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	rec, found, err := reg.store.Mode(ctx, subject)
	if err != nil {
		return err
	}
	if !found && subject != "" {
		if !boolParam(r, "defaultToGlobal") {
			return schemas.Errorf(schemas.CodeSubjectModeNotConfigured, "Subject '%s' does not have subject-level mode configured", subject)
		}
		rec, found, err = reg.store.Mode(ctx, "")
		if err != nil {
			return err
		}
	}
	if !found {
		rec = schemas.ModeRecord{Mode: schemas.ModeReadWrite}
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}

func (reg *Registry) putMode(w http.ResponseWriter, r *http.Request) error {
	subject, err := optionalSubject(r)
	if err != nil {
		return err
	}
	var req schemas.ModeRecord
	if !decodeBody(w, r, &req) {
		return nil
	}
	mode := strings.ToUpper(req.Mode)
	if !schemas.ValidMode(mode) {
		return schemas.Errorf(schemas.CodeInvalidMode, "Invalid mode. Valid values are READWRITE, READONLY, READONLY_OVERRIDE, IMPORT")
	}
	ctx := r.Context()
	if mode == schemas.ModeImport && !boolParam(r, "force") {
		// Importing into a non-empty registry could collide with ids it already issued.
		if err := reg.requireEmptyForImport(r, subject); err != nil {
			return err
		}
	}
	if err := reg.store.PutMode(ctx, subject, schemas.ModeRecord{Mode: mode}, reg.change(r, subject)); err != nil {
		return err
	}
	reg.log.Info("mode set", "subject", subject, "mode", mode, by(r))
	writeJSON(w, http.StatusOK, schemas.ModeRecord{Mode: mode})
	return nil
}

func (reg *Registry) requireEmptyForImport(r *http.Request, subject string) error {
	if subject != "" {
		all, _, err := reg.store.Versions(r.Context(), subject)
		if err != nil {
			return err
		}
		if len(all) > 0 {
			return schemas.Errorf(schemas.CodeOperationNotPermitted, "Cannot import since found existing subjects")
		}
		return nil
	}
	subjects, err := reg.store.Subjects(r.Context(), true)
	if err != nil {
		return err
	}
	if len(subjects) > 0 {
		return schemas.Errorf(schemas.CodeOperationNotPermitted, "Cannot import since found existing subjects")
	}
	return nil
}

func (reg *Registry) deleteMode(w http.ResponseWriter, r *http.Request) error {
	subject, err := subjectParam(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	prev, found, err := reg.store.Mode(ctx, subject)
	if err != nil {
		return err
	}
	if !found {
		return schemas.Errorf(schemas.CodeSubjectModeNotConfigured, "Subject '%s' does not have subject-level mode configured", subject)
	}
	if _, err := reg.store.DeleteMode(ctx, subject, reg.change(r, subject)); err != nil {
		return err
	}
	reg.log.Info("mode deleted", "subject", subject, by(r))
	writeJSON(w, http.StatusOK, prev)
	return nil
}
