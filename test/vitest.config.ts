import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/*.test.ts'] },
      },
      {
        // Real VMs under TCG: one file at a time on a 2-core machine, with time to boot.
        extends: true,
        test: {
          name: 'vm',
          include: ['test/vm/*.test.ts'],
          globalSetup: ['test/vm/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
