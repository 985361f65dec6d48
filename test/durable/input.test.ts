/**
 * Bad input to the durable manager: a TypeError that names what is wrong,
 * thrown before any SQL runs, and nothing changed. Covers what PostgreSQL
 * cannot store as JavaScript holds it (lone surrogates, NUL, cycles) and
 * options no timer or setting can hold.
 */
import type { AddressInfo } from 'node:net';
import { beforeEach, describe, expect, it } from 'vitest';
import { DurableLeaseRegistry } from '../../examples/registry/durable-registry.js';
import { createRegistryServer } from '../../examples/registry/server.js';
import {
  MAX_ID_BYTES,
  createDurableExpireManager,
  createDurableExpireProtocol,
  pgliteStore,
  postgresStore,
} from '../../src/durable/index.js';
import { T0, type TestDatabase, countingStore, durableManager, useDatabase } from './support.js';

const circular: Record<string, unknown> = { a: 1 };
circular['self'] = circular;

describe('durable bad input', () => {
  const database = useDatabase('pglite');
  let db: TestDatabase;
  beforeEach(() => void (db = database()));

  it('bad ids and data: a TypeError naming the problem (and the path inside data), before any SQL, nothing changed', async () => {
    const counter = countingStore(db.store);
    const { manager } = await durableManager(db, { store: counter.store });
    await db.clock.set(T0);
    await manager.new('kept', T0 + 1_000, { closer: 'lease', data: { v: 1 } });
    const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
      ['a lone high surrogate', () => manager.new('a\uD800', { ttlMs: 10 }, { closer: 'lease' }), /lone surrogate/],
      ['a lone low surrogate', () => manager.stop('\uDC00b'), /lone surrogate/],
      ['a NUL in an id', () => manager.delete('a\u0000b'), /NUL/],
      ['an id too long', () => manager.get('x'.repeat(MAX_ID_BYTES + 1)), /bytes of UTF-8/],
      ['NUL inside data', () => manager.new('a', { ttlMs: 10 }, { closer: 'lease', data: { s: 'x\u0000y' } }), /data\.s .*NUL/],
      ['a lone surrogate inside data', () => manager.new('a', { ttlMs: 10 }, { closer: 'lease', data: ['ok', '\uD83D'] }), /data\[1\] .*surrogate/],
      ['a lone surrogate in a key', () => manager.new('a', { ttlMs: 10 }, { closer: 'lease', data: { '\uDE00': 1 } }), /key .*surrogate/],
      ['circular data', () => manager.new('a', { ttlMs: 10 }, { closer: 'lease', data: { outer: circular } }), /data\.outer\.self .*circular/],
      ['a BigInt', () => manager.new('a', { ttlMs: 10 }, { closer: 'lease', data: { n: 1n } }), /data\.n .*BigInt/],
      ['a function', () => manager.new('a', { ttlMs: 10 }, { closer: 'lease', data: { f: () => 1 } }), /data\.f .*function/],
      ['Infinity', () => manager.new('a', { ttlMs: 10 }, { closer: 'lease', data: { x: [Infinity] } }), /data\.x\[0\] .*Infinity/],
      ['NaN', () => manager.new('a', { ttlMs: 10 }, { closer: 'lease', data: Number.NaN }), /data .*NaN/],
      ['undefined in an object', () => manager.new('a', { ttlMs: 10 }, { closer: 'lease', data: { u: undefined } }), /data\.u .*undefined/],
      ['a Date', () => manager.new('a', { ttlMs: 10 }, { closer: 'lease', data: new Date() }), /data .*Date/],
      ['an infinite deadline', () => manager.new('a', Infinity, { closer: 'lease' }), /deadline/],
    ];
    const before = counter.counts.statements;
    for (const [what, call, message] of cases) {
      await expect(call(), what).rejects.toThrow(TypeError);
      await expect(call(), what).rejects.toThrow(message);
    }
    expect(counter.counts.statements).toBe(before);
    expect((await manager.list()).map((e) => [e.id, e.data])).toEqual([['kept', { v: 1 }]]);
    await manager.dispose();
  });

  it('the protocol takes the same checks on a renewal, and closes nothing it could not arm with bad data', async () => {
    const { manager, closes } = await durableManager(db);
    const protocol = createDurableExpireProtocol(manager);
    await expect(
      protocol.update('a', () => ({ value: 1, expiresAt: { ttlMs: 10 }, closer: 'lease', data: { s: '\u0000' } })),
    ).rejects.toThrow(/renewal\.data\.s .*NUL/);
    expect(() => protocol.update('b\uD800', () => ({ value: 1, expiresAt: { ttlMs: 10 }, closer: 'lease' }))).toThrow(/surrogate/);
    expect(await manager.size()).toBe(0);
    expect(closes.length).toBeLessThanOrEqual(1); // an unarmed renewal is closed once, at most
    await manager.dispose();
  });

  it('the durable registry answers data the store cannot hold with 400, not 503, and keeps nothing', async () => {
    const registry = await DurableLeaseRegistry.open(db.store, { log: () => {} });
    const { server } = createRegistryServer({ registry });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/leases/p1`;
      const put = await fetch(url, { method: 'PUT', body: '{"ttlMs": 1000, "data": {"note": "a\\u0000b"}}' });
      expect(put.status).toBe(400);
      expect(((await put.json()) as { error: string }).error).toMatch(/data\.note .*NUL/);
      expect((await fetch(url)).status).toBe(404);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await registry.dispose();
    }
  });

  it('a protocol update checks its input once, at its edge: the renewal data is walked once to check and once to store', async () => {
    const { manager } = await durableManager(db);
    const protocol = createDurableExpireProtocol(manager);
    await db.clock.set(T0);
    await manager.new('once', T0 + 1_000, { closer: 'lease' });
    let walks = 0;
    // Every walk of the data (the check, JSON.stringify) lists its keys once.
    const data = new Proxy({ v: 1 }, { ownKeys: (target) => (walks++, Reflect.ownKeys(target)) });
    await protocol.update('once', () => ({ value: undefined, expiresAt: T0 + 2_000, closer: 'lease', data }));
    expect(walks).toBe(2);
    expect(await manager.get('once')).toMatchObject({ state: 'active', deadline: T0 + 2_000, data: { v: 1 } });
    // A closer the process lacks is still refused by the manager, with nothing armed.
    await expect(protocol.update('once', () => ({ value: undefined, expiresAt: T0 + 3_000, closer: 'nobody' }))).rejects.toThrow(
      /unknown closer "nobody"/,
    );
    await manager.dispose();
  });

  it('options no timer or setting can hold, and names that break NOTIFY or SQL: a TypeError at creation', async () => {
    const store = db.store;
    const closers = { lease: () => {} };
    const bad: Array<[string, () => Promise<unknown>, RegExp]> = [
      ['claimTimeoutMs ≥ 2^31', () => createDurableExpireManager({ store, closers, claimTimeoutMs: 2 ** 31 }), /claimTimeoutMs/],
      ['pollIntervalMs ≥ 2^31', () => createDurableExpireManager({ store, closers, pollIntervalMs: 2 ** 31 }), /pollIntervalMs/],
      ['pollIntervalMs of 1 ms', () => createDurableExpireManager({ store, closers, pollIntervalMs: 1 }), /pollIntervalMs/],
      ['a fractional timeout', () => createDurableExpireManager({ store, closers, claimTimeoutMs: 1000.5 }), /claimTimeoutMs/],
      ['pauseTimeoutMs NaN', () => createDurableExpireManager({ store, closers, pauseTimeoutMs: Number.NaN }), /pauseTimeoutMs/],
      ['concurrency 0', () => createDurableExpireManager({ store, closers, concurrency: 0 }), /concurrency/],
      ['a namespace with a newline', () => createDurableExpireManager({ store, closers, namespace: 'a\nb' }), /control character/],
      ['a namespace too long', () => createDurableExpireManager({ store, closers, namespace: 'n'.repeat(201) }), /namespace/],
    ];
    for (const [what, create, message] of bad) await expect(create(), what).rejects.toThrow(message);
    for (const reserved of ['select', 'user', 'table']) {
      expect(() => pgliteStore({ schema: reserved }), reserved).toThrow(/reserved word/);
      expect(() => postgresStore({ connectionString: 'postgres://x', schema: reserved }), reserved).toThrow(TypeError);
    }
  });
});
