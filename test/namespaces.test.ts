// The host namespaces of a container: config.json's paths checked at create, and what the
// sentry (the state's pid) is asked to make or join.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { Spec } from '../src/generated/config.js';
import { checkNamespacePaths, namespaceKind } from '../src/host/namespaces.js';
import { sentryArgs } from '../src/monitor/sentry.js';
import { defaultSpec } from '../src/oci/default-spec.js';

type Namespace = NonNullable<NonNullable<Spec['linux']>['namespaces']>[number];

const withNamespaces = (namespaces: Namespace[]): Spec => {
  const spec = defaultSpec();
  spec.linux!.namespaces = namespaces;
  return spec;
};

describe('a namespace path', () => {
  test("is known by its /proc link's type", () => {
    expect(namespaceKind('/proc/self/ns/uts')).toBe('uts');
    expect(namespaceKind('/proc/self/ns/net')).toBe('net');
    expect(namespaceKind('/proc/self/ns/pid_for_children')).toBe('pid');
  });

  test('bound elsewhere (ip netns), is known by its nsfs mount; anything else is not one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vmrun-ns-'));
    const file = join(dir, 'a b');
    await writeFile(file, '');
    const point = file.replace(' ', '\\040');
    const bound = `87 86 0:4 net:[4026532459] ${point} rw shared:2 - nsfs nsfs rw\n`;
    expect(namespaceKind(file, () => bound)).toBe('net');
    // The last mount on a path is the one it shows.
    expect(namespaceKind(file, () => `${bound}90 87 0:5 / ${point} rw - tmpfs tmpfs rw\n`)).toBeUndefined();
    expect(namespaceKind(file, () => '')).toBeUndefined();
  });

  test("that is missing, of another type or no namespace fails create, naming the field", () => {
    const check = (path: string, type: Namespace['type'] = 'uts') => () => checkNamespacePaths(withNamespaces([{ type: 'pid' }, { type, path }]));
    expect(check('/proc/self/ns/net')).toThrow('/linux/namespaces/1/path: /proc/self/ns/net is not a uts namespace (it is net)');
    expect(check('/etc/hostname')).toThrow('/linux/namespaces/1/path: /etc/hostname is not a namespace');
    expect(check('/no/such/ns')).toThrow('/linux/namespaces/1/path: /no/such/ns does not exist (ENOENT)');
    expect(check('/proc/self/ns/net', 'network')).not.toThrow();
    expect(check('/proc/self/ns/mnt', 'mount')).not.toThrow();
  });
});

describe("the sentry's arguments", () => {
  test('a new namespace per entry, a path to join, the hostname; network and user are not its', () => {
    const spec = withNamespaces([{ type: 'pid' }, { type: 'network' }, { type: 'uts', path: '/proc/1/ns/uts' }, { type: 'mount' }, { type: 'user' }, { type: 'cgroup' }]);
    spec.hostname = 'box';
    spec.root = { path: 'rootfs', readonly: true };
    expect(sentryArgs(spec, '/b/rootfs', '/run/vmrun-vm/abc')).toEqual([
      '-h', 'box', '-r', '-n', 'pid:0', '-n', 'uts:2:/proc/1/ns/uts', '-n', 'mount:3', '-n', 'cgroup:5', '--', '/run/vmrun-vm/abc', '/b/rootfs',
    ]);
  });
});
