/**
 * Templates of rule actions (notifications, disclaimers, subject tags):
 * `%{name}` replaced by a variable (api/rule.ts TEMPLATE_VARIABLES, checked
 * when the config is validated); an unknown or missing variable becomes
 * empty. Pure.
 */
export type TemplateVars = Partial<Record<string, string>>;

export function renderTemplate(template: string, vars: TemplateVars): string {
  return template.replace(/%\{\s*([^}]*?)\s*\}/g, (_m, name: string) => vars[name] ?? '');
}

/** For a header field: one line, control characters gone (a value from the message cannot add header fields). */
export function oneLine(text: string, max = 900): string {
  return text.replace(/[\r\n]+[ \t]*/g, ' ').replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, '').slice(0, max);
}
