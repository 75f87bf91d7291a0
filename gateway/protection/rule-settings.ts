/**
 * Per-rule protection (issue 15): a rule's own antivirus, antispam,
 * contentFilter and authentication settings (enabled and actions), falling
 * back to the gateway's. Pure.
 */
import type { GatewayConfig } from '../../api/index.ts';
import { authenticationApplies } from '../verdict-types.ts';
import type { Rule } from './rules.ts';

export type Protection = GatewayConfig['protection'];
export type Authentication = GatewayConfig['authentication'] & { enabled: boolean };

export function protectionFor(cfg: GatewayConfig, rule: Rule | undefined): Protection {
  const p = cfg.protection;
  const o = rule?.protection;
  if (!o) return p;
  return {
    ...p,
    antivirus: { ...p.antivirus, enabled: o.antivirus?.enabled ?? p.antivirus.enabled, actions: { infected: o.antivirus?.actions?.infected ?? p.antivirus.actions.infected, encrypted: o.antivirus?.actions?.encrypted ?? p.antivirus.actions.encrypted } },
    antispam: { ...p.antispam, enabled: o.antispam?.enabled ?? p.antispam.enabled, actions: { spam: o.antispam?.actions?.spam ?? p.antispam.actions.spam, probableSpam: o.antispam?.actions?.probableSpam ?? p.antispam.actions.probableSpam } },
    contentFilter: { ...p.contentFilter, enabled: o.contentFilter?.enabled ?? p.contentFilter.enabled, action: o.contentFilter?.action ?? p.contentFilter.action },
  };
}

export function authenticationFor(cfg: GatewayConfig, rule: Rule | undefined): Authentication {
  const a = cfg.authentication;
  return { ...a, enabled: rule?.authentication?.enabled ?? (a.spf || a.dkim || a.dmarc), action: rule?.authentication?.action ?? a.action };
}

/** Whether a Scan rule has anything to run for this client. */
export function scansUnder(cfg: GatewayConfig, rule: Rule | undefined, trusted: boolean): boolean {
  const p = protectionFor(cfg, rule);
  return p.antivirus.enabled || p.antispam.enabled || p.contentFilter.enabled || (authenticationFor(cfg, rule).enabled && authenticationApplies(cfg, trusted));
}

/**
 * The config a message is scanned with: each module on when some Scan rule
 * among its recipients' wants it (the scan runs once; each rule group's
 * verdict then takes only its own modules' findings, verdict.ts).
 */
export function scanConfigFor(cfg: GatewayConfig, rules: readonly (Rule | undefined)[]): GatewayConfig {
  const ps = rules.map((r) => protectionFor(cfg, r));
  const auth = rules.some((r) => authenticationFor(cfg, r).enabled);
  return {
    ...cfg,
    authentication: auth ? cfg.authentication : { ...cfg.authentication, spf: false, dkim: false, dmarc: false },
    protection: {
      ...cfg.protection,
      antivirus: {
        ...cfg.protection.antivirus, enabled: ps.some((p) => p.antivirus.enabled),
        // Which attachments are infected is looked for when some rule strips them.
        actions: { ...cfg.protection.antivirus.actions, infected: ps.some((p) => p.antivirus.enabled && p.antivirus.actions.infected === 'DeleteAttachment') ? 'DeleteAttachment' : cfg.protection.antivirus.actions.infected },
      },
      antispam: { ...cfg.protection.antispam, enabled: ps.some((p) => p.antispam.enabled) },
      contentFilter: { ...cfg.protection.contentFilter, enabled: ps.some((p) => p.contentFilter.enabled) },
    },
  };
}
