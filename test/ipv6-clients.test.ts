/**
 * A dual-stack listener sees IPv4 clients as IPv4-mapped IPv6 addresses:
 * they must match IPv4 trusted networks as the IPv4 address they are, and
 * IPv6 clients must match IPv6 prefixes.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { buildConfig, startGateway, tempDir } from './helpers/config.ts';
import { SmtpDialog } from './helpers/smtp-dialog.ts';

it('matches IPv4-mapped and IPv6 clients of a dual-stack listener correctly', async () => {
  const gw = await startGateway(buildConfig({
    spec: { integration: 'BehindEdgeGateway' }, domains: ['example.com'], networks: ['127.0.0.2/32', '::1/128'],
  }), tempDir(), '::');
  try {
    const cases: [string, string, number][] = [['127.0.0.2', '127.0.0.1', 250], ['127.0.0.3', '127.0.0.1', 554], ['::1', '::1', 250]];
    for (const [source, target, expected] of cases) {
      const c = await SmtpDialog.open(gw.port, source, target);
      await c.begin();
      const r = await c.cmd('RCPT TO:<friend@elsewhere.test>');
      assert.equal(r.code, expected, `relay from ${source}`);
      const line = gw.log.lines.filter((l) => l.event === 'rcpt').at(-1)!;
      assert.equal(line.client, source, 'logged as the plain address, not ::ffff:…');
      c.close();
    }
  } finally {
    await gw.close();
  }
});
