#!/bin/sh
# MariaDB 10.11's part of its image, run after image/customize.sh: $1 is the root filesystem.
# The agent initialises and runs its own mariadbd on the data volume, as the mysql user: the
# packaged system tables go, and Debian's service is masked so that nothing but the agent
# ever starts MariaDB.
set -eu
root="$1"
rm -rf "$root/var/lib/mysql"/*
chroot "$root" systemctl disable --quiet mariadb.service
chroot "$root" systemctl mask --quiet mariadb.service
# What the agent runs (guestagent/mariadb).
for program in /usr/sbin/mariadbd /usr/bin/mariadb-install-db /usr/bin/mariadb /usr/bin/mbstream; do
	test -x "$root$program" || { echo "the image has no $program" >&2; exit 1; }
done
test -x "$root/usr/bin/mariadb-backup" || test -x "$root/usr/bin/mariabackup"
chroot "$root" id mysql >/dev/null
