// The CRI tests' CNI network: a bridge and a /24 of 10.98.0.0/16 of their own per test file, so
// that test files of several checkouts on one machine never share a bridge or an address, and
// clash neither with podman's 10.88/16 nor Docker's 172.17/16. A slot N is claimed with an atomic
// mkdir holding the claimer's pid (a dead claimer's slot is taken over); bridge vmrcriN, subnet
// 10.98.N.0/24 and network name vmrun-cri-N are then this file's alone, and so is every iptables
// rule whose comment names that network (the bridge and portmap plugins write the name there).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Network } from './config.js';

const SLOTS = '/run/vmrun-cri-test';
const SLOT_COUNT = 64;

export interface NetworkSlot extends Network {
  /** Removes the bridge and this network's iptables rules, then frees the slot. */
  release(): void;
}

export function claimNetwork(): NetworkSlot {
  mkdirSync(SLOTS, { recursive: true });
  for (let n = 0; n < SLOT_COUNT; n++) {
    const slot = join(SLOTS, String(n));
    if (!claim(slot)) continue;
    const net: Network = { name: `vmrun-cri-${n}`, bridge: `vmrcri${n}`, subnet: `10.98.${n}.0/24`, gateway: `10.98.${n}.1` };
    removeNetwork(net); // what a claimer that died left
    return {
      ...net,
      release: () => {
        removeNetwork(net);
        rmSync(slot, { recursive: true, force: true });
      },
    };
  }
  throw new Error(`no free CRI test network: all ${SLOT_COUNT} slots in ${SLOTS} are held by live processes`);
}

function claim(slot: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      mkdirSync(slot);
      writeFileSync(join(slot, 'pid'), String(process.pid));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readText(join(slot, 'pid')));
      if (pid && alive(pid)) return false;
      // Its claimer died (or is still writing its pid: then the second mkdir loses the race).
      if (attempt === 0 && pid) rmSync(slot, { recursive: true, force: true });
    }
  }
  return false;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

/** The interfaces enslaved to the bridge (the pods' veths), empty when it does not exist. */
export function bridgePorts(net: Network): string[] {
  try {
    return execFileSync('ip', ['-o', 'link', 'show', 'master', net.bridge], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n').filter(Boolean).map((l) => l.split(': ')[1]!.split('@')[0]!);
  } catch {
    return [];
  }
}

export function bridgeExists(net: Network): boolean {
  try {
    execFileSync('ip', ['link', 'show', net.bridge], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The iptables rules (`-A ...` lines, per table) whose comment names this network. */
export function networkRules(net: Network): { table: string; rule: string }[] {
  const mark = `name: \\"${net.name}\\"`;
  return ['nat', 'filter'].flatMap((table) => iptablesRules(table).filter((r) => r.startsWith('-A ') && r.includes(mark)).map((rule) => ({ table, rule })));
}

function iptablesRules(table: string): string[] {
  try {
    return execFileSync('iptables', ['-w', '-t', table, '-S'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n');
  } catch {
    return []; // no iptables: no rules
  }
}

/**
 * Deletes this network's rules and the per-container chains they jump to (named CNI-<hash> by
 * the plugins, and made for this network alone), then the bridge. The portmap plugin's
 * CNI-HOSTPORT-* chains are shared by every CNI user of the host: they stay.
 */
function removeNetwork(net: Network): void {
  const chains = new Set<string>();
  for (const { table, rule } of networkRules(net)) {
    const target = / -j (CNI-(?:DN-)?[0-9a-f]{12,})\b/.exec(rule)?.[1];
    if (target) chains.add(`${table} ${target}`);
    iptables(table, rule.replace(/^-A /, '-D '));
  }
  for (const tc of chains) {
    const [table, chain] = tc.split(' ') as [string, string];
    iptables(table, `-F ${chain}`);
    iptables(table, `-X ${chain}`);
  }
  if (bridgeExists(net)) execFileSync('ip', ['link', 'del', net.bridge], { stdio: 'ignore' });
}

/** One iptables command given as `-S` prints it (quoted comments included), through a shell. */
function iptables(table: string, rule: string): void {
  try {
    execFileSync('sh', ['-c', `iptables -w -t ${table} ${rule}`], { stdio: 'ignore' });
  } catch {
    // gone already
  }
}
