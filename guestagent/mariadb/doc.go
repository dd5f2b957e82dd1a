// Package mariadb is the guest agent's driver for MariaDB (Debian's mariadb-server, 10.11):
// it runs the machine's mariadbd as the mysql system user on the instance's address and port
// 3306, with its data, socket and configuration on the instance's volume, and manages the
// tenant's databases, users (user@host, as Trove's MySQL API has them) and root, the
// managed-service master user that never holds FILE or SUPER. One file per capability:
// server.go (the mariadbd process), prepare.go, health.go, databases.go, users.go, root.go,
// backup.go, replication.go, configuration.go (configuration groups) and log.go (the
// general, slow query and error logs, Trove's MySQL guest logs).
package mariadb
