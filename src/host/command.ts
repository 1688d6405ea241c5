// The one way vmrun runs a short command to its end (ip, tc, mount, gcc, apt's tools): execa,
// loaded only when a command runs, with a deadline. Long-lived children are each started by
// the module that owns them (ready-child, sentry, warden, hooks).
import type { Options } from 'execa';

/** How long a command on a container's path (ip, tc, mount) may take. */
const DEFAULT_TIMEOUT_MS = 30_000;

/** Its text output and status; rejects on a failure (unless `reject: false`), naming the command. */
export async function command(file: string, args: string[], options: Options = {}): Promise<{ stdout: string; stderr: string; exitCode?: number }> {
  const { execa } = await import('execa');
  const r = await execa(file, args, { timeout: DEFAULT_TIMEOUT_MS, stdin: 'ignore', ...options });
  return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode };
}
