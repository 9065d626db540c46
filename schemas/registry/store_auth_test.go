package registry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/waybill-data/waybill/schemas"
	"github.com/waybill-data/waybill/schemas/etcdstore"
)

// TestStoreAuthorizesOnTheSnapshotItCommits: every store write asks Change.Authorize
// about the contract of the state it commits over. Here the contract changes hands
// between the first decision and the commit; the write must notice, ask again, and be
// refused, leaving neither the change nor an audit record.
func TestStoreAuthorizesOnTheSnapshotItCommits(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	writes := []struct {
		name  string
		write func(st *etcdstore.Store, by etcdstore.Change) error
	}{
		{"register", func(st *etcdstore.Store, by etcdstore.Change) error {
			s, _ := schemas.ParseAvro(userV3)
			c, _ := schemas.Canonical(s)
			_, err := st.Register(ctx, etcdstore.RegisterRequest{Subject: "orders", SchemaType: "AVRO", Canonical: c, Fingerprint: schemas.Fingerprint("AVRO", c, nil), Change: by})
			return err
		}},
		{"soft delete version", func(st *etcdstore.Store, by etcdstore.Change) error {
			_, err := st.SoftDeleteVersion(ctx, "orders", 2, by)
			return err
		}},
		{"soft delete subject", func(st *etcdstore.Store, by etcdstore.Change) error {
			_, err := st.SoftDeleteSubject(ctx, "orders", by)
			return err
		}},
		{"put config", func(st *etcdstore.Store, by etcdstore.Change) error {
			return st.PutConfig(ctx, "orders", schemas.ConfigRecord{CompatibilityLevel: "NONE"}, by)
		}},
		{"put mode", func(st *etcdstore.Store, by etcdstore.Change) error {
			return st.PutMode(ctx, "orders", schemas.ModeRecord{Mode: "READONLY"}, by)
		}},
		{"put contract", func(st *etcdstore.Store, by etcdstore.Change) error {
			return st.PutContract(ctx, "orders", schemas.Contract{Owner: "team-a", Description: "mine", Routes: schemas.RoutePolicy{Allowed: []string{"lake"}}}, by)
		}},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			e := newAuthEnv(t)
			seedOwned(e)
			before := auditCount(e)
			var asked []string
			refused := errors.New("refused")
			by := etcdstore.Change{Who: etcdstore.Actor{Team: "team-a", Name: "a-ci"}, Authorize: func(c *schemas.Contract) error {
				asked = append(asked, c.Owner)
				if c.Owner != "team-a" {
					return refused
				}
				if len(asked) == 1 { // meanwhile, an admin gives the subject to team-b
					e.asOK(tokAdmin, "PUT", "/contracts/orders", ownedBy("team-b"), nil)
				}
				return nil
			}}
			if err := w.write(e.store, by); !errors.Is(err, refused) {
				t.Fatalf("write: %v, want it refused on the second look", err)
			}
			if len(asked) != 2 || asked[1] != "team-b" {
				t.Fatalf("Authorize saw owners %v, want [team-a team-b]", asked)
			}
			if n := auditCount(e); n != before+1 { // only the admin's contract change
				t.Errorf("audit records %d, want %d", n, before+1)
			}
			var vs []int
			e.ok("GET", "/subjects/orders/versions", nil, &vs)
			if len(vs) != 2 {
				t.Errorf("versions %v after a refused write", vs)
			}
			e.fail("GET", "/config/orders", nil, 404, schemas.CodeSubjectCompatNotConfigured)
			e.fail("GET", "/mode/orders", nil, 404, schemas.CodeSubjectModeNotConfigured)
		})
	}
}
