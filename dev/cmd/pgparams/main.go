// Command pgparams writes the configuration parameters of a PostgreSQL version into a
// catalog migration, from the engine's own pg_settings: each parameter's type, bounds, enum
// values, unit, and whether it needs a restart (its context is postmaster). It starts a
// throwaway cluster with the version's binaries, reads pg_settings, and replaces the part of
// the migration between the markers, so the catalog's list never drifts from the engine's:
//
//	go run ./dev/cmd/pgparams -version 15 -migration catalog/migrations/009_configuration_groups.sql
//
// Parameters a tenant must not set are left out (see tenantSettable): those Coffer itself
// manages (addresses, files, replication, WAL archiving), those that run programs or load
// libraries, and those meant for developers only.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/coffer-dbaas/coffer/dev/paramsmigration"
	"github.com/coffer-dbaas/coffer/pgcluster/pgclustertest"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "pgparams:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	version := flag.String("version", "15", "the PostgreSQL version whose parameters to write (its datastore version's name)")
	migration := flag.String("migration", "catalog/migrations/009_configuration_groups.sql", "the migration to write the parameters into, between its markers")
	flag.Parse()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	c, stop, err := pgclustertest.StartShared(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = stop() }()
	conn, err := pgx.Connect(ctx, pgclustertest.DSN(c, "postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var server string
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version_num')").Scan(&server); err != nil {
		return err
	}
	if !strings.HasPrefix(server, *version) {
		return fmt.Errorf("the cluster runs PostgreSQL %s, not %s: install version %s's binaries", server, *version, *version)
	}
	rows, _ := conn.Query(ctx, `
		SELECT name, vartype, coalesce(min_val, ''), coalesce(max_val, ''), coalesce(enumvals, '{}'),
		       coalesce(unit, ''), context, category, short_desc
		FROM pg_settings ORDER BY name`)
	params, err := pgx.CollectRows(rows, pgx.RowToStructByPos[setting])
	if err != nil {
		return fmt.Errorf("read pg_settings: %w", err)
	}
	var out []paramsmigration.Parameter
	for _, p := range params {
		if !tenantSettable(p) {
			continue
		}
		out = append(out, p.parameter())
	}
	if err := paramsmigration.Rewrite(*migration, "dev/cmd/pgparams", "postgresql", *version, out); err != nil {
		return err
	}
	fmt.Printf("wrote %d parameters of PostgreSQL %s into %s\n", len(out), *version, *migration)
	return nil
}

// setting is a row of pg_settings.
type setting struct {
	Name, VarType, Min, Max string
	Enum                    []string
	Unit, Context, Category string
	Description             string
}

// tenantSettable reports whether a tenant may set the parameter in a configuration group.
func tenantSettable(s setting) bool {
	switch s.Context {
	case "internal":
		return false // preset by the build: read-only
	}
	for _, prefix := range []string{
		"File Locations",
		"Developer Options",
		"Preset Options",
		"Customized Options",
		"Write-Ahead Log / Archiving",
		"Write-Ahead Log / Archive Recovery",
		"Write-Ahead Log / Recovery Target",
		"Replication",
		"Connections and Authentication / SSL",
		"Connections and Authentication / Authentication",
	} {
		if strings.HasPrefix(s.Category, prefix) {
			return false
		}
	}
	return !slices.Contains(managed, s.Name)
}

// managed are the parameters Coffer sets itself, or that would reach beyond the tenant's
// database: where the engine listens, what it loads and runs, where it logs, and what
// replication and fencing rely on.
var managed = []string{
	"listen_addresses", "port", "unix_socket_directories", "unix_socket_group", "unix_socket_permissions",
	"bonjour", "bonjour_name",
	"shared_preload_libraries", "local_preload_libraries", "session_preload_libraries", "dynamic_library_path",
	"jit_provider",
	"log_directory", "log_filename", "logging_collector", "log_destination", "log_file_mode",
	"log_rotation_age", "log_rotation_size", "log_truncate_on_rotation", "syslog_facility", "syslog_ident",
	"event_source",
	"wal_level", "wal_log_hints", "hot_standby", "full_page_writes", "fsync", "data_sync_retry",
	"password_encryption", "default_transaction_read_only", "cluster_name",
	"archive_mode", "archive_command", "archive_library", "restore_command",
	"restart_after_crash", "exit_on_error", "recovery_init_sync_method",
	"shared_memory_type", "dynamic_shared_memory_type", "huge_pages", "huge_page_size",
	"session_replication_role", "lo_compat_privileges", "syslog_sequence_numbers", "syslog_split_messages",
	// Session-only: a default for them is default_transaction_*.
	"transaction_deferrable", "transaction_isolation", "transaction_read_only",
}

// parameter is the setting as a row of configuration_parameters.
func (s setting) parameter() paramsmigration.Parameter {
	p := paramsmigration.Parameter{Name: s.Name, DataType: "string", Unit: s.Unit,
		RestartRequired: s.Context == "postmaster", Description: s.Description}
	switch s.VarType {
	case "integer":
		p.DataType, p.Min, p.Max = "integer", s.Min, s.Max
	case "real":
		p.DataType, p.Min, p.Max = "float", s.Min, s.Max
	case "bool":
		p.DataType = "boolean"
	case "enum":
		p.Allowed = s.Enum
	}
	return p
}
