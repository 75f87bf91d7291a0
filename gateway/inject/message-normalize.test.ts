import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_LINE, MessageNormalizer, normalizeMessage } from './message-normalize.ts';

const HOST = 'mx.gateway.test';

function bytewise(input: Buffer): Buffer {
  const n = new MessageNormalizer(HOST);
  const out: Buffer[] = [];
  for (let i = 0; i < input.length; i++) out.push(n.push(input.subarray(i, i + 1)));
  out.push(n.end());
  return Buffer.concat(out);
}

function lines(b: Buffer): string[] {
  return b.toString('latin1').split('\r\n');
}

/** Every CR is followed by LF and every LF preceded by CR. */
function onlyCrlf(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x0d && b[i + 1] !== 0x0a) return false;
    if (b[i] === 0x0a && b[i - 1] !== 0x0d) return false;
  }
  return true;
}

describe('MessageNormalizer', () => {
  it('leaves a well-formed message as it is, as one view of the input', () => {
    const msg = Buffer.from('Subject: hi\r\nFrom: a@b.test\r\n\r\nline one\r\nline two\r\n');
    assert.equal(normalizeMessage(msg, HOST).bytes.toString(), msg.toString());
    const n = new MessageNormalizer(HOST);
    n.push(Buffer.from('Subject: x\r\n\r\n'));
    const body = Buffer.from('a body line\r\nanother\r\n');
    assert.equal(n.push(body).buffer, body.buffer, 'a body chunk needing no change is not copied');
  });

  for (const fake of ['\n.\n', '\n.\r\n', '\r.\r\n', '\r\n.\r', '\r.\n', '\r\n.\n', '\n.\r', '\r.\r']) {
    it(`no bare CR or LF survives the fake terminator ${JSON.stringify(fake)}`, () => {
      const msg = Buffer.from(`Subject: smuggle\r\n\r\nbefore${fake}MAIL FROM:<evil@x.test>\r\nafter\r\n`);
      for (const out of [normalizeMessage(msg, HOST).bytes, bytewise(msg)]) {
        // A line holding only a dot may remain: it is content, dot-stuffed on the way out like any other.
        assert.ok(onlyCrlf(out), JSON.stringify(out.toString()));
      }
      assert.deepEqual(bytewise(msg), normalizeMessage(msg, HOST).bytes, 'chunking does not change the result');
    });
  }

  it('turns bare LF into CRLF and bare CR into a space', () => {
    const out = normalizeMessage(Buffer.from('Subject: a\n\nx\ry\nz\r\n'), HOST).bytes.toString();
    assert.equal(out, 'Subject: a\r\n\r\nx y\r\nz\r\n');
  });

  it('folds a header line over 998 bytes and breaks a long body line', () => {
    const long = 'x'.repeat(2500);
    const msg = Buffer.from(`Subject: ${long}\r\nFrom: a@b.test\r\n\r\n${long}\r\nend\r\n`);
    for (const out of [normalizeMessage(msg, HOST).bytes, bytewise(msg)]) {
      const ls = lines(out);
      assert.ok(ls.every((l) => l.length <= MAX_LINE), 'every line at most 998 bytes');
      const head = out.toString('latin1').split('\r\n\r\n')[0]!;
      assert.equal(head.replace(/\r\n /g, '').replace(/\r\n/g, '|'), `Subject: ${long}|From: a@b.test`, 'folded lines continue the Subject field');
      const body = out.toString('latin1').split('\r\n\r\n')[1]!;
      assert.equal(body.replace(/\r\n/g, ''), `${long}end`);
    }
  });

  it('keeps memory per line: a 10 MB line without CRLF streams out in pieces', () => {
    const n = new MessageNormalizer(HOST);
    n.push(Buffer.from('Subject: x\r\n\r\n'));
    let outBytes = 0;
    const piece = Buffer.alloc(64 * 1024, 0x61);
    for (let i = 0; i < 160; i++) outBytes += n.push(piece).length;
    outBytes += n.end().length;
    assert.ok(outBytes > 160 * piece.length, 'all bytes came out, with line breaks added');
  });

  it('keeps the first Subject and Message-ID, unfolded, at most 998 bytes', () => {
    const n = new MessageNormalizer(HOST);
    n.push(Buffer.from('Message-ID:\r\n <a1@bank.test>\r\nSubject: =?utf-8?q?Your?=\r\n\t=?utf-8?q?_statement?=\r\nSubject: second\r\nX: y\r\n\r\nSubject: in the body\r\n'));
    n.end();
    assert.equal(n.subject, '=?utf-8?q?Your?= =?utf-8?q?_statement?=');
    assert.equal(n.messageId, '<a1@bank.test>');
    const long = new MessageNormalizer(HOST);
    long.push(Buffer.from(`Subject: ${'s'.repeat(5000)}\r\n\r\n`));
    assert.equal(long.subject!.length, MAX_LINE);
    assert.equal(long.subject!.replace(/ /g, ''), 's'.repeat(MAX_LINE - 1), 'the fold this normalizer made is a space, as unfolding says');
    const none = new MessageNormalizer(HOST);
    none.push(Buffer.from('From: a@b.test\r\n\r\nSubject: no\r\n'));
    assert.equal(none.subject, undefined);
  });

  it('removes forged verdict headers and counts hops', () => {
    const msg = Buffer.from([
      'Received: from a by b', 'Received: from c by d', 'Delivered-To: x@y.test',
      `Authentication-Results: ${HOST}; dmarc=pass header.from=bank.test`,
      'Authentication-Results:', `\t${HOST.toUpperCase()};`, '\tspf=pass',
      'Authentication-Results: mx.other.test; spf=fail',
      'X-Mailgw-AntiVirus: clean', 'X-MAILGW-Action: Skip', '\tcontinued',
      'Subject: hello', '', 'X-Mailgw-Action: in the body stays', '',
    ].join('\r\n'));
    for (const out of [normalizeMessage(msg, HOST), { bytes: bytewise(msg), hops: 3 }]) {
      const text = out.bytes.toString();
      assert.equal(out.hops, 3);
      assert.doesNotMatch(text.split('\r\n\r\n')[0]!, /mailgw|gateway\.test|dmarc=pass|spf=pass|continued/i);
      assert.match(text, /Authentication-Results: mx\.other\.test; spf=fail/);
      assert.match(text, /Subject: hello\r\n\r\nX-Mailgw-Action: in the body stays/);
    }
  });
});
