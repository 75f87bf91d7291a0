/**
 * The one schema module shared by the operator, the gateway and the CLI:
 * the three custom resources (mailgw.io/v1alpha1) and the rendered gateway config.
 */
export * from './fields.ts';
export * from './mailgateway.ts';
export * from './localdomain.ts';
export * from './trustednetwork.ts';
export * from './gateway-config.ts';

export const API_GROUP = 'mailgw.io';
export * from './status.ts';
