// Package postgres is the guest agent's PostgreSQL driver: it runs the instance's cluster on
// its volume (data in <volume>/pgdata, the socket in <volume>/run, the log in
// <volume>/postgresql.log), sized from the flavor, listening on the instance's fixed IP, and
// manages its databases and users. The agent reaches the cluster over the Unix socket as the
// superuser coffer_agent, whose password is kept in <volume>/agent.secret.
//
// One file per capability: prepare.go (initdb and start), config.go (settings from the
// flavor), databases.go, users.go, health.go.
package postgres
