/**
 * Per-client and total connection limits, and per-client connection and
 * message rates (Postfix anvil). Counts are per client address after PROXY
 * decoding. Trusted networks are exempt from the per-client limits, as
 * Postfix exempts $mynetworks (smtpd_client_event_limit_exceptions); the
 * total limit applies to everyone.
 *
 * Rates use a sliding 60 s window of timestamps, bounded by the limit itself.
 * The clock is injected for tests.
 */
export type LimitRefusal = 'connections-total' | 'connections-per-client' | 'connection-rate';

export interface LimitSettings {
  connectionsPerClient: number;
  connectionsTotal: number;
  connectionRatePerClient: number;
  messageRatePerClient: number;
}

const WINDOW_MS = 60_000;

export class ClientLimits {
  private settings: LimitSettings;
  private readonly now: () => number;
  private readonly open = new Map<string, number>();
  private total = 0;
  private readonly connectionTimes = new Map<string, number[]>();
  private readonly messageTimes = new Map<string, number[]>();
  private sweepAt = 0;

  constructor(settings: LimitSettings, now: () => number = Date.now) {
    this.settings = settings;
    this.now = now;
  }

  update(settings: LimitSettings): void {
    this.settings = settings;
  }

  get openConnections(): number {
    return this.total;
  }

  /** Registers a new connection, or says why it is refused. */
  connect(client: string, exempt: boolean): LimitRefusal | undefined {
    const s = this.settings;
    if (s.connectionsTotal > 0 && this.total >= s.connectionsTotal) return 'connections-total';
    if (!exempt) {
      if (s.connectionsPerClient > 0 && (this.open.get(client) ?? 0) >= s.connectionsPerClient) return 'connections-per-client';
      if (s.connectionRatePerClient > 0 && !this.hit(this.connectionTimes, client, s.connectionRatePerClient)) return 'connection-rate';
    }
    this.total++;
    this.open.set(client, (this.open.get(client) ?? 0) + 1);
    return undefined;
  }

  disconnect(client: string): void {
    this.total = Math.max(0, this.total - 1);
    const n = (this.open.get(client) ?? 1) - 1;
    if (n <= 0) this.open.delete(client);
    else this.open.set(client, n);
  }

  /** Counts one message (MAIL FROM); false when the client is over its rate. */
  message(client: string, exempt: boolean): boolean {
    const limit = this.settings.messageRatePerClient;
    if (exempt || limit === 0) return true;
    return this.hit(this.messageTimes, client, limit);
  }

  private hit(table: Map<string, number[]>, client: string, limit: number): boolean {
    const now = this.now();
    this.sweep(now);
    const times = (table.get(client) ?? []).filter((t) => now - t < WINDOW_MS);
    if (times.length >= limit) {
      table.set(client, times);
      return false;
    }
    times.push(now);
    table.set(client, times);
    return true;
  }

  /** Drops clients with no event in the window, so the tables stay bounded. */
  private sweep(now: number): void {
    if (now < this.sweepAt) return;
    this.sweepAt = now + WINDOW_MS;
    for (const table of [this.connectionTimes, this.messageTimes]) {
      for (const [client, times] of table) if (times.every((t) => now - t >= WINDOW_MS)) table.delete(client);
    }
  }
}
