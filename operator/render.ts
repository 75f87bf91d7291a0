/**
 * The renderer: (MailGateway, its LocalDomains, its TrustedNetworks) →
 * { gatewayConfig, objects, findings }. Pure and deterministic; the operator
 * and `mailgw up`/`render`/`validate` all go through it.
 */
import type { GatewayConfig, LocalDomain, MailGateway, TrustedNetwork } from '../api/index.ts';
import { lint, type Finding, type LintOptions } from './lint.ts';
import { belongsTo, renderGatewayConfig, type RenderOptions } from './render-gateway-config.ts';
import { renderObjects } from './render-objects.ts';
import { ConfigTooLarge, packConfig, type PackOptions } from '../api/config-pack.ts';

export interface Rendered {
  gatewayConfig: GatewayConfig;
  /** The config's short hash (api/config-pack.ts), as the pod template and the status carry it; absent when it does not fit. */
  configHash?: string;
  objects: Record<string, unknown>[];
  findings: Finding[];
}

export interface RenderLimits {
  /** Cap on the compressed config (`--config-limit`); see api/config-pack.ts. */
  configLimit?: number | undefined;
}

/**
 * A config too large for its ConfigMaps is an Error finding (MGW301) and no
 * objects: `validate` and `render` fail, the operator marks the gateway
 * Degraded and applies nothing.
 */
export function render(gw: MailGateway, domains: readonly LocalDomain[], networks: readonly TrustedNetwork[], options: RenderOptions & LintOptions & RenderLimits & { pack?: PackOptions } = {}): Rendered {
  const mine = { domains: domains.filter((d) => belongsTo(gw, d)), networks: networks.filter((n) => belongsTo(gw, n)) };
  const gatewayConfig = renderGatewayConfig(gw, mine.domains, mine.networks, options);
  const findings = lint([gw], mine.domains, mine.networks, { listen: options.listen });
  try {
    const packed = packConfig(gatewayConfig, { ...options.pack, ...(options.configLimit ? { limit: options.configLimit } : {}) });
    return { gatewayConfig, configHash: packed.hash, objects: renderObjects(gw, gatewayConfig, packed, options.gatewayImage), findings };
  } catch (err) {
    if (!(err instanceof ConfigTooLarge)) throw err;
    const object = `MailGateway/${gw.metadata.namespace ?? 'default'}/${gw.metadata.name}`;
    return { gatewayConfig, objects: [], findings: [...findings, { code: 'MGW301', severity: 'Error', object, field: 'spec', message: err.message }] };
  }
}
