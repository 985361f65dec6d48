/**
 * `npm run example:registry`: the lease registry on 127.0.0.1:$PORT (default 3000).
 * REGISTRY_FAULTS=register,unregister makes the store fail on every call.
 */
import { createRegistryServer } from './server.js';

const port = Number(process.env.PORT ?? 3000);
const faults = new Set((process.env.REGISTRY_FAULTS ?? '').split(',').filter(Boolean));
const { server, registry } = createRegistryServer({
  faults: { register: faults.has('register'), unregister: faults.has('unregister') },
  onCloseError: (id, error) => console.error(`expiry of ${id} could not unregister it:`, (error as Error).message),
});

server.listen(port, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${port}`;
  console.log(`lease registry on ${base}${faults.size ? ` (failing: ${[...faults].join(', ')})` : ''}
try:
  curl -i -X PUT ${base}/leases/printer-1 -d '{"ttlMs": 10000, "data": {"room": "4.12"}}'
  curl -s ${base}/leases                      # live leases, their state and deadline
  curl -i -X PUT ${base}/leases/printer-1 -d '{"ttlMs": 10000}'   # refresh: 200, data kept
  curl -i -X PUT '${base}/leases/printer-1?fail=register' -d '{"ttlMs": 10000}'  # 503, old deadline kept
  curl -i -X DELETE ${base}/leases/printer-1  # 204; again: 404
Leases not refreshed within their ttlMs are unregistered by their expiry.
Ctrl-C or SIGTERM unregisters every lease, then stops.`);
});

// A graceful shutdown: take no more requests, unregister every live lease once
// (a refresh in flight finishes first), then exit.
const shutdown = async (signal: string) => {
  console.log(`${signal}: unregistering ${registry.manager.size} leases`);
  server.close();
  server.closeIdleConnections();
  await registry.dispose({ close: true });
  console.log(`stopped; ${registry.store.size} leases left in the store`);
};
process.once('SIGINT', (signal) => void shutdown(signal));
process.once('SIGTERM', (signal) => void shutdown(signal));
