/**
 * The console in a real browser (issue 17, acceptance 1): Debian's Chromium,
 * headless, driven by playwright-core, against `mailgw console` in front of
 * two `mailgw gateway` processes with real mail in them. An operator finds
 * a message by sender and opens its timeline, holds and releases a queued
 * message, releases a backup copy and sees it delivered; a viewer is
 * refused the actions; a Subject carrying markup stays text (no element, no
 * script run). UPDATE_SCREENSHOTS=1 writes the main pages at a laptop's and
 * a tablet's width to docs/console/.
 */
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { buildConfig, tempDir } from './helpers/config.ts';
import { startMailgw, type MailgwProcess } from './helpers/mailgw-process.ts';
import { missing } from './helpers/requirements.ts';
import { ensureConsolePages } from './helpers/console-pages.ts';
import { refuse, startSink, type Sink } from './helpers/sink.ts';
import { submit } from './helpers/submit.ts';
import { eventually } from './helpers/wait.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const OPERATOR = 'browser-operator-token-0123456789';
const VIEWER = 'browser-viewer-token-0123456789';
const HOSTILE = '<img src=x onerror="alert(1)"> <script>alert(2)</script> Statement';
const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? join(ROOT, 'docs/console') : tempDir('mailgw-shots-');

describe('the console in a browser', () => {
  let internal: Sink;
  const procs: MailgwProcess[] = [];
  let base = '';
  let browser: Browser | undefined;
  const dialogs: string[] = [];
  const qids: Record<string, string> = {};

  before(async () => {
    if (!CHROMIUM) return;
    ensureConsolePages();
    internal = await startSink({ rcpt: (a) => (a.startsWith('busy') ? refuse(451, '4.2.1 Mailbox busy') : null) });
    const dir = tempDir('mailgw-browser-');
    writeFileSync(join(dir, 'tokens'), `${OPERATOR} ops-alice view,operate,release\n${VIEWER} ops-victor view\n`);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(buildConfig({
      spec: {
        integration: 'Direct', recipientVerification: { mode: 'DoNotReject' }, tls: { outbound: { mode: 'None' } },
        queue: { minBackoff: '1h', maxBackoff: '2h', lifetime: '5h' }, defaultRule: { backup: true },
      },
      domains: [{ domain: 'corp.test', routing: { host: '127.0.0.1', port: internal.port } }],
    })));
    const urls: string[] = [];
    for (const i of [0, 1]) {
      const p = await startMailgw(['gateway', '--config', join(dir, 'config.json'), '--listen', '127.0.0.1:0', '--state-dir', join(dir, `state-${i}`), '--ops-listen', '127.0.0.1:0', '--ops-token-file', join(dir, 'tokens')]);
      procs.push(p);
      urls.push(`http://127.0.0.1:${String((await p.waitFor('ops-listening')).port)}`);
    }
    const console_ = await startMailgw(['console', '--pods', `mail/gw=${urls.join(',')}`, '--listen', '127.0.0.1:0']);
    procs.push(console_);
    base = `http://127.0.0.1:${console_.port}`;
    qids.bank = await submit(procs[0]!.port, { from: 'statements@bank.test', to: 'alice@corp.test', subject: HOSTILE, text: 'Your statement is ready.', source: '127.0.0.2' });
    qids.news = await submit(procs[1]!.port, { from: 'news@shop.test', to: 'bob@corp.test', subject: 'Weekly offers', source: '127.0.0.2' });
    qids.busy = await submit(procs[1]!.port, { from: 'hr@corp.test', to: 'busy@corp.test', subject: 'Payroll', source: '127.0.0.2' });
    await internal.waitFor(2);
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  });
  after(async () => {
    await browser?.close();
    for (const p of procs) {
      if (p.proc.exitCode === null) {
        p.proc.kill('SIGTERM');
        await p.exited;
      }
    }
    await internal?.close();
  });
  const skip = (t: TestContext) => {
    if (!CHROMIUM) missing(t, 'Chromium (Debian package chromium)');
    return !CHROMIUM;
  };

  async function signIn(token: string, width = 1280, height = 800): Promise<Page> {
    const page = await browser!.newPage({ viewport: { width, height } });
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void (d.type() === 'confirm' ? d.accept() : d.dismiss());
    });
    await page.goto(base);
    await page.getByLabel('Access token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Pages' }).waitFor();
    return page;
  }
  const shot = async (page: Page, name: string) => {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  };

  it('an operator finds a message by sender and opens its timeline; markup in a Subject stays text', async (t) => {
    if (skip(t)) return;
    const page = await signIn(OPERATOR);
    await page.getByLabel('Sender').fill('statements@bank.test');
    await page.getByRole('button', { name: 'Search' }).click();
    const rows = page.locator('tbody tr');
    await eventually('one row for the bank', async () => ((await rows.count()) === 1 ? true : undefined));
    assert.equal(await rows.locator('td').nth(4).textContent(), HOSTILE, 'the Subject as text');
    assert.equal(await page.locator('tbody img, tbody script').count(), 0, 'no element came from the Subject');
    await shot(page, 'messages-1280');
    await rows.locator('a').first().click();
    await page.getByRole('heading', { name: `Message ${qids.bank}` }).waitFor();
    await page.locator('.timeline li', { hasText: 'delivery' }).first().waitFor();
    assert.match(await page.locator('.facts').textContent() ?? '', /delivered/);
    await shot(page, 'timeline-1280');
    assert.deepEqual(dialogs, [], 'no script ran');
    await page.close();
  });

  it('an operator holds and releases a queued message on the pod that has it', async (t) => {
    if (skip(t)) return;
    const page = await signIn(OPERATOR);
    await page.getByRole('link', { name: 'Queue' }).click();
    await page.getByRole('button', { name: `Hold ${qids.busy}` }).click();
    await page.getByText(`${qids.busy}: hold done`).waitFor();
    await page.getByRole('button', { name: `Release ${qids.busy}` }).waitFor();
    await shot(page, 'queue-1280');
    await page.getByRole('button', { name: `Release ${qids.busy}` }).click();
    await page.getByText(`${qids.busy}: release done`).waitFor();
    await page.getByRole('button', { name: `Hold ${qids.busy}` }).waitFor();
    await page.close();
  });

  it('an operator releases a backup copy to another address and it is delivered', async (t) => {
    if (skip(t)) return;
    const page = await signIn(OPERATOR);
    await page.getByRole('link', { name: 'Backups' }).click();
    const row = page.locator('tbody tr', { hasText: 'statements@bank.test' });
    await row.getByRole('button').click();
    await page.locator('pre.text', { hasText: 'Your statement is ready.' }).waitFor();
    await page.getByLabel('Release to (empty: the original recipients)').fill('carol@corp.test');
    await page.getByRole('button', { name: 'Release', exact: true }).click();
    await page.getByText(/released as [0-9A-Z]{16}/).waitFor();
    await shot(page, 'backups-1280');
    await eventually('the released copy delivered to carol', () => internal.messages.find((m) => m.to.includes('carol@corp.test')), 15_000);
    await page.close();
  });

  it('a viewer sees everything and is refused the actions', async (t) => {
    if (skip(t)) return;
    const page = await signIn(VIEWER);
    await page.getByRole('link', { name: 'Queue' }).click();
    await page.getByRole('button', { name: `Hold ${qids.busy}` }).click();
    await page.getByRole('alert').filter({ hasText: 'ops-victor may not operate' }).waitFor();
    await page.getByRole('link', { name: 'Backups' }).click();
    await page.locator('tbody tr', { hasText: 'statements@bank.test' }).getByRole('button').click();
    await page.getByRole('button', { name: 'Release', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'ops-victor may not release' }).waitFor();
    await page.close();
  });

  it('the gateway page: each pod\'s health and queue, and the running config', async (t) => {
    if (skip(t)) return;
    const page = await signIn(OPERATOR);
    await page.getByRole('link', { name: 'Gateways' }).click();
    const rows = page.locator('tbody tr');
    await page.locator('tbody tr', { hasText: 'gw-gateway-1' }).or(page.locator('tbody tr', { hasText: 'gw-1' })).first().waitFor();
    assert.equal(await rows.count(), 2, 'both pods');
    assert.match(await page.locator('tbody').textContent() ?? '', /yes/);
    await page.locator('pre.text', { hasText: '"hostname": "mx.gateway.test"' }).waitFor();
    await shot(page, 'gateways-1280');
    await page.close();
  });

  it('the main pages at a tablet\'s width', async (t) => {
    if (skip(t)) return;
    const page = await signIn(OPERATOR, 768, 1024);
    await page.locator('tbody tr').first().waitFor();
    await shot(page, 'messages-768');
    await page.getByRole('link', { name: 'Queue' }).click();
    await page.locator('tbody tr').first().waitFor();
    await shot(page, 'queue-768');
    // Keyboard: the pages' links and controls are reachable with Tab.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement !== null && document.activeElement !== document.body'), true, 'focus moved to a control');
    await page.close();
  });
});
