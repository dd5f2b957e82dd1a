package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// RootHistory says who last enabled root on an instance, and when.
type RootHistory struct {
	InstanceID string
	UserID     string
	Enabled    time.Time
	// Disabled is when root was disabled after that; zero while it is enabled.
	Disabled time.Time
}

// RecordRootEnabled notes that userID enabled root on the instance now.
func (s *Store) RecordRootEnabled(ctx context.Context, instanceID, userID string) error {
	id, ok := canonicalID(instanceID)
	if !ok {
		return fmt.Errorf("record root of instance %s: %w", instanceID, ErrNotFound)
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO root_history (instance_id, user_id) VALUES ($1, $2)
		ON CONFLICT (instance_id) DO UPDATE SET user_id = excluded.user_id, enabled = now(), disabled = NULL`,
		id, userID)
	if err != nil {
		return fmt.Errorf("record root of instance %s: %w", instanceID, err)
	}
	return nil
}

// RecordRootDisabled notes that root was disabled on the instance now; no history is no
// error.
func (s *Store) RecordRootDisabled(ctx context.Context, instanceID string) error {
	id, ok := canonicalID(instanceID)
	if !ok {
		return nil
	}
	if _, err := s.pool.Exec(ctx, "UPDATE root_history SET disabled = now() WHERE instance_id = $1", id); err != nil {
		return fmt.Errorf("record root disabled on instance %s: %w", instanceID, err)
	}
	return nil
}

// GetRootHistory returns the instance's root history; ErrNotFound when root was never
// enabled.
func (s *Store) GetRootHistory(ctx context.Context, instanceID string) (RootHistory, error) {
	id, ok := canonicalID(instanceID)
	if !ok {
		return RootHistory{}, fmt.Errorf("root history of instance %s: %w", instanceID, ErrNotFound)
	}
	var (
		h        RootHistory
		disabled *time.Time
	)
	err := s.pool.QueryRow(ctx, "SELECT instance_id::text, user_id, enabled, disabled FROM root_history WHERE instance_id = $1", id).
		Scan(&h.InstanceID, &h.UserID, &h.Enabled, &disabled)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return RootHistory{}, fmt.Errorf("root history of instance %s: %w", instanceID, err)
	}
	if disabled != nil {
		h.Disabled = *disabled
	}
	return h, nil
}
