/**
 * The operator under trouble: the API server restarts and compacts its
 * watch history (410 Gone), the leader dies, and 1,000 LocalDomains arrive
 * at once.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startEmulator } from '../k8s-emulator/server.ts';
import { eventually, kubectl, startOperator } from '../helpers/operator-process.ts';

const NS = 'mail';
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const gateway = (name: string) => ({ apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: { name }, spec: { integration: 'BehindEdgeGateway', relayHost: { host: '192.0.2.10' } } });
const domain = (name: string, d: string) => ({ apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: { name }, spec: { gatewayRef: { name: 'gw' }, domain: d } });

describe('operator resilience', () => {
  it('recovers from an API server restart with a compacted watch history (410) without restarting', { timeout: 60_000 }, async () => {
    const em = await startEmulator();
    const k = kubectl(em);
    const op = startOperator(em, 'op-restart');
    try {
      await op.waitFor((l) => l.event === 'controllers-started');
      await k.create('mailgateways', NS, gateway('gw'));
      await k.create('localdomains', NS, domain('a', 'a.example'));
      const config = () => JSON.parse((em.store.get(em.store.typeOf!('', 'configmaps')!, NS, 'gw-config') as Json).data['gateway.json']) as Json;
      await eventually('first config', () => config().localDomains.length === 1);
      await em.restart({ compact: true, downMs: 500 });
      await op.waitFor((l) => l.event === 'watch-error');
      await k.create('localdomains', NS, domain('b', 'b.example'));
      await eventually('config after the restart', () => config().localDomains.length === 2, 20_000);
      // A watch resumed from a compacted resourceVersion gets 410 and relists.
      em.store.compact();
      em.endWatches();
      await k.create('localdomains', NS, domain('c', 'c.example'));
      await eventually('config after 410', () => config().localDomains.length === 3, 20_000);
      assert.equal(op.proc.exitCode, null, 'the operator kept running');
    } finally {
      await op.stop();
      await em.stop();
    }
  });

  it('the standby takes over within the lease duration when the leader dies; SIGTERM hands over at once', { timeout: 60_000 }, async () => {
    const em = await startEmulator();
    const k = kubectl(em);
    // A 6 s lease (renewed every 2 s) keeps "after expiry" and "at the next retry" far apart on a busy machine.
    const LEASE_MS = 6000;
    const a = startOperator(em, 'op-a', { leaseDuration: '6s' });
    await a.waitFor((l) => l.event === 'controllers-started');
    const b = startOperator(em, 'op-b', { leaseDuration: '6s' });
    try {
      await b.waitFor((l) => l.event === 'operator-started');
      await new Promise((r) => setTimeout(r, 2500));
      assert.ok(!b.lines.some((l) => l.event === 'leader-elected'), 'one leader at a time');
      await k.create('mailgateways', NS, gateway('gw'));
      await eventually('leader reconciled', () => em.store.list(em.store.typeOf!('', 'configmaps')!, NS).length === 1);
      const killedAt = Date.now();
      a.proc.kill('SIGKILL');
      await b.waitFor((l) => l.event === 'leader-elected', 20_000);
      const tookOver = Date.now() - killedAt;
      assert.ok(tookOver < LEASE_MS + 3000, `took over in ${tookOver} ms (lease ${LEASE_MS} ms)`);
      await k.create('localdomains', NS, domain('after', 'after.example'));
      await eventually('the new leader reconciles', () => JSON.parse((em.store.get(em.store.typeOf!('', 'configmaps')!, NS, 'gw-config') as Json).data['gateway.json']).localDomains.length === 1);
      const lease = em.store.get(em.store.typeOf!('coordination.k8s.io', 'leases')!, 'mailgw-system', 'mailgw-operator') as Json;
      assert.equal(lease.spec.holderIdentity, 'op-b');
      assert.equal(lease.spec.leaseTransitions, 1);

      const c = startOperator(em, 'op-c', { leaseDuration: '6s' });
      await c.waitFor((l) => l.event === 'operator-started');
      await new Promise((r) => setTimeout(r, 500));
      const stoppedAt = Date.now();
      assert.equal(await b.stop('SIGTERM'), 0, 'a clean exit on SIGTERM');
      await c.waitFor((l) => l.event === 'leader-elected', 20_000);
      const handover = Date.now() - stoppedAt;
      assert.ok(handover < LEASE_MS - 1500, `a released lease is taken at the next retry (${handover} ms), not after the lease duration`);
      await c.stop();
    } finally {
      await a.stop();
      await b.stop();
      await em.stop();
    }
  });

  it('1,000 LocalDomains created at once: the ConfigMap is written a handful of times', { timeout: 120_000 }, async () => {
    const em = await startEmulator({ historyLimit: 100_000 });
    const k = kubectl(em);
    const op = startOperator(em, 'op-bulk');
    try {
      await op.waitFor((l) => l.event === 'controllers-started');
      await k.create('mailgateways', NS, gateway('gw'));
      await eventually('gateway ready', () => em.store.list(em.store.typeOf!('', 'configmaps')!, NS).length === 1);
      const before = em.store.counters.requests.get('apply configmaps') ?? 0;
      const started = Date.now();
      const names = Array.from({ length: 1000 }, (_, i) => i);
      for (let i = 0; i < names.length; i += 100) {
        await Promise.all(names.slice(i, i + 100).map((n) => k.create('localdomains', NS, domain(`d${n}`, `d${n}.example`))));
      }
      await eventually('1,000 domains in the config', () => {
        const cm = em.store.get(em.store.typeOf!('', 'configmaps')!, NS, 'gw-config') as Json;
        return JSON.parse(cm.data['gateway.json']).localDomains.length === 1000;
      }, 60_000);
      const writes = (em.store.counters.requests.get('apply configmaps') ?? 0) - before;
      assert.ok(writes <= 25, `ConfigMap written ${writes} times for 1,000 domains`);
      op.lines.push({ event: 'test-note', convergeMs: Date.now() - started, writes });
    } finally {
      await op.stop();
      await em.stop();
    }
  });
});
