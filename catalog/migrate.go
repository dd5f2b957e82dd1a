package catalog

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

// migrations are tern's numbered SQL files (001_name.sql), each an up part and, below
// "---- create above / drop below ----", its down part.
//
//go:embed migrations/*.sql
var migrations embed.FS

// versionTable records how far the catalog is migrated.
const versionTable = "coffer_schema_version"

// Migrate applies the embedded migrations to the database at url. It is idempotent, and
// concurrent runs (several replicas starting at once) are safe: tern holds an advisory lock
// while it reads the version and migrates.
func Migrate(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("migrate catalog: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		return fmt.Errorf("migrate catalog: %w", err)
	}
	files, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrate catalog: %w", err)
	}
	if err := m.LoadMigrations(files); err != nil {
		return fmt.Errorf("migrate catalog: load migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate catalog: %w", err)
	}
	return nil
}
