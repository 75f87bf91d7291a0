/**
 * Rules (KSMG "Rules"): evaluated top-down, the first rule whose sender AND
 * recipient (AND, when it has them, its end-of-data conditions) match wins,
 * else the default rule. Pure.
 *
 * Patterns (api/patterns.ts, all on re2js, never a backtracking RegExp): an
 * exact address (case-insensitive), a mask with * and ?, or /regex/; a
 * sender pattern that is an IP address or CIDR matches the client address
 * instead. "<>" matches the null sender. An empty list matches anything.
 *
 * End-of-data conditions (match: authentication results, size, headers) are
 * unknown at RCPT: when the first rule whose envelope matches has them,
 * choose() answers `deferred` and the choice is made again with the facts
 * (chooseWithFacts) once the message is in.
 */
import { normalizeCidr, type GatewayConfig } from '../../api/index.ts';
import { compilePattern, type UserPattern } from '../../api/patterns.ts';
import { NetworkTable } from '../tables/network-table.ts';

export type Rule = GatewayConfig['rules'][number];
export interface RuleChoice {
  name: string;
  mode: Rule['mode'];
  backup: boolean;
  /** The rule depends on end-of-data conditions: chosen again when the message is in. */
  deferred?: boolean | undefined;
}

export type AuthOutcome = 'Pass' | 'Fail' | 'None';

/** What is known of a message at the end of DATA, for rules' match conditions. */
export interface MessageFacts {
  size: number;
  /** Header fields: lower-case name → unfolded values. */
  headers: Map<string, string[]>;
  /** Sender authentication outcomes; undefined when not checked (a trusted client): every result counts as None. */
  auth?: { spf: AuthOutcome; dkim: AuthOutcome; dmarc: AuthOutcome } | undefined;
}

/** mailauth's result words as a rule sees them. */
export function authOutcome(result: string | undefined): AuthOutcome {
  if (result === 'pass') return 'Pass';
  if (result === 'fail' || result === 'softfail') return 'Fail';
  return 'None';
}

/** Longest header value a pattern is matched against. */
const MAX_MATCHED_VALUE = 64 * 1024;

interface CompiledRule {
  rule: Rule;
  senderAddress: UserPattern[];
  senderNetworks: NetworkTable | undefined;
  recipient: UserPattern[];
  headers: { name: string; pattern: UserPattern }[];
  /** Has conditions known only at the end of DATA. */
  late: boolean;
}

export class RuleTable {
  private readonly rules: CompiledRule[];
  private readonly byName = new Map<string, Rule>();
  private readonly fallback: RuleChoice;
  /** Some rule matches on sender authentication results: they are needed at the end of DATA. */
  readonly needsAuthFacts: boolean;

  constructor(rules: readonly Rule[], defaultRule: GatewayConfig['defaultRule']) {
    this.fallback = { name: 'default', mode: defaultRule.mode, backup: defaultRule.backup };
    this.rules = rules.map((rule) => {
      const cidrs = rule.senders.filter((p) => normalizeCidr(p) !== undefined);
      const m = rule.match;
      this.byName.set(rule.name, rule);
      return {
        rule,
        senderAddress: rule.senders.filter((p) => normalizeCidr(p) === undefined).map(compilePattern),
        senderNetworks: cidrs.length > 0 ? new NetworkTable(cidrs.map((c) => normalizeCidr(c)!)) : undefined,
        recipient: rule.recipients.map(compilePattern),
        headers: (m?.headers ?? []).map((h) => ({ name: h.name.toLowerCase(), pattern: compilePattern(h.pattern) })),
        late: Boolean(m && (m.authentication || m.size || m.headers.length > 0)),
      };
    });
    this.needsAuthFacts = rules.some((r) => r.match?.authentication);
  }

  /** The rule by name (its settings and actions), or undefined for the default rule. */
  get(name: string): Rule | undefined {
    return this.byName.get(name);
  }

  /** Every pattern the table runs, with the engine that runs it. */
  patterns(): UserPattern[] {
    return this.rules.flatMap((r) => [...r.senderAddress, ...r.recipient, ...r.headers.map((h) => h.pattern)]);
  }

  private envelopeMatches(r: CompiledRule, s: string, clientIp: string, recipient: string): boolean {
    const anySender = r.senderAddress.length === 0 && !r.senderNetworks;
    const senderOk = anySender || r.senderAddress.some((m) => m.test(s)) || (r.senderNetworks?.contains(clientIp) ?? false);
    return senderOk && (r.recipient.length === 0 || r.recipient.some((m) => m.test(recipient)));
  }

  private factsMatch(r: CompiledRule, f: MessageFacts): boolean {
    const m = r.rule.match;
    if (!m) return true;
    if (m.size?.atLeast !== undefined && f.size < m.size.atLeast) return false;
    if (m.size?.below !== undefined && f.size >= m.size.below) return false;
    if (m.authentication) {
      for (const k of ['spf', 'dkim', 'dmarc'] as const) {
        const want = m.authentication[k];
        if (want && (f.auth?.[k] ?? 'None') !== want) return false;
      }
    }
    return r.headers.every((h) => (f.headers.get(h.name) ?? []).some((v) => h.pattern.test(v.slice(0, MAX_MATCHED_VALUE))));
  }

  /** At RCPT: the rule, or `deferred` when the first envelope match needs end-of-data facts. */
  choose(sender: string, clientIp: string, recipient: string): RuleChoice {
    const s = sender === '' ? '<>' : sender;
    for (const r of this.rules) {
      if (!this.envelopeMatches(r, s, clientIp, recipient)) continue;
      if (r.late) return { name: r.rule.name, mode: 'Scan', backup: false, deferred: true };
      return { name: r.rule.name, mode: r.rule.mode, backup: r.rule.backup };
    }
    return this.fallback;
  }

  /** At the end of DATA, with what is known of the message. */
  chooseWithFacts(sender: string, clientIp: string, recipient: string, facts: MessageFacts): RuleChoice {
    const s = sender === '' ? '<>' : sender;
    for (const r of this.rules) {
      if (this.envelopeMatches(r, s, clientIp, recipient) && this.factsMatch(r, facts)) return { name: r.rule.name, mode: r.rule.mode, backup: r.rule.backup };
    }
    return this.fallback;
  }
}
