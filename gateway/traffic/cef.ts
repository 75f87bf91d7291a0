/**
 * Traffic and audit events as CEF (ArcSight Common Event Format, the form
 * KSMG exports to SIEMs too) inside RFC 5424 syslog messages. Pure: a log
 * event in, a syslog message out (or undefined for events a SIEM is not
 * sent). docs/operations.md has the field mapping; a test checks that the
 * two agree.
 *
 *   CEF:0|mailgw|mailgw|VERSION|SIGNATURE|NAME|SEVERITY|key=value …
 */
export const CEF_VERSION = '0.1.0';

/** Each signature with its name and CEF severity (0–10). */
export const SIGNATURES = {
  'mail.delivered': ['Message delivered', 3],
  'mail.failed': ['Message not delivered', 5],
  'mail.deleted': ['Message deleted by policy', 6],
  'mail.rejected': ['Message refused', 6],
  'mail.tempfail': ['Message deferred at receipt', 4],
  'mail.threat': ['Threat found in a message', 8],
  'audit.action': ['Administrative action', 5],
  'audit.denied': ['Administrative action refused', 7],
} as const satisfies Record<string, readonly [string, number]>;
export type Signature = keyof typeof SIGNATURES;

export interface CefEvent {
  signature: Signature;
  /** Extension fields, in order (CEF keys). */
  fields: [key: string, value: string | number | undefined][];
  at: number;
}

const escHeader = (s: string) => s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');
const escValue = (s: string) => s.replace(/\\/g, '\\\\').replace(/=/g, '\\=').replace(/\r\n|\r|\n/g, '\\n');
const list = (v: unknown) => (Array.isArray(v) ? v.filter((x) => typeof x === 'string').join(',') : typeof v === 'string' ? v : undefined);
const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v.slice(0, 1024) : undefined);
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Verdict words that are findings (not clean, not off). */
function threats(e: Record<string, unknown>): string[] {
  const out: string[] = [];
  const add = (s: unknown) => {
    if (s && typeof s === 'object') {
      for (const [k, v] of Object.entries(s)) if (typeof v === 'string' && !['clean', 'off', 'pass', 'none', 'skipped'].includes(v)) out.push(`${k}=${v}`);
    }
  };
  add(e.status);
  for (const r of Array.isArray(e.rules) ? (e.rules as Record<string, unknown>[]) : []) add(r.status);
  return [...new Set(out)];
}

/** The CEF events one log event stands for (none for most). */
export function cefEvents(e: Record<string, unknown> & { at: number }): CefEvent[] {
  const base: CefEvent['fields'] = [['rt', e.at], ['externalId', text(e.qid)]];
  switch (e.event) {
    case 'message': {
      const code = num(e.code);
      if (code === undefined) return [];
      const common: CefEvent['fields'] = [...base, ['src', text(e.client)], ['suser', typeof e.from === 'string' ? e.from : undefined], ['msg', text(e.subject)], ['cs1Label', 'messageId'], ['cs1', text(e.messageId)]];
      if (code >= 400) {
        return [{ signature: code >= 500 ? 'mail.rejected' : 'mail.tempfail', at: e.at, fields: [...common, ['duser', list(e.to)], ['outcome', code >= 500 ? 'rejected' : 'tempfail'], ['reason', text(e.reply)]] }];
      }
      const deleted = list(e.deleted);
      return deleted ? [{ signature: 'mail.deleted', at: e.at, fields: [...common, ['duser', deleted], ['act', 'Delete'], ['outcome', 'deleted']] }] : [];
    }
    case 'delivery': {
      if (e.status !== 'delivered' && e.status !== 'failed') return [];
      return [{
        signature: e.status === 'delivered' ? 'mail.delivered' : 'mail.failed', at: e.at,
        fields: [...base, ['suser', typeof e.from === 'string' ? e.from : undefined], ['duser', text(e.to)], ['dhost', text(e.relay)], ['outcome', e.status], ['reason', text(e.reply)], ['cs2Label', 'dsn'], ['cs2', text(e.dsn)]],
      }];
    }
    case 'verdict': {
      const found = threats(e);
      if (found.length === 0) return [];
      const actions = [...new Set([e.action, ...(Array.isArray(e.rules) ? (e.rules as Record<string, unknown>[]).map((r) => r.action) : [])].filter((a): a is string => typeof a === 'string'))];
      return [{ signature: 'mail.threat', at: e.at, fields: [...base, ['src', text(e.client)], ['suser', typeof e.from === 'string' ? e.from : undefined], ['act', actions.join(',')], ['cs3Label', 'verdict'], ['cs3', found.join(' ')], ['reason', list(e.reasons)]] }];
    }
    case 'admin':
    case 'admin-denied':
      return [{
        signature: e.event === 'admin' ? 'audit.action' : 'audit.denied', at: e.at,
        fields: [...base, ['suser', text(e.actor)], ['request', text(e.action)], ['outcome', e.event === 'admin-denied' ? 'denied' : e.ok === false ? 'failed' : 'done'], ['cs4Label', 'backupId'], ['cs4', text(e.backupId)], ['cs5Label', 'permission'], ['cs5', text(e.permission)]],
      }];
    default:
      return [];
  }
}

/** The CEF line of an event. */
export function cefLine(c: CefEvent): string {
  const [name, severity] = SIGNATURES[c.signature];
  const has = (k: string) => c.fields.some(([key, v]) => key === k && v !== undefined && v !== '');
  // Empty fields are left out, and so is a Label whose value is (cs1Label goes with cs1).
  const ext = c.fields.filter(([k]) => has(k) && (!k.endsWith('Label') || has(k.slice(0, -'Label'.length))));
  return `CEF:0|mailgw|mailgw|${CEF_VERSION}|${escHeader(c.signature)}|${escHeader(name)}|${severity}|${ext.map(([k, v]) => `${k}=${escValue(String(v))}`).join(' ')}`;
}

/** CEF severity 0–10 → syslog severity (RFC 5424): 0–3 informational, 4–6 warning, 7–8 error, 9–10 critical. */
export function syslogSeverity(cef: number): number {
  return cef <= 3 ? 6 : cef <= 6 ? 4 : cef <= 8 ? 3 : 2;
}

/** An RFC 5424 message: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - CEF… */
export function syslogMessage(c: CefEvent, o: { facility: number; hostname: string; pid: number }): string {
  const pri = o.facility * 8 + syslogSeverity(SIGNATURES[c.signature][1]);
  const field = (s: string) => s.replace(/[^\x21-\x7e]/g, '').slice(0, 255) || '-';
  return `<${pri}>1 ${new Date(c.at).toISOString()} ${field(o.hostname)} mailgw ${o.pid} ${field(c.signature).slice(0, 32)} - ${cefLine(c)}`;
}
