/** The lease registry example, over real HTTP on 127.0.0.1, with an injected clock for time. */
import type { AddressInfo } from 'node:net';
import { SimulatedClock } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_TTL_MS, type RegistryServerOptions, createRegistryServer } from '../examples/registry/server.js';
import { flush } from './helpers.js';

const running: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((stop) => stop()));
});

async function start(options: RegistryServerOptions = {}) {
  const clock = new SimulatedClock();
  const errors: unknown[] = [];
  const { server, registry } = createRegistryServer({ clock, onCloseError: (_id, e) => errors.push(e), ...options });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  running.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await registry.dispose();
  });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  /** Moves the registry's clock and lets expiry closes run. */
  const advance = async (ms: number) => {
    clock.increment(ms);
    await flush();
  };
  return { base, clock, registry, store: registry.store, errors, call, advance };
}

describe('lease registry over HTTP', () => {
  it('registers a lease (201) that expires after its TTL and is unregistered by its expiry', async () => {
    const { call, advance, store } = await start();
    const put = await call('PUT', '/leases/p1', { ttlMs: 1000, data: { room: '4.12' } });
    expect(put).toEqual({ status: 201, body: { id: 'p1', data: { room: '4.12' }, state: 'active', expiresAt: 1000 } });
    expect((await call('GET', '/leases')).body).toEqual([put.body]);
    await advance(999);
    expect((await call('GET', '/leases/p1')).status).toBe(200);
    await advance(1);
    expect((await call('GET', '/leases/p1')).status).toBe(404);
    expect((await call('GET', '/leases')).body).toEqual([]);
    expect(store.has('p1')).toBe(false);
    expect(store.unregistered.get('p1')).toBe(1);
  });

  it('a refresh before expiry (200) keeps it with the new deadline', async () => {
    const { call, advance, store } = await start();
    await call('PUT', '/leases/p1', { ttlMs: 1000 });
    await advance(800);
    const refreshed = await call('PUT', '/leases/p1', { ttlMs: 1000 });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.expiresAt).toBe(1800);
    await advance(900); // 1700: past the first deadline
    expect((await call('GET', '/leases/p1')).status).toBe(200);
    await advance(100);
    expect((await call('GET', '/leases/p1')).status).toBe(404);
    expect(store.unregistered.get('p1')).toBe(1);
  });

  it('a failed refresh (503) keeps the old deadline', async () => {
    const { call, advance, store } = await start();
    await call('PUT', '/leases/p1', { ttlMs: 1000 });
    await advance(500);
    const failed = await call('PUT', '/leases/p1?fail=register', { ttlMs: 5000 });
    expect(failed.status).toBe(503);
    expect(failed.body.error).toContain('fault injected');
    expect((await call('GET', '/leases/p1')).body).toMatchObject({ state: 'active', expiresAt: 1000 });
    await advance(499);
    expect((await call('GET', '/leases/p1')).status).toBe(200);
    await advance(1);
    expect((await call('GET', '/leases/p1')).status).toBe(404);
    expect(store.unregistered.get('p1')).toBe(1);
  });

  it('unregister (204) closes once; a later expiry and a second unregister (404) do nothing', async () => {
    const { call, advance, store } = await start();
    await call('PUT', '/leases/p1', { ttlMs: 1000 });
    expect((await call('DELETE', '/leases/p1')).status).toBe(204);
    expect((await call('DELETE', '/leases/p1')).status).toBe(404);
    await advance(5000);
    expect(store.unregistered.get('p1')).toBe(1);
  });

  it('a failed unregister (503) keeps the lease, which expires later', async () => {
    const { call, advance, store } = await start();
    await call('PUT', '/leases/p1', { ttlMs: 1000 });
    expect((await call('DELETE', '/leases/p1?fail=unregister')).status).toBe(503);
    expect((await call('GET', '/leases/p1')).body).toMatchObject({ state: 'active', expiresAt: 1000 });
    await advance(1000);
    expect(store.has('p1')).toBe(false);
    expect(store.unregistered.get('p1')).toBe(1);
  });

  it('fault injection through options fails every store call', async () => {
    const { call, store } = await start({ faults: { register: true } });
    expect((await call('PUT', '/leases/p1', { ttlMs: 1000 })).status).toBe(503);
    expect(store.size).toBe(0);
    expect((await call('GET', '/leases')).body).toEqual([]);
  });

  it('300 concurrent register/unregister pairs leave nothing behind and close each lease exactly once', async () => {
    const { call, advance, store, registry, errors } = await start();
    const pairs = Array.from({ length: 300 }, (_, i) =>
      Promise.all([call('PUT', `/leases/l${i}`, { ttlMs: 100 }), call('DELETE', `/leases/l${i}`)]),
    );
    const results = await Promise.all(pairs);
    await advance(100); // leases whose DELETE came first expire now
    expect(errors).toEqual([]);
    expect(results.every(([put]) => put.status === 201)).toBe(true);
    expect(store.size).toBe(0);
    expect(registry.manager.size()).toBe(0);
    expect(store.unregistered.size).toBe(300);
    expect([...store.unregistered.values()].every((n) => n === 1)).toBe(true);
    expect(registry.protocol.executors).toBe(0);
  });

  it.each([
    ['bad JSON', '{"ttlMs": 10', 'body must be JSON'],
    ['a missing ttlMs', { data: 1 }, 'ttlMs'],
    ['a negative ttlMs', { ttlMs: -5 }, 'ttlMs'],
    ['a non-finite ttlMs', '{"ttlMs": 1e999}', 'ttlMs'],
    ['a string ttlMs', { ttlMs: '100' }, 'ttlMs'],
    ['an array body', [1], 'JSON object'],
    ['a ttlMs above MAX_TTL_MS', { ttlMs: MAX_TTL_MS + 1 }, `at most ${MAX_TTL_MS}`],
  ])('%s → 400 with a JSON error, and nothing changes', async (_name, body, message) => {
    const { call, store, registry } = await start();
    await call('PUT', '/leases/kept', { ttlMs: 1000 });
    const res = await call('PUT', '/leases/kept', body);
    expect(res.status).toBe(400);
    expect(res.body.error).toContain(message);
    expect((await call('GET', '/leases/kept')).body).toMatchObject({ state: 'active', expiresAt: 1000 });
    expect(store.size).toBe(1);
    expect(registry.manager.size()).toBe(1);
  });

  it('answers 404 for unknown routes and 405 for other methods', async () => {
    const { call } = await start();
    expect((await call('GET', '/nope')).status).toBe(404);
    expect((await call('POST', '/leases/x', {})).status).toBe(405);
    expect((await call('GET', '/leases/unknown')).status).toBe(404);
  });

  it('a refresh without data keeps the stored data; an explicit null clears it', async () => {
    const { call } = await start();
    await call('PUT', '/leases/p1', { ttlMs: 1000, data: { room: '4.12' } });
    const refreshed = await call('PUT', '/leases/p1', { ttlMs: 1000 });
    expect(refreshed).toMatchObject({ status: 200, body: { data: { room: '4.12' } } });
    expect((await call('GET', '/leases/p1')).body.data).toEqual({ room: '4.12' });
    expect((await call('PUT', '/leases/p1', { ttlMs: 1000, data: null })).body.data).toBeNull();
    expect((await call('GET', '/leases/p1')).body.data).toBeNull();
  });

  it('a re-registration after expiry without data starts with null data', async () => {
    const { call, advance } = await start();
    await call('PUT', '/leases/p1', { ttlMs: 1000, data: 'old' });
    await advance(1000);
    expect(await call('PUT', '/leases/p1', { ttlMs: 1000 })).toMatchObject({ status: 201, body: { data: null } });
  });

  it('ttlMs of exactly MAX_TTL_MS is accepted', async () => {
    const { call } = await start();
    expect(await call('PUT', '/leases/p1', { ttlMs: MAX_TTL_MS })).toMatchObject({
      status: 201,
      body: { expiresAt: MAX_TTL_MS },
    });
  });

  it.each(['GET', 'PUT', 'DELETE'])(
    'a malformed percent-escape in an id → 400 for %s, and nothing changes',
    async (method) => {
      const { call, store, registry } = await start();
      await call('PUT', '/leases/kept', { ttlMs: 1000 });
      for (const path of ['/leases/%', '/leases/%zz', '/leases/%E0%A4%A']) {
        const res = await call(method, path, method === 'PUT' ? { ttlMs: 1000 } : undefined);
        expect(res.status, path).toBe(400);
        expect(res.body.error, path).toContain('percent-encoding');
      }
      expect(store.size).toBe(1);
      expect(registry.manager.size()).toBe(1);
      expect(store.unregistered.size).toBe(0);
    },
  );

  it('every 405 carries an Allow header with the methods of its path', async () => {
    const { base } = await start();
    for (const [method, path, allow] of [
      ['POST', '/leases', 'GET'],
      ['DELETE', '/leases', 'GET'],
      ['POST', '/leases/x', 'GET, PUT, DELETE'],
      ['PATCH', '/leases/x', 'GET, PUT, DELETE'],
    ]) {
      const res = await fetch(`${base}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.get('allow'), `${method} ${path}`).toBe(allow);
      expect(((await res.json()) as { error: string }).error).toContain(allow);
    }
  });
});
