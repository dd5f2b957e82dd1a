// Package postgres is the guest agent's PostgreSQL driver: it runs the instance's cluster on
// its volume (data in <volume>/pgdata, the socket in <volume>/run, the log in
// <volume>/postgresql.log), sized from the flavor, listening on the instance's fixed IP, and
// manages its databases and users. The agent reaches the cluster over the Unix socket as the
// superuser coffer_agent, whose password is kept in <volume>/agent.secret.
//
// One file per capability:
//
//   - driver.go: the Driver, its folders and its connection to the cluster;
//   - prepare.go: initdb, start and the agent's own role; config.go: settings sized from
//     the flavor;
//   - databases.go and users.go: the databases and users a create makes;
//     databases_admin.go and users_admin.go: listing, changing and dropping them, and
//     access; root.go: the tenant's root user;
//   - health.go: the health report; volume.go: the filesystem's size and growth;
//   - backup.go: pg_basebackup's stream; restore.go: a cluster from such a stream;
//   - replication.go: serving replicas (role, slots), seeding one, its status; promote.go:
//     switchover, promotion, following a new primary and fencing.
package postgres
