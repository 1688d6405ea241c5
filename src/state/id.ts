import { VmrunError } from '../errors.js';

// runc's rule: word characters, '+', '-' and '.', at most 1024 bytes, and not a path step.
const ID_PATTERN = /^[\w+\-.]+$/;
const MAX_ID_BYTES = 1024;

export function checkContainerId(id: string): string {
  if (!ID_PATTERN.test(id) || id === '.' || id === '..' || Buffer.byteLength(id) > MAX_ID_BYTES) {
    throw new VmrunError(
      'InvalidId',
      `invalid container id ${JSON.stringify(id)}: it must match ${ID_PATTERN.source}, be at most ${MAX_ID_BYTES} bytes, and not be "." or ".."`,
    );
  }
  return id;
}
