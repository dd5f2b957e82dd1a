package postgres

import "strconv"

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
