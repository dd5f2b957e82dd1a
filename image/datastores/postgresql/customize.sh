#!/bin/sh
# PostgreSQL 15's part of its image, run after image/customize.sh: $1 is the root filesystem.
# The agent creates and runs its own cluster on the data volume: no packaged cluster, and
# Debian's service masked so that nothing but the agent ever starts PostgreSQL.
set -eu
root="$1"
chroot "$root" pg_dropcluster 15 main 2>/dev/null || true
rm -rf "$root/var/lib/postgresql/15/main" "$root/etc/postgresql/15/main"
chroot "$root" systemctl disable --quiet postgresql.service
chroot "$root" systemctl mask --quiet postgresql.service
test -x "$root/usr/lib/postgresql/15/bin/postgres"
