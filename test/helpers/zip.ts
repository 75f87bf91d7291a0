/** A minimal zip writer (stored entries) for test fixtures: archives with chosen names and contents, nested at will. */
import { crc32, deflateRawSync } from 'node:zlib';

/**
 * Entries are stored, or deflated when the third element is true (for a zip bomb: a big run of zeros compresses
 * to little). The fourth marks an entry encrypted (the flag only: its bytes are not really encrypted).
 */
export function makeZip(entries: [name: string, data: Buffer | string, deflate?: boolean, encrypted?: boolean][]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, raw, deflate, encrypted] of entries) {
    const plain = Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'latin1');
    const packed = deflate ? deflateRawSync(plain) : plain;
    // An encrypted entry carries a 12-byte encryption header before its data (traditional PKWARE encryption).
    const data = encrypted ? Buffer.concat([Buffer.alloc(12, 0x5a), packed]) : packed;
    const n = Buffer.from(name, 'utf8');
    const crc = crc32(plain);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(encrypted ? 1 : 0, 6);
    local.writeUInt16LE(deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(plain.length, 22);
    local.writeUInt16LE(n.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(encrypted ? 1 : 0, 8);
    central.writeUInt16LE(deflate ? 8 : 0, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(plain.length, 24);
    central.writeUInt16LE(n.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, n, data);
    centrals.push(central, n);
    offset += 30 + n.length + data.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}
