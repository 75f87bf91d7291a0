/**
 * The worker of config-source.ts's loadOffThread: reads, verifies,
 * decompresses, parses and validates a config, and posts it back as a head
 * (the config without its local domains) and slices of the domains, as JSON.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadNow } from './config-source.ts';

const { path, slice } = workerData as { path: string; slice: number };
const loaded = loadNow(path);
if ('incomplete' in loaded || 'errors' in loaded) parentPort!.postMessage(loaded);
else {
  const { localDomains, ...rest } = loaded.config;
  const slices: string[] = [];
  for (let i = 0; i < localDomains.length; i += slice) slices.push(JSON.stringify(localDomains.slice(i, i + slice)));
  parentPort!.postMessage({ version: loaded.version, head: JSON.stringify({ ...rest, localDomains: [] }), slices });
}
