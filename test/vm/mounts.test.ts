// config.json's mounts as the container sees them: the kernel filesystems, tmpfs with options,
// and host files and folders bound in read-write or read-only, in the listed order.
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { editConfig } from '../helpers/bundle.js';
import { vmHarness } from './harness.js';

const vm = vmHarness();


/** mountinfo's mount point → filesystem type and options, from `cat /proc/self/mountinfo`. */
function mountsOf(mountinfo: string): Map<string, { type: string; options: string }> {
  const mounts = new Map<string, { type: string; options: string }>();
  for (const line of mountinfo.split('\n')) {
    const [before, after] = line.split(' - ');
    if (!before || !after) continue;
    const fields = before.split(' ');
    const [type, , superOptions] = after.split(' ');
    mounts.set(fields[4]!, { type: type!, options: `${fields[5]},${superOptions}` });
  }
  return mounts;
}

describe('mounts', () => {
  test('kernel filesystems, tmpfs options, and host paths bound in, in order', async () => {
    const host = await mkdtemp(join(tmpdir(), 'vmrun-binds-'));
    await mkdir(join(host, 'rw'));
    await writeFile(join(host, 'rw', 'from-host'), 'hello from the host\n');
    await mkdir(join(host, 'ro'));
    await writeFile(join(host, 'ro', 'kept'), 'read me\n');
    // Docker's pattern: one file out of a folder that holds other data.
    await mkdir(join(host, 'container-data'));
    await writeFile(join(host, 'container-data', 'hosts'), '10.1.2.3 box1\n');
    await writeFile(join(host, 'container-data', 'secret'), 'not for the guest\n');

    const script = [
      'cat /proc/self/mountinfo; echo ===',
      'cat /data/from-host; echo written > /data/from-guest',
      'cat /ro/kept; echo x > /ro/new 2>/dev/null && echo ro: writable || echo ro: read-only',
      'cat /etc/hosts; cat /new/dir/hosts',
      'echo "tmp mode: $(stat -c %a /scratch)"; ls /scratch/inner',
    ].join('\n');
    const bundle = await vm.bundle('sh', '-c', script);
    await editConfig(bundle, (spec) => {
      spec.mounts!.push(
        { destination: '/data', type: 'bind', source: join(host, 'rw'), options: ['rbind', 'rw'] },
        { destination: '/ro', type: 'none', source: join(host, 'ro'), options: ['bind', 'ro'] },
        { destination: '/etc/hosts', type: 'bind', source: join(host, 'container-data', 'hosts'), options: ['rbind', 'ro'] },
        { destination: '/new/dir/hosts', type: 'bind', source: join(host, 'container-data', 'hosts') },
        { destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['size=1m', 'mode=1777'] },
        // Listed after /scratch, so it lands inside that tmpfs.
        { destination: '/scratch/inner', type: 'bind', source: join(host, 'ro'), options: ['rbind'] },
      );
    });

    const r = await vm.vmrun(['run', '--bundle', bundle, 'm1']);
    expect(r.exitCode).toBe(0);
    const [mountinfo, out] = r.stdout.split('===\n') as [string, string];
    const mounts = mountsOf(mountinfo);
    expect(mounts.get('/proc')?.type).toBe('proc');
    expect(mounts.get('/dev')?.type).toBe('tmpfs');
    expect(mounts.get('/dev/pts')?.type).toBe('devpts');
    expect(mounts.get('/dev/shm')?.options).toMatch(/(^|,)size=65536k(,|$)/);
    expect(mounts.get('/dev/mqueue')?.type).toBe('mqueue');
    expect(mounts.get('/sys')?.options).toMatch(/^ro,/);
    expect(mounts.get('/sys/fs/cgroup')?.type).toBe('cgroup2');
    expect(mounts.get('/scratch')?.options).toMatch(/(^|,)size=1024k(,|$)/);
    for (const bound of ['/data', '/ro', '/etc/hosts', '/new/dir/hosts', '/scratch/inner']) {
      expect(mounts.get(bound)?.type).toBe('virtiofs');
    }
    expect(mounts.get('/ro')?.options).toMatch(/^ro,/);
    expect(mounts.get('/data')?.options).toMatch(/^rw,/);

    expect(out.split('\n')).toEqual([
      'hello from the host', 'read me', 'ro: read-only', '10.1.2.3 box1', '10.1.2.3 box1',
      'tmp mode: 1777', 'kept',
    ]);
    // The container wrote through to the host, and delete took none of the host's files along.
    expect(await readFile(join(host, 'rw', 'from-guest'), 'utf8')).toBe('written\n');
    expect(await readFile(join(host, 'container-data', 'secret'), 'utf8')).toBe('not for the guest\n');
    expect(await readFile(join(host, 'ro', 'kept'), 'utf8')).toBe('read me\n');
  });

  test('a bind of a path that does not exist fails create, naming the mount, and leaves nothing', async () => {
    const bundle = await vm.bundle('true');
    await editConfig(bundle, (spec) => {
      spec.mounts!.push({ destination: '/data', type: 'bind', source: '/nonexistent/vmrun-test', options: ['rbind'] });
    });
    const r = await vm.vmrun(['create', '--bundle', bundle, 'm2']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/\/mounts\/\d+\/source: \/nonexistent\/vmrun-test: no such file or directory/);
    expect((await vm.vmrun(['state', 'm2'])).stderr).toMatch(/does not exist/);
    expect(vm.processesOf('m2')).toEqual([]);
  });
});
