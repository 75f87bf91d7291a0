/**
 * The messages between a pod's supervisor and its worker processes, over
 * the IPC channel `child_process.fork` opens (structured clone). The
 * supervisor starts, reloads, questions and stops; a worker answers.
 */
import type { GatewayConfig } from '../../api/index.ts';
import type { Peer } from '../handover/handover-send.ts';

export interface WorkerStart {
  kind: 'start';
  index: number;
  /** How many workers the pod runs (each takes its share of the pod's limits). */
  workers: number;
  config: GatewayConfig;
  stateDir: string;
  host: string;
  port: number;
  /** The pod's handover listener (shared port), when it has one. */
  handover?: { host: string; port: number; token: string } | undefined;
  /** The loopback handover port where stranded spools drain (0: the first worker picks one). */
  localHandover: { port: number; token: string };
  durable?: boolean | undefined;
  connectTimeoutMs?: number | undefined;
  /** Drain mode: no share of the traffic; deliver nothing, hand every queued message to these peers (the pod's workers), then exit. */
  drain?: { peers: Peer[]; handoverMs: number } | undefined;
}

export interface RetirePlan {
  peers: Peer[];
  token: string;
  drainMs: number;
  handoverMs: number;
}

export type ToWorker =
  | WorkerStart
  | { kind: 'reload'; config: GatewayConfig; loadMs?: number | undefined }
  | { kind: 'ask'; id: number; what: 'metrics' | 'ready' }
  | { kind: 'stop'; retire?: RetirePlan | undefined };

export type FromWorker =
  | { kind: 'started'; index: number; smtpPort: number; localHandoverPort: number }
  | { kind: 'failed'; index: number; error: string; startup: boolean }
  | { kind: 'answer'; id: number; value: unknown }
  | { kind: 'drained'; moved: number; left: number }
  | { kind: 'stopped'; left: number };
