#!/bin/bash
# Builds a Coffer guest image, a bootable Debian 12 qcow2 with one datastore's engine and the
# coffer binary, from Debian packages alone: no mount, no loop device, no Docker.
#
#   image/build.sh COFFER_BINARY [DATASTORE]     (postgresql, the default, mariadb or redis)
#
# The image is coffer-<datastore>-<version>.qcow2 (the version from
# image/datastores/<datastore>/version), named as the catalog's image tag for that version.
#
# 1. The root filesystem (mmdebstrap: the packages in image/packages and the datastore's
#    image/datastores/<datastore>/packages, the files in image/rootfs/, then
#    image/customize.sh and the datastore's customize.sh) is cached in $COFFER_IMAGE_DIR/cache
#    under a hash of those files, so a rebuild after a code change only re-packs the binary.
# 2. mke2fs -d makes the ext4 root filesystem from that folder; debugfs writes the binary in.
# 3. sfdisk writes a GPT onto a file; the ext4 filesystem, GRUB for BIOS (grub-mkimage's
#    core.img, no grub-install) and for UEFI (in a FAT filesystem made with mtools) go into
#    its partitions, so the image boots either way.
# 4. qemu-img converts the disk to qcow2.
#
# Environment: COFFER_IMAGE_DIR (default .data/image), COFFER_IMAGE_MIRROR and
# COFFER_IMAGE_SECURITY_MIRROR (default: the host's Debian mirrors in /etc/apt), and
# COFFER_IMAGE_SIZE_MIB (the root disk, default 2048), COFFER_IMAGE_COMPRESS=1 (a compressed
# qcow2, about 40% of the size, for uploading; it adds about 20 seconds).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
usage="usage: image/build.sh COFFER_BINARY [DATASTORE: $(ls "$here/datastores" | tr '\n' ' ')]"
binary=${1:?$usage}
binary=$(realpath "$binary")
datastore=${2:-postgresql}
ds_dir=$here/datastores/$datastore
[ -f "$ds_dir/version" ] || { echo "no datastore $datastore: $usage" >&2; exit 2; }
version=$(tr -d ' \n' <"$ds_dir/version")
out=${COFFER_IMAGE_DIR:-$top/.data/image}
size_mib=${COFFER_IMAGE_SIZE_MIB:-2048}
name=coffer-$datastore-$version
start=$SECONDS

log() { printf '%s image: %s\n' "$(date +%T)" "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
	# mmdebstrap needs root to install packages whose files belong to root and others.
	log "re-running as root through sudo"
	exec sudo --preserve-env=COFFER_IMAGE_DIR,COFFER_IMAGE_COMPRESS,COFFER_IMAGE_MIRROR,COFFER_IMAGE_SECURITY_MIRROR,COFFER_IMAGE_SIZE_MIB "$0" "$binary" "$datastore"
fi

# The tools, installed from Debian when missing (apt-get update once, first).
missing=()
for pair in mmdebstrap:mmdebstrap qemu-img:qemu-utils sfdisk:fdisk mke2fs:e2fsprogs \
	debugfs:e2fsprogs grub-mkimage:grub-common /usr/lib/grub/i386-pc/boot.img:grub-pc-bin \
	/usr/lib/grub/x86_64-efi/linux.mod:grub-efi-amd64-bin mkfs.vfat:dosfstools mcopy:mtools; do
	tool=${pair%%:*}
	if ! command -v "$tool" >/dev/null && [ ! -e "$tool" ]; then missing+=("${pair#*:}"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	# One apt at a time on the machine: the test task installs packages beside this build.
	flock /tmp/coffer-apt.lock sh -c 'apt-get update -q &&
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "$@"' apt "${missing[@]}"
fi

# The host's Debian mirrors (deb822 .sources or one-line .list), else deb.debian.org.
host_mirror() { # $1: the archive's path, debian or debian-security
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -oE "(https?|file)://[^ ]*/$1/?( |$)" | head -n1 | tr -d ' ' || true
}
mirror=${COFFER_IMAGE_MIRROR:-$(host_mirror debian)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${COFFER_IMAGE_SECURITY_MIRROR:-$(host_mirror debian-security)}
security=${security:-http://deb.debian.org/debian-security}

# What makes the root filesystem: its hash names the cache. The mirrors are not in it (the
# same packages from another mirror are the same image); delete the cache to take updates.
suite=bookworm
mmdebstrap_options=(
	--mode=root --variant=minbase --format=directory
	--aptopt='APT::Install-Recommends "false"'
	--dpkgopt='path-exclude=/usr/share/man/*'
	--dpkgopt='path-exclude=/usr/share/info/*'
	--dpkgopt='path-exclude=/usr/share/doc/*'
	--dpkgopt='path-include=/usr/share/doc/*/copyright'
	--dpkgopt='path-exclude=/usr/share/locale/*'
	--dpkgopt='path-include=/usr/share/locale/locale.alias'
)
packages=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/packages" "$ds_dir/packages" | tr -s ' \n' ',' | sed 's/,$//')
recipe=$(
	cd "$here"
	printf '%s\n' "$suite" "${mmdebstrap_options[@]}" "$packages"
	sha256sum customize.sh "datastores/$datastore/customize.sh"
	find rootfs -type f -perm /111 -printf 'executable %p\n' | LC_ALL=C sort
	find rootfs -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
)
hash=$(printf '%s' "$recipe" | sha256sum | cut -c1-16)
cache=$out/cache
rootfs=$cache/rootfs-$datastore-$hash
mkdir -p "$cache"

# image/rootfs/ belongs to root in the image and loses group and other write permission,
# whoever checked it out with whatever umask; folders already in the image keep theirs.
copy_files="tar -C $(printf %q "$here/rootfs") --owner=0 --group=0 --mode=go-w -c . | tar -C \"\$1\" --no-overwrite-dir -x"

if [ ! -d "$rootfs" ]; then
	log "building the $datastore root filesystem $hash from $mirror (minutes)"
	# The recipe changed: this datastore's older root filesystems are of no more use.
	rm -rf "$cache/rootfs-$datastore"-*
	mmdebstrap "${mmdebstrap_options[@]}" --include="$packages" \
		--customize-hook="$copy_files" \
		--customize-hook="'$here/customize.sh' \"\$1\"" \
		--customize-hook="'$ds_dir/customize.sh' \"\$1\"" \
		$suite "$rootfs.tmp" \
		"deb $mirror $suite main" "deb $mirror $suite-updates main" \
		"deb $security $suite-security main"
	mv "$rootfs.tmp" "$rootfs"
else
	log "$datastore root filesystem $hash is cached"
fi

work=$(mktemp -d "$out/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The disk, GPT: a BIOS boot partition for GRUB's core.img, an EFI system partition, and the
# root filesystem. It boots with BIOS and with UEFI.
#   sectors 0-33      protective MBR (with GRUB's boot.img in its code area) and the GPT
#   1 MiB, 1 MiB      BIOS boot partition: GRUB's core.img for BIOS
#   2 MiB, 32 MiB     EFI system partition (FAT): GRUB for UEFI as EFI/BOOT/BOOTX64.EFI
#   34 MiB to 1 MiB before the end   the ext4 root filesystem, labelled coffer-root
# Both GRUBs find the root filesystem by its label (the server's volumes and config drive may
# be other disks) and read /boot/grub/grub.cfg from it, with every module they need built in.
bios_start=2048 esp_start=4096 esp_mib=32 root_start=69632
root_mib=$((size_mib - 34 - 1))

# The ext4 root filesystem. GRUB 2.06 cannot read the newer ext4 features that newer mke2fs
# turn on by default, so they are off (orphan_file only where this mke2fs knows it).
log "packing $(basename "$binary") ($(du -h "$binary" | cut -f1)) into the root filesystem"
features=^metadata_csum_seed
! grep -q orphan_file /etc/mke2fs.conf 2>/dev/null || features+=,^orphan_file
mke2fs -q -t ext4 -L coffer-root -O "$features" -d "$rootfs" \
	"$work/root.ext4" "${root_mib}M"
debugfs -w "$work/root.ext4" -f - >/dev/null 2>&1 <<DEBUGFS
cd /usr/local/bin
write $binary coffer
set_inode_field coffer mode 0100755
set_inode_field coffer uid 0
set_inode_field coffer gid 0
DEBUGFS
e2fsck -fn "$work/root.ext4" >/dev/null 2>&1 || { log "the root filesystem does not check clean"; exit 1; }

cat >"$work/early.cfg" <<'CFG'
search --no-floppy --label coffer-root --set=root
set prefix=($root)/boot/grub
CFG
grub_modules=(ext2 part_gpt search search_label normal configfile linux boot serial terminal echo test)

# GRUB for UEFI, in a FAT filesystem made as a file (mtools, no mount).
grub-mkimage -O x86_64-efi -o "$work/BOOTX64.EFI" -c "$work/early.cfg" -p /boot/grub "${grub_modules[@]}"
mkfs.vfat -C -n EFI "$work/esp.img" $((esp_mib * 1024)) >/dev/null
mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT
mcopy -i "$work/esp.img" "$work/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI

# GRUB for BIOS. grub-install would need the disk as a device; instead boot.img goes into the
# MBR pointing at core.img's first sector, and core.img's first sector (diskboot) gets the
# sector where the rest of core.img starts: the two numbers grub-bios-setup would write.
grub-mkimage -O i386-pc -o "$work/core.img" -c "$work/early.cfg" -p /boot/grub biosdisk "${grub_modules[@]}"
core_sectors=$((($(stat -c %s "$work/core.img") + 511) / 512))
[ "$core_sectors" -le 2048 ] || { log "core.img is $core_sectors sectors, more than its partition"; exit 1; }
le64() { printf "$(printf '\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)) 0 0 0 0)"; }
cp /usr/lib/grub/i386-pc/boot.img "$work/boot.img"
le64 $bios_start | dd of="$work/boot.img" bs=1 seek=$((0x5c)) conv=notrunc status=none # kernel_sector
le64 $((bios_start + 1)) | dd of="$work/core.img" bs=1 seek=$((512 - 12)) conv=notrunc status=none # blocklist start

truncate -s "${size_mib}M" "$work/disk.raw"
sfdisk -q "$work/disk.raw" <<SFDISK
label: gpt
start=$bios_start, size=2048, type=21686148-6449-6E6F-744E-656564454649, name=bios
start=$esp_start, size=$((esp_mib * 2048)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp
start=$root_start, size=$((root_mib * 2048)), type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=root
SFDISK
dd if="$work/boot.img" of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$work/disk.raw" bs=512 seek=$bios_start conv=notrunc status=none
dd if="$work/esp.img" of="$work/disk.raw" bs=1M seek=$((esp_start * 512)) oflag=seek_bytes conv=notrunc status=none
dd if="$work/root.ext4" of="$work/disk.raw" bs=1M seek=$((root_start * 512)) oflag=seek_bytes conv=notrunc,sparse status=none

compress=()
[ "${COFFER_IMAGE_COMPRESS:-}" = 1 ] && compress=(-c)
qemu-img convert "${compress[@]}" -f raw -O qcow2 "$work/disk.raw" "$work/$name.qcow2"
mv "$work/$name.qcow2" "$out/$name.qcow2"
image=$out/$name.qcow2
# Run through sudo: the image belongs to whoever asked for it.
[ -z "${SUDO_UID:-}" ] || chown "$SUDO_UID:$SUDO_GID" "$image"
log "done in $((SECONDS - start))s"

cat <<DONE

Image: $image ($(du -h "$image" | cut -f1), virtual size ${size_mib} MiB)
Upload it with:

  openstack image create --disk-format qcow2 --container-format bare \\
    --min-disk $(((size_mib + 1023) / 1024)) --property hw_disk_bus=virtio --property hw_vif_model=virtio \\
    --tag $name --file $image $name
DONE
