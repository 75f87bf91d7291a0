/**
 * The gateway's runtime: the rendered config plus the lookup tables and
 * services built from it once, shared by every SMTP stage. A config reload
 * (operator issue) swaps the whole object; a session keeps the one it began with.
 */
import type { Logger } from 'pino';
import type { GatewayConfig } from '../api/index.ts';
import { DomainTable } from './tables/domain-table.ts';
import { NetworkTable } from './tables/network-table.ts';
import type { ClientLimits } from './listener/client-limits.ts';
import type { Spool } from './spool/spool.ts';
import type { RecipientVerifier } from './verify/rcpt-verify.ts';
import type { QueueManager } from './queue/queue-manager.ts';
import type { QueueAdmin } from './queue/queue-admin.ts';
import type { Resolver } from 'node:dns/promises';
import type { BackupStore } from './backup/backup-store.ts';
import type { Injector } from './inject/injector.ts';
import { RuleTable } from './protection/rules.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { MemoryBudget } from './memory-budget.ts';
import type { TrafficLog } from './traffic/traffic-log.ts';

export interface Runtime {
  config: GatewayConfig;
  domains: DomainTable;
  trusted: NetworkTable;
  loadBalancers: NetworkTable;
  limits: ClientLimits;
  spool: Spool;
  /** The one way into the queue (inject/injector.ts). */
  injector: Injector;
  verifier: RecipientVerifier;
  /** Whether address:port is one of this gateway's own SMTP listeners. */
  isSelf: (address: string, port: number) => boolean;
  /** The scheduler (Postfix qmgr). */
  queue: QueueManager;
  /** list, stats, flush, hold, release, delete (Postfix showq/postsuper). */
  queueAdmin: QueueAdmin;
  resolver: Resolver;
  rules: RuleTable;
  backup: BackupStore;
  /** Where messages wait, as files, while they are scanned (spool/incoming.ts). */
  incomingDir: string;
  /** The process's memory budget (memory-budget.ts). */
  memory: MemoryBudget;
  metrics: GatewayMetrics;
  /** The traffic log (traffic/), when trafficLog.enabled; the logger feeds it. */
  traffic?: TrafficLog | undefined;
  logger: Logger;
}

export function buildTables(config: GatewayConfig): Pick<Runtime, 'domains' | 'trusted' | 'loadBalancers' | 'rules'> {
  return {
    rules: new RuleTable(config.rules, config.defaultRule),
    domains: new DomainTable(config.localDomains),
    trusted: new NetworkTable(config.trustedNetworks.map((n) => n.cidr)),
    loadBalancers: new NetworkTable(config.proxyProtocol.trustedLoadBalancers),
  };
}
