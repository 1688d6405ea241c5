// exec, ps, pause, resume, update, terminals and features: the verbs containerd's shim uses
// beyond the lifecycle, on real VMs.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, test } from 'vitest';
import { editConfig } from '../helpers/bundle.js';
import { until, vmHarness } from './harness.js';

const vm = vmHarness();
const RECEIVER = fileURLToPath(new URL('../helpers/console-receiver.py', import.meta.url));
const guestPids = async (id: string) => JSON.parse((await vm.vmrun(['ps', '--format', 'json', id])).stdout) as number[];
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('a running container', () => {
  beforeAll(async () => {
    const bundle = await vm.bundle('sleep', '1000');
    expect((await vm.vmrun(['create', '--bundle', bundle, 'e1'])).exitCode).toBe(0);
    expect((await vm.vmrun(['start', 'e1'])).exitCode).toBe(0);
  });

  test('exec runs a process with its output, stdin and exit status', async () => {
    const r = await vm.vmrun(['exec', 'e1', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r).toMatchObject({ exitCode: 3, stdout: 'out', stderr: 'err' });
    expect((await vm.vmrun(['exec', 'e1', 'cat'], { input: 'typed\n' })).stdout).toBe('typed');
    // Under the container's own user, cwd and environment, with -e and --cwd over them.
    const env = await vm.vmrun(['exec', '-e', 'X=1', '--cwd', '/tmp', 'e1', 'sh', '-c', 'echo $X $(pwd) $(id -u)']);
    expect(env.stdout).toBe('1 /tmp 0');
    // -t: a terminal of the container's own devpts, whose line discipline turns \n into \r\n.
    const tty = await vm.vmrun(['exec', '-t', 'e1', 'sh', '-c', 'tty; exit 4']);
    expect(tty.exitCode).toBe(4);
    expect(tty.stdout).toMatch(/^\/dev\/pts\/\d+$/);
  });

  test('a detached exec has a host pid that passes signals on, and whose death kills the process', async () => {
    const pidFile = join(vm.root, '..', 'exec.pid');
    const r = await vm.vmrun(['exec', '--detach', '--pid-file', pidFile, 'e1', 'sleep', '500']);
    expect(r.exitCode).toBe(0);
    const relay = Number(execFileSync('cat', [pidFile], { encoding: 'utf8' }));
    expect(alive(relay)).toBe(true);
    expect((await guestPids('e1')).length).toBe(2);
    process.kill(relay, 'SIGTERM'); // forwarded: sleep dies of it, and the relay ends
    await until(() => !alive(relay), 30_000);
    expect((await guestPids('e1')).length).toBe(1);

    await vm.vmrun(['exec', '--detach', '--pid-file', pidFile, 'e1', 'sleep', '500']);
    process.kill(Number(execFileSync('cat', [pidFile], { encoding: 'utf8' })), 'SIGKILL');
    await until(async () => (await guestPids('e1')).length === 1, 30_000);
  });

  test('ps lists the guest processes; pause freezes the VM and resume thaws it', async () => {
    const table = (await vm.vmrun(['ps', 'e1'])).stdout;
    expect(table).toMatch(/^UID\s+PID\s+PPID\s+CMD\n0\s+\d+\s+\d+\s+sleep 1000$/);
    expect((await vm.vmrun(['pause', 'e1'])).exitCode).toBe(0);
    expect((await vm.state('e1')).status).toBe('paused');
    expect(await vm.vmrun(['exec', 'e1', 'true'])).toMatchObject({ exitCode: 1, stderr: 'cannot exec in a paused container' });
    expect((await vm.vmrun(['delete', 'e1'])).exitCode).toBe(1);
    expect((await vm.vmrun(['resume', 'e1'])).exitCode).toBe(0);
    expect((await vm.state('e1')).status).toBe('running');
    expect((await vm.vmrun(['exec', 'e1', 'true'])).exitCode).toBe(0);
  });

  test('update sets limits in the guest, and refuses what the VM cannot give', async () => {
    const r = await vm.vmrun(['update', '--resources', '-', 'e1'], { input: '{"memory":{"limit":104857600},"pids":{"limit":50}}' });
    expect(r.exitCode).toBe(0);
    const seen = await vm.vmrun(['exec', 'e1', 'cat', '/sys/fs/cgroup/container/memory.max', '/sys/fs/cgroup/container/pids.max', '/proc/self/cgroup']);
    expect(seen.stdout).toBe('104857600\n50\n0::/container');
    const tooMuch = await vm.vmrun(['update', '--memory', String(64 * 1024 ** 3), 'e1']);
    expect(tooMuch.exitCode).toBe(1);
    expect(tooMuch.stderr).toMatch(/memory\.limit \d+ is more than the container's VM has/);
    expect((await vm.vmrun(['update', '-r', '-', 'e1'], { input: '{"blockIO":{"weight":10}}' })).stderr).toBe('--resources: cannot update blockIO (not applied in the guest)');
  });

  test('events --stats gives the resource use in the guest, in runc\'s shape', async () => {
    const event = JSON.parse((await vm.vmrun(['events', '--stats', 'e1'])).stdout);
    expect(event).toMatchObject({ type: 'stats', id: 'e1', data: { pids: { current: 1 } } });
    const { usage, limit } = event.data.memory.usage;
    expect(usage).toBeGreaterThan(0);
    expect(limit).toBeGreaterThan(usage);
    expect(event.data.cpu.usage.total).toBeGreaterThanOrEqual(0);
    expect((await vm.vmrun(['events', '--interval', 'soon', 'e1'])).stderr).toContain('--interval soon');
  });

  test('bad exec input names what is wrong and leaves no process', async () => {
    const file = join(vm.root, '..', 'process.json');
    await writeFile(file, JSON.stringify({ args: [], cwd: 'relative' }));
    const r = await vm.vmrun(['exec', '--process', file, 'e1']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`--process ${file} is invalid`);
    expect(r.stderr).toContain('/args');
    expect(await vm.vmrun(['exec', 'e1', 'no-such-program'])).toMatchObject({ exitCode: 1 });
    expect((await vm.vmrun(['exec', '--preserve-fds', '2', 'e1', 'true'])).stderr).toContain('--preserve-fds 2');
    expect((await guestPids('e1')).length).toBe(1);
  });

  test('an exec with 1 MiB of env in many strings runs: relay, monitor and agent pass it whole', async () => {
    const env = ['PATH=/bin', ...Array.from({ length: 256 }, (_, i) => `BIG${i}=${'v'.repeat(4090)}`)];
    const file = join(vm.root, '..', 'big-process.json');
    await writeFile(file, JSON.stringify({ args: ['sh', '-c', 'env | grep ^BIG | wc -c'], env, cwd: '/', user: { uid: 0, gid: 0 } }));
    const r = await vm.vmrun(['exec', '--process', file, 'e1']);
    expect(r).toMatchObject({ exitCode: 0, stderr: '' });
    expect(Number(r.stdout)).toBe(env.slice(1).reduce((n, e) => n + e.length + 1, 0));
  });
});

describe('a terminal', () => {
  test('goes to --console-socket: a real terminal in the guest, its size and input followed', async () => {
    const bundle = await vm.bundle('sh', '-c', 'stty size; tty; read line; echo "got $line"; exit 7');
    await editConfig(bundle, (s) => void (s.process.terminal = true));
    const socket = join(bundle, 'console.sock');
    const receiver = spawn('python3', [RECEIVER, socket, '30', '100', '15', 'hello\r'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let shown = '';
    receiver.stdout.on('data', (d) => (shown += String(d)));
    await until(() => shown.includes('listening'), 10_000);
    const pidFile = join(bundle, 'pid');
    expect((await vm.vmrun(['create', '--bundle', bundle, '--console-socket', socket, '--pid-file', pidFile, 't1'])).exitCode).toBe(0);
    expect((await vm.vmrun(['start', 't1'])).exitCode).toBe(0);
    await once(receiver, 'exit');
    expect(shown).toContain(String.raw`30 100\r\n/dev/pts/0\r\nhello\r\ngot hello\r\n`);
    await until(async () => (await vm.state('t1')).status === 'stopped');
    expect((await vm.vmrun(['delete', 't1'])).exitCode).toBe(0);
  });

  test("runc's rules: a terminal needs a console socket when vmrun detaches, and a socket a terminal", async () => {
    const bundle = await vm.bundle('true');
    await editConfig(bundle, (s) => void (s.process.terminal = true));
    const r = await vm.vmrun(['create', '--bundle', bundle, 't2']);
    expect(r).toMatchObject({ exitCode: 1, stderr: expect.stringContaining('cannot allocate tty') });
    const plain = await vm.bundle('true');
    const s = await vm.vmrun(['create', '--bundle', plain, '--console-socket', '/nonexistent.sock', 't3']);
    expect(s).toMatchObject({ exitCode: 1, stderr: expect.stringContaining('--console-socket') });
  });
});

test('features prints the runtime-spec features document', async () => {
  const f = JSON.parse((await vm.vmrun(['features'])).stdout);
  expect(f.ociVersionMax).toBe('1.3.0');
  expect(f.hooks).toContain('createRuntime');
  expect(f.linux.capabilities).toContain('CAP_SYS_ADMIN');
  expect(f.mountOptions).toContain('rbind');
});
