#!/bin/sh
# Redis 7's part of its image, run after image/customize.sh: $1 is the root filesystem. The
# agent runs its own redis-server on the data volume, as the redis user: Debian's service is
# masked so that nothing but the agent ever starts Redis.
set -eu
root="$1"
chroot "$root" systemctl disable --quiet redis-server.service
chroot "$root" systemctl mask --quiet redis-server.service
rm -f "$root/var/lib/redis"/*.rdb
# What the agent runs (guestagent/redis).
for program in /usr/bin/redis-server /usr/bin/redis-cli /usr/bin/redis-check-rdb; do
	test -x "$root$program" || { echo "the image has no $program" >&2; exit 1; }
done
chroot "$root" id redis >/dev/null
