// What bench/run.mjs measures besides time: the host memory of a container's processes, the
// guest's, the QMP commands libvirt sends, and file I/O.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const KiB = 1024;

/** Every process below `pid`, and itself: a container's monitor and all it started. */
export function descendants(pid) {
  const children = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      // gone meanwhile
    }
  }
  const all = [];
  for (const queue = [pid]; queue.length > 0;) {
    const p = queue.shift();
    all.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return all;
}

/** What a process is, for the split: by its program. */
function kindOf(pid) {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  // vmrun's helpers carry their build's hash: vmrun-warden-619c8008eef1.
  const program = argv[0].split('/').at(-1).replace(/-[0-9a-f]{12}$/, '');
  if (program === 'node') return argv.some((a) => a.includes('monitor/main')) ? 'monitor' : 'node';
  return program;
}

/**
 * PSS in KiB of a process, by mapping: QEMU's guest RAM (its memfd), its TCG translation cache
 * (its anonymous executable mappings, one region per vCPU thread; none under KVM), and the rest.
 */
function pssOf(pid) {
  const parts = { guestRam: 0, tcgCache: 0, rest: 0 };
  let kind = 'rest';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (header) {
      const [start, end] = line.split(' ')[0].split('-').map((h) => parseInt(h, 16));
      const size = end - start;
      if (header[2].startsWith('/memfd:')) kind = 'guestRam';
      else if (header[1].includes('x') && header[2] === '' && size >= 1024 * KiB) kind = 'tcgCache';
      else kind = 'rest';
      continue;
    }
    const pss = /^Pss:\s+(\d+) kB/.exec(line);
    if (pss) parts[kind] += Number(pss[1]);
  }
  return parts;
}

/** The host PSS of a container's processes, in MiB, by kind; QEMU split as pssOf does. */
export function containerMemory(monitorPid) {
  const byKind = {};
  for (const pid of descendants(monitorPid)) {
    let kind;
    let pss;
    try {
      kind = kindOf(pid);
      pss = pssOf(pid);
    } catch {
      continue;
    }
    if (kind.startsWith('qemu-system')) {
      byKind['qemu: guest RAM'] = (byKind['qemu: guest RAM'] ?? 0) + pss.guestRam / KiB;
      byKind['qemu: TCG cache'] = (byKind['qemu: TCG cache'] ?? 0) + pss.tcgCache / KiB;
      byKind['qemu: own'] = (byKind['qemu: own'] ?? 0) + pss.rest / KiB;
    } else {
      byKind[kind] = (byKind[kind] ?? 0) + (pss.guestRam + pss.tcgCache + pss.rest) / KiB;
    }
  }
  return byKind;
}

/** The guest's memory in use (MemTotal − MemFree), in MiB, as `vmrun exec` reads it. */
export function guestUsed(vmrun, root, id) {
  const meminfo = execFileSync(vmrun, ['--root', root, 'exec', id, 'cat', '/proc/meminfo'], { encoding: 'utf8' });
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(meminfo)?.[1]);
  return (kib('MemTotal') - kib('MemFree')) / KiB;
}

/** The QMP commands in a libvirt debug log, by name, in the order first sent. */
export function qmpCommands(log) {
  const counts = {};
  for (const m of readFileSync(log, 'utf8').matchAll(/QEMU_MONITOR_SEND_MSG: .*? msg=\{"execute":"([\w-]+)"/g)) counts[m[1]] = (counts[m[1]] ?? 0) + 1;
  return counts;
}

/** The environment that makes the libvirt in virsh log every QMP command to `file`. */
export const qmpLogging = (file) => ({ LIBVIRT_LOG_FILTERS: '1:qemu.qemu_monitor', LIBVIRT_LOG_OUTPUTS: `1:file:${file}` });
