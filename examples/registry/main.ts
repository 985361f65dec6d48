/**
 * `npm run example:registry`: the lease registry on 127.0.0.1:$PORT (default 3000).
 * REGISTRY_FAULTS=register,unregister makes the store fail on every call.
 * STORE=pglite:<dir> or STORE=postgres://… keeps the leases in PostgreSQL: they
 * survive a crash and a restart (default: memory).
 */
import { pgliteStore, postgresStore } from '../../src/durable/index.js';
import { DurableLeaseRegistry } from './durable-registry.js';
import { LeaseRegistry, type Registry } from './registry.js';
import { prometheusMetrics } from './metrics.js';
import { createRegistryServer } from './server.js';

const port = Number(process.env.PORT ?? 3000);
const faults = new Set((process.env.REGISTRY_FAULTS ?? '').split(',').filter(Boolean));
const STORE = process.env.STORE ?? 'memory';
// GET /metrics: the managers' instruments, in Prometheus text.
const metrics = prometheusMetrics();
const { meterProvider } = metrics;
const onCloseError = (id: string, error: unknown) =>
  console.error(`expiry of ${id} could not unregister it:`, (error as Error).message);

async function openRegistry(): Promise<Registry> {
  if (STORE === 'memory') return new LeaseRegistry({ onCloseError, meterProvider });
  if (STORE.startsWith('pglite:')) {
    return DurableLeaseRegistry.open(pgliteStore({ dataDir: STORE.slice('pglite:'.length) }), { onCloseError, meterProvider });
  }
  if (/^postgres(ql)?:\/\//.test(STORE)) {
    return DurableLeaseRegistry.open(postgresStore({ connectionString: STORE }), { onCloseError, meterProvider });
  }
  throw new Error(`STORE must be memory, pglite:<dir> or postgres://…, got ${STORE}`);
}

const registry = await openRegistry();
const durable = registry instanceof DurableLeaseRegistry;
const { server } = createRegistryServer({
  registry,
  faults: { register: faults.has('register'), unregister: faults.has('unregister') },
  metrics: metrics.handler,
});

server.listen(port, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${port}`;
  console.log(`lease registry on ${base} (store: ${STORE})${faults.size ? ` (failing: ${[...faults].join(', ')})` : ''}
try:
  curl -i -X PUT ${base}/leases/printer-1 -d '{"ttlMs": 10000, "data": {"room": "4.12"}}'
  curl -s ${base}/leases                      # live leases, their state and deadline
  curl -i -X PUT ${base}/leases/printer-1 -d '{"ttlMs": 10000}'   # refresh: 200, data kept
  curl -i -X PUT '${base}/leases/printer-1?fail=register' -d '{"ttlMs": 10000}'  # 503, old deadline kept
  curl -i -X DELETE ${base}/leases/printer-1  # 204; again: 404
  curl -s ${base}/healthz                     # 200 when the store answers within 1 s, else 503
  curl -s ${base}/metrics                     # xstate_expire_* in Prometheus text
Leases not refreshed within their ttlMs are unregistered by their expiry.
${
  durable
    ? 'Leases are durable: Ctrl-C or SIGTERM stops this process, and they stay for the next one.'
    : 'Ctrl-C or SIGTERM unregisters every lease, then stops.'
}`);
});

// A graceful shutdown: take no more requests; in memory, unregister every live
// lease once (a refresh in flight finishes first); durable leases stay.
const shutdown = async (signal: string) => {
  const leases = (await registry.list()).length;
  console.log(`${signal}: ${durable ? `stopping; ${leases} leases stay in ${STORE}` : `unregistering ${leases} leases`}`);
  server.close();
  server.closeIdleConnections();
  await registry.dispose({ close: !durable });
  await metrics.shutdown();
  if (registry instanceof LeaseRegistry) console.log(`stopped; ${registry.store.size} leases left in the store`);
  else console.log('stopped');
};
process.once('SIGINT', (signal) => void shutdown(signal));
process.once('SIGTERM', (signal) => void shutdown(signal));
