/**
 * Leader election on a coordination.k8s.io/v1 Lease (client-go's
 * leaderelection): the holder renews every retryPeriod; a candidate takes
 * the Lease over once renewTime + leaseDuration has passed. Optimistic
 * concurrency (resourceVersion) decides races. A leader that cannot renew
 * within the lease duration steps down; on shutdown it releases the Lease so
 * a standby takes over at once.
 */
import { V1MicroTime } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { K8sApi } from './k8s-api.ts';

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  retryPeriodMs: number;
  now?: () => number;
}

type Lease = {
  metadata?: { resourceVersion?: string };
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: Date | string; acquireTime?: Date | string; leaseTransitions?: number };
};

export class LeaderElector {
  private readonly api: K8sApi;
  private readonly o: LeaderElectionOptions;
  private readonly logger: Logger;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private lastRenew = 0;
  private stopped = false;
  onStartedLeading: () => void = () => undefined;
  onStoppedLeading: () => void = () => undefined;

  constructor(api: K8sApi, options: LeaderElectionOptions, logger: Logger) {
    this.api = api;
    this.o = options;
    this.logger = logger.child({ lease: `${options.namespace}/${options.name}`, identity: options.identity });
    this.now = options.now ?? Date.now;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.tick();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.o.retryPeriodMs);
  }

  private async tick(): Promise<void> {
    try {
      const ok = await this.tryAcquireOrRenew();
      if (ok) {
        this.lastRenew = this.now();
        if (!this.leading) {
          this.leading = true;
          this.logger.info({ event: 'leader-elected' }, 'became the leader');
          this.onStartedLeading();
        }
      } else if (this.leading) {
        this.stepDown('another holder took the lease');
      }
    } catch (err) {
      this.logger.warn({ event: 'lease-error', err: (err as Error).message }, 'lease update failed');
      if (this.leading && this.now() - this.lastRenew > this.o.leaseDurationMs) this.stepDown('could not renew the lease in time');
    }
    this.schedule();
  }

  private stepDown(why: string): void {
    this.leading = false;
    this.logger.warn({ event: 'leader-lost', reason: why }, 'stopped leading');
    this.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    // MicroTime: the real API server wants six fractional digits (a plain Date's three are refused with 400).
    const now = new V1MicroTime(this.now());
    const spec = { holderIdentity: this.o.identity, leaseDurationSeconds: Math.max(1, Math.round(this.o.leaseDurationMs / 1000)), renewTime: now };
    let lease: Lease;
    try {
      lease = await this.api.coordination.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace }) as Lease;
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
      await this.api.coordination.createNamespacedLease({
        namespace: this.o.namespace,
        body: { metadata: { name: this.o.name, namespace: this.o.namespace }, spec: { ...spec, acquireTime: now, leaseTransitions: 0 } },
      });
      return true;
    }
    const holder = lease.spec?.holderIdentity ?? '';
    const renewed = lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : 0;
    const duration = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
    const expired = !holder || renewed + duration < this.now();
    if (holder !== this.o.identity && !expired) return false;
    const taking = holder !== this.o.identity;
    try {
      await this.api.coordination.replaceNamespacedLease({
        name: this.o.name, namespace: this.o.namespace,
        body: {
          metadata: { name: this.o.name, namespace: this.o.namespace, resourceVersion: lease.metadata?.resourceVersion ?? '' },
          spec: {
            ...spec,
            acquireTime: taking ? now : (lease.spec?.acquireTime ? new V1MicroTime(new Date(lease.spec.acquireTime).getTime()) : now),
            leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + (taking ? 1 : 0),
          },
        },
      });
    } catch (err) {
      if ((err as { code?: number }).code === 409) return false; // someone else won the race
      throw err;
    }
    return true;
  }

  /** Stops campaigning; a leader releases the Lease (empty holder) so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.api.coordination.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace }) as Lease;
      if (lease.spec?.holderIdentity === this.o.identity) {
        await this.api.coordination.replaceNamespacedLease({
          name: this.o.name, namespace: this.o.namespace,
          body: { metadata: { name: this.o.name, namespace: this.o.namespace, resourceVersion: lease.metadata?.resourceVersion ?? '' }, spec: { ...lease.spec, holderIdentity: '', renewTime: new V1MicroTime(0), ...(lease.spec?.acquireTime ? { acquireTime: new V1MicroTime(new Date(lease.spec.acquireTime).getTime()) } : {}) } as never },
        });
        this.logger.info({ event: 'leader-released' }, 'released the lease');
      }
    } catch (err) {
      this.logger.warn({ event: 'lease-error', err: (err as Error).message }, 'could not release the lease');
    }
  }
}
