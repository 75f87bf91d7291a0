/**
 * Integration presets: the defaults each scheme of DESIGN.md implies. A preset
 * only fills what the manifest left unset; explicit fields always win.
 *
 * BehindEdgeGatewayNoRecipientVerification is the seed scheme (KSMG article
 * 254179): every message arrives from the edge gateway, so SPF and DMARC
 * judge the edge, not the sender (step 4: off); a reject makes the edge send
 * NDRs, backscatter (step 5: "Delete message"); nobody verifies recipients
 * (step 6: "Do not reject").
 */
import type { MailGatewaySpec } from '../api/index.ts';

export interface PresetDefaults {
  recipientVerificationMode: 'DoNotReject' | 'RejectUnverified';
  spf: boolean;
  dmarc: boolean;
  /** The action of every scan module and of authentication violations. */
  scanAction: 'Reject' | 'Delete';
}

export function presetFor(integration: MailGatewaySpec['integration']): PresetDefaults {
  switch (integration) {
    case 'Direct':
      // The gateway is the MX: without verification unknown users cause backscatter.
      return { recipientVerificationMode: 'RejectUnverified', spf: true, dmarc: true, scanAction: 'Reject' };
    case 'BehindEdgeGateway':
      // The edge verifies recipients already.
      return { recipientVerificationMode: 'DoNotReject', spf: true, dmarc: true, scanAction: 'Reject' };
    case 'BehindEdgeGatewayNoRecipientVerification':
      return { recipientVerificationMode: 'DoNotReject', spf: false, dmarc: false, scanAction: 'Delete' };
  }
}
