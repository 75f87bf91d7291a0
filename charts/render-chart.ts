/**
 * Renders the mailgw chart with the Helm subset (helm-subset.ts): every
 * template with the given values, as { file: text }, plus NOTES.txt.
 * Used by the chart test and by `npm run gen:manifests`, which writes the
 * plain manifests in deploy/ for teams without Helm.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { renderTemplate, type RenderContext } from './helm-subset.ts';

export const CHART_DIR = new URL('./mailgw/', import.meta.url).pathname;

function merge(base: unknown, over: unknown): unknown {
  if (!over || typeof over !== 'object' || Array.isArray(over) || !base || typeof base !== 'object' || Array.isArray(base)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) out[k] = merge(out[k], v);
  return out;
}

export function chartValues(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return merge(parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')), overrides) as Record<string, unknown>;
}

export function renderChart(values: Record<string, unknown>, release = { Name: 'mailgw', Namespace: 'mailgw-system' }): Record<string, string> {
  const chart = parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { version: string; appVersion: string };
  const ctx: RenderContext = { Values: values, Release: release, Chart: { Version: chart.version, AppVersion: chart.appVersion } };
  const out: Record<string, string> = {};
  for (const file of readdirSync(join(CHART_DIR, 'templates')).sort()) {
    out[file] = renderTemplate(readFileSync(join(CHART_DIR, 'templates', file), 'utf8'), ctx);
  }
  return out;
}
