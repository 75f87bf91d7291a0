/**
 * The gateway's SMTP replies, one registry (like nodemailer's lib/errors.js),
 * so codes and texts are consistent and greppable. A reply is an Error with
 * `responseCode`; its message starts with the enhanced status code, which the
 * smtp-server adapter sends as is.
 */

export interface SmtpReply extends Error {
  responseCode: number;
  enhanced: string;
  text: string;
}

export function reply(code: number, enhanced: string, text: string): SmtpReply {
  const err = new Error(`${enhanced} ${text}`) as SmtpReply;
  err.responseCode = code;
  err.enhanced = enhanced;
  err.text = text;
  return err;
}

export const replies = {
  relayDenied: (rcpt: string) => reply(554, '5.7.1', `<${rcpt}>: Relay access denied`),
  routingCharacters: (rcpt: string) => reply(553, '5.1.3', `<${rcpt}>: Address with routing characters (%, !, quoted @) not accepted`),
  badAddress: (rcpt: string) => reply(501, '5.1.3', `<${rcpt}>: Bad recipient address syntax`),
  badSender: (sender: string) => reply(553, '5.1.7', `<${sender}>: Bad sender address syntax`),
  needsSmtputf8: (addr: string) => reply(553, '5.6.7', `<${addr}>: Non-ASCII address requires SMTPUTF8`),
  postmasterNoDomain: () => reply(550, '5.1.1', '<postmaster>: Recipient needs a domain here, use postmaster@<your domain>'),
  tooManyRecipients: (limit: number) => reply(452, '4.5.3', `Too many recipients (limit ${limit} per message)`),
  messageRate: (client: string) => reply(450, '4.7.1', `Too much mail from ${client}, try again later`),
  tlsRequired: () => reply(530, '5.7.0', 'Must issue a STARTTLS command first'),
  unknownUser: (rcpt: string, detail: string) => reply(550, '5.1.1', `<${rcpt}>: Recipient address rejected: ${detail}`),
  unverified: (rcpt: string, detail: string) => reply(450, '4.1.1', `<${rcpt}>: Recipient address verification failed: ${detail}`),
  messageTooBig: (limit: number) => reply(552, '5.3.4', `Message size exceeds fixed limit of ${limit} bytes`),
  tooManyHops: () => reply(554, '5.4.6', 'Too many hops (mail loop?)'),
  memoryBusy: () => reply(451, '4.3.2', 'System busy, try again later'),
  spoolFailed: () => reply(452, '4.3.1', 'Insufficient system storage, try again later'),
  ruleReject: (rcpt: string, rule: string) => reply(550, '5.7.1', `<${rcpt}>: Message refused by policy (rule ${rule})`),
  contentReject: (reason: string) => reply(554, '5.7.1', `Message refused by policy: ${reason}`.slice(0, 400)),
  scannerTempfail: () => reply(451, '4.7.1', 'Message could not be scanned, try again later'),
  queued: (qid: string) => `2.0.0 Ok: queued as ${qid}`,
} as const;
