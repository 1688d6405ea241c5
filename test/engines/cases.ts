// What a Docker or Podman user does every day, with --runtime vmrun: one list of cases for both
// engines. Where the answer is runc's by definition (stop's statuses), runc runs it too.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { until } from '../vm/harness.js';
import { cli, IMAGE, onTerminal, vmrunLeftovers, type CliOptions, type Engine, type Runtime } from './engine.js';

/** A busybox container that serves "hello from NAME" on port 80. */
const SERVE = (name: string) => ['sh', '-c', `mkdir -p /www && echo "hello from ${name}" > /www/index.html && exec httpd -f -p 80 -h /www`];
/**
 * Prints its terminal's size, says ready, and prints it again on every resize. Docker 20.10's
 * client sizes the terminal only once the process has started (one more row and column first, then
 * the size), so that under runc too its first instant sees 0x0: under Docker the script waits (up
 * to 30 s) for a size that holds for 0.5 s. Podman's conmon sizes it before start: read at once.
 */
const sizes = (e: Engine) => {
  const size = e.name === 'docker'
    ? 'i=0; p=; until s=$(stty size 2>/dev/null) && [ "$s" != "0 0" ] && [ "$s" = "$p" ] || [ $i -ge 60 ]; do p=$s; sleep 0.5; i=$((i+1)); done; echo "$s"'
    : 'stty size';
  return ['sh', '-c', `grep -qw vmrun.guest /proc/cmdline && echo in a VM; ${size}; trap "stty size" WINCH; echo ready; while :; do sleep 0.1; done`];
};
/**
 * What a sizes() script printed: its lines up to `ready`, the first other size after it, and any
 * size after that one. A late resize of the engine's own, to the size the terminal has
 * already (Docker's client resizes after start, and on a loaded machine after `ready`), prints
 * that size again: not another size.
 */
function terminalSizes(stdout: string): { before: string[]; after?: string; others: string[] } {
  const lines = stdout.split('\n').map((l) => l.trim());
  const ready = lines.indexOf('ready');
  const before = lines.slice(0, ready + 1);
  const rest = lines.slice(ready + 1).filter((l) => /^\d+ \d+$/.test(l));
  const size = before[1];
  const changed = rest.findIndex((l) => l !== size);
  return { before, after: rest[changed], others: rest.slice(changed + 1).filter((l) => l !== rest[changed]) };
}

/**
 * The container's own cgroup folder in the guest's cgroup v2, in shell: /sys/fs/cgroup with a
 * cgroup namespace; without one (Podman and Docker on a cgroup v1 host), the guest's whole
 * hierarchy is there, as the host's is under runc.
 */
const CGROUP = '/sys/fs/cgroup$(sed -n "s/^0:://p" /proc/self/cgroup)';

export function engineCases(e: Engine): void {
  const run = (args: string[], opts: CliOptions = {}) => cli(e, ['run', ...e.runFlags(opts.runtime), ...args], opts);
  const c = (args: string[], opts: CliOptions = {}) => cli(e, args, opts);
  let names = 0;
  const name = (what: string) => `vmrun-${what}-${++names}`;
  const inspect = async (id: string, format: string, opts: CliOptions = {}) => (await c(['inspect', '--format', format, id], opts)).stdout;
  const fullId = (id: string) => inspect(id, '{{.Id}}');
  const statusIs = async (id: string, status: string, opts: CliOptions = {}) => {
    let last = '';
    await until(async () => (last = await inspect(id, '{{.State.Status}}', opts)) === status, 60_000).catch(() => undefined);
    return last;
  };
  /** `run -d`, checked. */
  const detached = async (args: string[], opts: CliOptions = {}) => {
    const r = await run(['-d', ...args], opts);
    expect(r.exitCode, r.stderr).toBe(0);
    return r.stdout.split('\n').at(-1)!;
  };

  describe(`${e.name} run --runtime vmrun`, () => {
    test("prints the process's output, apart on stdout and stderr, and nothing of vmrun's, and exits with its status", async () => {
      const r = await run(['--rm', IMAGE, 'sh', '-c', 'echo out; echo err >&2; exit 7']);
      expect(r).toEqual({ exitCode: 7, stdout: 'out', stderr: 'err' });
    });

    test('passes piped stdin with -i, up to its end', async () => {
      const r = await run(['--rm', '-i', IMAGE, 'sh', '-c', 'cat; echo done'], { input: 'hello\nworld\n' });
      expect(r).toMatchObject({ exitCode: 0, stdout: 'hello\nworld\ndone' });
    });

    test("-it gives the terminal's size, and a resize reaches the process", async () => {
      const r = await onTerminal(e, [31, 101], [['ready', 'resize:42:123'], ['42 123', 'send:\u0003']], ['run', ...e.runFlags(), '--rm', '-it', IMAGE, ...sizes(e)]);
      expect(terminalSizes(r.stdout), r.stdout).toEqual({ before: ['in a VM', '31 101', 'ready'], after: '42 123', others: [] });
    });

    test('runs as --user, and in a read-only root with a --tmpfs', async () => {
      expect((await run(['--rm', '--user', '65534:65534', IMAGE, 'id'])).stdout).toBe('uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)');
      const script = 'touch /x 2>/dev/null && echo root writable || echo root read-only; echo y > /scratch/y && cat /scratch/y; grep " /scratch " /proc/mounts | cut -d" " -f3';
      expect(await run(['--rm', '--read-only', '--tmpfs', '/scratch', IMAGE, 'sh', '-c', script])).toMatchObject({ exitCode: 0, stdout: 'root read-only\ny\ntmpfs' });
    });

    test('--network none leaves only the loopback', async () => {
      const r = await run(['--rm', '--network', 'none', IMAGE, 'sh', '-c', 'ls /sys/class/net']);
      expect(r).toMatchObject({ exitCode: 0, stdout: 'lo' });
    });

    test('--init runs the engine\'s init as PID 1, the command under it', async () => {
      const r = await run(['--rm', '--init', IMAGE, 'sh', '-c', 'cat /proc/1/comm; echo $$']);
      expect(r.exitCode, r.stderr).toBe(0);
      const [init, shell] = r.stdout.split('\n');
      // Podman binds its catatonit in as /run/podman-init, Docker its tini as /sbin/docker-init.
      expect(init).toBe(e.name === 'podman' ? 'podman-init' : 'docker-init');
      expect(Number(shell)).toBeGreaterThan(1);
    });
  });

  describe(`${e.name} resources with --runtime vmrun`, () => {
    test('--memory holds the container to its limit', async () => {
      const r = await run(['--rm', '--memory', '64m', IMAGE, 'sh', '-c', `cat ${CGROUP}/memory.max; dd if=/dev/zero of=/dev/null bs=100M count=1`]);
      expect(r.stdout.split('\n')[0]).toBe(String(64 * 1024 * 1024));
      expect(r.exitCode).toBe(137);
    });

    test('without --memory, the container may use more memory than a small default', async () => {
      const r = await run(['--rm', IMAGE, 'dd', 'if=/dev/zero', 'of=/dev/null', 'bs=600M', 'count=1']);
      expect(r.exitCode, r.stderr).toBe(0);
    });

    test('--cpus becomes the CPU quota', async () => {
      const r = await run(['--rm', '--cpus', '1', IMAGE, 'sh', '-c', `cat ${CGROUP}/cpu.max`]);
      expect(r).toMatchObject({ exitCode: 0, stdout: '100000 100000' });
    });

    test('update changes the limits of a running container', async () => {
      const id = await detached(['--memory', '100m', IMAGE, 'sleep', '600']);
      const r = await c(['update', '--memory', '200m', '--cpus', '0.5', id]);
      expect(r.exitCode, r.stderr).toBe(0);
      const limits = await c(['exec', id, 'sh', '-c', `cat ${CGROUP}/memory.max ${CGROUP}/cpu.max`]);
      expect(limits.stdout.split('\n')).toEqual([String(200 * 1024 * 1024), '50000 100000']);
      await c(['rm', '-f', '-t', '0', id]);
    });
  });

  describe(`${e.name} -d with --runtime vmrun`, () => {
    let id = '';

    test('runs detached, and logs has what it wrote', async () => {
      id = await detached(['--name', name('detached'), IMAGE, 'sh', '-c', 'echo first; echo second >&2; exec sleep 600']);
      expect(await statusIs(id, 'running')).toBe('running');
      let logs = { exitCode: -1, stdout: '', stderr: '' };
      await until(async () => (logs = await c(['logs', id])).stdout === 'first' && logs.stderr === 'second', 30_000).catch(() => undefined);
      expect(logs).toEqual({ exitCode: 0, stdout: 'first', stderr: 'second' });
    });

    test('exec runs with -u, -w and -e, and exits with its status', async () => {
      expect((await c(['exec', '-u', '65534', id, 'id', '-u'])).stdout).toBe('65534');
      expect((await c(['exec', '-w', '/tmp', id, 'pwd'])).stdout).toBe('/tmp');
      expect((await c(['exec', '-e', 'GREETING=hi there', id, 'sh', '-c', 'echo "$GREETING"'])).stdout).toBe('hi there');
      expect((await c(['exec', id, 'sh', '-c', 'exit 3'])).exitCode).toBe(3);
    });

    test("exec -it gives the terminal's size, and a resize reaches the process", async () => {
      const r = await onTerminal(e, [27, 88], [['ready', 'resize:33:99'], ['33 99', 'send:\u0003']], ['exec', '-it', id, ...sizes(e)]);
      expect(terminalSizes(r.stdout), r.stdout).toEqual({ before: ['in a VM', '27 88', 'ready'], after: '33 99', others: [] });
    });

    test('pause freezes it and unpause lets it go on', async () => {
      expect((await c(['pause', id])).exitCode).toBe(0);
      expect(await statusIs(id, 'paused')).toBe('paused');
      expect((await c(['unpause', id])).exitCode).toBe(0);
      expect(await statusIs(id, 'running')).toBe('running');
      expect((await c(['exec', id, 'echo', 'awake'])).stdout).toBe('awake');
    });

    test('cp copies into the container and out of it', async () => {
      const dir = await mkdtemp(join(e.dir, 'cp-'));
      await writeFile(join(dir, 'in.txt'), 'from the host\n');
      expect((await c(['cp', join(dir, 'in.txt'), `${id}:/tmp/in.txt`])).exitCode).toBe(0);
      expect((await c(['exec', id, 'cat', '/tmp/in.txt'])).stdout).toBe('from the host');
      await c(['exec', id, 'sh', '-c', 'echo from the container > /tmp/out.txt']);
      const out = await c(['cp', `${id}:/tmp/out.txt`, join(dir, 'out.txt')]);
      expect(out.exitCode, out.stderr).toBe(0);
      expect(await readFile(join(dir, 'out.txt'), 'utf8')).toBe('from the container\n');
    });

    test('kill ends it with the signal, and rm leaves nothing of vmrun', async () => {
      const full = await fullId(id);
      expect((await c(['kill', id])).exitCode).toBe(0);
      expect(await statusIs(id, 'exited')).toBe('exited');
      expect(await inspect(id, '{{.State.ExitCode}}')).toBe('137');
      expect((await c(['rm', id])).exitCode).toBe(0);
      expect(vmrunLeftovers(e.vmrunRoot, full)).toEqual([]);
    });
  });

  describe(`${e.name} stop, restart and rm -f with --runtime vmrun`, () => {
    /** The exit status `stop -t T` gives `cmd` under a runtime. */
    const stopped = async (runtime: Runtime, cmd: string[], timeout: number) => {
      const id = await detached([IMAGE, ...cmd], { runtime });
      expect(await statusIs(id, 'running', { runtime })).toBe('running');
      // Its TERM handler set.
      await until(async () => (await c(['logs', id], { runtime })).stdout === 'ready', 60_000);
      expect((await c(['stop', '-t', String(timeout), id], { runtime })).exitCode).toBe(0);
      const status = await inspect(id, '{{.State.ExitCode}}', { runtime });
      await c(['rm', '-f', id], { runtime });
      return status;
    };

    test('stop gives what runc gives: a TERM handler\'s status, or 137 after the timeout', async () => {
      const handler = ['sh', '-c', 'trap "exit 3" TERM; echo ready; while :; do sleep 0.2; done'];
      const noHandler = ['sh', '-c', 'echo ready; exec sleep 600'];
      const vmrun = { handler: await stopped('vmrun', handler, 30), noHandler: await stopped('vmrun', noHandler, 2) };
      const runc = { handler: await stopped('runc', handler, 30), noHandler: await stopped('runc', noHandler, 2) };
      expect(vmrun).toEqual(runc);
      expect(vmrun).toEqual({ handler: '3', noHandler: '137' });
    });

    test('restart runs it again', async () => {
      const id = await detached([IMAGE, 'sh', '-c', 'echo started; exec sleep 600']);
      expect((await c(['restart', '-t', '0', id])).exitCode).toBe(0);
      expect(await statusIs(id, 'running')).toBe('running');
      let logs = '';
      await until(async () => (logs = (await c(['logs', id])).stdout) === 'started\nstarted', 60_000).catch(() => undefined);
      expect(logs).toBe('started\nstarted');
      await c(['rm', '-f', '-t', '0', id]);
    });

    test('rm -f removes a running container, leaving nothing of vmrun', async () => {
      const id = await fullId(await detached([IMAGE, 'sleep', '600']));
      expect((await c(['rm', '-f', id])).exitCode).toBe(0);
      expect((await c(['ps', '-a', '-q', '--no-trunc'])).stdout.split('\n')).not.toContain(id);
      expect(vmrunLeftovers(e.vmrunRoot, id)).toEqual([]);
    });
  });

  describe(`${e.name} volumes and ports with --runtime vmrun`, () => {
    test('-v binds a host folder, both ways', async () => {
      const dir = await mkdtemp(join(e.dir, 'bind-'));
      await writeFile(join(dir, 'host.txt'), 'from the host\n');
      const r = await run(['--rm', '-v', `${dir}:/data`, IMAGE, 'sh', '-c', 'cat /data/host.txt; echo from the container > /data/guest.txt']);
      expect(r).toMatchObject({ exitCode: 0, stdout: 'from the host' });
      expect(await readFile(join(dir, 'guest.txt'), 'utf8')).toBe('from the container\n');
    });

    test('a named volume keeps what one container wrote for the next', async () => {
      const volume = name('volume');
      expect((await run(['--rm', '-v', `${volume}:/v`, IMAGE, 'sh', '-c', 'echo kept > /v/file'])).exitCode).toBe(0);
      expect((await run(['--rm', '-v', `${volume}:/v`, IMAGE, 'cat', '/v/file'])).stdout).toBe('kept');
      await c(['volume', 'rm', volume]);
    });

    test('-p publishes a port that the host reaches', async () => {
      const port = 18000 + Math.floor(Math.random() * 1000);
      const id = await detached(['-p', `${port}:80`, IMAGE, ...SERVE('a VM')]);
      let body = '';
      await until(async () => (body = await fetchText(`http://127.0.0.1:${port}/`)) !== '', 60_000).catch(() => undefined);
      expect(body).toBe('hello from a VM\n');
      await c(['rm', '-f', '-t', '0', id]);
    });

    test('a user-defined network resolves the other container by name', async () => {
      const network = name('net');
      expect((await c(['network', 'create', network])).exitCode).toBe(0);
      const web = name('web');
      const server = await detached(['--network', network, '--name', web, IMAGE, ...SERVE(web)]);
      // busybox-static's wget crashes on a network with a search domain, under runc too.
      const get = 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc "$a" 80 | tail -n 1';
      const script = `a=$(nslookup ${web} | sed -n 's/^Address: *//p' | tail -n 1) && echo resolved && ${get}`;
      const r = await run(['--rm', '--network', network, IMAGE, 'sh', '-c', script]);
      expect(r, r.stderr).toMatchObject({ exitCode: 0, stdout: `resolved\nhello from ${web}` });
      await c(['rm', '-f', '-t', '0', server]);
      await c(['network', 'rm', network]);
    });
  });
}

/** The body of a GET, or '' when nothing answers yet. */
function fetchText(url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve(body)).on('error', () => resolve(''));
    });
    req.on('error', () => resolve('')).on('timeout', () => req.destroy());
    req.end();
  });
}
