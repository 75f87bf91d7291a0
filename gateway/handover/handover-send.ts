/**
 * The retiring side of a handover: sends every message still queued to a
 * peer gateway's handover listener and removes it from this spool only after
 * the peer's 250 (which the peer gives once the message is fsynced there).
 * A message the peers cannot take stays in the spool, on its volume, and is
 * reported; nothing is dropped. Several connections work in parallel, each
 * starting at a different peer, moving on to the next peer when one fails.
 */
import { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import type { Runtime } from '../runtime.ts';
import { encodeHandoverLine, handoverOf, HANDOVER_USER } from './handover-wire.ts';

export interface Peer {
  host: string;
  port: number;
}

export interface HandoverResult {
  moved: number;
  /** Messages still in this spool (no peer took them, or the deadline came). */
  left: number;
}

const peerName = (p: Peer) => `${p.host}:${p.port}`;

function connect(peer: Peer, token: string, helo: string, timeoutMs: number): Promise<SMTPConnection> {
  const conn = new SMTPConnection({ host: peer.host, port: peer.port, name: helo, ignoreTLS: true, connectionTimeout: timeoutMs, greetingTimeout: timeoutMs, socketTimeout: timeoutMs * 6, logger: false });
  return new Promise((resolve, reject) => {
    conn.once('error', reject);
    conn.connect(() => {
      conn.login({ user: HANDOVER_USER, pass: token }, (err) => {
        if (err) {
          conn.close();
          return reject(err);
        }
        conn.removeListener('error', reject);
        conn.on('error', () => undefined);
        resolve(conn);
      });
    });
  });
}

function send(conn: SMTPConnection, from: string, to: string[], body: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    conn.send({ from, to } as SMTPConnection.Envelope, body, (err, info) => (err ? reject(err) : resolve((info as { response?: string }).response ?? '')));
  });
}

export async function handOverQueue(rt: Runtime, peers: readonly Peer[], token: string, deadline: number, workers = 4): Promise<HandoverResult> {
  const { spool, logger, metrics } = rt;
  if (peers.length === 0) return { moved: 0, left: spool.size };
  const ids = [...spool.messages()].sort((a, b) => a.envelope.receivedAt.localeCompare(b.envelope.receivedAt)).map((m) => m.id);
  let next = 0;
  let moved = 0;
  const deadPeers = new Set<string>();

  const worker = async (w: number): Promise<void> => {
    let conn: SMTPConnection | undefined;
    let at = w % peers.length;
    try {
      while (next < ids.length && Date.now() < deadline) {
        const id = ids[next++]!;
        const msg = spool.get(id);
        if (!msg || rt.queue.isActive(id)) continue; // an attempt that outlived the drain may still deliver it: it stays
        const h = handoverOf(msg);
        if (!h) {
          await spool.remove(id); // nothing left to deliver: it was only waiting to be removed
          continue;
        }
        let done = false;
        for (let tries = 0; tries < peers.length && !done && Date.now() < deadline; tries++) {
          const peer = peers[(at + tries) % peers.length]!;
          if (deadPeers.has(peerName(peer))) continue;
          if (!conn) {
            try {
              conn = await connect(peer, token, rt.config.hostname, 10_000);
            } catch (err) {
              // Unreachable, or it refused the login: not tried again.
              deadPeers.add(peerName(peer));
              logger.warn({ event: 'handover-failed', peer: peerName(peer), err: (err as Error).message }, `cannot hand over to ${peerName(peer)}`);
              continue;
            }
          }
          try {
            const body = Readable.from((async function* () {
              yield encodeHandoverLine(h);
              yield* spool.createReadStream(id);
            })());
            const reply = await send(conn, h.envelope.mailFrom, h.envelope.rcptTo.map((r) => r.address), body);
            await spool.remove(id);
            moved++;
            metrics.handover.inc({ direction: 'out', result: 'moved' });
            logger.info({ event: 'handed-over', qid: id, peer: peerName(peer), reply, to: h.envelope.rcptTo.map((r) => r.address), held: h.state.held }, `${id} handed over to ${peerName(peer)}`);
            at = (at + tries) % peers.length;
            done = true;
          } catch (err) {
            const e = err as Error & { responseCode?: number };
            metrics.handover.inc({ direction: 'out', result: 'failed' });
            logger.warn({ event: 'handover-failed', qid: id, peer: peerName(peer), code: e.responseCode, err: e.message }, `handover of ${id} to ${peerName(peer)} failed`);
            conn.close();
            conn = undefined;
          }
        }
        if (deadPeers.size === peers.length) return;
      }
    } finally {
      if (conn) conn.quit();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(workers, ids.length)) }, (_, w) => worker(w)));
  return { moved, left: spool.size };
}
