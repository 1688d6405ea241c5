#!/bin/busybox sh
# The guest's first process: kernel modules, the guest's own filesystems, then the agent,
# which takes over as PID 1. If the agent ever ends, the kernel panics and panic=-1 ends the VM.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t tmpfs -o mode=0755 tmpfs /run
/bin/busybox mount -t tmpfs -o mode=1777 tmpfs /tmp
for m in $(/bin/busybox cat /lib/modules/order); do
  /bin/busybox insmod "/lib/modules/$m.ko" || echo "vmrun-init: insmod $m failed" >&2
done
export PATH=/bin:/usr/bin
/bin/busybox mkdir -p /run/vmrun
# The guest's clock when node starts: with the agent's own start, the boot's breakdown.
read -r up _ < /proc/uptime && echo "$up" > /run/vmrun/node-exec-uptime
exec /usr/bin/node $(/bin/busybox cat /agent/node-flags) /agent/main.cjs
