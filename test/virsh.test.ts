// The interactive virsh's command lines and its output as the monitor's shell reads it.
import { PassThrough } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { virshCommandLine, VirshShell } from '../src/vm/virsh.js';

describe('virshCommandLine', () => {
  test('quotes each argument as virsh parses it', () => {
    expect(virshCommandLine(['qemu-monitor-command', 'vmrun', '--hmp', 'info status'])).toBe('"qemu-monitor-command" "vmrun" "--hmp" "info status"');
    expect(virshCommandLine(['echo', 'a"b\\c'])).toBe('"echo" "a\\"b\\\\c"');
  });

  test('refuses what would end the connection or the command line', () => {
    for (const cmd of ['quit', 'exit', 'connect']) expect(() => virshCommandLine([cmd])).toThrow(/holds this connection/);
    expect(() => virshCommandLine(['dominfo', 'vm\nquit'])).toThrow(/line break/);
  });
});

describe('VirshShell', () => {
  test("keeps a command's own output: not virsh's echo of it, the end marker, or libvirt's noise", async () => {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const shell = new VirshShell({ stdin, stdout });
    const first = shell.run('domstate vmrun');
    const second = shell.run('dominfo vmrun');
    // As virsh prints it: the prompt and each command echoed, echo's output with no newline.
    stdout.write('2026-12-01 20:47:04.686+0000: 2: warning : qemuDomainObjTaintMsg:6603 : tainted\n');
    stdout.write('virsh # domstate vmrun\nrunning\n\nvirsh # echo __vmrun_done_1__\n');
    stdout.write('__vmrun_done_1__virsh # dominfo vmrun\nName:  vmrun\nvirsh # echo __vmrun_done_2__\n');
    await expect(first).resolves.toBe('running');
    await expect(second).resolves.toBe('Name:  vmrun');
    stdout.end();
    await shell.exited;
    await expect(shell.run('domstate vmrun')).rejects.toThrow(/virsh has exited/);
  });
});
