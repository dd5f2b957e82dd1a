package catalog

import (
	"context"
	"fmt"
)

// RenameInstance sets a project's instance's name. ErrNotFound when the project has no
// such instance.
func (s *Store) RenameInstance(ctx context.Context, projectID, id, name string) error {
	canonical, ok := canonicalID(id)
	if !ok {
		return fmt.Errorf("rename instance %s: %w", id, ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, "UPDATE instances SET name = $3, updated = now() WHERE id = $1 AND project_id = $2", canonical, projectID, name)
	if err != nil {
		return fmt.Errorf("rename instance %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("rename instance %s: %w", id, ErrNotFound)
	}
	return nil
}
