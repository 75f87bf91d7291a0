/**
 * PROXY protocol v1 (text) and v2 (binary) header parsing, for connections
 * from trusted load balancers only (the listener decides who may send one).
 *
 * parseProxyHeader(buf) → { done, header?, rest } | { error } | { more: true }
 * readProxyHeader(socket, timeoutMs) reads from a socket until a header is
 * complete, puts back what follows it, and rejects on a malformed header,
 * timeout or close. A v2 LOCAL command (health checks) or v1 UNKNOWN keeps
 * the socket's own addresses.
 */
import type { Socket } from 'node:net';
import ipaddr from 'ipaddr.js';

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_MAX = 107;

export interface ProxyHeader {
  version: 1 | 2;
  /** false for v1 UNKNOWN / v2 LOCAL: use the connection's own addresses. */
  proxied: boolean;
  remoteAddress?: string;
  remotePort?: number;
  localAddress?: string;
  localPort?: number;
}

export type ParseResult = { header: ProxyHeader; rest: Buffer } | { error: string } | { more: true };

/** True when a client's first bytes are a PROXY header (v1 "PROXY " or the v2 signature). */
export function startsWithProxyHeader(buf: Buffer): boolean {
  return buf.subarray(0, 6).toString('latin1') === 'PROXY '
    || (buf.length >= V2_SIGNATURE.length && buf.subarray(0, V2_SIGNATURE.length).equals(V2_SIGNATURE));
}

function parseV1(buf: Buffer): ParseResult {
  const end = buf.indexOf('\r\n');
  if (end < 0) return buf.length >= V1_MAX ? { error: 'PROXY v1 header too long' } : { more: true };
  if (end + 2 > V1_MAX) return { error: 'PROXY v1 header too long' };
  const parts = buf.toString('latin1', 0, end).split(' ');
  const rest = buf.subarray(end + 2);
  if (parts[0] !== 'PROXY') return { error: 'not a PROXY header' };
  if (parts[1] === 'UNKNOWN') return { header: { version: 1, proxied: false }, rest };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) return { error: 'malformed PROXY v1 header' };
  const [, family, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const validIp = family === 'TCP4'
    ? (s: string) => ipaddr.IPv4.isValidFourPartDecimal(s)
    : (s: string) => ipaddr.IPv6.isValid(s);
  const validPort = (s: string) => /^\d{1,5}$/.test(s) && Number(s) <= 65535 && !/^0\d/.test(s);
  if (!validIp(src) || !validIp(dst) || !validPort(sport) || !validPort(dport)) return { error: 'malformed PROXY v1 addresses' };
  return {
    header: { version: 1, proxied: true, remoteAddress: src, remotePort: Number(sport), localAddress: dst, localPort: Number(dport) },
    rest,
  };
}

function parseV2(buf: Buffer): ParseResult {
  if (buf.length < 16) return { more: true };
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return { error: 'unsupported PROXY v2 version' };
  const cmd = verCmd & 0x0f;
  const fam = buf[13]!;
  const len = buf.readUInt16BE(14);
  if (buf.length < 16 + len) return { more: true };
  const rest = buf.subarray(16 + len);
  if (cmd === 0) return { header: { version: 2, proxied: false }, rest };
  if (cmd !== 1) return { error: 'unsupported PROXY v2 command' };
  const body = buf.subarray(16, 16 + len);
  if (fam === 0x11) {
    if (len < 12) return { error: 'short PROXY v2 IPv4 address block' };
    return {
      header: {
        version: 2, proxied: true,
        remoteAddress: [...body.subarray(0, 4)].join('.'), localAddress: [...body.subarray(4, 8)].join('.'),
        remotePort: body.readUInt16BE(8), localPort: body.readUInt16BE(10),
      },
      rest,
    };
  }
  if (fam === 0x21) {
    if (len < 36) return { error: 'short PROXY v2 IPv6 address block' };
    const v6 = (b: Buffer) => ipaddr.fromByteArray([...b]).toString();
    return {
      header: {
        version: 2, proxied: true,
        remoteAddress: v6(body.subarray(0, 16)), localAddress: v6(body.subarray(16, 32)),
        remotePort: body.readUInt16BE(32), localPort: body.readUInt16BE(34),
      },
      rest,
    };
  }
  if (fam === 0x00) return { header: { version: 2, proxied: false }, rest };
  return { error: 'PROXY v2 family is not TCP over IPv4 or IPv6' };
}

export function parseProxyHeader(buf: Buffer): ParseResult {
  if (buf.length === 0) return { more: true };
  if (buf[0] === 0x0d) {
    const n = Math.min(buf.length, V2_SIGNATURE.length);
    if (!buf.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) return { error: 'not a PROXY header' };
    return n < V2_SIGNATURE.length ? { more: true } : parseV2(buf);
  }
  const n = Math.min(buf.length, 6);
  if (buf.toString('latin1', 0, n) !== 'PROXY '.slice(0, n)) return { error: 'not a PROXY header' };
  return parseV1(buf);
}

export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<ProxyHeader> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const finish = (err: Error | undefined, header?: ProxyHeader, rest?: Buffer) => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('close', onClose);
      socket.removeListener('error', onError);
      socket.pause();
      if (err) return reject(err);
      if (rest && rest.length > 0) socket.unshift(rest);
      resolve(header!);
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const r = parseProxyHeader(buf);
      if ('more' in r) {
        if (buf.length > 16 + 65535) finish(new Error('PROXY header too long'));
        return;
      }
      if ('error' in r) return finish(new Error(r.error));
      finish(undefined, r.header, r.rest);
    };
    const onClose = () => finish(new Error('connection closed before the PROXY header'));
    const onError = (err: Error) => finish(err);
    const timer = setTimeout(() => finish(new Error('timeout waiting for the PROXY header')), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onError);
  });
}
