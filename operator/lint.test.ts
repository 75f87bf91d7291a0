import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { localDomain, mailGateway, trustedNetwork } from '../api/index.ts';
import { lint } from './lint.ts';

const meta = (name: string) => ({ name, namespace: 'mail' });
const gw = (spec: Record<string, unknown>) => mailGateway.parse({ apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: meta('gw'), spec });
const domain = (name: string, spec: Record<string, unknown>) => localDomain.parse({ apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: meta(name), spec: { gatewayRef: { name: 'gw' }, ...spec } });
const codes = (f: { code: string; field: string }[]) => f.map((x) => `${x.code} ${x.field}`);

describe('lint: loops, modules, networks', () => {
  it('MGW205: a LocalDomain routed to the gateway itself (hostname, its Service, the listen address)', () => {
    const g = gw({ hostname: 'mx.corp.test', protection: { antivirus: { enabled: true } } });
    const self = [
      domain('a', { domain: 'a.test', routing: { host: 'MX.corp.test', port: 25 } }),
      domain('b', { domain: 'b.test', routing: { host: 'gw-smtp.mail.svc.cluster.local', port: 25 } }),
      domain('c', { domain: 'c.test', routing: { host: 'gw-smtp.mail', port: 25 } }),
      domain('d', { domain: 'd.test', routing: { host: '127.0.0.1', port: 2525 } }),
    ];
    const f = lint([g], self, [], { listen: { host: '127.0.0.1', port: 2525 } }).filter((x) => x.code === 'MGW205');
    assert.deepEqual(f.map((x) => x.object), ['LocalDomain/mail/a', 'LocalDomain/mail/b', 'LocalDomain/mail/c', 'LocalDomain/mail/d']);
    assert.ok(f.every((x) => x.severity === 'Error'));
    const fine = lint([g], [domain('e', { domain: 'e.test', routing: { host: '127.0.0.1', port: 2527 } })], [], { listen: { host: '127.0.0.1', port: 2525 } });
    assert.deepEqual(fine.filter((x) => x.code === 'MGW205'), []);
  });

  it('MGW206: behind an edge, a LocalDomain without routing goes to the edge', () => {
    const g = gw({ integration: 'BehindEdgeGateway', relayHost: { host: '192.0.2.1' }, protection: { antivirus: { enabled: true } } });
    assert.deepEqual(codes(lint([g], [domain('a', { domain: 'a.test' })], [])), ['MGW206 spec.routing']);
    assert.deepEqual(lint([gw({ protection: { antivirus: { enabled: true } } })], [domain('a', { domain: 'a.test' })], []).filter((x) => x.code === 'MGW206'), []);
  });

  it('MGW107/MGW108: actions for a module that is off; behind an edge without anti-virus', () => {
    const g = gw({ integration: 'BehindEdgeGateway', relayHost: { host: '192.0.2.1' }, protection: { antivirus: { actions: { infected: 'Delete' } }, contentFilter: { action: 'Delete' } } });
    assert.deepEqual(codes(lint([g], [], [])), ['MGW107 spec.protection.antivirus.actions.infected', 'MGW107 spec.protection.contentFilter.action', 'MGW108 spec.protection.antivirus.enabled']);
  });

  it('MGW207: a trusted network with host bits set', () => {
    const n = trustedNetwork.parse({ apiVersion: 'mailgw.io/v1alpha1', kind: 'TrustedNetwork', metadata: meta('n'), spec: { gatewayRef: { name: 'gw' }, cidrs: ['10.1.2.3/8', '10.0.0.0/8', '192.0.2.7', '2001:db8::1/64'] } });
    const f = lint([gw({ protection: { antivirus: { enabled: true } } })], [], [n]).filter((x) => x.code === 'MGW207');
    assert.deepEqual(f.map((x) => x.field), ['spec.cidrs[0]', 'spec.cidrs[3]']);
    assert.match(f[0]!.message, /means 10\.0\.0\.0\/8/);
  });
});

describe('rule lints (issue 15)', () => {
  const gw = (integration: string, rules: unknown[], authentication: Record<string, unknown> = {}) => mailGateway.parse({
    apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw', namespace: 'mail' },
    spec: { integration, relayHost: { host: 'edge.corp.test' }, protection: { antivirus: { enabled: true } }, authentication, rules },
  });
  const codes = (g: ReturnType<typeof gw>) => lint([g], [], []).filter((f) => /^MGW11[01]$|^MGW109$/.test(f.code)).map((f) => `${f.code} ${f.field}`);

  it('MGW109: a sender notice where senders cannot be authenticated', () => {
    const notify = { actions: { notify: [{ to: 'Sender' }, { to: 'Admin', address: 'sec@corp.test' }] } };
    assert.deepEqual(codes(gw('BehindEdgeGatewayNoRecipientVerification', [{ name: 'r', ...notify }])), ['MGW109 spec.rules[0].actions.notify[0].to']);
    assert.deepEqual(codes(gw('Direct', [{ name: 'r', ...notify }], { spf: false, dmarc: false })), ['MGW109 spec.rules[0].actions.notify[0].to']);
    assert.deepEqual(codes(gw('Direct', [{ name: 'r', ...notify }])), []);
  });

  it('MGW110: settings and actions a mode never uses', () => {
    assert.deepEqual(codes(gw('Direct', [
      { name: 'a', mode: 'Skip', protection: { antivirus: { enabled: true } } },
      { name: 'b', mode: 'Delete', actions: { bcc: ['archive@corp.test'] } },
      { name: 'c', mode: 'Scan', protection: { antivirus: { enabled: true } }, actions: { bcc: ['archive@corp.test'] } },
    ])), ['MGW110 spec.rules[0].protection', 'MGW110 spec.rules[1].actions']);
  });

  it('MGW111: authentication matched with every check off', () => {
    assert.deepEqual(codes(gw('Direct', [{ name: 'a', match: { authentication: { spf: 'Fail' } } }], { spf: false, dkim: false, dmarc: false })), ['MGW111 spec.rules[0].match.authentication']);
  });

  it('the seed scheme: a per-rule Reject is backscatter too (MGW103)', () => {
    const f = lint([gw('BehindEdgeGatewayNoRecipientVerification', [{ name: 'a', protection: { antivirus: { actions: { infected: 'Reject' } } } }])], [], []);
    assert.ok(f.some((x) => x.code === 'MGW103' && x.field === 'spec.rules[0].protection.antivirus.actions.infected'));
  });
});

describe('outbound lints (issue 16)', () => {
  const gw = (spec: Record<string, unknown>) => mailGateway.parse({ apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name: 'gw', namespace: 'mail' }, spec: { integration: 'Direct', ...spec } });
  const codes = (g: ReturnType<typeof gw>) => lint([g], [], []).filter((f) => /^MGW11[234]$/.test(f.code)).map((f) => `${f.code} ${f.field}`);
  it('AUTH without TLS is an error; with Attempt a warning; Require is the old name of Encrypt', () => {
    assert.deepEqual(codes(gw({ tls: { outbound: { mode: 'None' } }, relayHost: { host: 'smarthost.example', auth: { secretName: 'login' } }, transports: [{ name: 'p', domains: ['p.example'], nextHops: [{ host: 'mx.p.example' }], auth: { secretName: 'l2' } }] })),
      ['MGW112 spec.relayHost.auth', 'MGW112 spec.transports[0].auth']);
    assert.deepEqual(codes(gw({ relayHost: { host: 'smarthost.example', auth: { secretName: 'login' } } })), ['MGW113 spec.relayHost.tls.mode']);
    assert.deepEqual(codes(gw({ tls: { outbound: { mode: 'Require' } }, relayHost: { host: 'smarthost.example', tls: { mode: 'Verify' }, auth: { secretName: 'login' } } })), ['MGW114 spec.tls.outbound.mode']);
  });
});
