// Where a container's VM lives on the host. Unix socket paths must fit in 108 bytes and libvirt
// nests QEMU's monitor socket deep inside its root, so the libvirt root and the sockets live in
// a short per-container directory named by a hash, not under <root>/<id>/ (whose id alone may
// be 1024 bytes long). The state record names this directory.
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';

export const VM_DIR_BASE = '/run/vmrun-vm';
/** Every VM has its own libvirt root, so one short fixed name serves all. */
export const DOMAIN_NAME = 'vmrun';
/** sun_path is 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

export interface VmLayout {
  dir: string;
  libvirtRoot: string;
  /**
   * Links to the host directories shared with the guest, one per virtiofs tag. The domain
   * names these links, never the bundle's own paths, which may hold characters (a line break)
   * that libvirt's schema refuses.
   */
  shares: string;
  agentSocket: string;
  controlSocket: string;
  /** Where exec relays reach the monitor (src/monitor/exec-sessions.ts). */
  execSocket: string;
  /** Where the monitors of pod members that joined this VM reach it (src/monitor/pod-members.ts). */
  podSocket: string;
  consoleLog: string;
}

export function vmLayout(root: string, id: string, base = VM_DIR_BASE): VmLayout {
  const hash = createHash('sha256').update(`${resolve(root)}\0${id}`).digest('hex').slice(0, 12);
  return layoutOf(join(base, hash));
}

export function layoutOf(dir: string): VmLayout {
  return {
    dir,
    libvirtRoot: join(dir, 'libvirt'),
    shares: join(dir, 'shares'),
    agentSocket: join(dir, 'agent.sock'),
    controlSocket: join(dir, 'control.sock'),
    execSocket: join(dir, 'exec.sock'),
    podSocket: join(dir, 'pod.sock'),
    consoleLog: join(dir, 'console.log'),
  };
}

/**
 * The unix sockets of one VM: vmrun's own, and the deepest ones libvirt 9.0 makes in the
 * root (QEMU's monitor, and virtiofsd's as <libDir>/<alias>-fs.sock), with the largest
 * domain number libvirt can give.
 */
export function socketPaths(layout: VmLayout): string[] {
  const libDir = join(layout.libvirtRoot, 'lib', 'qemu', `domain-2147483647-${DOMAIN_NAME}`);
  return [
    layout.agentSocket,
    layout.controlSocket,
    join(libDir, 'monitor.sock'),
    join(libDir, 'fs99-fs.sock'),
  ];
}
