/**
 * LocalDomain (mailgw.io/v1alpha1): a domain the gateway accepts mail for
 * from anyone, and optionally where that mail goes (its internal server).
 */
import { z } from 'zod';
import { attachedStatus } from './status.ts';
import { domain, gatewayRef, metadata, nextHop } from './fields.ts';

export const localDomainSpec = z.strictObject({
  gatewayRef: gatewayRef.describe('The MailGateway that accepts mail for this domain.'),
  domain: domain.describe('The domain (IDN allowed; stored and matched as its A-label).'),
  includeSubdomains: z.boolean().default(false).describe('Also accept mail for every subdomain.'),
  routing: nextHop.optional().describe('Where mail for this domain goes (the internal mail server); overrides relayHost. Absent: relayHost, else DNS MX.'),
});

export const localDomain = z.strictObject({
  apiVersion: z.literal('mailgw.io/v1alpha1'),
  kind: z.literal('LocalDomain'),
  metadata,
  spec: localDomainSpec,
  status: attachedStatus.optional(),
});

export type LocalDomain = z.output<typeof localDomain>;
