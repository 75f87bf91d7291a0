/**
 * Integration presets: the defaults each scheme of DESIGN.md implies. A preset
 * only fills what the manifest left unset; explicit fields always win.
 */
import type { MailGatewaySpec } from '../api/index.ts';

export interface PresetDefaults {
  recipientVerificationMode: 'DoNotReject' | 'RejectUnverified';
}

export function presetFor(integration: MailGatewaySpec['integration']): PresetDefaults {
  switch (integration) {
    case 'Direct':
      // The gateway is the MX: without verification unknown users cause backscatter.
      return { recipientVerificationMode: 'RejectUnverified' };
    case 'BehindEdgeGateway':
      // The edge verifies recipients already.
      return { recipientVerificationMode: 'DoNotReject' };
    case 'BehindEdgeGatewayNoRecipientVerification':
      // Seed scheme (KSMG 254179, step 6): "Do not reject".
      return { recipientVerificationMode: 'DoNotReject' };
  }
}
