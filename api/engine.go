package api

// What the database, user and root routes share: they act on an ACTIVE instance's engine
// through its guest agent, and check names, hosts and passwords as the engine would.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/coffer-dbaas/coffer"
	"github.com/coffer-dbaas/coffer/guest"
)

// activeInstance finds a project's instance whose engine can take a database, user or root
// call: it must be ACTIVE (Trove's load_and_verify), else 422.
func (s *Server) activeInstance(ctx context.Context, projectID, id string) (*coffer.Instance, error) {
	inst, err := s.getInstance(ctx, projectID, id)
	if err != nil {
		return nil, err
	}
	if status := inst.Status(); !inst.Ready() {
		return nil, unprocessableEntity("Instance %s is not ready (status %s): wait until it is ACTIVE.", id, status)
	}
	return inst, nil
}

// callGuest runs a quick guest call for a route.
func (s *Server) callGuest(ctx context.Context, inst *coffer.Instance, operation, activity string, in, out any) error {
	err := s.guest.CallGuest(ctx, GuestCall{InstanceID: inst.ID, ProjectID: inst.ProjectID, Operation: operation, Activity: activity}, in, out)
	if err != nil {
		return faultFor(ctx, s.log.With("instance_id", inst.ID, "project_id", inst.ProjectID), err, "Instance "+inst.ID)
	}
	return nil
}

// changeGuest starts a guest change for a route, and waits a while for it.
func (s *Server) changeGuest(ctx context.Context, inst *coffer.Instance, operation, activity string, in any) error {
	err := s.guest.ChangeGuest(ctx, GuestCall{InstanceID: inst.ID, ProjectID: inst.ProjectID, Operation: operation, Activity: activity}, in, guestChangeWait)
	if err != nil {
		return faultFor(ctx, s.log.With("instance_id", inst.ID, "project_id", inst.ProjectID), err, "Instance "+inst.ID)
	}
	s.log.InfoContext(ctx, "guest change", "instance_id", inst.ID, "project_id", inst.ProjectID, "operation", operation)
	return nil
}

// checkUserName checks a user's name with the rules the guest checks too.
func checkUserName(name string) error { return coffer.ValidUserName(name) }

// checkHost checks a user's host with the rules the guest checks too.
func checkHost(host string) error { return coffer.ValidHost(host) }

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// checkPassword checks a password with the rules the guest checks too, and its length
// against the configured minimum.
func (s *Server) checkPassword(field, password string) error {
	if err := coffer.ValidPassword(password, s.cfg.Quotas.MinPasswordLength); err != nil {
		return badRequest("Invalid request: %s: %v.", field, err)
	}
	return nil
}

// generatePassword makes a root password: 24 random bytes, base64url.
func generatePassword() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// userHost splits Trove's user identity, name or name@host (URL-decoded already); the
// host defaults to '%'.
func userHost(id string) (string, string) {
	name, host, ok := strings.Cut(id, "@")
	if !ok || host == "" {
		host = guest.DefaultHost
	}
	return name, host
}

// accepted is the answer of a change that was started: 202 with no body.
func accepted() (*struct{}, error) { return nil, nil }

var errMethods = []int{http.StatusBadRequest, http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusGatewayTimeout}

// schemalessDatastores have no databases or users in Trove's sense (Trove's Redis): their
// database and user routes answer Trove's DatastoreOperationNotSupported, 501, before the
// guest is asked.
var schemalessDatastores = map[string]bool{"redis": true}

// schemaInstance is activeInstance for a database or user route: operation is Trove's
// name of it (list_databases, create_user, ...), which the fault of a datastore without
// databases or users names.
func (s *Server) schemaInstance(ctx context.Context, projectID, instanceID, operation string) (*coffer.Instance, error) {
	inst, err := s.activeInstance(ctx, projectID, instanceID)
	if err != nil {
		return nil, err
	}
	if schemalessDatastores[inst.Datastore] {
		return nil, operationNotSupported(operation, inst.Datastore)
	}
	return inst, nil
}

// operationNotSupported is Trove's DatastoreOperationNotSupported: 501 with its message.
func operationNotSupported(operation, datastore string) *Fault {
	return newFault("notImplemented", http.StatusNotImplemented, "The '%s' operation is not supported for the '%s' datastore.", operation, datastore)
}
