// Command mariadbparams writes the configuration parameters of a MariaDB version into a
// catalog migration, from the engine's own INFORMATION_SCHEMA.SYSTEM_VARIABLES: each
// parameter's type, bounds, enum values, and whether it needs a restart (it is read-only
// while the server runs). It installs and starts a throwaway mariadbd (its own data folder
// under /tmp, the mysql system user, a socket and no network, so never the machine's own
// server), reads the variables Coffer offers (offered), and replaces the part of the
// migration between the markers:
//
//	go run ./dev/cmd/mariadbparams -version 10.11 -migration catalog/migrations/015_mariadb_configuration.sql
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/coffer-dbaas/coffer/dev/paramsmigration"
	"github.com/coffer-dbaas/coffer/guestagent"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "mariadbparams:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	version := flag.String("version", "10.11", "the MariaDB version whose parameters to write (its datastore version's name)")
	migration := flag.String("migration", "catalog/migrations/015_mariadb_configuration.sql", "the migration to write the parameters into, between its markers")
	flag.Parse()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()

	db, stop, err := startThrowaway(ctx)
	if err != nil {
		return err
	}
	defer stop()
	var server string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&server); err != nil {
		return err
	}
	if !strings.HasPrefix(server, *version+".") {
		return fmt.Errorf("the machine's mariadbd is MariaDB %s, not %s: install version %s's packages", server, *version, *version)
	}
	params, err := readParameters(ctx, db)
	if err != nil {
		return err
	}
	if err := paramsmigration.Rewrite(*migration, "dev/cmd/mariadbparams", "mariadb", *version, params); err != nil {
		return err
	}
	fmt.Printf("wrote %d parameters of MariaDB %s into %s\n", len(params), *version, *migration)
	return nil
}

// startThrowaway installs a data folder under /tmp and starts mariadbd on it, listening on
// a socket only and checking no grants (nobody else can reach the socket's folder); stop
// ends the server and removes the folder.
func startThrowaway(ctx context.Context) (*sql.DB, func(), error) {
	dir, err := os.MkdirTemp("", "coffer-mariadbparams-*")
	if err != nil {
		return nil, nil, err
	}
	daemon := &guestagent.Daemon{PIDFile: filepath.Join(dir, "mariadbd.pid"), Programs: []string{"mariadbd", "mysqld"}, SystemUser: "mysql"}
	cleanup := func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := daemon.Stop(stopCtx); err != nil {
			fmt.Fprintln(os.Stderr, "mariadbparams: stop the throwaway mariadbd:", err)
		}
		os.RemoveAll(dir)
	}
	fail := func(err error) (*sql.DB, func(), error) { cleanup(); return nil, nil, err }
	if err := daemon.PrepareDir(dir, 0o700); err != nil {
		return fail(err)
	}
	data := filepath.Join(dir, "data")
	install, err := daemon.Command(ctx, "/usr/bin/mariadb-install-db", "--no-defaults", "--datadir="+data, "--skip-test-db", "--skip-name-resolve")
	if err != nil {
		return fail(err)
	}
	if err := guestagent.RunTool(ctx, install, "mariadb-install-db"); err != nil {
		return fail(err)
	}
	socket := filepath.Join(dir, "mariadbd.sock")
	cmd, err := daemon.Command(context.WithoutCancel(ctx), "/usr/sbin/mariadbd", "--no-defaults", "--datadir="+data,
		"--socket="+socket, "--pid-file="+daemon.PIDFile, "--skip-networking", "--skip-grant-tables",
		"--log-error="+filepath.Join(dir, "error.log"))
	if err != nil {
		return fail(err)
	}
	if err := cmd.Start(); err != nil {
		return fail(fmt.Errorf("start mariadbd: %w", err))
	}
	go func() { _ = cmd.Wait() }() // reaped when it ends; stopped by cleanup
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", "unix", socket
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return fail(err)
	}
	db := sql.OpenDB(connector)
	for {
		err := db.PingContext(ctx)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			db.Close()
			return fail(fmt.Errorf("the throwaway mariadbd does not answer: %w", errors.Join(err, ctx.Err())))
		case <-time.After(200 * time.Millisecond):
		}
	}
	return db, func() { db.Close(); cleanup() }, nil
}

// readParameters reads the offered variables from INFORMATION_SCHEMA.SYSTEM_VARIABLES.
func readParameters(ctx context.Context, db *sql.DB) ([]paramsmigration.Parameter, error) {
	names := make([]any, len(offered))
	for i, name := range offered {
		names[i] = strings.ToUpper(name)
	}
	rows, err := db.QueryContext(ctx, `
		SELECT LOWER(VARIABLE_NAME), VARIABLE_TYPE, COALESCE(NUMERIC_MIN_VALUE, ''), COALESCE(NUMERIC_MAX_VALUE, ''),
		       COALESCE(ENUM_VALUE_LIST, ''), READ_ONLY = 'YES', COALESCE(VARIABLE_COMMENT, '')
		FROM INFORMATION_SCHEMA.SYSTEM_VARIABLES
		WHERE VARIABLE_NAME IN (?`+strings.Repeat(", ?", len(names)-1)+`)
		ORDER BY VARIABLE_NAME`, names...)
	if err != nil {
		return nil, fmt.Errorf("read INFORMATION_SCHEMA.SYSTEM_VARIABLES: %w", err)
	}
	defer rows.Close()
	var params []paramsmigration.Parameter
	found := map[string]bool{}
	for rows.Next() {
		var (
			name, varType, min, max, enum, comment string
			readOnly                               bool
		)
		if err := rows.Scan(&name, &varType, &min, &max, &enum, &readOnly, &comment); err != nil {
			return nil, err
		}
		found[name] = true
		p := paramsmigration.Parameter{Name: name, DataType: "string", RestartRequired: readOnly, Description: comment}
		switch {
		case varType == "BOOLEAN":
			p.DataType = "boolean"
		case varType == "ENUM":
			p.Allowed = strings.Split(enum, ",")
		case varType == "DOUBLE":
			p.DataType, p.Min, p.Max = "float", min, max
		case strings.HasPrefix(varType, "INT") || strings.HasPrefix(varType, "BIGINT"):
			p.DataType, p.Min, p.Max = "integer", min, max
		}
		params = append(params, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read INFORMATION_SCHEMA.SYSTEM_VARIABLES: %w", err)
	}
	for _, name := range offered {
		if !found[name] {
			fmt.Fprintf(os.Stderr, "mariadbparams: this MariaDB has no variable %s: left out\n", name)
		}
	}
	return params, nil
}

// offered are the variables a tenant may set in a configuration group: the ones Trove's
// MySQL datastore offers (its validation-rules.json) that MariaDB has, and the usual tuning
// ones. Left out, as Coffer sets them or they reach beyond the tenant's databases: where the
// server listens and logs, server_id, read_only and replication, local_infile (files of the
// server), general_log and slow_query_log (the guest logs turn them on and off), and what
// must match the data folder (lower_case_table_names, innodb_page_size).
var offered = []string{
	"auto_increment_increment", "auto_increment_offset", "autocommit", "binlog_cache_size",
	"bulk_insert_buffer_size", "character_set_client", "character_set_connection",
	"character_set_filesystem", "character_set_results", "character_set_server",
	"collation_connection", "collation_server", "connect_timeout", "event_scheduler",
	"expire_logs_days", "explicit_defaults_for_timestamp", "group_concat_max_len",
	"innodb_adaptive_flushing_lwm", "innodb_adaptive_hash_index", "innodb_autoinc_lock_mode",
	"innodb_buffer_pool_chunk_size", "innodb_buffer_pool_dump_at_shutdown", "innodb_buffer_pool_dump_pct",
	"innodb_buffer_pool_size", "innodb_change_buffer_max_size", "innodb_cmp_per_index_enabled",
	"innodb_compression_failure_threshold_pct", "innodb_compression_level", "innodb_compression_pad_pct_max",
	"innodb_deadlock_detect", "innodb_default_row_format", "innodb_disable_sort_file_cache",
	"innodb_fill_factor", "innodb_flush_log_at_timeout", "innodb_flush_log_at_trx_commit",
	"innodb_flush_method", "innodb_flush_neighbors", "innodb_flush_sync", "innodb_flushing_avg_loops",
	"innodb_ft_cache_size", "innodb_ft_max_token_size", "innodb_ft_min_token_size", "innodb_ft_num_word_optimize",
	"innodb_ft_result_cache_limit", "innodb_ft_sort_pll_degree", "innodb_ft_total_cache_size",
	"innodb_io_capacity", "innodb_io_capacity_max", "innodb_lock_wait_timeout", "innodb_log_buffer_size",
	"innodb_log_file_size", "innodb_log_write_ahead_size", "innodb_lru_scan_depth",
	"innodb_max_dirty_pages_pct", "innodb_max_dirty_pages_pct_lwm", "innodb_max_purge_lag",
	"innodb_max_purge_lag_delay", "innodb_max_undo_log_size", "innodb_online_alter_log_max_size",
	"innodb_open_files", "innodb_optimize_fulltext_only", "innodb_purge_rseg_truncate_frequency",
	"innodb_random_read_ahead", "innodb_read_io_threads", "innodb_sort_buffer_size",
	"innodb_stats_include_delete_marked", "innodb_stats_method", "innodb_stats_persistent",
	"innodb_stats_persistent_sample_pages", "innodb_stats_transient_sample_pages", "innodb_strict_mode",
	"innodb_sync_spin_loops", "innodb_write_io_threads",
	"interactive_timeout", "join_buffer_size", "key_buffer_size", "lock_wait_timeout",
	"log_slow_verbosity", "long_query_time", "max_allowed_packet", "max_connect_errors",
	"max_connections", "max_heap_table_size", "max_prepared_stmt_count", "max_statement_time",
	"max_user_connections", "min_examined_row_limit", "myisam_sort_buffer_size", "net_read_timeout",
	"net_write_timeout", "performance_schema", "query_cache_size", "query_cache_type",
	"read_buffer_size", "read_rnd_buffer_size", "sort_buffer_size", "sql_mode", "sync_binlog",
	"table_definition_cache", "table_open_cache", "thread_cache_size", "time_zone",
	"tmp_table_size", "tx_isolation", "wait_timeout",
}
