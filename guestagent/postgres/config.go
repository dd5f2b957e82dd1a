package postgres

import (
	"maps"
	"strconv"
)

// maxConnections is the engine's connection limit; work_mem is sized against it.
const maxConnections = 100

// fixedSettings are what replication, fencing and the users' passwords rely on. They are
// passed to the postmaster at each start, where they win over every configuration file:
// no configuration group can change them.
func fixedSettings() map[string]string {
	return map[string]string{
		"password_encryption": "scram-sha-256",
		// Replication (replication.go): every engine may serve replicas, and a former
		// primary can be rewound onto a new one (pg_rewind needs hint bits logged).
		"wal_log_hints": "on",
		"hot_standby":   "on",
	}
}

// hotStandbySettings are the settings a hot standby must run with at least its primary's
// values of: PostgreSQL refuses to start a standby with less, and pauses its replay when
// the primary raises one past the standby's (confValues).
func hotStandbySettings() []string {
	return []string{"max_connections", "max_locks_per_transaction", "max_prepared_transactions",
		"max_wal_senders", "max_worker_processes"}
}

// sizedSettings are the settings sized from a flavor with ramMB of memory. They go into
// coffer.conf (configuration.go) at each start, before the configuration group's values,
// which win, so that a group's explicit value stays across a resize and the rest follows
// the new flavor:
//
//   - max_connections: 100;
//   - shared_buffers: 25% of RAM;
//   - effective_cache_size: 75% of RAM (the planner's guess of the OS cache);
//   - maintenance_work_mem: 5% of RAM, at most 1GB;
//   - work_mem: RAM / (4 × max_connections), at least 64kB.
//
// With no RAM known (0), the memory settings keep PostgreSQL's defaults.
func sizedSettings(ramMB int) map[string]string {
	s := map[string]string{"max_connections": strconv.Itoa(maxConnections)}
	if ramMB <= 0 {
		return s
	}
	s["shared_buffers"] = strconv.Itoa(max(ramMB/4, 1)) + "MB"
	s["effective_cache_size"] = strconv.Itoa(max(ramMB*3/4, 1)) + "MB"
	s["maintenance_work_mem"] = strconv.Itoa(min(max(ramMB/20, 1), 1024)) + "MB"
	s["work_mem"] = strconv.Itoa(max(ramMB*1024/(4*maxConnections), 64)) + "kB"
	return s
}

// settings are the fixed and the sized settings together, for a start with no
// configuration file of Coffer's yet (a restore's first start).
func settings(ramMB int) map[string]string {
	s := fixedSettings()
	maps.Copy(s, sizedSettings(ramMB))
	return s
}
