#!/usr/bin/env bash
# Builds the files a test guest boots from, out of Debian packages: kernel + modules from linux-image, a
# busybox initramfs with our /init, the base disk, and (realistic) the .deb payload the customization installs.
# Usage: prepare.sh tiny|realistic OUTDIR CACHEDIR. Called by test/vms/build.ts; safe to re-run.
set -euo pipefail
name=$1 out=$2 cache=$3
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out" "$cache/debs"

kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
kpkg=$(kernel_pkg)
if [ -z "$kpkg" ]; then apt-get update -qq; kpkg=$(kernel_pkg); fi
[ -n "$kpkg" ] || { echo "prepare: cannot find the Debian kernel package (apt-get update?)" >&2; exit 1; }
# Two guests may be prepared at once (parallel test workers): one downloads, the other waits for it.
exec 9>"$cache/debs/.lock"
flock 9
if ! ls "$cache/debs/${kpkg}"_*.deb >/dev/null 2>&1; then
  echo "prepare: downloading $kpkg"
  (cd "$cache/debs" && apt-get download -q "$kpkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  ls "$cache/debs/${kpkg}"_*.deb >/dev/null
fi
flock -u 9
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg -x "$cache/debs/${kpkg}"_*.deb "$work/k"
cp "$work"/k/boot/vmlinuz-* "$out/kernel"
mods=$(echo "$work"/k/lib/modules/*)

# Debian's stock QEMU guest agent, with the libraries it links (the host is Debian 12 too, and QEMU's own
# packages pull the same ones in): the engine's way into the guest, as in any cloud image.
exec 9>"$cache/debs/.lock"
flock 9
if ! ls "$cache/debs/"qemu-guest-agent_*.deb >/dev/null 2>&1; then
  echo "prepare: downloading qemu-guest-agent"
  (cd "$cache/debs" && apt-get download -q qemu-guest-agent 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  ls "$cache/debs/"qemu-guest-agent_*.deb >/dev/null
fi
flock -u 9
dpkg -x "$cache/debs/"qemu-guest-agent_*.deb "$work/qga"
install_qga() { # ROOT (qemu-ga sets the hardware clock with /sbin/hwclock after guest-set-time: busybox's)
  install -D -m 0755 "$work/qga/usr/sbin/qemu-ga" "$1/usr/sbin/qemu-ga"
  for lib in $(ldd "$work/qga/usr/sbin/qemu-ga" | awk '/=>/{print $3} /ld-linux/{print $1}'); do
    [ -e "$1$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$1$lib"
  done
}

# initramfs: busybox, the modules for virtio disks, ext4 and the virtio network card (all modular in Debian's kernel), our init.
ir="$work/initramfs"
mkdir -p "$ir"/{bin,sbin,proc,sys,dev,run,data,newroot,lib/modules,etc}
cp /bin/busybox "$ir/bin/busybox"
ln -s busybox "$ir/bin/sh"
for m in drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko drivers/virtio/virtio_pci_modern_dev.ko \
         drivers/virtio/virtio_pci_legacy_dev.ko drivers/virtio/virtio_pci.ko drivers/block/virtio_blk.ko \
         lib/crc16.ko fs/mbcache.ko fs/jbd2/jbd2.ko crypto/crc32c_generic.ko fs/ext4/ext4.ko \
         drivers/char/virtio_console.ko net/core/failover.ko drivers/net/net_failover.ko drivers/net/virtio_net.ko; do
  f="$mods/kernel/$m"
  [ -f "$f" ] || f="$f.xz"
  case "$f" in *.xz) xz -dc "$f" > "$ir/lib/modules/$(basename "${m}")" ;; *) cp "$f" "$ir/lib/modules/" ;; esac
  echo "$(basename "$m")" >> "$ir/lib/modules/order"
done
install_qga "$ir"
ln -s ../bin/busybox "$ir/sbin/hwclock"
cp "$here/guest-init.sh" "$ir/init"
chmod +x "$ir/init"
(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1) > "$out/initrd.img"

case "$name" in
tiny)
  mkdir -p "$work/data"
  echo "tiny guest data disk" > "$work/data/README"
  truncate -s 64M "$out/disk.raw"
  mkfs.ext4 -q -F -b 4096 -L data -d "$work/data" "$out/disk.raw"  # 4 KiB blocks, as real VM disks have
  ;;
realistic)
  tarball="$cache/debootstrap-bookworm-minbase.tgz"
  if [ ! -f "$tarball" ]; then
    echo "prepare: debootstrap --make-tarball (downloads Debian minbase packages once)"
    debootstrap --variant=minbase --make-tarball="$tarball.tmp" bookworm "$work/dl" http://deb.debian.org/debian >/dev/null
    mv "$tarball.tmp" "$tarball"
  fi
  root="$work/root"
  echo "prepare: debootstrap minbase root file system"
  debootstrap --variant=minbase --unpack-tarball="$tarball" bookworm "$root" http://deb.debian.org/debian >/dev/null
  # Payload for the customization: python3 and whatever it needs beyond minbase, fetched by the root's own apt.
  if [ ! -f "$cache/payload.done" ]; then
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    chroot "$root" apt-get -q update >/dev/null
    chroot "$root" apt-get clean  # debootstrap leaves the base system's .debs here; the payload is python3 only
    chroot "$root" apt-get -q install -y --download-only --no-install-recommends python3 >/dev/null
    rm -rf "$cache/payload" && mkdir -p "$cache/payload"
    cp "$root"/var/cache/apt/archives/*.deb "$cache/payload/"
    touch "$cache/payload.done"
  fi
  chroot "$root" apt-get clean >/dev/null 2>&1 || true
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
  install -m 0755 /bin/busybox "$root/usr/local/bin/busybox"
  install -m 0755 "$here/guest-init.sh" "$root/sbin/cloudlet-init"
  install_qga "$root"
  [ -e "$root/sbin/hwclock" ] || ln -s /usr/local/bin/busybox "$root/sbin/hwclock"
  truncate -s 1536M "$out/disk.raw"
  mkfs.ext4 -q -F -L root -d "$root" "$out/disk.raw"
  rm -rf "$out/payload" && mkdir -p "$out/payload"
  truncate -s 256M "$out/payload.raw"
  mkfs.ext4 -q -F -L payload -d "$cache/payload" "$out/payload.raw"
  ;;
*) echo "prepare: unknown guest $name" >&2; exit 2 ;;
esac
echo "prepare: done"
