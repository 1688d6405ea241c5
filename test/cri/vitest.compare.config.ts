// Only for critest-compare: the whole critest under runc and under vmrun, by hand (an hour
// under TCG), never in the suite.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/cri/critest-compare.test.ts'],
    globalSetup: ['test/vm/global-setup.ts'],
    testTimeout: 3 * 3600_000,
    hookTimeout: 600_000,
  },
});
