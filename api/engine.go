package api

// What the database, user and root routes share: they act on an ACTIVE instance's engine
// through its guest agent, and check names, hosts and passwords as the engine would.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"regexp"
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
	if status := inst.Status(); status != "ACTIVE" {
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

// reservedUsers are names tenants may not give a user, besides reservedNames and pg_*.
var reservedUsers = map[string]bool{guest.RootUser: true}

// checkUserName checks a user's name: a valid identifier, not a system role.
func checkUserName(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if l := strings.ToLower(name); reservedUsers[l] || strings.HasPrefix(l, "pg_") {
		return errReserved(name)
	}
	return nil
}

type reservedError string

func (e reservedError) Error() string { return string(e) + " is a reserved name" }

func errReserved(name string) error { return reservedError(name) }

// hostPattern is what a user's host may be, as the guest checks it.
var hostPattern = regexp.MustCompile(`^[A-Za-z0-9.%:_-]{1,255}$`)

func checkHost(host string) error {
	if host != "" && !hostPattern.MatchString(host) {
		return errHost(host)
	}
	return nil
}

type hostError string

func (e hostError) Error() string {
	return "host " + quote(string(e)) + " is not valid: use an address, a host name or '%'"
}

func errHost(host string) error { return hostError(host) }

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// checkPassword checks a password's length against the configured minimum.
func (s *Server) checkPassword(field, password string) error {
	if n := s.cfg.Quotas.MinPasswordLength; len(password) < n {
		return badRequest("Invalid request: %s: the password must be at least %d characters long.", field, n)
	}
	if len(password) > 255 {
		return badRequest("Invalid request: %s: the password must be at most 255 characters long.", field)
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
