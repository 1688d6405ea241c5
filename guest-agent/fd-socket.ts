// Streams over raw file descriptors in the guest. libuv calls a char device or a FIFO a FILE
// and net.Socket refuses it, but a libuv pipe handle polls any such fd without blocking and
// without the threadpool; this is the one place that reaches for it.
import { constants, openSync, readdirSync, readFileSync } from 'node:fs';
import { Socket } from 'node:net';

interface PipeHandle {
  open(fd: number): number;
}
interface PipeWrap {
  Pipe: new (type: number) => PipeHandle;
  constants: { SOCKET: number };
}

export function socketOnFd(fd: number, use: { readable: boolean; writable: boolean }): Socket {
  const { Pipe, constants: pipeConstants } = (process as unknown as { binding(name: string): PipeWrap }).binding('pipe_wrap');
  const handle = new Pipe(pipeConstants.SOCKET);
  const err = handle.open(fd);
  if (err) throw new Error(`cannot poll fd ${fd}: libuv error ${err}`);
  return new Socket({ handle, ...use } as never);
}

/** The /dev path of the virtio-serial port with this name, from /sys/class/virtio-ports. */
export function findPort(name: string): string | undefined {
  for (const dev of readdirSync('/sys/class/virtio-ports')) {
    const portName = readFileSync(`/sys/class/virtio-ports/${dev}/name`, 'utf8').trim();
    if (portName === name) return `/dev/${dev}`;
  }
  return undefined;
}

/**
 * Whether the host end of the port is connected, from virtio_console's debugfs file (init.sh
 * mounts debugfs); undefined when that cannot be read.
 */
export function hostConnected(path: string): boolean | undefined {
  try {
    const m = /^host_connected: (\d)/m.exec(readFileSync(`/sys/kernel/debug/virtio-ports/${path.replace('/dev/', '')}`, 'utf8'));
    return m ? m[1] === '1' : undefined;
  } catch {
    return undefined;
  }
}

/** A virtio-serial port as a socket. A port opens once only, so one fd carries both ways. */
export function openPort(path: string): Socket {
  return socketOnFd(openSync(path, constants.O_RDWR | constants.O_NONBLOCK), { readable: true, writable: true });
}
