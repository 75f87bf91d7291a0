/**
 * A small, strict argument parser for the mailgw commands: repeated -f,
 * --flag value and --flag=value; unknown flags are errors.
 */
import { parseSize } from '../api/fields.ts';

export interface ParsedArgs {
  files: string[];
  flags: Map<string, string>;
  positionals: string[];
}

export class UsageError extends Error {}

export function parseArgs(argv: readonly string[], known: readonly string[]): ParsedArgs {
  const out: ParsedArgs = { files: [], flags: new Map(), positionals: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-f' || arg === '--filename') {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${arg} needs a path`);
      out.files.push(v);
    } else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
      if (!known.includes(name)) throw new UsageError(`unknown option --${name}`);
      const v = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`--${name} needs a value`);
      out.flags.set(name, v);
    } else {
      out.positionals.push(arg);
    }
  }
  return out;
}

/** Parses "HOST:PORT", "[v6]:PORT" or ":PORT". */
export function parseListen(text: string, flag = '--listen'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  if (!m || Number(m[3]) > 65535) throw new UsageError(`${flag}: expected HOST:PORT, got ${JSON.stringify(text)}`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port: Number(m[3]) };
}

/**
 * `--config-limit SIZE` (bytes or a quantity such as "5Mi"): the cap on a
 * gateway's compressed rendered config (api/config-pack.ts); undefined: the default.
 */
export function configLimitFlag(flags: ReadonlyMap<string, string>): number | undefined {
  const text = flags.get('config-limit');
  if (text === undefined) return undefined;
  const n = parseSize(/^\d+$/.test(text) ? Number(text) : text);
  if (n === undefined || n <= 0) throw new UsageError('--config-limit: expected bytes or a quantity such as "5Mi"');
  return n;
}
