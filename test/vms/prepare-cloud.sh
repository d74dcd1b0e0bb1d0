#!/usr/bin/env bash
# Builds the cloud-style guest: a Debian 12 disk image of the kind users bring (GRUB for BIOS and for UEFI on
# the disk itself, Debian's kernel and initramfs, systemd, qemu-guest-agent, cloud-init, openssh-server) with
# nginx and python3 installed for the benchmark application. Everything comes from Debian packages; nothing is
# mounted (no loop devices: CI containers may lack them): the root file system is made with `mkfs.ext4 -d` and
# the EFI system partition with mkfs.vfat + mtools, both placed into a partitioned image; GRUB's boot.img and a
# core.img made by grub-mkimage go where grub-install would put them (MBR and the gap before the first
# partition), and GRUB's EFI image to the removable-media path EFI/BOOT/BOOTX64.EFI that firmware looks for.
# Layout (MBR): partition 1 = EFI system partition (64 MiB, FAT), partition 2 = root (ext4, the rest).
# Usage: prepare-cloud.sh OUTDIR CACHEDIR. Writes OUTDIR/disk.qcow2 (2 GiB virtual). Called by cloud-image.ts.
# The root file system starts at 65 MiB (cloud-image.ts: CLOUD_ROOT_OFFSET).
set -euo pipefail
out=$1 cache=$2
mkdir -p "$out" "$cache"
work=$(mktemp -d)
root="$work/root"
cleanup() {
  for m in proc sys dev/pts; do umount "$root/$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
mirror=http://deb.debian.org/debian

tarball="$cache/debootstrap-bookworm-minbase.tgz"
exec 9>"$cache/.debootstrap.lock"
flock 9
if [ ! -f "$tarball" ]; then
  echo "prepare-cloud: debootstrap --make-tarball (downloads Debian minbase packages once)"
  debootstrap --variant=minbase --make-tarball="$tarball.tmp" bookworm "$work/dl" "$mirror" >/dev/null
  mv "$tarball.tmp" "$tarball"
fi
flock -u 9
echo "prepare-cloud: debootstrap minbase root"
debootstrap --variant=minbase --unpack-tarball="$tarball" bookworm "$root" "$mirror" >/dev/null

# Packages of a Debian cloud image. grub-pc-bin is GRUB's BIOS boot loader (images and tools); the grub-pc
# package adds only a postinst that runs grub-install against a block device, which a file image is not.
packages=(
  systemd-sysv udev dbus kmod linux-image-amd64 grub-pc-bin grub-efi-amd64-bin
  qemu-guest-agent cloud-init openssh-server sudo ifupdown isc-dhcp-client netbase
  nginx-light python3 curl ca-certificates procps iproute2 locales
)
cp /etc/resolv.conf "$root/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d" && chmod +x "$root/usr/sbin/policy-rc.d"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys" 2>/dev/null || true
echo "prepare-cloud: apt-get install ${packages[*]}"
chroot "$root" apt-get -q update >/dev/null
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get -q install -y --no-install-recommends "${packages[@]}" > "$work/apt.log" 2>&1 ||
  { tail -40 "$work/apt.log" >&2; echo "prepare-cloud: apt-get install failed" >&2; exit 1; }
chroot "$root" apt-get clean
# The locale cloud-init sets by default, generated and made the system's (/etc/default/locale) as an image
# build does: cloud-init's locale module then finds it set and skips locale-gen, which costs a first boot
# about 11 s under TCG.
echo 'en_US.UTF-8 UTF-8' > "$root/etc/locale.gen"
chroot "$root" locale-gen >/dev/null
chroot "$root" update-locale LANG=en_US.UTF-8
umount "$root/sys" 2>/dev/null || true
umount "$root/proc"
rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/resolv.conf"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin

uuid=$(cat /proc/sys/kernel/random/uuid)
# As cloud images ship: no machine id (systemd makes one at first boot), no ssh host keys (cloud-init makes
# them), cloud-init looking only at NoCloud (the seed the engine attaches) so that it never waits on a network.
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root"/etc/ssh/ssh_host_*
echo "debian" > "$root/etc/hostname"
printf 'UUID=%s / ext4 errors=remount-ro 0 1\n' "$uuid" > "$root/etc/fstab"
printf 'datasource_list: [ NoCloud, None ]\n' > "$root/etc/cloud/cloud.cfg.d/90-cloudlet-datasource.cfg"
printf 'auto lo\niface lo inet loopback\nsource /etc/network/interfaces.d/*\n' > "$root/etc/network/interfaces"
mkdir -p "$root/etc/network/interfaces.d"

# GRUB: its modules under /boot/grub, a configuration written here (update-grub cannot probe a file image),
# and two first stages that find the root file system by its UUID and read /boot/grub from it: core.img for
# the MBR gap (BIOS) and BOOTX64.EFI for the EFI system partition.
mkdir -p "$root/boot/grub"
cp -r "$root/usr/lib/grub/i386-pc" "$root/boot/grub/i386-pc"
cp -r "$root/usr/lib/grub/x86_64-efi" "$root/boot/grub/x86_64-efi"
printf 'search --no-floppy --fs-uuid --set=root %s\nset prefix=($root)/boot/grub\n' "$uuid" > "$root/tmp/early.cfg"
cat > "$root/boot/grub/grub.cfg" <<EOF
set default=0
set timeout=0
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
menuentry 'Debian GNU/Linux 12' {
  insmod part_msdos
  insmod ext2
  search --no-floppy --fs-uuid --set=root $uuid
  linux /vmlinuz root=UUID=$uuid ro console=tty0 console=ttyS0,115200 net.ifnames=0
  initrd /initrd.img
}
EOF
chroot "$root" grub-mkimage -O i386-pc -o /tmp/core.img -c /tmp/early.cfg -p /boot/grub biosdisk part_msdos ext2 search search_fs_uuid
chroot "$root" grub-mkimage -O x86_64-efi -o /tmp/BOOTX64.EFI -c /tmp/early.cfg -p /boot/grub part_msdos part_gpt ext2 fat search search_fs_uuid
mv "$root/tmp/core.img" "$root/tmp/BOOTX64.EFI" "$work/"
rm -f "$root/tmp/early.cfg"
cp "$root/usr/lib/grub/i386-pc/boot.img" "$work/boot.img"
core_sectors=$(( ($(stat -c %s "$work/core.img") + 511) / 512 ))
[ "$core_sectors" -lt 2047 ] || { echo "prepare-cloud: core.img does not fit before the partition" >&2; exit 1; }

echo "prepare-cloud: file systems and disk image"
# 2 GiB, as cloud images ship (they grow at first boot where the disk is larger): room for the tests' data,
# and half the bytes to convert, hash and copy at each import of the 4 GiB this image once had.
disk_mib=2048 esp_mib=64
root_start_mib=$((1 + esp_mib))
truncate -s $(( esp_mib * 1024 * 1024 )) "$work/esp.vfat"
mkfs.vfat -n EFI "$work/esp.vfat" >/dev/null
mmd -i "$work/esp.vfat" ::/EFI ::/EFI/BOOT
mcopy -i "$work/esp.vfat" "$work/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
truncate -s $(( (disk_mib - root_start_mib) * 1024 * 1024 )) "$work/root.ext4"
mkfs.ext4 -q -F -L root -U "$uuid" -d "$root" "$work/root.ext4"
truncate -s $(( disk_mib * 1024 * 1024 )) "$work/disk.raw"
printf 'label: dos\nstart=2048, size=%d, type=ef\nstart=%d, type=83, bootable\n' $((esp_mib * 2048)) $((root_start_mib * 2048)) | sfdisk -q "$work/disk.raw"
dd if="$work/esp.vfat" of="$work/disk.raw" bs=1M seek=1 conv=notrunc status=none
dd if="$work/root.ext4" of="$work/disk.raw" bs=1M seek=$root_start_mib conv=notrunc,sparse status=none
# boot.img's code (not the partition table after byte 440) into sector 0; it loads core.img from sector 1
# (its default), and core.img's first sector lists the rest from sector 2 on (grub-mkimage fills the count).
dd if="$work/boot.img" of="$work/disk.raw" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$work/disk.raw" bs=512 seek=1 conv=notrunc status=none
qemu-img convert -q -f raw -O qcow2 "$work/disk.raw" "$out/disk.qcow2.tmp"
mv "$out/disk.qcow2.tmp" "$out/disk.qcow2"
echo "prepare-cloud: done ($(du -h "$out/disk.qcow2" | cut -f1) qcow2, root $uuid)"
