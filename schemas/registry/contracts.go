package registry

import (
	"net/http"

	"github.com/waybill-data/waybill/schemas"
)

func (reg *Registry) getContract(w http.ResponseWriter, r *http.Request) error {
	subject, err := subjectParam(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	latest, err := reg.store.Version(ctx, subject, -1, false)
	if err != nil {
		return err
	}
	contract, found, err := reg.store.Contract(ctx, subject)
	if err != nil {
		return err
	}
	if !found {
		return schemas.Errorf(schemas.CodeContractNotFound, "Subject '%s' has no contract: PUT /contracts/%s to govern it", subject, subject)
	}
	parsed, err := reg.parsedByID(ctx, latest.ID)
	if err != nil {
		return err
	}
	contract.Classification = schemas.Classification(parsed)
	writeJSON(w, http.StatusOK, contract)
	return nil
}

// putContract validates a governance record against the subject's latest schema and
// stores it. Every problem is reported at once, each with its path.
func (reg *Registry) putContract(w http.ResponseWriter, r *http.Request) error {
	subject, err := subjectParam(r)
	if err != nil {
		return err
	}
	var contract schemas.Contract
	if !decodeBody(w, r, &contract) {
		return nil
	}
	if err := reg.mayGiveOwnership(r, subject, contract.Owner); err != nil {
		return err
	}
	ctx := r.Context()
	latest, err := reg.store.Version(ctx, subject, -1, false)
	if err != nil {
		return err
	}
	parsed, err := reg.parsedByID(ctx, latest.ID)
	if err != nil {
		return err
	}
	if errs := contract.Validate(parsed); len(errs) > 0 {
		return schemas.Errorf(schemas.CodeInvalidContract, "Invalid contract for subject '%s' (checked against version %d): %s", subject, latest.Version, errs.Error())
	}
	change := reg.change(r, subject)
	mayChange := change.Authorize
	change.Authorize = func(current *schemas.Contract) error {
		if err := mayChange(current); err != nil {
			return err
		}
		return reg.mayGiveOwnership(r, subject, contract.Owner)
	}
	if err := reg.store.PutContract(ctx, subject, contract, change); err != nil {
		return err
	}
	reg.log.Info("contract stored", "subject", subject, "owner", contract.Owner, by(r))
	contract.Classification = schemas.Classification(parsed)
	writeJSON(w, http.StatusOK, contract)
	return nil
}

// mayGiveOwnership refuses a contract that names an owner other than the caller's team,
// unless the caller is an admin: a team can claim an ungoverned subject for itself, but
// only an admin can hand a subject to another team.
func (reg *Registry) mayGiveOwnership(r *http.Request, subject, owner string) error {
	id := identity(r)
	if reg.auth == nil || id == nil || id.Admin || owner == id.Team || owner == "" { // "": refused by validation
		return nil
	}
	return reg.forbidden(r, "team %s may not make team %s the owner of subject %s: only admins may give a contract to another team", id.Team, owner, subject)
}
