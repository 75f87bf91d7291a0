/**
 * The one way into the queue, like Postfix's cleanup(8): every new queue
 * entry — a message received over SMTP (whole, or one per rule group after
 * the verdict), a bounce or notice, a released backup, a message handed over
 * by a retiring peer — is written to the spool here, committed durably with
 * its envelope (and, for a handed-over message, its delivery state), and
 * only then given to the queue manager. A failure at any step leaves nothing
 * in the spool and nothing queued.
 *
 * Every stage may call the injector; apart from it, no stage imports an
 * earlier stage's folder (DESIGN.md, the message pipeline).
 */
import type { Spool } from '../spool/spool.ts';
import type { DeliveryState, Envelope, StoredMessage } from '../spool/spool-types.ts';

export type Write = (data: Buffer) => Promise<void> | undefined;

/** A queue entry being written: its bytes as they come, then commit (durable and queued) or abort. */
export interface Injection {
  readonly id: string;
  /** Bytes written so far. */
  readonly bytes: number;
  /** Appends; a promise only when the spool is behind (backpressure). */
  write: Write;
  /** Durable, with `state` when given (a handed-over message keeps its attempts), then queued. */
  commit(envelope: Omit<Envelope, 'size' | 'crc'>, state?: DeliveryState): Promise<StoredMessage>;
  /** Nothing of it stays in the spool. */
  abort(): void;
}

export class Injector {
  private readonly spool: Spool;
  private readonly enqueue: (m: StoredMessage) => void;

  /** `enqueue` hands a committed entry to the queue manager. */
  constructor(spool: Spool, enqueue: (m: StoredMessage) => void) {
    this.spool = spool;
    this.enqueue = enqueue;
  }

  /** A queue id not in use (a handed-over message keeps its own when it can). */
  has(id: string): boolean {
    return this.spool.get(id) !== undefined;
  }

  /** Starts a queue entry whose envelope is known only once its bytes are in (SMTP DATA, a handover). */
  open(id: string): Injection {
    const writer = this.spool.begin(id);
    const spool = this.spool;
    const enqueue = this.enqueue;
    return {
      id,
      get bytes() {
        return writer.bytes;
      },
      write: (data) => writer.write(data),
      async commit(envelope, state) {
        let stored: StoredMessage;
        try {
          stored = await writer.commit(envelope);
        } catch (err) {
          writer.abort();
          throw err;
        }
        if (state) {
          try {
            await spool.setState(stored.id, state);
          } catch (err) {
            // Without its state the entry would be delivered as new: keep none rather than that.
            await spool.remove(stored.id).catch(() => undefined);
            throw err;
          }
        }
        enqueue(stored);
        return stored;
      },
      abort: () => writer.abort(),
    };
  }

  /** Writes a whole queue entry: `produce` writes its bytes; then it is committed and queued, or aborted on any error. */
  async inject(id: string, produce: (write: Write) => Promise<void>, envelope: Omit<Envelope, 'size' | 'crc'>): Promise<StoredMessage> {
    const entry = this.open(id);
    try {
      await produce(entry.write);
    } catch (err) {
      entry.abort();
      throw err;
    }
    return entry.commit(envelope);
  }
}
