// Package redis is the guest agent's driver for Redis (Debian's redis-server, 7): it runs
// the machine's redis-server as the redis system user on the instance's address and port
// 6379, with its data (an RDB file), Unix socket and only configuration file on the
// instance's volume. Access is by ACL users: the agent's own (coffer_agent, over the
// socket only) and the tenant's, Redis's default user (what AUTH <password> and
// requirepass reach), which is off until root enable gives it a password, as Trove's
// Redis root enable sets requirepass. The tenant may use every command but the
// administrative ones (CONFIG, ACL changes, DEBUG, MODULE, SHUTDOWN, REPLICAOF, ...) and
// MIGRATE: no way to the server's files, its configuration or other hosts.
//
// Redis has no databases or users in Trove's sense; their calls are ErrInvalid here, and
// the API answers Trove's "not supported" before asking. One file per capability:
// server.go (the redis-server process), prepare.go, health.go, root.go, backup.go,
// unsupported.go, replication.go; resp.go is the agent's client.
package redis
