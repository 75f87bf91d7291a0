/**
 * The Helm chart rendered by the real `helm template` (built by
 * test/cluster/build.sh; skipped, or failed under MAILGW_REQUIRE_ALL=1, when
 * it is not) for the default values and for a values file that turns every
 * option on: both match goldens in test/golden/, are valid YAML of the
 * expected objects, agree with the operator (flags, RBAC, metrics) and lint,
 * the chart's CRD templates and deploy/mailgw.yaml do not drift, and Helm
 * refuses wrong values through values.schema.json. Installing it on a real
 * kube-apiserver: test/control-plane/helm.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import type { TestContext } from 'node:test';
import { helmTemplate, renderChart, CHART_DIR, WITH_CRDS } from '../charts/render-chart.ts';
import { plainManifests } from '../charts/gen-manifests.ts';
import { chartCrdTemplate } from '../operator/crd-generate.ts';
import { helmBinary } from './cluster/binaries.ts';
import { missing } from './helpers/requirements.ts';
import { parseArgs } from '../cli/args.ts';
import { OPERATOR_FLAGS } from '../cli/cmd-operator.ts';
import { CONSOLE_FLAGS } from '../cli/cmd-console.ts';
import { localDomain, mailGateway, trustedNetwork } from '../api/index.ts';
import { lint } from '../operator/lint.ts';
import { render } from '../operator/render.ts';
import { GatewayMetrics } from '../gateway/metrics.ts';
import { OperatorMetrics } from '../operator/metrics.ts';

const ROOT = new URL('..', import.meta.url).pathname;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function objects(rendered: Record<string, string>): Json[] {
  return Object.entries(rendered).filter(([f]) => f.endsWith('.yaml')).flatMap(([file, text]) => parseAllDocuments(text).map((d) => {
    assert.deepEqual(d.errors, [], `${file} renders to valid YAML`);
    return d.toJS() as Json;
  })).filter((o) => o !== null);
}

const allOn = parse(readFileSync(join(ROOT, 'test/fixtures/chart-values-all.yaml'), 'utf8')) as Json;
const noHelm = (t: TestContext) => {
  if (process.env.MAILGW_HELM || helmBinary()) return false;
  missing(t, 'helm (bash test/cluster/build.sh)');
  return true;
};

describe('Helm chart', () => {
  it('values.yaml is documented line by line', () => {
    const lines = readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8').split('\n');
    lines.forEach((line, i) => {
      const leaf = /^\s*([A-Za-z]+):\s*\S/.exec(line);
      if (!leaf || /^\s*(requests|limits|cpu|memory):/.test(line)) return;
      assert.match(lines[i - 1] ?? '', /^\s*#/, `values.yaml line ${i + 1} (${leaf[1]}) has a comment above it`);
    });
  });

  it('helm refuses wrong values through values.schema.json, naming the value', (t) => {
    if (noHelm(t)) return;
    assert.doesNotThrow(() => helmTemplate(allOn), 'all options are valid');
    for (const [bad, where] of [[{ operator: { replicas: 'two' } }, /operator\/replicas/], [{ image: { pullPolicy: 'Sometimes' } }, /image\/pullPolicy/],
      [{ metrics: { port: 70000 } }, /metrics\/port/], [{ operatorr: {} }, /operatorr/], [{ crds: { install: 'always' } }, /crds\/install/]] as [Json, RegExp][]) {
      assert.throws(() => helmTemplate(bad), (err: Error & { stderr?: string }) => where.test(String(err.stderr)), `refuses ${JSON.stringify(bad)}`);
    }
  });

  it('helm template with the default values and with all options matches the goldens (UPDATE_GOLDEN=1 rewrites them)', (t) => {
    if (noHelm(t)) return;
    // All options as on a cluster that serves the CRDs already (the example gateway renders only there).
    for (const [name, values, apis] of [['chart-default.yaml', {}, []], ['chart-all-options.yaml', allOn, WITH_CRDS]] as [string, Json, string[]][]) {
      const golden = join(ROOT, 'test/golden', name);
      const text = helmTemplate(values, undefined, apis);
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, text);
      assert.equal(text, readFileSync(golden, 'utf8'), `${name}: the chart renders differently (UPDATE_GOLDEN=1 after a deliberate change)`);
    }
  });

  it('default values: the CRDs, the operator, its RBAC and metrics Service, nothing optional', (t) => {
    if (noHelm(t)) return;
    const objs = objects(renderChart());
    assert.deepEqual(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
      'ClusterRole/mailgw-mail-operator', 'ClusterRole/mailgw-mail-viewer', 'ClusterRole/mailgw-operator', 'ClusterRoleBinding/mailgw-operator',
      'CustomResourceDefinition/localdomains.mailgw.io', 'CustomResourceDefinition/mailgateways.mailgw.io', 'CustomResourceDefinition/trustednetworks.mailgw.io', 'Deployment/mailgw-operator', 'Role/mailgw-operator-leader-election',
      'RoleBinding/mailgw-operator-leader-election', 'Service/mailgw-operator-metrics', 'ServiceAccount/mailgw-operator',
    ]);
    for (const o of objs) assert.ok(o.apiVersion && o.kind && o.metadata?.name, 'every object has apiVersion, kind and a name');
    const dep = objs.find((o) => o.kind === 'Deployment')!;
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    assert.equal(dep.spec.replicas, 2);
    assert.equal(pod.serviceAccountName, 'mailgw-operator');
    assert.deepEqual(c.args.slice(0, 1), ['operator']);
    assert.doesNotThrow(() => parseArgs(c.args.slice(1), OPERATOR_FLAGS), 'every flag the chart passes exists');
    assert.equal(c.readinessProbe.httpGet.path, '/readyz');
    assert.equal(c.livenessProbe.httpGet.path, '/healthz');
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.ok(c.env.some((e: Json) => e.name === 'POD_NAMESPACE'), 'the lease lives in the release namespace');
    assert.match(readFileSync(join(CHART_DIR, 'templates/NOTES.txt'), 'utf8'), /kubectl get mailgateways/);
  });

  it('all options on: ServiceMonitor, PrometheusRule, dashboard, NetworkPolicy and an example gateway lint accepts', (t) => {
    if (noHelm(t)) return;
    const objs = objects(renderChart(allOn, undefined, WITH_CRDS));
    const kinds = new Set(objs.map((o) => o.kind));
    for (const k of ['ServiceMonitor', 'PrometheusRule', 'ConfigMap', 'NetworkPolicy', 'MailGateway', 'LocalDomain', 'TrustedNetwork']) assert.ok(kinds.has(k), k);
    const dep = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'mailgw-operator')!;
    assert.equal(dep.spec.replicas, 3);
    // The console: its own Deployment and ServiceAccount, bound to nothing (it acts with its callers' tokens only).
    const consoleDep = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'mailgw-console')!;
    const consoleArgs = consoleDep.spec.template.spec.containers[0].args as string[];
    assert.equal(consoleArgs[0], 'console');
    assert.doesNotThrow(() => parseArgs(consoleArgs.slice(1), CONSOLE_FLAGS), 'every flag the chart passes the console exists');
    assert.equal(consoleDep.spec.template.spec.serviceAccountName, 'mailgw-console');
    assert.ok(!objs.some((o) => /Binding$/.test(o.kind) && (o.subjects as Json[] | undefined)?.some((x) => x.name === 'mailgw-console')), 'no binding gives the console rights');
    assert.ok(objs.some((o) => o.kind === 'Service' && o.metadata.name === 'mailgw-console'));
    const ingress = objs.find((o) => o.kind === 'Ingress')!;
    assert.deepEqual([ingress.spec.rules[0].host, ingress.spec.tls[0].secretName, ingress.spec.rules[0].http.paths[0].backend.service.name], ['mail-console.example.com', 'mail-console-tls', 'mailgw-console']);
    assert.equal(dep.spec.template.spec.containers[0].image, 'registry.example/mailgw:1.2.3');
    const args = dep.spec.template.spec.containers[0].args as string[];
    assert.equal(args[args.indexOf('--gateway-image') + 1], 'registry.example/mailgw:1.2.3', 'gateway pods default to the operator\'s image');
    assert.deepEqual(dep.spec.template.spec.nodeSelector, { 'kubernetes.io/os': 'linux' });
    assert.equal(dep.spec.template.metadata.annotations['example.com/team'], 'mail');
    const dash = objs.find((o) => o.kind === 'ConfigMap')!;
    assert.ok(JSON.parse(dash.data['mailgw.json']).panels.length >= 8, 'the dashboard is valid JSON');
    const rule = objs.find((o) => o.kind === 'PrometheusRule')!;
    assert.ok(rule.spec.groups[0].rules.length >= 6);
    // Every metric the alerts and the dashboard use is one the gateway or the operator exports.
    const exported = new Set([...new GatewayMetrics().registry.getMetricsAsArray(), ...new OperatorMetrics().registry.getMetricsAsArray()].map((m) => m.name));
    const used = new Set([...JSON.stringify(rule.spec).matchAll(/mailgw_[a-z_]+/g), ...dash.data['mailgw.json'].matchAll(/mailgw_[a-z_]+/g)].map((m) => String(m[0]).replace(/_(bucket|count|sum)$/, '')));
    assert.deepEqual([...used].filter((m) => !exported.has(m)), [], 'no alert or panel on a metric that does not exist');
    // The real server admits them: test/control-plane/helm.test.ts installs this values file.
    const gw = objs.find((o) => o.kind === 'MailGateway')!;
    const ld = objs.find((o) => o.kind === 'LocalDomain')!;
    const tn = objs.find((o) => o.kind === 'TrustedNetwork')!;
    assert.deepEqual(lint([mailGateway.parse(gw)], [localDomain.parse(ld)], [trustedNetwork.parse(tn)]), [], 'the example follows its scheme without findings');
  });

  it('the example gateway autoscaled: by the operator\'s autopilot, or by an HPA the chart renders, to which the operator leaves the count', (t) => {
    if (noHelm(t)) return;
    const withAutoscaling = (mode: string) => objects(renderChart({ ...allOn, exampleGateway: { ...(allOn.exampleGateway as Json), autoscaling: { enabled: true, mode, minReplicas: 2, maxReplicas: 5 } } }, undefined, WITH_CRDS));
    const byOperator = withAutoscaling('Operator');
    const gw = mailGateway.parse(byOperator.find((o) => o.kind === 'MailGateway'));
    assert.deepEqual([gw.spec.autoscaling?.mode, gw.spec.autoscaling?.minReplicas, gw.spec.autoscaling?.maxReplicas], ['Operator', 2, 5]);
    assert.ok(!byOperator.some((o) => o.kind === 'HorizontalPodAutoscaler'));
    const stsOf = (g: typeof gw) => render(g, [], []).objects.find((o) => o.kind === 'StatefulSet') as { spec: Json };
    assert.equal(stsOf(gw).spec.replicas, 2, 'the operator starts at minReplicas');

    const byHpa = withAutoscaling('HorizontalPodAutoscaler');
    const hpa = byHpa.find((o) => o.kind === 'HorizontalPodAutoscaler')!;
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'StatefulSet', name: `${gw.metadata.name}-gateway` });
    assert.deepEqual([hpa.spec.minReplicas, hpa.spec.maxReplicas, hpa.spec.metrics[0].resource.target.averageUtilization], [2, 5, 70]);
    const hpaGw = mailGateway.parse(byHpa.find((o) => o.kind === 'MailGateway'));
    assert.ok(!('replicas' in stsOf(hpaGw).spec), 'no replica count in the StatefulSet the operator applies: the HPA owns it');
    assert.throws(() => helmTemplate({ exampleGateway: { autoscaling: { mode: 'Keda' } } }), /autoscaling\/mode/);
  });

  it('RBAC in the chart is the operator\'s RBAC (deploy/rbac.yaml), besides the two roles for people (mail viewer, mail operator)', (t) => {
    if (noHelm(t)) return;
    const forPeople = (o: Json) => /^mailgw-mail-(viewer|operator)$/.test(o.metadata?.name);
    const rules = (docs: Json[]) => docs.filter((o) => (o.kind === 'ClusterRole' || o.kind === 'Role') && !forPeople(o)).map((o) => [o.kind, o.rules]);
    const fromChart = rules(objects(renderChart()));
    const fromDeploy = rules(parseAllDocuments(readFileSync(join(ROOT, 'deploy/rbac.yaml'), 'utf8')).map((d) => d.toJS() as Json));
    assert.deepEqual(fromChart, fromDeploy);
  });

  it('the chart\'s CRD templates are the generated CRDs, and deploy/mailgw.yaml is the chart rendered (run npm run gen:crds / gen:manifests)', (t) => {
    const templates = join(CHART_DIR, 'templates/crds');
    assert.deepEqual(readdirSync(templates).sort(), readdirSync(join(ROOT, 'crds')).sort());
    for (const f of readdirSync(join(ROOT, 'crds'))) assert.equal(readFileSync(join(templates, f), 'utf8'), chartCrdTemplate(readFileSync(join(ROOT, 'crds', f), 'utf8')), f);
    if (noHelm(t)) return;
    assert.equal(readFileSync(join(ROOT, 'deploy/mailgw.yaml'), 'utf8'), plainManifests());
  });

  it('crds.install=false renders no CRDs; with it the CRDs are kept by Helm on uninstall', (t) => {
    if (noHelm(t)) return;
    const crds = (o: Json[]) => o.filter((x) => x.kind === 'CustomResourceDefinition');
    assert.equal(crds(objects(renderChart({ crds: { install: false } }))).length, 0);
    const kept = crds(objects(renderChart()));
    assert.deepEqual(kept.map((c) => c.metadata.name).sort(), ['localdomains.mailgw.io', 'mailgateways.mailgw.io', 'trustednetworks.mailgw.io']);
    assert.ok(kept.every((c) => c.metadata.annotations['helm.sh/resource-policy'] === 'keep'));
  });

  it('no rule anywhere lets the operator read Secrets (helm template, all options, and deploy/mailgw.yaml)', (t) => {
    if (noHelm(t)) return;
    const readsSecrets = (o: Json) => ['ClusterRole', 'Role'].includes(o.kind) && ((o.rules ?? []) as Json[]).some((r) => (r.apiGroups as string[]).some((g) => g === '' || g === '*')
      && (r.resources as string[]).some((res) => res === 'secrets' || res === '*') && (r.verbs as string[]).some((v) => ['get', 'list', 'watch', '*'].includes(v)));
    const sources: [string, Json[]][] = [
      ['defaults', objects(renderChart())],
      ['all options', objects(renderChart(allOn, undefined, WITH_CRDS))],
      ['deploy/mailgw.yaml', parseAllDocuments(readFileSync(join(CHART_DIR, '../../deploy/mailgw.yaml'), 'utf8')).map((d) => d.toJS() as Json).filter(Boolean)],
    ];
    for (const [name, objs] of sources) assert.deepEqual(objs.filter(readsSecrets).map((o) => o.metadata.name), [], name);
  });

  it('watchNamespaces: RoleBindings in those namespaces instead of the ClusterRoleBinding, and the operator told to watch only them', (t) => {
    if (noHelm(t)) return;
    const objs = objects(renderChart({ operator: { watchNamespaces: ['team-a', 'team-c'] } }));
    assert.equal(objs.filter((o) => o.kind === 'ClusterRoleBinding').length, 0);
    const bindings = objs.filter((o) => o.kind === 'RoleBinding' && o.roleRef.kind === 'ClusterRole');
    assert.deepEqual(bindings.map((b) => b.metadata.namespace), ['team-a', 'team-c']);
    assert.ok(bindings.every((b) => b.subjects[0].namespace === 'mailgw-system'));
    const args = objs.find((o) => o.kind === 'Deployment')!.spec.template.spec.containers[0].args as string[];
    assert.equal(args[args.indexOf('--watch-namespaces') + 1], 'team-a,team-c');
    assert.equal(objects(renderChart()).filter((o) => o.kind === 'ClusterRoleBinding').length, 1, 'default: all namespaces');
  });
});
