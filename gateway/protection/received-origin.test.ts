import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { originOf, parseReceived } from './received-origin.ts';

describe('received-origin', () => {
  it('parses Postfix, Exim and bracket-only forms', () => {
    assert.deepEqual(parseReceived('from mail.sender.test (mail.sender.test [192.0.2.10]) by edge.corp.test (Postfix) with ESMTPS id 1; Tue, 1 Dec 2026'), { ip: '192.0.2.10', helo: 'mail.sender.test' });
    assert.deepEqual(parseReceived('from rdns.sender.test ([192.0.2.11] helo=helo.sender.test) by mx with esmtp'), { ip: '192.0.2.11', helo: 'helo.sender.test' });
    assert.deepEqual(parseReceived('from [IPv6:2001:db8::5] ([IPv6:2001:db8::5]) by x'), { ip: '2001:db8::5', helo: 'IPv6:2001:db8::5' });
    assert.equal(parseReceived('by localhost with LMTP'), undefined);
  });

  it('skips the hops we trust and returns the first one we do not', () => {
    const msg = Buffer.from([
      'Received: from edge.corp.test (edge.corp.test [127.0.0.2]) by mx.gateway.test with ESMTP id A; Tue, 1 Dec 2026',
      'Received: from mail.sender.test (mail.sender.test\r\n\t[192.0.2.10]) by edge.corp.test with ESMTP; Tue, 1 Dec 2026',
      'Received: from forged.test (forged.test [198.51.100.1]) by whatever; Tue, 1 Dec 2026',
      'Subject: x', '', 'Received: from body.test ([203.0.113.1])', '',
    ].join('\r\n'));
    const trusted = (ip: string) => ip === '127.0.0.2';
    assert.deepEqual(originOf(msg, trusted), { ip: '192.0.2.10', helo: 'mail.sender.test' });
    assert.equal(originOf(msg, () => true), undefined, 'all trusted: nothing to say');
    assert.equal(originOf(Buffer.from('Subject: none\r\n\r\n'), trusted), undefined);
  });
});
