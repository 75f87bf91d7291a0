/**
 * Tests that need something this machine may lack (root for a tmpfs mount,
 * clamd, rspamd, a DNS server) skip with a clear message on a laptop. CI
 * sets MAILGW_REQUIRE_ALL=1, which turns every such skip into a failure.
 */
import type { TestContext } from 'node:test';

export function missing(t: TestContext, what: string): void {
  if (process.env.MAILGW_REQUIRE_ALL === '1') throw new Error(`required for this test but missing: ${what} (MAILGW_REQUIRE_ALL=1)`);
  t.skip(`skipped: ${what}`);
}
