#!/bin/busybox sh
# The guest's first process: kernel modules, the guest's own filesystems, then the agent. If the
# agent ever ends, the kernel panics (PID 1 ends) and panic=-1 ends the VM.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t tmpfs -o mode=0755 tmpfs /run
# The agent reads there whether the host is connected to its port (guest-agent/fd-socket.ts).
/bin/busybox mount -t debugfs debugfs /sys/kernel/debug
/bin/busybox mount -t tmpfs -o mode=1777 tmpfs /tmp
for m in $(/bin/busybox cat /lib/modules/order); do
  /bin/busybox insmod "/lib/modules/$m.ko" || echo "vmrun-init: insmod $m failed" >&2
done
export PATH=/bin:/usr/bin
# node is on a virtio-pmem disk of its own, read with DAX straight from the host's page cache
# (src/guest/node-image.ts); libnvdimm makes /dev/pmem0 a moment after its modules load.
i=0
while [ ! -b /dev/pmem0 ] && [ $i -lt 1000 ]; do /bin/busybox usleep 10000; i=$((i + 1)); done
if ! /bin/busybox mount -t ext4 -o ro,dax=always,noatime /dev/pmem0 /usr/bin; then
  # The last line of the console, which the host's error quotes (src/vm/console-tail.ts).
  echo "vmrun-init: node's disk /dev/pmem0 did not mount" >&2
  /bin/busybox poweroff -f
fi
/bin/busybox mkdir -p /run/vmrun
# The container's stdio FIFOs, made here by a shell rather than by node forking mkfifo (0.1 s
# under TCG); the agent makes them for other processes (guest-agent/fifos.ts).
/bin/busybox mkfifo -m 600 /run/vmrun/init.stdin /run/vmrun/init.stdout /run/vmrun/init.stderr
# The guest's clock when node starts: with the agent's own start, the boot's breakdown.
read -r up _ < /proc/uptime && echo "$up" > /run/vmrun/node-exec-uptime

# `vmrun setup` boots once with vmrun.build-snapshot to make the agent's V8 startup snapshot in
# this very kind of guest (a snapshot made elsewhere is refused), writing it to the rootfs share.
if grep -qw vmrun.build-snapshot /proc/cmdline; then
  mkdir -p /out && mount -t virtiofs rootfs /out &&
    /usr/bin/node --snapshot-blob /out/agent.blob --build-snapshot /agent/main.cjs
  sync
  poweroff -f
fi
# The balloon (free page reporting) is not needed to boot: loaded beside node's start.
(for m in $(cat /lib/modules/background); do insmod "/lib/modules/$m.ko" || echo "vmrun-init: insmod $m failed" >&2; done) &
# The container's root is always the share "rootfs": mount it while node starts (the agent waits
# for the mark), as mounting waits on virtiofsd, and node has the CPU.
# The guest vmrun's restore image is made of has no shares: they are plugged in after each restore.
mkdir -p /container
grep -qw vmrun.image /proc/cmdline ||
  (mount -t virtiofs rootfs /container && touch /run/vmrun/rootfs-mounted) &
# One line on the console (`vmrun debug ID console`): the guest got this far.
echo "vmrun-init: starting the agent"
# Node refuses a snapshot made on another CPU (another accelerator): then it runs without one.
if [ -f /agent/agent.blob ]; then
  /usr/bin/node --snapshot-blob /agent/agent.blob
  echo "vmrun-init: the agent's snapshot was refused or the agent ended ($?)" >&2
fi
exec /usr/bin/node /agent/main.cjs
