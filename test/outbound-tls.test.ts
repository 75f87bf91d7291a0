/**
 * The outbound TLS matrix (issue 16, acceptance 1): real next hops on
 * loopback with certificates valid, for another name, expired, self-signed,
 * from an unknown CA, and without STARTTLS at all, × the policies None,
 * Attempt, Encrypt and Verify. Each message is delivered (over TLS or not)
 * or deferred exactly as the policy says, and a deferral names the reason.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildConfig, startGateway, tempDir, type Running } from './helpers/config.ts';
import { makePeerCerts, type PeerCerts } from './helpers/certs.ts';
import { startSink, type Sink } from './helpers/sink.ts';
import { submit } from './helpers/submit.ts';
import { eventually } from './helpers/wait.ts';

const KINDS = ['valid', 'wrongName', 'expired', 'selfSigned', 'unknownCa', 'noTls'] as const;
const MODES = ['None', 'Attempt', 'Encrypt', 'Verify'] as const;
type Kind = typeof KINDS[number];
type Mode = typeof MODES[number];

/** What the policy says: delivered over TLS, delivered in clear, or deferred with this reason. */
function expected(kind: Kind, mode: Mode): { delivered: boolean; secure?: boolean; reason?: RegExp } {
  if (mode === 'None') return { delivered: true, secure: false };
  if (kind === 'noTls') return mode === 'Attempt' ? { delivered: true, secure: false } : { delivered: false, reason: /TLS is required \((Encrypt|Verify)\) and the next hop does not do STARTTLS/ };
  if (mode !== 'Verify' || kind === 'valid') return { delivered: true, secure: true };
  const reasons: Record<string, RegExp> = {
    wrongName: /certificate is for another name/, expired: /certificate has expired/, selfSigned: /self-signed/, unknownCa: /unknown CA|untrusted/,
  };
  return { delivered: false, reason: reasons[kind]! };
}

describe('outbound TLS matrix', () => {
  let certs: PeerCerts;
  const sinks = new Map<Kind, Sink>();
  /** One gateway per policy (a MailGateway has at most 8 transports), each with a transport per certificate kind. */
  const gws = new Map<Mode, Running>();
  before(async () => {
    certs = makePeerCerts(['127.0.0.1']);
    for (const kind of KINDS) sinks.set(kind, await startSink(kind === 'noTls' ? {} : { tls: certs.kinds[kind] }));
    const secrets = tempDir('mailgw-secrets-');
    mkdirSync(join(secrets, 'peer-ca'));
    writeFileSync(join(secrets, 'peer-ca', 'ca.crt'), certs.ca);
    for (const mode of MODES) {
      gws.set(mode, await startGateway(buildConfig({
        spec: {
          integration: 'Direct', queue: { minBackoff: '1h', maxBackoff: '2h', lifetime: '5h' },
          transports: KINDS.map((kind) => ({
            name: `${kind}-${mode}`.toLowerCase(), domains: [`${kind}-${mode}.test`.toLowerCase()],
            nextHops: [{ host: '127.0.0.1', port: sinks.get(kind)!.port }], tls: { mode, ca: { secretName: 'peer-ca' } },
          })),
        },
        networks: ['127.0.0.1/32'],
      }, { secretsDir: secrets }), undefined, '127.0.0.1', { deliver: true }));
    }
  });
  after(async () => {
    for (const g of gws.values()) await g.close();
    for (const s of sinks.values()) await s.close();
  });

  it('delivers or defers each certificate × policy as the policy says, each deferral with its reason', async () => {
    const qids = new Map<string, string>();
    for (const kind of KINDS) for (const mode of MODES) qids.set(`${kind}/${mode}`, await submit(gws.get(mode)!.port, { from: 'app@corp.test', to: `u@${kind}-${mode}.test`.toLowerCase(), subject: `${kind}/${mode}` }));
    const got: string[] = [];
    const want: string[] = [];
    for (const kind of KINDS) {
      for (const mode of MODES) {
        const e = expected(kind, mode);
        const rcpt = `u@${kind}-${mode}.test`.toLowerCase();
        want.push(`${kind}/${mode}: ${e.delivered ? `delivered${e.secure ? ' over TLS' : ' in clear'}` : 'deferred'}`);
        const outcome = await eventually(`${kind}/${mode}`, () => {
          const m = sinks.get(kind)!.messages.find((x) => x.to.includes(rcpt));
          if (m) return `delivered${m.secure ? ' over TLS' : ' in clear'}`;
          const state = gws.get(mode)!.gateway.runtime.spool.get(qids.get(`${kind}/${mode}`)!)?.state;
          const r = state?.rcpts[0];
          if (r?.status === 'deferred') {
            if (!e.reason || !e.reason.test(r.diagnostic ?? '')) return `deferred (${r.statusCode}: ${r.diagnostic})`;
            assert.equal(r.statusCode, '4.7.5', `${kind}/${mode}: ${r.diagnostic}`);
            return 'deferred';
          }
          return undefined;
        }, 20_000, 50);
        got.push(`${kind}/${mode}: ${outcome}`);
      }
    }
    assert.deepEqual(got, want);
    // Each refused certificate is also logged with its reason.
    for (const kind of ['wrongName', 'expired', 'selfSigned', 'unknownCa'] as const) {
      assert.ok(gws.get('Verify')!.log.lines.some((l) => l.event === 'connect-failed' && l.tls === 'Verify' && expected(kind, 'Verify').reason!.test(String(l.reason))), `${kind}: logged`);
    }
  });
});
