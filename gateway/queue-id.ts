/**
 * Queue ids: 16 characters of Crockford base32, time-ordered (milliseconds
 * since the epoch) plus randomness, so ids sort by arrival and never collide
 * across pods. Assigned at MAIL FROM, like a Postfix queue id, so every log
 * line of a transaction carries it.
 */
import { randomIdBytes } from './random-pool.ts';

const B32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export function newQueueId(now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 9; i++) {
    time = B32[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const rnd = randomIdBytes(5);
  let rand = '';
  let bits = 0;
  let acc = 0;
  for (const byte of rnd) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5 && rand.length < 7) {
      rand += B32[(acc >> (bits - 5)) & 31]!;
      bits -= 5;
    }
  }
  return time + rand;
}

export const QUEUE_ID_RE = /^[0-9A-HJKMNP-TV-Z]{16}$/;
