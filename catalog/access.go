package catalog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer"
)

// SetAccess records an instance's access once its security group has the rules for it.
// ErrNotFound when the instance is missing.
func (s *Store) SetAccess(ctx context.Context, id string, a coffer.Access) error {
	err := s.updateInstance(ctx, id, "access_public = @public, allowed_cidrs = @cidrs, updated = now()",
		pgx.NamedArgs{"public": a.IsPublic, "cidrs": a.CIDRs()})
	if err != nil {
		return fmt.Errorf("record access of instance %s: %w", id, err)
	}
	return nil
}
