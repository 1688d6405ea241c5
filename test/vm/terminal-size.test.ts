// A terminal's size as engines set it: conmon and containerd's shim take the master from
// --console-socket and size it with TIOCSWINSZ after create (or after an exec starts), and again
// at every resize of the user's window. The process in the guest must see each size, as under runc.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { editConfig } from '../helpers/bundle.js';
import { until, vmHarness } from './harness.js';

const vm = vmHarness();
const DRIVER = fileURLToPath(new URL('../helpers/console-driver.py', import.meta.url));
/** Prints its size at start and at every SIGWINCH, until killed. */
const SHOW_SIZES = 'stty size; trap "echo winch \\$(stty size)" WINCH; echo ready; while :; do sleep 0.1; done';

/** test/helpers/console-driver.py on a fresh socket: the engine's end of the terminal. */
async function consoleDriver() {
  const socket = join(await mkdtemp(join(tmpdir(), 'vmrun-console-')), 'console.sock');
  const child: ChildProcess = spawn('python3', [DRIVER, socket], { stdio: ['pipe', 'pipe', 'inherit'] });
  const said: string[] = [];
  let shown = '';
  createInterface({ input: child.stdout! }).on('line', (l) => (l.startsWith('"') ? (shown += JSON.parse(l) as string) : said.push(l)));
  await until(() => said.includes('listening'), 10_000);
  return {
    socket,
    said,
    shown: () => shown,
    /** Resolves once `text` has appeared on the terminal. */
    sees: (text: string) => until(() => shown.includes(text), 60_000).catch(() => {
      throw new Error(`${JSON.stringify(text)} never appeared; the terminal showed ${JSON.stringify(shown)}`);
    }),
    /** TIOCSWINSZ on the master, as conmon and the shim resize. */
    async size(rows: number, cols: number) {
      const before = said.filter((l) => l === 'sized').length;
      child.stdin!.write(`size ${rows} ${cols}\n`);
      await until(() => said.filter((l) => l === 'sized').length > before, 10_000);
    },
    async end() {
      child.kill();
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    },
  };
}

/** create (consoleSize 21x77), the engine's size after create, start, two resizes: what the process saw. */
async function initFlow(runtime: (args: string[]) => Promise<{ exitCode: number }>, bundle: string, id: string): Promise<{ master: string; shown: string }> {
  const driver = await consoleDriver();
  try {
    expect((await runtime(['create', '--bundle', bundle, '--console-socket', driver.socket, id])).exitCode).toBe(0);
    await driver.size(33, 111); // conmon's first size, after create
    expect((await runtime(['start', id])).exitCode).toBe(0);
    await driver.sees('ready');
    await driver.size(44, 122);
    await driver.sees('winch 44 122');
    await driver.size(45, 123);
    await driver.sees('winch 45 123');
    expect((await runtime(['kill', id, 'KILL'])).exitCode).toBe(0);
    return { master: driver.said.find((l) => l.startsWith('master'))!, shown: driver.shown() };
  } finally {
    await driver.end();
  }
}

describe("the init's terminal", () => {
  test('starts with the size set on the master after create, and follows every resize, as under runc', async () => {
    const bundle = await vm.bundle('sh', '-c', SHOW_SIZES);
    await editConfig(bundle, (s) => {
      s.process.terminal = true;
      s.process.consoleSize = { height: 21, width: 77 };
    });
    const runcRoot = await mkdtemp(join(tmpdir(), 'vmrun-runc-'));
    const runc = (args: string[]) => new Promise<{ exitCode: number }>((resolve) => {
      spawn('runc', ['--root', runcRoot, ...args], { stdio: 'ignore' }).on('exit', (code) => resolve({ exitCode: code ?? -1 }));
    });
    const underRunc = await initFlow(runc, bundle, 'size-runc');
    await runc(['delete', '--force', 'size-runc']);
    const underVmrun = await initFlow((args) => vm.vmrun(args), bundle, 'size-init');
    await until(async () => (await vm.state('size-init')).status === 'stopped');
    expect((await vm.vmrun(['delete', 'size-init'])).exitCode).toBe(0);

    // The master arrives with consoleSize's size; the engine's size before start is the one
    // the process starts with; each resize reaches it as SIGWINCH with the new size.
    for (const seen of [underRunc, underVmrun]) {
      expect(seen.master).toBe('master 21 77');
      expect(seen.shown).toContain('33 111\r\nready\r\n');
      expect(seen.shown).toContain('winch 44 122\r\n');
      expect(seen.shown).toContain('winch 45 123\r\n');
    }
  });
});

describe("an exec's terminal", () => {
  test('starts with consoleSize or the size set after it started, and follows every resize', async () => {
    const bundle = await vm.bundle('sleep', '1000');
    expect((await vm.vmrun(['create', '--bundle', bundle, 'size-exec'])).exitCode).toBe(0);
    expect((await vm.vmrun(['start', 'size-exec'])).exitCode).toBe(0);

    // --process with consoleSize, as Docker's exec sends it: the master comes sized.
    const sized = await consoleDriver();
    const processFile = join(bundle, 'exec-process.json');
    await writeFile(processFile, JSON.stringify({
      terminal: true, consoleSize: { height: 21, width: 77 }, args: ['sh', '-c', SHOW_SIZES], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0 },
    }));
    try {
      expect((await vm.vmrun(['exec', '-d', '--console-socket', sized.socket, '--process', processFile, 'size-exec'])).exitCode).toBe(0);
      await sized.sees('ready');
      expect(sized.said).toContain('master 21 77');
      expect(sized.shown()).toContain('21 77\r\nready\r\n');
      await sized.size(44, 122);
      await sized.sees('winch 44 122');
    } finally {
      await sized.end();
    }

    // -t without a size, sized once it runs (ctr's exec does so after start), then resized.
    const late = await consoleDriver();
    try {
      expect((await vm.vmrun(['exec', '-d', '-t', '--console-socket', late.socket, 'size-exec', 'sh', '-c', SHOW_SIZES])).exitCode).toBe(0);
      await late.sees('ready');
      expect(late.said).toContain('master 0 0');
      await late.size(30, 90);
      await late.sees('winch 30 90');
      await late.size(50, 120);
      await late.sees('winch 50 120');
    } finally {
      await late.end();
    }
    expect((await vm.vmrun(['kill', 'size-exec', 'KILL'])).exitCode).toBe(0);
    await until(async () => (await vm.state('size-exec')).status === 'stopped');
    expect((await vm.vmrun(['delete', 'size-exec'])).exitCode).toBe(0);
  });
});
