#!/bin/bash
# Boots a guest image once under qemu (TCG: no KVM needed) and checks on its serial console
# that systemd reaches its default target and starts coffer-guestagent.service. Without a
# config drive the agent fails and systemd restarts it; that is expected here.
#
#   image/check.sh [IMAGE]        (default .data/image/coffer-postgresql-15.qcow2; image/build.sh
#                                  names each datastore's coffer-<datastore>-<version>.qcow2)
#
# Environment: COFFER_IMAGE_FIRMWARE (bios, the default, or uefi: OVMF),
# COFFER_IMAGE_BOOT_TIMEOUT (seconds, default 600). The console log is kept beside the image
# as <image>.console.log.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
image=$(realpath "${1:-$top/.data/image/coffer-postgresql-15.qcow2}")
timeout=${COFFER_IMAGE_BOOT_TIMEOUT:-600}
firmware=${COFFER_IMAGE_FIRMWARE:-bios}
console=${image%.qcow2}.console.log
qemu_log=${image%.qcow2}.qemu.log

ovmf=/usr/share/ovmf/OVMF.fd
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
[ "$firmware" != uefi ] || [ -e $ovmf ] || missing+=(ovmf)
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing ${missing[*]}" >&2
	flock /tmp/coffer-apt.lock sh -c 'apt-get update -q &&
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$@"' apt "${missing[@]}"
fi
bios=()
case $firmware in
bios) ;;
uefi) bios=(-bios $ovmf) ;;
*) echo "COFFER_IMAGE_FIRMWARE is bios or uefi, not $firmware" >&2; exit 2 ;;
esac

: >"$console"
# -snapshot: the boot writes to a temporary overlay, never to the image.
qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -nographic -no-reboot -snapshot "${bios[@]}" \
	-drive "file=$image,if=virtio,format=qcow2" \
	-nic user,model=virtio-net-pci \
	-serial "file:$console" -monitor none -display none >"$qemu_log" 2>&1 &
qemu=$!
trap 'kill $qemu 2>/dev/null || true; wait $qemu 2>/dev/null || true' EXIT

start=$SECONDS
# The unit starting, the agent itself saying something (so the binary runs), and the target.
want=("Started .*coffer-guestagent.service" "coffer\[[0-9]+\]: .*" "Reached target .*multi-user.target")
seen=()
while :; do
	if ! kill -0 $qemu 2>/dev/null; then
		echo "FAIL: qemu exited after $((SECONDS - start))s; console: $console" >&2
		cat "$qemu_log" >&2
		tail -n 30 "$console" >&2
		exit 1
	fi
	for pattern in "${want[@]}"; do
		if [[ ! " ${seen[*]-} " =~ " $pattern " ]] && grep -qaE "$pattern" "$console"; then
			echo "$((SECONDS - start))s: console shows: $(grep -aoE "$pattern" "$console" | head -n1 | sed 's/\x1b\[[0-9;]*m//g')"
			seen+=("$pattern")
		fi
	done
	[ ${#seen[@]} -eq ${#want[@]} ] && break
	if [ $((SECONDS - start)) -ge "$timeout" ]; then
		echo "FAIL: no '${want[*]}' on the console within ${timeout}s; console: $console" >&2
		tail -n 30 "$console" >&2
		# What holds the boot back: the units systemd started and never reported done.
		plain=$(sed 's/\x1b\[[0-9;=?]*[a-zA-Z]//g' "$console")
		grep -aoE '^ +Starting [^ .…]+' <<<"$plain" | awk '{print $2}' | sort -u | while read -r unit; do
			grep -aqE "(Started|Finished|Failed to start) $unit" <<<"$plain" || echo "still starting: $unit" >&2
		done
		exit 1
	fi
	sleep 2
done
echo "OK: the image booted ($firmware) to multi-user.target and started the guest agent in $((SECONDS - start))s under TCG (console: $console)"
