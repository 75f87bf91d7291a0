/** Rendered objects as multi-document YAML: no anchors/aliases, no line folding, stable. */
import { stringify } from 'yaml';

export function objectsToYaml(objects: readonly Record<string, unknown>[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n');
}
