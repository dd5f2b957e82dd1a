#!/bin/sh
# Runs once inside mmdebstrap, after the packages and image/rootfs/ are in place and before
# the datastore's own image/datastores/<datastore>/customize.sh: $1 is the root filesystem.
# Changing this file rebuilds the cached root filesystems.
set -eu
root="$1"

chroot "$root" systemctl enable systemd-networkd.service systemd-resolved.service \
	systemd-timesyncd.service coffer-guestagent.service
chroot "$root" systemctl set-default multi-user.target
# e2scrub checks ext4 on LVM snapshots, and there is no LVM here. Its reaper runs at idle CPU
# priority and holds multi-user.target back for minutes while the CPUs are busy (a slow TCG
# boot with the agent restarting was seen to starve it for ten).
chroot "$root" systemctl mask e2scrub_reap.service e2scrub_all.timer

# No password logins: root's password is locked and there is no other login user.
chroot "$root" usermod --password '*' root
# The hostname comes from DHCP (Nova's server name), not from the build machine.
rm -f "$root/etc/hostname"
# Each server gets its own machine ID on first boot.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

# GRUB (core.img, written by image/build.sh) reads this from the root filesystem. /vmlinuz and
# /initrd.img are the links Debian keeps pointing at the newest kernel.
test -e "$root/vmlinuz" && test -e "$root/initrd.img"
mkdir -p "$root/boot/grub"
cat >"$root/boot/grub/grub.cfg" <<'CFG'
set timeout=1
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
menuentry 'Coffer guest (Debian 12)' {
	linux /vmlinuz root=LABEL=coffer-root ro console=tty0 console=ttyS0,115200n8
	initrd /initrd.img
}
CFG

# A cloud server's disks and NICs are virtio: the initrd must carry their drivers.
for module in virtio_pci virtio_blk virtio_net; do
	if ! chroot "$root" sh -c "lsinitramfs /initrd.img | grep -q '/$module.ko'"; then
		# Built into the kernel is as good as in the initrd.
		grep -q "/$module.ko" "$root"/lib/modules/*/modules.builtin ||
			{ echo "initrd has no $module" >&2; exit 1; }
	fi
done
