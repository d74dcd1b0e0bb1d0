#!/usr/bin/env bash
# Prepares a Debian 12 host to run the cloudlet engine and its tests: Debian packages for QEMU/libvirt and for
# the benchmark peers (iproute2 for network namespaces and tc, openssl for the TLS test, nginx-light for the redirect test; fdisk, dosfstools and mtools for the cloud-style guest's partition table and EFI partition, xorriso for cloud-init seeds, ovmf for UEFI guests; nftables and dnsmasq-base for instance networking, curl for the quickstart's check; chromium for the dashboard's browser tests), libvirt-daemon-system for an engine installed as a service on the host's libvirtd, the users libvirt expects, and qemu.conf settings a root container needs.
# Idempotent: a second run changes nothing and takes about a second. Both README commands call it.
set -euo pipefail

PACKAGES=(
  qemu-system-x86 qemu-utils
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-daemon-system libvirt-clients libvirt-dev
  xdelta3 zstd xz-utils e2fsprogs busybox-static cpio debootstrap
  iproute2 procps ca-certificates openssl time nginx-light
  fdisk dosfstools mtools xorriso ovmf
  nftables dnsmasq-base curl
  chromium
)

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then exec sudo -E bash "$0" "$@"; fi
    echo "setup-host: must run as root (or with sudo available) to install packages" >&2
    exit 1
  fi
}

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  need_root "$@"
  echo "setup-host: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libvirt's QEMU driver refuses to start without these accounts, even when told to run QEMU as root.
getent group kvm >/dev/null || { need_root "$@"; groupadd --system kvm; }
getent group libvirt-qemu >/dev/null || { need_root "$@"; groupadd --system libvirt-qemu; }
getent passwd libvirt-qemu >/dev/null || { need_root "$@"; useradd --system --no-create-home -g libvirt-qemu -G kvm libvirt-qemu; }

# As root in a container there is no way to hand QEMU's files to another user; run QEMU as root.
conf=/etc/libvirt/qemu.conf
if [ "$(id -u)" -eq 0 ] && [ -f "$conf" ]; then
  if ! grep -qE '^user = "root"' "$conf"; then
    printf '\n# added by cloudlet setup-host.sh\nuser = "root"\ngroup = "root"\n' >> "$conf"
  fi
fi

command -v qemu-system-x86_64 >/dev/null && command -v qemu-img >/dev/null && command -v virsh >/dev/null || {
  echo "setup-host: qemu/libvirt tools still missing after install" >&2; exit 1; }
echo "setup-host: ok ($(qemu-system-x86_64 --version | head -1), libvirt $(virsh --version), $( [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo && echo kvm || echo tcg))"
