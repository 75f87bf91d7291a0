/**
 * `mailgw up -f PATH... [--listen 127.0.0.1:2525] [--state-dir DIR] [--gateway NAME] [--capture] [--console HOST:PORT]`
 *
 * Local mode: reads MailGateway/LocalDomain/TrustedNetwork manifests,
 * renders them with the operator's renderer and runs the gateway in-process.
 * Any schema error is printed with its location and nothing starts.
 * --capture also runs capture sinks on the loopback next hops (capture-sink.ts).
 * --console serves the console there (console/console-server.ts: the pages
 * and /api) in front of the gateway's operations API (on a loopback port of
 * its own), with two tokens made at start and printed on stderr: an
 * operator's (view, operate, release) and a viewer's (view only).
 */
import { referencedSecrets } from '../operator/render-gateway-config.ts';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { render } from '../operator/render.ts';
import { formatFinding, type Finding } from '../operator/lint.ts';
import { startPod, type RunningPod } from '../gateway/workers/start-pod.ts';
import { parseWorkers } from './cmd-gateway.ts';
import { StateLock } from '../gateway/state-lock.ts';
import { parseArgs, parseListen, UsageError } from './args.ts';
import { formatProblem, loadManifests, type Manifests } from './manifest-load.ts';
import type { GatewayConfig, MailGateway } from '../api/index.ts';
import { runUntilSignal } from './run-until-signal.ts';
import { startCaptureSinks } from './capture-sink.ts';
import pino from 'pino';
import { randomBytes } from 'node:crypto';
import { StaticTokens } from '../gateway/admin/ops-server.ts';
import { StaticDirectory, startConsole } from '../console/console-server.ts';
import type { Server } from 'node:http';
import { StartupError } from '../gateway/startup-error.ts';

export async function renderLocal(files: string[], gatewayName: string | undefined, stateDir: string, listen?: { host: string; port: number }): Promise<{ config: GatewayConfig; manifests: Manifests; warnings: string[] } | { errors: string[]; warnings: string[] }> {
  const manifests = await loadManifests(files);
  const errors = manifests.problems.filter((p) => p.severity === 'error').map(formatProblem);
  const warnings = manifests.problems.filter((p) => p.severity === 'warning').map(formatProblem);
  if (errors.length > 0) return { errors, warnings };
  const candidates = gatewayName ? manifests.gateways.filter((g) => g.metadata.name === gatewayName) : manifests.gateways;
  if (candidates.length !== 1) {
    const names = manifests.gateways.map((g) => g.metadata.name).join(', ') || 'none';
    return {
      errors: [candidates.length === 0
        ? `error: no MailGateway${gatewayName ? ` named ${gatewayName}` : ''} in ${files.join(' ')} (found: ${names})`
        : `error: several MailGateways (${names}); choose one with --gateway NAME`],
      warnings,
    };
  }
  const gw: MailGateway = candidates[0]!;
  const secretName = gw.spec.tls.inbound.certificate?.secretName;
  const tlsDir = join(stateDir, 'tls');
  if (secretName) {
    const ns = gw.metadata.namespace ?? 'default';
    const secret = manifests.secrets.find((s) => s.name === secretName && s.namespace === ns);
    if (!secret?.data['tls.crt'] || !secret.data['tls.key']) {
      return { errors: [`error: MailGateway ${gw.metadata.name}: spec.tls.inbound.certificate.secretName: Secret ${ns}/${secretName} with tls.crt and tls.key not found in the manifests`], warnings };
    }
    await mkdir(tlsDir, { recursive: true, mode: 0o700 });
    for (const key of ['tls.crt', 'tls.key', 'ca.crt']) {
      if (secret.data[key]) await writeFile(join(tlsDir, key), secret.data[key], { mode: 0o600 });
    }
  }
  // Other Secrets the gateway reads (outbound CAs, client certificates, AUTH credentials), as the kubelet would mount them.
  const secretsDir = join(stateDir, 'secrets');
  for (const name of referencedSecrets(gw.spec)) {
    const ns = gw.metadata.namespace ?? 'default';
    const secret = manifests.secrets.find((s) => s.name === name && s.namespace === ns);
    if (!secret) return { errors: [`error: MailGateway ${gw.metadata.name}: Secret ${ns}/${name} is referenced but not in the manifests`], warnings };
    await mkdir(join(secretsDir, name), { recursive: true, mode: 0o700 });
    for (const [key, value] of Object.entries(secret.data)) {
      if (/^[-._a-zA-Z0-9]+$/.test(key)) await writeFile(join(secretsDir, name, key), value, { mode: 0o600 });
    }
  }
  const rendered = render(gw, manifests.domains, manifests.networks, { tlsDir, secretsDir, listen });
  const format = (f: Finding) => formatFinding(f, manifests.locate(f.object, f.field));
  warnings.push(...rendered.findings.filter((f) => f.severity === 'Warning').map(format));
  const lintErrors = rendered.findings.filter((f) => f.severity === 'Error').map(format);
  if (lintErrors.length > 0) return { errors: lintErrors, warnings };
  return { config: rendered.gatewayConfig, manifests, warnings };
}

export const UP_FLAGS = ['listen', 'state-dir', 'gateway', 'capture', 'console', 'workers'] as const;

export async function cmdUp(argv: string[]): Promise<number> {
  const capture = argv.includes('--capture');
  const args = parseArgs(argv.filter((a) => a !== '--capture'), UP_FLAGS.filter((f) => f !== 'capture'));
  if (args.files.length === 0) throw new UsageError('needs -f PATH (manifest files or directories)');
  const listen = parseListen(args.flags.get('listen') ?? '127.0.0.1:2525');
  const consoleAt = args.flags.has('console') ? parseListen(args.flags.get('console')!, '--console') : undefined;
  const stateDir = resolve(args.flags.get('state-dir') ?? '.mailgw');
  const workers = parseWorkers(args.flags.get('workers')) ?? 1;
  // Before anything is written there (TLS files, captured mail, the spool): one gateway per state directory.
  const lock = await StateLock.acquire(stateDir);
  let result: Awaited<ReturnType<typeof renderLocal>>;
  try {
    result = await renderLocal(args.files, args.flags.get('gateway'), stateDir, listen);
  } catch (err) {
    await lock.release();
    throw err;
  }
  for (const w of result.warnings) console.error(w);
  if ('errors' in result) {
    await lock.release();
    for (const e of result.errors) console.error(e);
    console.error(`mailgw up: ${result.errors.length} error(s); nothing started`);
    return 1;
  }
  const logger = pino({ base: { gateway: `${result.config.gateway.namespace}/${result.config.gateway.name}` } });
  let stopCapture: (() => Promise<void>) | undefined;
  let gateway: RunningPod;
  let consoleServer: Server | undefined;
  try {
    stopCapture = capture ? await startCaptureSinks(result.config, join(stateDir, 'captured'), logger) : undefined;
    const tokens = { operator: randomBytes(24).toString('base64url'), viewer: randomBytes(24).toString('base64url') };
    // The operations API on a loopback port of its own, and the console in front of it at --console.
    const ops = consoleAt && {
      host: '127.0.0.1', port: 0,
      auth: new StaticTokens([
        { token: tokens.operator, user: 'local-operator', permissions: ['view', 'operate', 'release'] },
        { token: tokens.viewer, user: 'local-viewer', permissions: ['view'] },
      ]),
    };
    // The console's port is bound before the gateway starts (a busy port stops here, with nothing opened); it learns the operations API's port after.
    const pod = { pod: `${result.config.gateway.name}-0`, url: '' };
    if (consoleAt) {
      const directory = new StaticDirectory(new Map([[`${result.config.gateway.namespace}/${result.config.gateway.name}`, [pod]]]));
      consoleServer = await startConsole({ ...consoleAt, directory, logger }).catch((err: NodeJS.ErrnoException) => {
        throw new StartupError(`cannot listen for the console on ${consoleAt.host}:${consoleAt.port}: ${err.code === 'EADDRINUSE' ? 'the address is already in use' : err.message}`);
      });
    }
    gateway = await startPod(result.config, { ...listen, stateDir, logger, lock, ops, workers });
    const at = gateway.opsAddress;
    if (consoleServer && at) {
      pod.url = `http://127.0.0.1:${at.port}`;
      const c = consoleServer.address() as { address: string; port: number };
      const host = c.address.includes(':') ? `[${c.address}]` : c.address;
      console.error(`console on http://${host}:${c.port}/ (sign in with a token; scripts: Authorization: Bearer TOKEN)\n  operator token: ${tokens.operator}\n  viewer token:   ${tokens.viewer}`);
    }
  } catch (err) {
    consoleServer?.close();
    await stopCapture?.();
    await lock.release();
    throw err;
  }
  const code = await runUntilSignal(gateway);
  consoleServer?.close();
  await stopCapture?.();
  return code;
}
