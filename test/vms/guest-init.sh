#!/bin/sh
# init for the test guests. As /init in the initramfs: load disk modules, then either keep the initramfs as
# root (tiny: data disk at /data) or switch to the ext4 root disk (realistic, kernel arg cloudlet.root=/dev/vda).
# As /sbin/cloudlet-init on the realistic root: same workload, then wait forever.
PATH=/bin:/sbin:/usr/bin:/usr/sbin:/usr/local/bin
export PATH
bb=busybox
command -v busybox >/dev/null 2>&1 || bb=/bin/busybox
if [ "$$" = 1 ] && [ -f /lib/modules/order ]; then
  $bb mount -t proc proc /proc; $bb mount -t sysfs sys /sys; $bb mount -t devtmpfs dev /dev
  /bin/busybox --install -s /bin
  for m in $(cat /lib/modules/order); do insmod /lib/modules/$m 2>/dev/null; done
  i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
  if grep -q cloudlet.root=/dev/vda /proc/cmdline; then
    mount -t ext4 /dev/vda /newroot || { echo 'cloudlet-init: cannot mount the root disk' > /dev/ttyS0; poweroff -f; }
    umount /proc /sys /dev 2>/dev/null
    exec switch_root /newroot /sbin/cloudlet-init
  fi
  mount -t ext4 /dev/vda /data || { echo 'cloudlet-init: cannot mount the data disk' > /dev/ttyS0; poweroff -f; }
else
  mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null
  mount -t tmpfs run /run; mount -t tmpfs tmp /tmp
  busybox ip link set lo up
  mkdir -p /data
fi
mount -t tmpfs run /run 2>/dev/null
# The network card, if the VM has one: DHCP by busybox's udhcpc (its lease never expires, so it never asks
# again, also after a memory restore), and busybox's web server on port 80 answering with the guest's name.
if [ -e /sys/class/net/eth0 ]; then
  cat > /run/udhcpc.sh <<'EOS'
#!/bin/sh
case "$1" in
  deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -z "$router" ] || ip route replace default via "${router%% *}" dev "$interface" ;;
esac
EOS
  chmod +x /run/udhcpc.sh
  ip link set eth0 up
  udhcpc -i eth0 -s /run/udhcpc.sh -t 20 -T 1 -b -S >/dev/null 2>&1
  mkdir -p /run/www/cgi-bin
  cat > /run/www/cgi-bin/id <<'EOS'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n%s %s\n' "$(hostname)" "$(cat /run/counter)"
EOS
  chmod +x /run/www/cgi-bin/id
  echo cloudlet-guest > /run/www/index.html
  httpd -p 80 -h /run/www
fi
# Workload: a counter that lives only in memory (shell variable, mirrored to tmpfs), and a disk log.
(
  c=0
  while :; do c=$((c+1)); echo $c > /run/counter.tmp && mv /run/counter.tmp /run/counter
    if [ $((c % 5)) = 0 ]; then echo "tick $c" >> /data/log; sync; fi
    sleep 1; done
) &
# Debian's qemu-ga on the agent's virtio-serial port, found by name (no udev here to make the usual link): the
# engine's one way into the guest.
modprobe virtio_console 2>/dev/null
for p in /sys/class/virtio-ports/*; do
  [ "$(cat "$p/name" 2>/dev/null)" = org.qemu.guest_agent.0 ] && [ -x /usr/sbin/qemu-ga ] || continue
  mkdir -p /var/run
  /usr/sbin/qemu-ga -m virtio-serial -p "/dev/${p##*/}" -t /run -f /run/qemu-ga.pid > /dev/ttyS0 2>&1 &
done
echo CLOUDLET-GUEST-READY > /dev/ttyS0
while :; do sleep 3600; done
