package catalog

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// GuestIdentity is what the catalog knows of a guest's identity with the guest gateway.
type GuestIdentity struct {
	InstanceID string
	// Generation picks the bootstrap secret the instance's current server carries.
	Generation int
	// CredentialHash is the SHA-256 of the agent's credential; nil until it enrolled.
	CredentialHash []byte
	// Revoked is true once the instance was deleted.
	Revoked bool
}

// EnsureGuestIdentity makes the instance's guest identity if it has none and returns its
// generation; a retry finds the one the first call made.
func (s *Store) EnsureGuestIdentity(ctx context.Context, instanceID string) (int, error) {
	id, ok := canonicalID(instanceID)
	if !ok {
		return 0, fmt.Errorf("guest identity of instance %s: %w", instanceID, ErrNotFound)
	}
	var generation int
	err := s.pool.QueryRow(ctx, `
		INSERT INTO guest_identities (instance_id) VALUES ($1)
		ON CONFLICT (instance_id) DO UPDATE SET instance_id = excluded.instance_id
		RETURNING generation`, id).Scan(&generation)
	if err != nil {
		return 0, fmt.Errorf("guest identity of instance %s: %w", instanceID, err)
	}
	return generation, nil
}

// RenewGuestIdentity moves the instance to the next generation and forgets its credential,
// for a server that gets new user_data (a rebuild); it returns the new generation.
func (s *Store) RenewGuestIdentity(ctx context.Context, instanceID string) (int, error) {
	id, ok := canonicalID(instanceID)
	if !ok {
		return 0, fmt.Errorf("renew guest identity of instance %s: %w", instanceID, ErrNotFound)
	}
	var generation int
	err := s.pool.QueryRow(ctx, `
		INSERT INTO guest_identities (instance_id) VALUES ($1)
		ON CONFLICT (instance_id) DO UPDATE SET generation = guest_identities.generation + 1,
			credential_hash = NULL, enrolled_at = NULL
		WHERE guest_identities.revoked_at IS NULL
		RETURNING generation`, id).Scan(&generation)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("renew guest identity of instance %s: it was revoked: %w", instanceID, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("renew guest identity of instance %s: %w", instanceID, err)
	}
	return generation, nil
}

// GetGuestIdentity returns the instance's guest identity; ErrNotFound when it has none.
func (s *Store) GetGuestIdentity(ctx context.Context, instanceID string) (GuestIdentity, error) {
	id, ok := canonicalID(instanceID)
	if !ok {
		return GuestIdentity{}, fmt.Errorf("guest identity of instance %s: %w", instanceID, ErrNotFound)
	}
	g := GuestIdentity{InstanceID: id}
	err := s.pool.QueryRow(ctx, `
		SELECT generation, credential_hash, revoked_at IS NOT NULL FROM guest_identities WHERE instance_id = $1`,
		id).Scan(&g.Generation, &g.CredentialHash, &g.Revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return GuestIdentity{}, fmt.Errorf("guest identity of instance %s: %w", instanceID, ErrNotFound)
	}
	if err != nil {
		return GuestIdentity{}, fmt.Errorf("guest identity of instance %s: %w", instanceID, err)
	}
	return g, nil
}

// EnrollGuest records the credential hash of the instance's agent, once per generation:
// false (and nothing changed) when the generation is not the current one, an agent
// enrolled already, or the identity is revoked.
func (s *Store) EnrollGuest(ctx context.Context, instanceID string, generation int, credentialHash []byte) (bool, error) {
	id, ok := canonicalID(instanceID)
	if !ok {
		return false, nil
	}
	tag, err := s.pool.Exec(ctx, `
		UPDATE guest_identities SET credential_hash = $3, enrolled_at = now()
		WHERE instance_id = $1 AND generation = $2 AND credential_hash IS NULL AND revoked_at IS NULL`,
		id, generation, credentialHash)
	if err != nil {
		return false, fmt.Errorf("enroll guest of instance %s: %w", instanceID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// RevokeGuestIdentity refuses the instance's credential and bootstrap secret from now on;
// an instance with no identity gets a revoked one, so that nothing can enroll for it later.
func (s *Store) RevokeGuestIdentity(ctx context.Context, instanceID string) error {
	id, ok := canonicalID(instanceID)
	if !ok {
		return nil
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO guest_identities (instance_id, revoked_at) VALUES ($1, now())
		ON CONFLICT (instance_id) DO UPDATE SET credential_hash = NULL,
			revoked_at = coalesce(guest_identities.revoked_at, now())`, id)
	if err != nil {
		return fmt.Errorf("revoke guest identity of instance %s: %w", instanceID, err)
	}
	return nil
}
