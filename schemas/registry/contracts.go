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
	if err := reg.store.PutContract(ctx, subject, contract); err != nil {
		return err
	}
	reg.log.Info("contract stored", "subject", subject, "owner", contract.Owner)
	contract.Classification = schemas.Classification(parsed)
	writeJSON(w, http.StatusOK, contract)
	return nil
}
