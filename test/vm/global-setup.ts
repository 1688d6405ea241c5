// Before any VM test: the host set up and the guest assets built from this very checkout
// (`vmrun setup` is idempotent and rebuilds the initramfs only when the agent has changed).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const VMRUN = fileURLToPath(new URL('../../bin/vmrun', import.meta.url));

export default function setup(): void {
  execFileSync(VMRUN, ['setup'], { stdio: ['ignore', 'inherit', 'inherit'] });
}
