/**
 * TrustedNetwork (mailgw.io/v1alpha1): sources allowed to relay mail to any
 * domain through the gateway (Postfix mynetworks).
 */
import { z } from 'zod';
import { attachedStatus } from './status.ts';
import { cidr, gatewayRef, metadata } from './fields.ts';

export const trustedNetworkSpec = z.strictObject({
  gatewayRef: gatewayRef.describe('The MailGateway these networks may relay through.'),
  cidrs: z.array(cidr).min(1).max(1024).describe('IPv4/IPv6 addresses or prefixes.'),
  description: z.string().max(1024).optional().describe('What these networks are.'),
});

export const trustedNetwork = z.strictObject({
  apiVersion: z.literal('mailgw.io/v1alpha1'),
  kind: z.literal('TrustedNetwork'),
  metadata,
  spec: trustedNetworkSpec,
  status: attachedStatus.optional(),
});

export type TrustedNetwork = z.output<typeof trustedNetwork>;
