import { it } from 'node:test';
import assert from 'node:assert/strict';
import { simpleParser } from 'mailparser';
import { buildNotice } from './notice-build.ts';

it('a notice is valid MIME: UTF-8 text, encoded subject, auto-generated, from postmaster', async () => {
  const raw = await buildNotice({ hostname: 'mx.gateway.test', to: 'alice@corp.test', subject: 'Virus gefunden: Grüße\r\nBcc: x@evil.test', text: 'Line one\nZeile zwei: Grüße', qid: 'Q1', now: new Date('2026-12-02T10:00:00Z'), messageId: '<n1@mx.gateway.test>' });
  const text = raw.toString('latin1');
  assert.match(text, /^Auto-Submitted: auto-generated\r$/m);
  assert.doesNotMatch(text, /^Bcc:/m, 'a line break in the subject does not make a header field');
  const p = await simpleParser(raw);
  assert.equal(p.subject, 'Virus gefunden: Grüße Bcc: x@evil.test');
  assert.equal(p.from?.value[0]?.address, 'postmaster@mx.gateway.test');
  assert.equal(p.text?.trim(), 'Line one\nZeile zwei: Grüße');
  assert.equal(p.headers.get('x-mailgw-queue-id'), 'Q1');
  assert.equal(p.messageId, '<n1@mx.gateway.test>');
});
