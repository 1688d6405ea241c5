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

  test("update as Docker's shim, Podman and runc's flags send it: applied in the guest, what runc ignores taken, a refusal changes nothing", async () => {
    const MiB = 1024 * 1024;
    const files = ['memory.max', 'memory.swap.max', 'memory.low', 'cpu.max', 'cpu.weight', 'pids.max'];
    const guest = async () => (await vm.vmrun(['exec', 'e1', 'cat', ...files.map((f) => `/sys/fs/cgroup/container/${f}`)])).stdout.split('\n');
    // Docker 20.10's containerd shim: `--resources -` with the whole LinuxResources, zeros and all.
    const docker = {
      memory: { limit: 100 * MiB, reservation: 0, swap: 200 * MiB, kernel: 0, kernelTCP: 0 },
      cpu: { shares: 512, quota: 50_000, period: 100_000, realtimeRuntime: 0, realtimePeriod: 0 },
      blockIO: { weight: 0 },
      pids: { limit: 50 },
    };
    expect(await vm.vmrun(['update', '--resources', '-', 'e1'], { input: JSON.stringify(docker) })).toMatchObject({ exitCode: 0, stderr: '' });
    // memory+swap as runc converts it for cgroup v2: swap - memory.
    expect(await guest()).toEqual([String(100 * MiB), String(100 * MiB), '0', '50000 100000', '20', '50']);
    expect((await vm.vmrun(['exec', 'e1', 'cat', '/proc/self/cgroup'])).stdout).toBe('0::/container');

    // Podman 4.3's `update --memory 200m`: --resources=FILE, swap twice the memory.
    const file = join(vm.root, '..', 'podman-resources.json');
    await writeFile(file, JSON.stringify({ memory: { limit: 200 * MiB, swap: 400 * MiB } }));
    expect(await vm.vmrun(['update', `--resources=${file}`, 'e1'])).toMatchObject({ exitCode: 0, stderr: '' });
    expect((await guest()).slice(0, 2)).toEqual([String(200 * MiB), String(200 * MiB)]);

    // runc's flags: sizes with units, -1 lifting, kernel memory, realtime and block IO taken and ignored.
    const flags = ['--memory', '150m', '--memory-reservation', '64m', '--kernel-memory', '10m', '--cpu-rt-runtime', '1000', '--blkio-weight', '300', '--cpu-quota', '-1', '--pids-limit', '-1'];
    const r = await vm.vmrun(['--debug', 'update', ...flags, 'e1']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toContain('--kernel-memory: ignored, as runc 1.1 ignores kernel memory');
    expect(r.stderr).toContain('--cpu-rt-runtime: ignored');
    expect(await guest()).toEqual([String(150 * MiB), String(200 * MiB), String(64 * MiB), 'max 100000', '20', 'max']);
    // A cpuset: the cpuset controller is enabled for it.
    expect((await vm.vmrun(['update', '--cpuset-cpus', '0', 'e1'])).exitCode).toBe(0);
    expect((await vm.vmrun(['exec', 'e1', 'cat', '/sys/fs/cgroup/container/cpuset.cpus'])).stdout).toBe('0');

    // Refused as runc refuses it, naming the flag, and nothing changes.
    const refused = await vm.vmrun(['update', '--memory', '100m', '--memory-swap', '50m', '--pids-limit', '10', 'e1']);
    expect(refused).toMatchObject({ exitCode: 1, stderr: `--memory-swap: ${50 * MiB} is less than --memory ${100 * MiB}: memory+swap limit should be >= memory limit` });
    expect(await guest()).toEqual([String(150 * MiB), String(200 * MiB), String(64 * MiB), 'max 100000', '20', 'max']);

    // More than the guest has: set, as under runc; the container gets what the guest has.
    expect((await vm.vmrun(['update', '--memory', String(64 * 1024 ** 3), 'e1'])).exitCode).toBe(0);
    expect((await guest())[0]).toBe(String(64 * 1024 ** 3));
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
