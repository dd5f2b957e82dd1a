package mariadb

import (
	"context"
	"fmt"

	"github.com/coffer-dbaas/coffer/guestagent"
)

// What the MariaDB driver does not do yet answers ErrInvalid, which the agent does not
// retry: configuration groups and guest logs.
func notYet(what string) error {
	return fmt.Errorf("%s: %w: not supported for %s yet", what, guestagent.ErrInvalid, Datastore)
}

// ApplyConfiguration is not built yet for MariaDB.
func (d *Driver) ApplyConfiguration(context.Context, map[string]string) ([]string, error) {
	return nil, notYet("apply configuration")
}

// Configuration is not built yet for MariaDB.
func (d *Driver) Configuration(context.Context) (map[string]string, error) {
	return nil, notYet("configuration")
}

// Logs lists no guest logs for MariaDB yet.
func (d *Driver) Logs(context.Context) ([]guestagent.EngineLog, error) { return nil, nil }

// SetLog knows no log for MariaDB yet.
func (d *Driver) SetLog(_ context.Context, name string, _ bool) error {
	return fmt.Errorf("log %s: %w", name, guestagent.ErrNotFound)
}
