/**
 * Test fixtures: build a rendered gateway config from manifest-shaped
 * objects (through the real schemas and renderer), start a gateway on
 * 127.0.0.1 port 0 with its log captured in memory.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { localDomain, mailGateway, trustedNetwork, type GatewayConfig } from '../../api/index.ts';
import { renderGatewayConfig, type RenderOptions } from '../../operator/render-gateway-config.ts';
import type { Authenticator } from '../../gateway/admin/ops-server.ts';
import { Gateway } from '../../gateway/gateway.ts';

export interface Fixture {
  spec?: Record<string, unknown>;
  domains?: (string | Record<string, unknown>)[];
  networks?: string[];
}

export function buildConfig(f: Fixture, options: RenderOptions = {}): GatewayConfig {
  const meta = (name: string) => ({ name, namespace: 'test' });
  // Tests that are not about sender authentication turn it off, and DNS never leaves loopback (port 9: nothing answers).
  const gw = mailGateway.parse({
    apiVersion: 'mailgw.io/v1alpha1', kind: 'MailGateway', metadata: meta('gw'),
    spec: { hostname: 'mx.gateway.test', authentication: { spf: false, dkim: false, dmarc: false }, resolver: { servers: ['127.0.0.1:9'], timeout: '1s' }, ...f.spec },
  });
  const domains = (f.domains ?? []).map((d, i) => localDomain.parse({
    apiVersion: 'mailgw.io/v1alpha1', kind: 'LocalDomain', metadata: meta(`d${i}`),
    spec: { gatewayRef: { name: 'gw' }, ...(typeof d === 'string' ? { domain: d } : d) },
  }));
  const networks = f.networks && f.networks.length > 0
    ? [trustedNetwork.parse({ apiVersion: 'mailgw.io/v1alpha1', kind: 'TrustedNetwork', metadata: meta('n'), spec: { gatewayRef: { name: 'gw' }, cidrs: f.networks } })]
    : [];
  return renderGatewayConfig(gw, domains, networks, options);
}

export class LogCapture {
  readonly lines: Record<string, unknown>[] = [];
  readonly stream = new Writable({
    write: (chunk: Buffer, _enc, cb) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) this.lines.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });

  find(pred: (l: Record<string, unknown>) => boolean): Record<string, unknown> | undefined {
    return this.lines.find(pred);
  }
}

export interface Running {
  gateway: Gateway;
  port: number;
  log: LogCapture;
  stateDir: string;
  close(): Promise<void>;
}

export function tempDir(prefix = 'mailgw-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Starts a gateway on `host` port 0. Delivery is off unless asked for, so a
 * receive-side test never makes the queue look up MX records of its domains.
 */
export async function startGateway(config: GatewayConfig, stateDir: string = tempDir(), host = '127.0.0.1', opts: { deliver?: boolean; certPollMs?: number; mtaStsPort?: number; ops?: Authenticator } = {}): Promise<Running> {
  const log = new LogCapture();
  const gateway = await Gateway.start(config, { host, port: 0, stateDir, logger: pino({ level: 'debug' }, log.stream), deliver: opts.deliver ?? false, connectTimeoutMs: 3000, certPollMs: opts.certPollMs, mtaStsPort: opts.mtaStsPort,
    ...(opts.ops ? { ops: { host, port: 0, auth: opts.ops } } : {}) });
  return { gateway, port: gateway.address().port, log, stateDir, close: async () => { await gateway.close(); } };
}
