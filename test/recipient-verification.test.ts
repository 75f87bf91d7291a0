/**
 * RejectUnverified against a real SMTP peer (smtp-server standing for the
 * internal mail server) that knows some users, and against one that is down.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { closedPort } from './helpers/ports.ts';
import { SMTPServer } from 'smtp-server';
import { buildConfig, startGateway, type Running } from './helpers/config.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';

const KNOWN = new Set(['alice@corp.test', 'bob@corp.test']);

async function internalServer(): Promise<{ port: number; probes: string[]; close: () => Promise<void> }> {
  const probes: string[] = [];
  const server = new SMTPServer({
    disabledCommands: ['AUTH', 'STARTTLS'], logger: false, disableReverseLookup: true,
    onRcptTo(address, _session, cb) {
      probes.push(address.address);
      if (address.address === 'busy@corp.test') return cb(Object.assign(new Error('Try again later'), { responseCode: 451 }));
      cb(KNOWN.has(address.address.toLowerCase()) ? null : Object.assign(new Error('No such user here'), { responseCode: 550 }));
    },
    onData(stream, _s, cb) {
      stream.resume();
      stream.on('end', () => cb(new Error('no DATA expected from a callout')));
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.server.address() as AddressInfo).port;
  return { port, probes, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('recipient verification (RejectUnverified)', () => {
  let peer: Awaited<ReturnType<typeof internalServer>>;
  let gw: Running;
  before(async () => {
    peer = await internalServer();
    const down = await closedPort();
    gw = await startGateway(buildConfig({
      spec: { integration: 'Direct', recipientVerification: { mode: 'RejectUnverified', timeout: '2s' } },
      domains: [
        { domain: 'corp.test', routing: { host: '127.0.0.1', port: peer.port } },
        { domain: 'down.test', routing: { host: '127.0.0.1', port: down } },
      ],
      networks: ['127.0.0.1/32'],
    }));
  });
  after(async () => {
    await gw.close();
    await peer.close();
  });

  it('the Direct preset turns verification on', () => {
    const direct = buildConfig({ spec: { integration: 'Direct' } });
    assert.equal(direct.recipientVerification.mode, 'RejectUnverified');
    const seed = buildConfig({ spec: { integration: 'BehindEdgeGatewayNoRecipientVerification' } });
    assert.equal(seed.recipientVerification.mode, 'DoNotReject');
  });

  it('accepts a user the next hop knows and rejects one it does not with 550 5.1.1, caching both', async () => {
    const c = await SmtpDialog.open(gw.port, '127.0.0.2');
    await c.begin();
    assert.equal((await c.cmd('RCPT TO:<alice@corp.test>')).code, 250);
    const unknown = await c.cmd('RCPT TO:<nobody@corp.test>');
    assert.equal(unknown.code, 550);
    assert.match(unknown.text, /^5\.1\.1 <nobody@corp\.test>: Recipient address rejected/);
    const probes = peer.probes.length;
    assert.equal((await c.cmd('RCPT TO:<Alice@corp.test>')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<nobody@corp.test>')).code, 550);
    assert.equal(peer.probes.length, probes, 'answers came from the cache');
    c.close();
  });

  it('answers 450 4.1.1 when the next hop answers 4xx, and does not cache it', async () => {
    const c = await SmtpDialog.open(gw.port, '127.0.0.2');
    await c.begin();
    const r = await c.cmd('RCPT TO:<busy@corp.test>');
    assert.equal(r.code, 450);
    assert.match(r.text, /^4\.1\.1 /);
    const n = peer.probes.filter((p) => p === 'busy@corp.test').length;
    await c.cmd('RCPT TO:<busy@corp.test>');
    assert.equal(peer.probes.filter((p) => p === 'busy@corp.test').length, n + 1);
    c.close();
  });

  it('answers 450 4.1.1 when the next hop is down', async () => {
    const c = await SmtpDialog.open(gw.port, '127.0.0.2');
    await c.begin();
    const r = await c.cmd('RCPT TO:<anyone@down.test>');
    assert.equal(r.code, 450);
    assert.match(r.text, /^4\.1\.1 <anyone@down\.test>: Recipient address verification failed: next hop unreachable/);
    c.close();
  });

  it('does not verify recipients of trusted-network senders', async () => {
    const c = await SmtpDialog.open(gw.port, '127.0.0.1');
    await c.begin();
    const before = peer.probes.length;
    assert.equal((await c.cmd('RCPT TO:<stranger@corp.test>')).code, 250);
    assert.equal(peer.probes.length, before);
    c.close();
  });
});
