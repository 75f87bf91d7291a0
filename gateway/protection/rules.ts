/**
 * Rules (KSMG "Rules"): evaluated top-down, the first rule whose sender AND
 * recipient match wins, else the default rule. Pure.
 *
 * Patterns: an exact address (case-insensitive), a mask with * and ?, or
 * /regex/ (case-insensitive); a sender pattern that is an IP address or CIDR
 * matches the client address instead. "<>" matches the null sender. An empty
 * list matches anything.
 */
import { normalizeCidr, type GatewayConfig } from '../../api/index.ts';
import { NetworkTable } from '../tables/network-table.ts';
import { maskToRegExp } from './file-type.ts';

export type Rule = GatewayConfig['rules'][number];
export interface RuleChoice { name: string; mode: Rule['mode']; backup: boolean }

function compile(pattern: string): (s: string) => boolean {
  if (pattern.length > 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
    try {
      const re = new RegExp(pattern.slice(1, -1), 'i');
      return (s) => re.test(s);
    } catch {
      return () => false;
    }
  }
  if (/[*?]/.test(pattern)) {
    const re = maskToRegExp(pattern);
    return (s) => re.test(s);
  }
  const lower = pattern.toLowerCase();
  return (s) => s.toLowerCase() === lower;
}

interface CompiledRule {
  rule: Rule;
  senderAddress: ((s: string) => boolean)[];
  senderNetworks: NetworkTable | undefined;
  recipient: ((s: string) => boolean)[];
}

export class RuleTable {
  private readonly rules: CompiledRule[];
  private readonly fallback: RuleChoice;

  constructor(rules: readonly Rule[], defaultRule: GatewayConfig['defaultRule']) {
    this.fallback = { name: 'default', mode: defaultRule.mode, backup: defaultRule.backup };
    this.rules = rules.map((rule) => {
      const cidrs = rule.senders.filter((p) => normalizeCidr(p) !== undefined);
      return {
        rule,
        senderAddress: rule.senders.filter((p) => normalizeCidr(p) === undefined).map(compile),
        senderNetworks: cidrs.length > 0 ? new NetworkTable(cidrs.map((c) => normalizeCidr(c)!)) : undefined,
        recipient: rule.recipients.map(compile),
      };
    });
  }

  choose(sender: string, clientIp: string, recipient: string): RuleChoice {
    const s = sender === '' ? '<>' : sender;
    for (const r of this.rules) {
      const anySender = r.senderAddress.length === 0 && !r.senderNetworks;
      const senderOk = anySender || r.senderAddress.some((m) => m(s)) || (r.senderNetworks?.contains(clientIp) ?? false);
      const rcptOk = r.recipient.length === 0 || r.recipient.some((m) => m(recipient));
      if (senderOk && rcptOk) return { name: r.rule.name, mode: r.rule.mode, backup: r.rule.backup };
    }
    return this.fallback;
  }
}
