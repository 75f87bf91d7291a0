/**
 * Queues a rule's notification (notice-build.ts) through the injector, from
 * the null sender: a notice never bounces back, and never goes to `<>`.
 * Whom to notify (and never a sender that failed SPF or DMARC or scored as
 * spam) is decided by the apply stage; this stage only writes.
 */
import { newQueueId } from '../queue-id.ts';
import { injectGenerated, type BounceContext } from './bounce-queue.ts';
import { buildNotice } from './notice-build.ts';

export interface Notice {
  to: string;
  subject: string;
  text: string;
  /** The message it is about. */
  qid: string;
  rule: string;
}

/** The notice's queue id, or undefined for the null address. */
export async function queueNotice(ctx: BounceContext, n: Notice): Promise<string | undefined> {
  if (n.to === '' || n.to === '<>') return undefined;
  const id = newQueueId();
  const now = new Date(ctx.now());
  const bytes = await buildNotice({ hostname: ctx.hostname, to: n.to, subject: n.subject, text: n.text, qid: n.qid, now });
  await injectGenerated(ctx, id, now, bytes, n.to, 'notice');
  ctx.logger.info({ event: 'notice', qid: n.qid, noticeQid: id, to: n.to, rule: n.rule }, `notification queued: ${id}`);
  return id;
}
