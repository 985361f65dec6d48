/**
 * The registry example as a service: `GET /healthz` and `GET /metrics`
 * (Prometheus text from the managers' OpenTelemetry instruments), over real
 * HTTP on 127.0.0.1, in memory (simulated clock) and on PGlite.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SimulatedClock } from 'xstate';
import { pgliteStore } from '../src/durable/index.js';
import { DurableLeaseRegistry } from '../examples/registry/durable-registry.js';
import { prometheusMetrics } from '../examples/registry/metrics.js';
import type { Registry } from '../examples/registry/registry.js';
import { createRegistryServer } from '../examples/registry/server.js';
import { flush } from './helpers.js';
import { pgliteDataDir } from './support/pglite-template.js';

const running: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of running.splice(0).reverse()) await stop();
});

async function serve(options: Parameters<typeof createRegistryServer>[0]) {
  const { server, registry } = createRegistryServer(options);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  running.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await registry.dispose();
  });
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
  };
  const put = (id: string, ttlMs: number) => fetch(`${base}/leases/${id}`, { method: 'PUT', body: JSON.stringify({ ttlMs }) });
  return { base, registry, get, put };
}

/** The value of a Prometheus sample, `name{labels}` as it is printed; 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const match = /^([a-z_:]+)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => have[key] === value)) return Number(match[3]);
  }
  return 0;
}

describe('the registry as a service, in memory', () => {
  it('serves /metrics: closes counted after leases expire, lateness and entities by state', async () => {
    const clock = new SimulatedClock();
    const metrics = prometheusMetrics();
    running.push(metrics.shutdown);
    const { get, put } = await serve({ clock, metrics: metrics.handler, meterProvider: metrics.meterProvider });
    for (const id of ['a', 'b', 'c']) expect((await put(id, 1_000)).status).toBe(201);
    expect((await put('long', 60_000)).status).toBe(201);
    let scrape = await get('/metrics');
    expect(scrape.status).toBe(200);
    expect(scrape.type).toMatch(/^text\/plain/);
    expect(sample(scrape.text, 'xstate_expire_entities', { state: 'active' })).toBe(4);
    expect(sample(scrape.text, 'xstate_expire_closes_total', { outcome: 'ok' })).toBe(0);

    clock.increment(1_000);
    await flush();
    scrape = await get('/metrics');
    expect(sample(scrape.text, 'xstate_expire_closes_total', { outcome: 'ok' })).toBe(3);
    expect(sample(scrape.text, 'xstate_expire_entities', { state: 'active' })).toBe(1);
    expect(scrape.text).toMatch(/^# TYPE xstate_expire_close_lateness\w* histogram$/m);
    expect(scrape.text).toMatch(/^xstate_expire_close_duration\w*_count\{outcome="ok"[^}]*\} 3$/m);
  });

  it('answers /healthz 200 while the store answers, and 503 when it does not within a second', async () => {
    const { get } = await serve({});
    const ok = await get('/healthz');
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text)).toMatchObject({ status: 'ok', store: 'memory' });
    expect((await get('/metrics')).status).toBe(404); // no metrics handler given

    // A store that never answers: the check gives up after its second.
    const stuck = { kind: 'stuck', faults: {}, health: () => new Promise<void>(() => {}), dispose: async () => {} };
    const { get: getStuck } = await serve({ registry: stuck as unknown as Registry });
    const down = await getStuck('/healthz');
    expect(down.status).toBe(503);
    expect(JSON.parse(down.text)).toMatchObject({ status: 'unavailable', store: 'stuck', error: expect.stringMatching(/1000 ms/) });
  });
});

describe('the registry as a service, on PGlite', () => {
  it('counts the durable closes in /metrics, and /healthz turns 503 once the store is closed', { timeout: 120_000 }, async () => {
    const metrics = prometheusMetrics();
    running.push(metrics.shutdown);
    // A copy of the template data folder: an in-memory PGlite would run initdb (seconds of CPU).
    const folder = await pgliteDataDir();
    running.push(async () => folder.remove());
    const store = pgliteStore({ dataDir: folder.dataDir });
    const registry = await DurableLeaseRegistry.open(store, { meterProvider: metrics.meterProvider, log: () => {} });
    const { get, put } = await serve({ registry, metrics: metrics.handler });
    expect((await get('/healthz')).status).toBe(200);
    expect((await put('a', 50)).status).toBe(201);
    expect((await put('b', 50)).status).toBe(201);
    await vi.waitFor(
      async () => {
        const text = (await get('/metrics')).text;
        expect(sample(text, 'xstate_expire_closes_total', { outcome: 'ok', closer: 'unregister' })).toBe(2);
      },
      { timeout: 30_000, interval: 100 },
    );
    const text = (await get('/metrics')).text;
    // Both leases are gone: the gauge says so (a sample of 0, not a missing one).
    expect(text).toMatch(/^xstate_expire_entities\{(?=[^}]*namespace="leases")(?=[^}]*state="active")[^}]*\} 0$/m);

    await registry.dispose(); // the store is released: no query can answer
    const down = await get('/healthz');
    expect(down.status).toBe(503);
    expect(JSON.parse(down.text)).toMatchObject({ status: 'unavailable', store: 'pglite' });
  });
});
