// The state store: <root>/<id>/state.json (vmrun's ContainerRecord) and <root>/<id>/lock.
// The only code that reads or writes those files.
import { access, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf, VmrunError } from '../errors.js';
import { writeFileAtomically } from '../host/atomic-file.js';
import type { ContainerRecord } from '../generated/container-record.js';
import { checkRecord } from '../schemas.js';
import { checkContainerId } from './id.js';
import { acquireLock } from './lock.js';

const STATE_FILE = 'state.json';

export class StateStore {
  constructor(readonly root: string) {}

  dirOf(id: string): string {
    return join(this.root, checkContainerId(id));
  }

  /** Makes the container's directory and first record; fails if the id is taken, even by a concurrent create. */
  async create(record: ContainerRecord): Promise<void> {
    const dir = this.dirOf(record.id);
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (e) {
      if (errnoOf(e) === 'EEXIST') {
        throw new VmrunError('ContainerExists', `container "${record.id}" already exists`);
      }
      throw e;
    }
    try {
      await this.save(record);
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }

  async load(id: string): Promise<ContainerRecord> {
    const path = join(this.dirOf(id), STATE_FILE);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') throw notFound(id);
      throw e;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new VmrunError('StateCorrupt', `${path}: ${(e as Error).message}`);
    }
    const checked = checkRecord(value);
    if (!checked.ok) throw new VmrunError('StateCorrupt', `${path}: ${checked.problems.join('; ')}`);
    return checked.value;
  }

  /** Replaces the record atomically: readers see the old file or the new one, never a mix. */
  async save(record: ContainerRecord): Promise<void> {
    await writeFileAtomically(join(this.dirOf(record.id), STATE_FILE), JSON.stringify(record, null, 2) + '\n', 0o600);
  }

  async remove(id: string): Promise<void> {
    await rm(this.dirOf(id), { recursive: true, force: true });
  }

  /** Ids of every container with a record, in name order. */
  async ids(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return [];
      throw e;
    }
    const ids: string[] = [];
    for (const name of names.sort()) {
      const hasRecord = await access(join(this.root, name, STATE_FILE)).then(() => true, () => false);
      if (hasRecord) ids.push(name);
    }
    return ids;
  }

  /** Runs fn while holding the container's lock; the container must exist. */
  async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    let release: () => Promise<void>;
    try {
      release = await acquireLock(join(this.dirOf(id), 'lock'));
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') throw notFound(id);
      throw e;
    }
    try {
      return await fn();
    } finally {
      await release();
    }
  }
}

export const notFound = (id: string) =>
  new VmrunError('ContainerNotFound', `container "${id}" does not exist`);
