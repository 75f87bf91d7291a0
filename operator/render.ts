/**
 * The renderer: (MailGateway, its LocalDomains, its TrustedNetworks) →
 * { gatewayConfig, objects, findings }. Pure and deterministic; the operator
 * and `mailgw up`/`render`/`validate` all go through it.
 */
import type { GatewayConfig, LocalDomain, MailGateway, TrustedNetwork } from '../api/index.ts';
import { lint, type Finding, type LintOptions } from './lint.ts';
import { belongsTo, renderGatewayConfig, type RenderOptions } from './render-gateway-config.ts';
import { renderObjects } from './render-objects.ts';

export interface Rendered {
  gatewayConfig: GatewayConfig;
  objects: Record<string, unknown>[];
  findings: Finding[];
}

export function render(gw: MailGateway, domains: readonly LocalDomain[], networks: readonly TrustedNetwork[], options: RenderOptions & LintOptions = {}): Rendered {
  const mine = { domains: domains.filter((d) => belongsTo(gw, d)), networks: networks.filter((n) => belongsTo(gw, n)) };
  const gatewayConfig = renderGatewayConfig(gw, mine.domains, mine.networks, options);
  return { gatewayConfig, objects: renderObjects(gw, gatewayConfig, options.gatewayImage), findings: lint([gw], mine.domains, mine.networks, { listen: options.listen }) };
}
