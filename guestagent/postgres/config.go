package postgres

import (
	"context"
	"fmt"
	"strconv"
)

// maxConnections is the engine's connection limit; work_mem is sized against it.
const maxConnections = 100

// settings are the server settings for a flavor with ramMB of memory. They are passed to the
// postmaster at each start (command-line settings win over the config files), so a start
// after a resize picks the new flavor up without rewriting anything:
//
//   - shared_buffers: 25% of RAM;
//   - effective_cache_size: 75% of RAM (the planner's guess of the OS cache);
//   - maintenance_work_mem: 5% of RAM, at most 1GB;
//   - work_mem: RAM / (4 × max_connections), at least 64kB.
//
// With no RAM known (0), the memory settings keep PostgreSQL's defaults.
func settings(ramMB int) map[string]string {
	s := map[string]string{
		"max_connections":     strconv.Itoa(maxConnections),
		"password_encryption": "scram-sha-256",
		// Replication (replication.go): every engine may serve replicas, and a former
		// primary can be rewound onto a new one (pg_rewind needs hint bits logged).
		"wal_log_hints": "on",
		"hot_standby":   "on",
	}
	if ramMB <= 0 {
		return s
	}
	s["shared_buffers"] = strconv.Itoa(max(ramMB/4, 1)) + "MB"
	s["effective_cache_size"] = strconv.Itoa(max(ramMB*3/4, 1)) + "MB"
	s["maintenance_work_mem"] = strconv.Itoa(min(max(ramMB/20, 1), 1024)) + "MB"
	s["work_mem"] = strconv.Itoa(max(ramMB*1024/(4*maxConnections), 64)) + "kB"
	return s
}

// memorySettings are the settings that change with the flavor.
var memorySettings = []string{"shared_buffers", "effective_cache_size", "maintenance_work_mem", "work_mem"}

// staleSettings reports whether the running server's memory settings differ from want (the
// server kept running across a resize). The server compares the sizes itself, since it shows
// them in its own units ("1GB" for 1024MB).
func (d *Driver) staleSettings(ctx context.Context, want map[string]string) (bool, error) {
	conn, err := d.connect(ctx, "postgres")
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, name := range memorySettings {
		v, ok := want[name]
		if !ok {
			continue
		}
		var same bool
		if err := conn.QueryRow(ctx, "SELECT pg_size_bytes(current_setting($1)) = pg_size_bytes($2)", name, v).Scan(&same); err != nil {
			return false, fmt.Errorf("compare %s: %w", name, err)
		}
		if !same {
			return true, nil
		}
	}
	return false, nil
}
