package gateway

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/coffer-dbaas/coffer/catalog"
	"github.com/coffer-dbaas/coffer/guestauth"
)

// errEnrollRefused is every refused Enroll's answer: which check failed would help only
// an attacker; the gateway's log says it.
var errEnrollRefused = status.Error(codes.PermissionDenied, "enrollment refused")

// enroll exchanges the bootstrap secret of the instance's current server for a new
// credential, once: the catalog records the credential's hash only if no agent enrolled
// for this generation yet.
func (g *Gateway) enroll(ctx context.Context, req guestauth.EnrollRequest) (guestauth.EnrollResponse, error) {
	log := g.log.With("instance_id", req.InstanceID)
	refuse := func(why string) (guestauth.EnrollResponse, error) {
		log.Warn("enrollment refused", "reason", why)
		return guestauth.EnrollResponse{}, errEnrollRefused
	}
	identity, err := g.opts.Catalog.GetGuestIdentity(ctx, req.InstanceID)
	if errors.Is(err, catalog.ErrNotFound) {
		return refuse("no guest identity")
	}
	if err != nil {
		log.Error("enrollment failed", "error", err)
		return guestauth.EnrollResponse{}, status.Error(codes.Unavailable, "enrollment failed, try again")
	}
	want, err := guestauth.Bootstrap(g.opts.MasterKey, identity.InstanceID, identity.Generation)
	if err != nil {
		log.Error("enrollment failed", "error", err)
		return guestauth.EnrollResponse{}, status.Error(codes.Internal, "enrollment failed")
	}
	if !guestauth.Equal([]byte(want), []byte(req.Bootstrap)) {
		return refuse("wrong bootstrap secret")
	}
	if identity.Revoked {
		return refuse("revoked")
	}
	credential := guestauth.NewCredential()
	ok, err := g.opts.Catalog.EnrollGuest(ctx, identity.InstanceID, identity.Generation, guestauth.Hash(credential))
	if err != nil {
		log.Error("enrollment failed", "error", err)
		return guestauth.EnrollResponse{}, status.Error(codes.Unavailable, "enrollment failed, try again")
	}
	if !ok {
		return refuse("bootstrap secret already used, or the identity was renewed or revoked")
	}
	key, err := guestauth.InstanceKey(g.opts.MasterKey, identity.InstanceID)
	if err != nil {
		log.Error("enrollment failed", "error", err)
		return guestauth.EnrollResponse{}, status.Error(codes.Internal, "enrollment failed")
	}
	// A new credential: forget what the cache knew of the instance's previous one.
	g.identities.forget(identity.InstanceID)
	log.Info("guest enrolled", slog.Int("generation", identity.Generation))
	return guestauth.EnrollResponse{InstanceID: identity.InstanceID, Credential: credential, Key: key}, nil
}
