// A verb's long-lived child (a detached exec relay) whose pid a subreaper waits for: the status
// must reach the subreaper, not the verb that started the child (Node reaps its own children).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, test } from 'vitest';
import { DIST_DIR } from '../src/paths.js';

const SUBREAPER = new URL('helpers/subreaper.py', import.meta.url).pathname;
const READY_CHILD = join(DIST_DIR, 'src', 'host', 'ready-child.js');

/** What the subreaper reaps when a verb starts a child that exits 3 at once, the verb taking 300 ms to exit. */
async function reapedWhenChild(outlives: boolean): Promise<{ child: number; reaped: string[] }> {
  const child = `import { outliveStarter, tellReady } from ${JSON.stringify(READY_CHILD)};
    const starter = process.ppid; tellReady({ ok: true }); ${outlives ? 'await outliveStarter(starter);' : ''} process.exit(3);`;
  const verb = `import { startReadyChild } from ${JSON.stringify(READY_CHILD)};
    const { child } = await startReadyChild([process.execPath, '--input-type=module', '-e', ${JSON.stringify(child)}], [], 'the child');
    console.log('child', child.pid); child.unref(); setTimeout(() => undefined, 300);`;
  const { stdout } = await promisify(execFile)('python3', [SUBREAPER, process.execPath, '--input-type=module', '-e', verb]);
  const lines = stdout.trim().split('\n');
  return { child: Number(lines.find((l) => l.startsWith('child '))!.split(' ')[1]), reaped: lines.filter((l) => l.startsWith('exited ')) };
}

test("a child that waits for its starter's exit gives its status to the subreaper above them", async () => {
  const { child, reaped } = await reapedWhenChild(true);
  expect(reaped).toEqual([`exited ${child} 3`]);
});

test('a child that exits before its starter has its status taken by the starter', async () => {
  // Why the wait is needed: without it, a subreaper waiting for the child's pid never sees it end.
  const { reaped } = await reapedWhenChild(false);
  expect(reaped).toEqual([]);
});
