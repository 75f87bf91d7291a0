/**
 * Runs the real `mailgw` CLI as a child process (Node 24 from the project)
 * and collects its JSON log lines, for tests of whole-process behaviour:
 * crashes, restarts, reloads, shutdown, the quick start.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const ROOT = new URL('../..', import.meta.url).pathname;

export interface MailgwProcess {
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  /** The SMTP port from the `listening` line (of the pod: with several workers, once every worker listens). */
  port: number;
  exited: Promise<number | null>;
  waitFor(event: string, count?: number, timeoutMs?: number): Promise<Record<string, unknown>>;
}

/** Parses a child's stdout as JSON lines (pino), appending each to `lines` and passing it to `onLine`. */
export function collectJsonLines(stream: NodeJS.ReadableStream, lines: Record<string, unknown>[], onLine: (l: Record<string, unknown>) => void = () => undefined): void {
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { raw: text };
      }
      lines.push(line);
      onLine(line);
    }
  });
}

/**
 * `mailgw ARGS`. A `gateway` without --workers runs one process (the default,
 * the machine's CPUs, would make a test's shape depend on the machine); the
 * tests of a pod with several workers ask for them.
 */
export async function startMailgw(args: string[], env: Record<string, string> = {}): Promise<MailgwProcess> {
  if (args[0] === 'gateway' && !args.includes('--workers')) args = [...args, '--workers', '1'];
  const proc = spawn(process.execPath, [join(ROOT, 'bin/mailgw.js'), ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const lines: Record<string, unknown>[] = [];
  const exited = new Promise<number | null>((r) => proc.once('exit', r));
  const port = await new Promise<number>((resolve, reject) => {
    collectJsonLines(proc.stdout!, lines, (line) => {
      // A worker's own line names it; the pod's (or a lone process's) does not, and comes once every worker listens.
      if (line.event === 'listening' && line.worker === undefined) resolve(line.port as number);
    });
    void exited.then((code) => reject(new Error(`mailgw exited early with ${code}`)));
  });
  return {
    proc, lines, port, exited,
    waitFor: async (event, count = 1, timeoutMs = 15_000) => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const hits = lines.filter((l) => l.event === event);
        if (hits.length >= count) return hits[count - 1]!;
        if (Date.now() > end) throw new Error(`no ${event} #${count} in the log`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
  };
}

/** `mailgw queue ARGS --state-dir DIR` against a running gateway (asynchronous: the gateway may run in this process). */
export function queueCli(stateDir: string, ...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin/mailgw.js'), 'queue', ...args, '--state-dir', stateDir], { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

/** The queue of a running gateway (`mailgw queue list --output json`); throws when the command fails. */
export async function queueEntries<T>(stateDir: string): Promise<T[]> {
  const r = await queueCli(stateDir, 'list', '--output', 'json');
  if (r.status !== 0) throw new Error(`mailgw queue list exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T[];
}
