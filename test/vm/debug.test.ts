// `vmrun debug`: libvirt's own virsh against a running container's embedded root, through its
// monitor (which holds the root), and the guest's console.
import { describe, expect, test } from 'vitest';
import { vmHarness } from './harness.js';
import { StateStore } from '../../src/state/store.js';

const vm = vmHarness();

describe('vmrun debug', () => {
  test('runs virsh commands on the running domain and prints the guest console', async () => {
    const bundle = await vm.bundle('sleep', '1000');
    expect((await vm.vmrun(['create', '--bundle', bundle, 'dbg'])).exitCode).toBe(0);
    expect((await vm.vmrun(['start', 'dbg'])).exitCode).toBe(0);
    const info = await vm.vmrun(['debug', 'dbg', '--', 'virsh', 'dominfo', 'vmrun']);
    expect(info.exitCode).toBe(0);
    expect(info.stdout).toMatch(/^Name:\s+vmrun$/m);
    expect(info.stdout).toMatch(/^State:\s+running$/m);
    expect(info.stdout).not.toMatch(/virsh #|__vmrun_done/);
    const hmp = await vm.vmrun(['debug', 'dbg', '--', 'virsh', 'qemu-monitor-command', 'vmrun', '--hmp', 'info status']);
    expect(hmp.stdout).toBe('VM status: running');
    expect((await vm.vmrun(['pause', 'dbg'])).exitCode).toBe(0);
    expect((await vm.vmrun(['debug', 'dbg', '--', 'virsh', 'domstate', 'vmrun'])).stdout).toBe('paused');
    expect((await vm.vmrun(['resume', 'dbg'])).exitCode).toBe(0);

    // virsh's own errors, and what would close the monitor's connection, fail the verb.
    const unknown = await vm.vmrun(['debug', 'dbg', '--', 'virsh', 'nosuchcommand']);
    expect(unknown).toMatchObject({ exitCode: 1 });
    expect(unknown.stderr).toMatch(/unknown command: 'nosuchcommand'/);
    expect((await vm.vmrun(['debug', 'dbg', '--', 'virsh', 'quit'])).stderr).toMatch(/holds this connection/);
    expect((await vm.vmrun(['debug', 'dbg', '--', 'virsh', 'domstate', 'vmrun'])).stdout).toBe('running');

    // A booted guest's console has its boot; a restored one's begins with the restore.
    const restored = (await new StateStore(vm.root).load('dbg')).guest?.start === 'restored';
    expect((await vm.vmrun(['debug', 'dbg', 'console'])).stdout).toContain(restored ? 'vmrun-agent: restored from the restore image' : 'vmrun-init: starting the agent');
    expect((await vm.vmrun(['debug', 'dbg', 'nonsense'])).stderr).toMatch(/use `virsh CMD…` or `console`/);
    expect((await vm.vmrun(['delete', '--force', 'dbg'])).exitCode).toBe(0);
    expect((await vm.vmrun(['debug', 'dbg', 'console'])).stderr).toMatch(/does not exist/);
  });
});
