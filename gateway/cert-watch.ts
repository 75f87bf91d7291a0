/**
 * Live Secrets (issue 16): the inbound certificate is re-read when its
 * mounted files change (the kubelet swaps them when cert-manager renews the
 * Secret) and given to smtp-server's public updateSecureContext, so the next
 * TLS handshake uses it while sessions in flight keep theirs; no restart.
 * Every certificate the gateway presents (inbound, and outbound client
 * certificates) is reported in days until it expires.
 *
 * Files are polled by modification time and size (a Secret volume's files
 * are symlinks the kubelet re-points, which fs.watch would not follow). A
 * new pair that does not load is logged and ignored: the old one stays.
 */
import { stat, readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../api/index.ts';
import type { GatewayMetrics } from './metrics.ts';

/** The certificates a config presents, by name: file. */
export function presentedCertificates(c: GatewayConfig): Map<string, string> {
  const out = new Map<string, string>();
  if (c.tls.inbound.certFile && c.tls.inbound.mode !== 'None') out.set('inbound', c.tls.inbound.certFile);
  if (c.tls.outbound.certFile) out.set('outbound', c.tls.outbound.certFile);
  if (c.relay?.tls?.certFile) out.set('relayHost', c.relay.tls.certFile);
  for (const t of c.transports ?? []) if (t.route.tls?.certFile) out.set(`transport/${t.name}`, t.route.tls.certFile);
  return out;
}

/** Days from `now` until the certificate (the first in a PEM bundle) expires. */
export function daysLeft(pem: Buffer, now = Date.now()): number {
  return (Date.parse(new X509Certificate(pem).validTo) - now) / 86_400_000;
}

export interface CertWatchTarget {
  config(): GatewayConfig;
  /** Apply a new inbound key pair (and CA) to the listener. */
  apply(ctx: { key: Buffer; cert: Buffer; ca?: Buffer | undefined }): void;
}

export class CertWatch {
  private readonly seen = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  private readonly target: CertWatchTarget;
  private readonly metrics: GatewayMetrics;
  private readonly logger: Logger;

  constructor(target: CertWatchTarget, metrics: GatewayMetrics, logger: Logger) {
    this.target = target;
    this.metrics = metrics;
    this.logger = logger;
  }

  start(intervalMs: number): void {
    void this.check();
    this.timer = setInterval(() => void this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** One look at the files (also what tests call). */
  check(): Promise<void> {
    this.running ??= this.look().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async stamp(file: string | undefined): Promise<string> {
    if (!file) return '-';
    try {
      const s = await stat(file);
      return `${s.mtimeMs}:${s.size}`;
    } catch {
      return 'missing';
    }
  }

  private async look(): Promise<void> {
    const c = this.target.config();
    for (const [name, file] of presentedCertificates(c)) {
      try {
        this.metrics.certificateExpiryDays.set({ certificate: name }, Math.round(daysLeft(await readFile(file)) * 100) / 100);
      } catch {
        // unreadable now: reported when the pair is loaded (inbound) or used (outbound)
      }
    }
    const tls = c.tls.inbound;
    if (tls.mode === 'None' || !tls.certFile || !tls.keyFile) return;
    const now = (await Promise.all([tls.certFile, tls.keyFile, tls.caFile].map((f) => this.stamp(f)))).join('|');
    const before = this.seen.get('inbound');
    this.seen.set('inbound', now);
    if (before === undefined || before === now) return;
    try {
      const [cert, key, ca] = await Promise.all([readFile(tls.certFile), readFile(tls.keyFile), tls.caFile ? readFile(tls.caFile) : undefined]);
      createSecureContext({ cert, key, ...(ca ? { ca } : {}) }); // a key that does not fit the certificate throws here
      this.target.apply({ cert, key, ca });
      const x = new X509Certificate(cert);
      this.metrics.certificateReloads.inc({ result: 'applied' });
      this.logger.info({ event: 'certificate-reloaded', certificate: 'inbound', subject: x.subject, serial: x.serialNumber, validTo: x.validTo }, 'new inbound certificate in use for new sessions');
    } catch (err) {
      this.metrics.certificateReloads.inc({ result: 'failed' });
      this.logger.error({ event: 'certificate-reload-failed', certificate: 'inbound', err: (err as Error).message }, 'the changed certificate files do not load: the previous certificate stays in use');
    }
  }
}
