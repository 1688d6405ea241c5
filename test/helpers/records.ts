import type { ContainerRecord } from '../../src/generated/container-record.js';
import { hostProcess } from '../../src/host/process.js';

/** A record as create would write it, with this test process standing in as the live monitor. */
export function record(id: string, change: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    recordVersion: 1,
    id,
    ociVersion: '1.2.0',
    bundle: '/srv/bundles/x',
    rootfs: '/srv/bundles/x/rootfs',
    created: new Date().toISOString(),
    owner: 'root',
    phase: 'created',
    vmDir: '/run/vmrun-vm/000000000000',
    monitor: hostProcess(process.pid),
    ...change,
  };
}
