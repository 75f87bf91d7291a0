/**
 * User patterns — rule senders and recipients, header matches, attachment
 * name masks — compiled for a linear-time engine only (re2js, a port of
 * RE2): a pathological pattern such as /(a+)+$/ cannot stall the event loop.
 * No user pattern ever reaches JavaScript's backtracking RegExp.
 *
 * Forms: `/regex/` (RE2 syntax, case-insensitive), a mask with `*` and `?`
 * (case-insensitive, whole string), else an exact string (case-insensitive).
 */
import { RE2JS } from 're2js';

export interface UserPattern {
  /** How the pattern is matched: 're2js' for a regex or a mask, 'exact' for a literal. */
  readonly engine: 're2js' | 'exact';
  readonly source: string;
  test(s: string): boolean;
}

export function isRegexPattern(p: string): boolean {
  return p.length > 2 && p.startsWith('/') && p.endsWith('/');
}

const RE2_SPECIAL = /[\\.+^$|()[\]{}]/g;

/** A mask's RE2 form: * is any run, ? one character, everything else literal. */
export function maskSource(mask: string): string {
  return mask.replace(RE2_SPECIAL, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
}

/** Compiles a pattern, or throws an Error that says what is wrong with it. */
export function compilePattern(p: string): UserPattern {
  if (isRegexPattern(p)) {
    let re: RE2JS;
    try {
      re = RE2JS.compile(p.slice(1, -1), RE2JS.CASE_INSENSITIVE);
    } catch (err) {
      throw new Error(`${p} is not a valid RE2 regular expression (${(err as Error).message}); backreferences and lookaround are not supported`, { cause: err });
    }
    return { engine: 're2js', source: p, test: (s) => re.test(s) };
  }
  if (/[*?]/.test(p)) {
    const re = RE2JS.compile(maskSource(p), RE2JS.CASE_INSENSITIVE | RE2JS.DOTALL);
    return { engine: 're2js', source: p, test: (s) => re.testExact(s) };
  }
  const lower = p.toLowerCase();
  return { engine: 'exact', source: p, test: (s) => s.toLowerCase() === lower };
}

/** Why a pattern cannot be used, or undefined when it can. */
export function patternProblem(p: string): string | undefined {
  try {
    compilePattern(p);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
