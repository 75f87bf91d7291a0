/**
 * Spool record format (see docs/adr/0002-spool-log-format.md).
 *
 * A segment file is a sequence of records:
 *
 *   offset size  field
 *   0      4     magic "MGW1"
 *   4      1     type (1 CHUNK, 2 COMMIT, 3 REMOVE, 4 STATE)
 *   5      1     id length (bytes of the ASCII queue id)
 *   6      2     reserved, zero
 *   8      4     payload length (uint32 BE)
 *   12     4     CRC-32 of bytes 4..11, the id and the payload
 *   16     n     queue id (ASCII)
 *   16+n   len   payload
 *
 * CHUNK payload: message bytes. COMMIT payload: the envelope as JSON, whose
 * `size` and `crc` cover the message's CHUNK payloads in order. REMOVE: empty.
 * STATE: the delivery state as JSON (attempts, per-recipient outcome, hold);
 * the last STATE of a live message wins.
 * A record is valid only if it is complete and its CRC matches.
 */
import { crc32 } from 'node:zlib';

export const MAGIC = Buffer.from('MGW1', 'ascii');
export const HEADER_SIZE = 16;
export const MAX_PAYLOAD = 64 * 1024 * 1024;

export const RecordType = { Chunk: 1, Commit: 2, Remove: 3, State: 4 } as const;
export type RecordTypeValue = (typeof RecordType)[keyof typeof RecordType];

export interface DecodedRecord {
  type: RecordTypeValue;
  id: string;
  /** Offset of the payload within the buffer that was decoded. */
  payloadOffset: number;
  payloadLength: number;
  /** Total record length (header, id, payload). */
  length: number;
}

export function encodeRecord(type: RecordTypeValue, id: string, payload: Buffer = Buffer.alloc(0)): Buffer[] {
  const idBytes = Buffer.from(id, 'ascii');
  const header = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(header, 0);
  header.writeUInt8(type, 4);
  header.writeUInt8(idBytes.length, 5);
  header.writeUInt32BE(payload.length, 8);
  let crc = crc32(header.subarray(4, 12));
  crc = crc32(idBytes, crc);
  crc = crc32(payload, crc);
  header.writeUInt32BE(crc, 12);
  return payload.length > 0 ? [header, idBytes, payload] : [header, idBytes];
}

/**
 * Decodes the record at `offset`, or returns undefined when the bytes there
 * are not a complete, intact record (torn write, garbage, end of file).
 */
export function decodeRecord(buf: Buffer, offset: number): DecodedRecord | undefined {
  if (offset + HEADER_SIZE > buf.length) return undefined;
  if (buf.compare(MAGIC, 0, 4, offset, offset + 4) !== 0) return undefined;
  const type = buf.readUInt8(offset + 4);
  const idLength = buf.readUInt8(offset + 5);
  const payloadLength = buf.readUInt32BE(offset + 8);
  if (type < 1 || type > 4 || idLength === 0 || payloadLength > MAX_PAYLOAD) return undefined;
  const end = offset + HEADER_SIZE + idLength + payloadLength;
  if (end > buf.length) return undefined;
  let crc = crc32(buf.subarray(offset + 4, offset + 12));
  crc = crc32(buf.subarray(offset + HEADER_SIZE, end), crc);
  if (crc !== buf.readUInt32BE(offset + 12)) return undefined;
  return {
    type: type as RecordTypeValue,
    id: buf.toString('ascii', offset + HEADER_SIZE, offset + HEADER_SIZE + idLength),
    payloadOffset: offset + HEADER_SIZE + idLength,
    payloadLength,
    length: end - offset,
  };
}

/** Finds the next offset after `from` where an intact record starts, or -1. */
export function resync(buf: Buffer, from: number): number {
  let at = from;
  for (;;) {
    at = buf.indexOf(MAGIC, at + 1);
    if (at < 0) return -1;
    if (decodeRecord(buf, at)) return at;
  }
}
