/**
 * A rule (KSMG "Rules", Proxmox "Rule system"): who it applies to, what it
 * checks with which settings, and what it does beyond the verdict. The spec
 * form (MailGateway.spec.rules[]) and the rendered form (the gateway config)
 * share every part except sizes, which the rendered form holds in bytes.
 */
import { z } from 'zod';
import { size } from './fields.ts';
import { patternProblem } from './patterns.ts';

export const RULE_MODES = ['Scan', 'Skip', 'Reject', 'Delete'] as const;
export const ACTIONS = ['Skip', 'Reject', 'Delete', 'DeleteAttachment'] as const;
export const MESSAGE_ACTIONS = ['Skip', 'Reject', 'Delete'] as const;
export const AUTH_MATCH = ['Pass', 'Fail', 'None'] as const;
export const NOTIFY_TARGETS = ['Sender', 'Recipients', 'Admin'] as const;
/** Findings a notification can be sent for; Always: every message under the rule. */
export const NOTIFY_WHEN = ['Virus', 'Spam', 'ProbableSpam', 'Content', 'Authentication', 'Rejected', 'Deleted', 'Always'] as const;
/** Variables a notification, disclaimer or subject tag template may use, as %{name} (not {{ }}, which Helm would read, nor ${ }, which Flux substitutes). */
export const TEMPLATE_VARIABLES = ['rule', 'action', 'verdict', 'virus', 'filename', 'subject', 'qid', 'sender', 'recipients', 'hostname', 'date'] as const;

const pattern = z.string().min(1).max(320).superRefine((p, ctx) => {
  const problem = patternProblem(p);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

function template(max: number, what: string) {
  return z.string().max(max).superRefine((t, ctx) => {
    for (const m of t.matchAll(/%\{\s*([^}]*?)\s*\}/g)) {
      if (!(TEMPLATE_VARIABLES as readonly string[]).includes(m[1]!)) ctx.addIssue({ code: 'custom', message: `unknown variable %{${m[1]}} in the ${what}; known: ${TEMPLATE_VARIABLES.join(', ')}` });
    }
  });
}

const headerName = z.string().min(1).max(76).regex(/^[!-9;-~]+$/, 'expected a header field name (printable ASCII, no colon or space)');
/** One line: CR or LF in a value would let a template inject header fields. */
const headerValue = z.string().max(900).regex(/^[^\r\n]*$/, 'a header value is one line (no CR or LF)');
const address = z.string().min(3).max(320).regex(/^[^\s<>@]+@[^\s<>@]+$/, 'expected an email address');

const authMatch = z.strictObject({
  spf: z.enum(AUTH_MATCH).optional().describe('SPF result: Pass, Fail (fail or softfail) or None (anything else, or not checked).'),
  dkim: z.enum(AUTH_MATCH).optional().describe('DKIM result, as for spf.'),
  dmarc: z.enum(AUTH_MATCH).optional().describe('DMARC result, as for spf.'),
});

const headerMatch = z.strictObject({
  name: headerName.describe('Header field name, e.g. Subject.'),
  pattern: pattern.describe('Pattern for its (unfolded, decoded) value: /regex/ (RE2), a mask with * and ?, or an exact value.'),
});

const protectionOverrides = z.strictObject({
  antivirus: z.strictObject({
    enabled: z.boolean().optional().describe('Scan with ClamAV under this rule.'),
    actions: z.strictObject({
      infected: z.enum(ACTIONS).optional().describe('Action for an infected message under this rule.'),
      encrypted: z.enum(ACTIONS).optional().describe('Action for an encrypted (unscannable) message under this rule.'),
    }).optional().describe('Actions per scan status.'),
  }).optional().describe('Anti-virus under this rule.'),
  antispam: z.strictObject({
    enabled: z.boolean().optional().describe('Scan with rspamd under this rule.'),
    actions: z.strictObject({
      spam: z.enum(MESSAGE_ACTIONS).optional().describe('Action for spam under this rule.'),
      probableSpam: z.enum(MESSAGE_ACTIONS).optional().describe('Action for probable spam under this rule.'),
    }).optional().describe('Actions per verdict.'),
  }).optional().describe('Anti-spam under this rule.'),
  contentFilter: z.strictObject({
    enabled: z.boolean().optional().describe('Apply the content filter (spec.protection.contentFilter\'s lists) under this rule.'),
    action: z.enum(ACTIONS).optional().describe('Action for a match under this rule.'),
  }).optional().describe('Content filter under this rule.'),
}).describe('Per-rule protection: each module\'s enabled and actions, falling back to spec.protection.');

const authenticationOverride = z.strictObject({
  enabled: z.boolean().optional().describe('Count sender authentication violations under this rule (the checks themselves are spec.authentication\'s).'),
  action: z.enum(MESSAGE_ACTIONS).optional().describe('What a violation does under this rule.'),
}).describe('Per-rule sender authentication, falling back to spec.authentication.');

const notification = z.strictObject({
  to: z.enum(NOTIFY_TARGETS).describe('Sender (never <>, nor a sender that failed SPF or DMARC or scored as spam), Recipients (those under this rule), or Admin (address).'),
  address: address.optional().describe('The administrator\'s address (to: Admin).'),
  when: z.array(z.enum(NOTIFY_WHEN)).min(1).max(8).default(['Virus', 'Content', 'Rejected', 'Deleted'])
    .describe('Findings that send it: Virus, Spam, ProbableSpam, Content, Authentication, Rejected, Deleted, or Always.'),
  subject: template(200, 'subject').default('Mail gateway notice: %{action} (%{rule})').describe('Subject template.'),
  text: template(4000, 'text').default('A message was handled by the mail gateway %{hostname}.\n\nFrom: %{sender}\nTo: %{recipients}\nSubject: %{subject}\nQueue ID: %{qid}\nRule: %{rule}\nAction: %{action}\nVerdict: %{verdict}\n')
    .describe('Plain-text body template.'),
}).refine((n) => (n.to === 'Admin') === (n.address !== undefined), { message: 'address is required for to: Admin and allowed only there', path: ['address'] });

const actions = z.strictObject({
  notify: z.array(notification).max(8).default([]).describe('Notifications, queued after the message (templates with %{variables}).'),
  disclaimer: z.strictObject({
    text: template(2000, 'disclaimer').describe('Appended to the plain-text body.'),
    html: template(4000, 'disclaimer').optional().describe('Appended to the HTML body (else the text, escaped).'),
  }).optional().describe('A disclaimer added once to the message body; never to signed or encrypted messages.'),
  bcc: z.array(address).max(8).default([]).describe('Addresses that get a copy of the message as delivered (archiving), in the same queue entry.'),
  headers: z.strictObject({
    add: z.array(z.strictObject({ name: headerName.describe('Field name.'), value: headerValue.describe('Field value (a template).') })).max(16).default([]).describe('Fields added.'),
    set: z.array(z.strictObject({ name: headerName.describe('Field name.'), value: headerValue.describe('Field value (a template).') })).max(16).default([]).describe('Replace every field of that name with this one.'),
    remove: z.array(headerName).max(16).default([]).describe('Field names removed.'),
  }).optional().describe('Header edits, applied remove, set, add.'),
  subjectTags: z.strictObject({
    virus: template(64, 'subject tag').optional().describe('Tag for a virus found (e.g. "[VIRUS %{virus}]").'),
    spam: template(64, 'subject tag').optional().describe('Default: spec.protection.antispam.subjectTag.'),
    probableSpam: template(64, 'subject tag').optional().describe('Default: spec.protection.antispam.subjectTag.'),
    content: template(64, 'subject tag').optional().describe('Tag for a content filter match.'),
    authentication: template(64, 'subject tag').optional().describe('Tag for a sender authentication violation.'),
  }).optional().describe('Subject tags per finding, on mail that is still delivered.'),
}).describe('What the rule does besides the verdict (in this order: body edits, header edits, subject tags, BCC; notifications after the message is queued).');

function ruleSchema<S extends z.ZodType>(sizeType: S) {
  return z.strictObject({
    name: z.string().min(1).max(63).regex(/^[A-Za-z0-9][-A-Za-z0-9_.]*$/, 'letters, digits, - _ .').describe('Rule name, shown in logs and headers.'),
    senders: z.array(pattern).max(256).default([])
      .describe('Sender patterns: an address, a mask with * and ?, /regex/ (RE2), or an IP address or CIDR of the client. "<>" is the null sender. Empty: any sender.'),
    recipients: z.array(pattern).max(256).default([])
      .describe('Recipient patterns: an address, a mask with * and ?, or /regex/ (RE2). Empty: any recipient.'),
    match: z.strictObject({
      authentication: authMatch.optional().describe('Sender authentication results (checked for clients outside trusted networks; None otherwise).'),
      size: z.strictObject({
        atLeast: sizeType.optional().describe('The message has at least this many bytes.'),
        below: sizeType.optional().describe('The message has fewer bytes than this.'),
      }).optional().describe('Message size bounds.'),
      headers: z.array(headerMatch).max(16).default([]).describe('Header fields that must all match.'),
    }).optional().describe('Conditions known only at the end of DATA; a rule with them is decided then, and never refuses at RCPT.'),
    mode: z.enum(RULE_MODES).default('Scan').describe('Scan (use the modules), Skip (no scanning), Reject (refuse without scanning), Delete (accept and discard).'),
    backup: z.boolean().default(false).describe('Keep the original message in the backup store.'),
    authentication: authenticationOverride.optional(),
    protection: protectionOverrides.optional(),
    actions: actions.optional(),
  });
}

export const ruleSpec = ruleSchema(size);
export const renderedRule = ruleSchema(z.number().int().min(0));
export type RuleSpec = z.output<typeof ruleSpec>;
export type RenderedRule = z.output<typeof renderedRule>;
