/**
 * The durable manager's promises the semantics suite does not pin down one by
 * one: its checks of each call, its own timer, a claim lost to another
 * process, unarmed closes, its life cycle (signal, `await using`) and where
 * it reports failures.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CLOSE_SETTLED, MANAGER_DISPOSED } from '../../src/index.js';
import { CLAIM_LOST, type ClosingEntity, createDurableExpireManager } from '../../src/durable/index.js';
import { getStored, listStored } from '../../src/durable/admin.js';
import { otel } from '../support/otel.js';
import { T0, type TestDatabase, countingStore, durableManager, eventually, useDatabase } from './support.js';

describe('durable manager at its edges', () => {
  const database = useDatabase('pglite');
  let db: TestDatabase;
  beforeEach(() => void (db = database()));
  afterEach(() => void vi.restoreAllMocks());

  it('new, list and the reads: what each refuses, and what each returns', async () => {
    const { manager } = await durableManager(db);
    await db.clock.set(T0);
    await expect(manager.new('a', T0 + 10, null as never)).rejects.toThrow('DurableExpireManager.new: options must be { closer, data? }');
    await expect(manager.new('a', T0 + 10, 'lease' as never)).rejects.toThrow(TypeError);
    for (const closer of ['toString', 'nope', 5]) {
      await expect(manager.new('a', T0 + 10, { closer: closer as string })).rejects.toThrow(
        `DurableExpireManager.new: unknown closer ${typeof closer === 'string' ? `"${closer}"` : closer}; known: lease, session`,
      );
    }
    await expect(manager.list({ limit: -1 })).rejects.toThrow('DurableExpireManager.list: limit must be an integer, 0 or more');
    await expect(manager.list({ limit: 1.5 })).rejects.toThrow(TypeError);
    expect(await manager.size()).toBe(0);

    await manager.new('b', { ttlMs: 500 }, { closer: 'session' });
    await manager.new('a', new Date(T0 + 100), { closer: 'lease', data: { k: [1] } });
    expect(await manager.get('a')).toEqual({ id: 'a', state: 'active', deadline: T0 + 100, closer: 'lease', data: { k: [1] }, generation: expect.any(Number), attempts: 0 });
    expect(await manager.get('b')).toMatchObject({ deadline: T0 + 500, closer: 'session', data: null });
    expect(await manager.get('none')).toBeUndefined();
    expect(await manager.state('none')).toBeUndefined();
    expect(await manager.has('none')).toBe(false);
    expect(await manager.stop('none')).toBe(false);
    expect(await manager.delete('none')).toBe(false);
    expect(await manager.stop('a')).toBe(true);
    expect(await manager.state('a')).toBe('paused');
    expect(await manager.has('a')).toBe(true);
    expect((await manager.list()).map((e) => [e.id, e.state])).toEqual([
      ['a', 'paused'],
      ['b', 'active'],
    ]);
    expect((await manager.list({ limit: 1 })).map((e) => e.id)).toEqual(['a']);
    expect(await manager.list({ limit: 0 })).toEqual([]);
    expect(await manager.size()).toBe(2);
    await expect(manager.state('')).rejects.toThrow('DurableExpireManager.state: id must be a non-empty string');
    await expect(manager.get('')).rejects.toThrow('DurableExpireManager.get: id must be a non-empty string');
    await expect(manager.start('')).rejects.toThrow('DurableExpireManager.start: id must be a non-empty string');
    await expect(manager.expire('')).rejects.toThrow('DurableExpireManager.expire: id must be a non-empty string');

    await manager.dispose();
    expect(manager.disposed).toBe(true);
    await expect(manager.new('c', T0 + 10, { closer: 'lease' })).rejects.toThrow('DurableExpireManager.new: the manager is disposed (id "c")');
    expect(await manager.poll()).toBe(0);
  });

  it('owner, namespace and onCloseError are what it runs with; a closer failure goes to console.error by default', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const failing = new Error('close failed');
    const manager = await createDurableExpireManager({
      store: db.store,
      namespace: 'edges-default',
      closers: {
        lease: () => {
          throw failing;
        },
      },
    });
    expect(manager.namespace).toBe('edges-default');
    expect(manager.owner).toMatch(/^edges-default:[0-9a-f-]{36}$/);
    expect(typeof manager.onCloseError).toBe('function');
    await db.clock.set(T0);
    await manager.new('x', T0, { closer: 'lease' });
    await manager.poll();
    await eventually(() => expect(errors).toHaveBeenCalledWith('xstate-expire: close of "x" failed:', failing));
    await manager.dispose();
    const handler = () => {};
    const { manager: given } = await durableManager(db, { onCloseError: handler });
    expect(given.onCloseError).toBe(handler);
    await given.dispose();
  });

  it('closes at the deadline on its own timer: no poll, no notification, a poll interval far away', async () => {
    const { manager, closes } = await durableManager(db);
    await db.clock.set(T0);
    await manager.new('soon', T0 + 300, { closer: 'lease' });
    await manager.new('later', T0 + 100_000, { closer: 'lease' });
    await db.clock.set(T0 + 300);
    await eventually(() => expect(closes.map((c) => c.entity.id)).toEqual(['soon']));
    await manager.dispose();
  });

  it('a claim taken over by another process: its close sees CLAIM_LOST at the next heartbeat, and its completion changes nothing', async () => {
    let signal: AbortSignal | undefined;
    let finish!: () => void;
    const { manager } = await durableManager(db, {
      claimTimeoutMs: 300,
      pauseTimeoutMs: 300,
      closers: {
        lease: (_entity: ClosingEntity, s: AbortSignal) => {
          signal = s;
          return new Promise<void>((resolve) => (finish = resolve));
        },
      },
    });
    await db.clock.set(T0);
    await manager.new('a', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await manager.poll();
    await eventually(() => expect(signal).toBeDefined());
    const s = db.store.schema;
    await db.store.query(`UPDATE ${s}.entities SET owner = 'thief', lease_until = $2 WHERE namespace = $1 AND id = 'a'`, [manager.namespace, T0 + 1e9]);
    await eventually(() => expect(signal!.reason).toBe(CLAIM_LOST));
    finish();
    await manager.dispose();
    expect(await db.store.query(`SELECT owner, state FROM ${s}.entities WHERE namespace = $1 AND id = 'a'`, [manager.namespace])).toEqual([
      { owner: 'thief', state: 'expired.closing' },
    ]);
  });

  it('closeUnarmed: the named closer once, generation 0 and no deadline, its failure reported, its signal aborted after', async () => {
    const calls: Array<{ entity: ClosingEntity; signal: AbortSignal; abortedDuring: boolean }> = [];
    const failures: Array<[string, unknown]> = [];
    const failing = new Error('unarmed close failed');
    const { manager } = await durableManager(db, {
      onCloseError: (id, error) => failures.push([id, error]),
      closers: {
        lease: (entity: ClosingEntity, signal: AbortSignal) => void calls.push({ entity, signal, abortedDuring: signal.aborted }),
        session: () => {
          throw failing;
        },
      },
    });
    await manager.closeUnarmed('u', 'lease', { d: 1 });
    await manager.closeUnarmed('u', 'missing', null);
    await manager.closeUnarmed('u', 'toString', null);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.entity).toEqual({ id: 'u', data: { d: 1 }, generation: 0, deadline: Number.NaN, attempt: 1 });
    expect(calls[0]!.abortedDuring).toBe(false);
    expect(calls[0]!.signal.reason).toBe(CLOSE_SETTLED);
    await manager.closeUnarmed('v', 'session', null);
    expect(failures).toEqual([['v', failing]]);
    await manager.dispose();
  });

  it('an aborted signal disposes it (also one aborted before it opened); await using disposes it at the end of the scope', async () => {
    const controller = new AbortController();
    const { manager } = await durableManager(db, { signal: controller.signal });
    expect(manager.disposed).toBe(false);
    controller.abort();
    await eventually(() => expect(manager.disposed).toBe(true));
    await expect(manager.new('x', T0 + 10, { closer: 'lease' })).rejects.toThrow(/disposed/);

    const early = new AbortController();
    early.abort();
    const { manager: born } = await durableManager(db, { signal: early.signal });
    expect(born.disposed).toBe(true);
    await born.dispose();

    let scoped: Awaited<ReturnType<typeof durableManager>>['manager'] | undefined;
    {
      await using inScope = (await durableManager(db)).manager;
      scoped = inScope;
      expect(scoped.disposed).toBe(false);
    }
    expect(scoped.disposed).toBe(true);
    const twice = [scoped.dispose(), scoped.dispose({ close: true })];
    await Promise.all(twice);
  });

  it('dispose({ close: true }) refuses new ids meanwhile but renews live ones, and closes them', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { manager, closes } = await durableManager(db, {
      closers: { lease: () => gate, session: () => {} },
    });
    await db.clock.set(T0);
    await manager.new('live', T0 + 100_000, { closer: 'lease' });
    const closing = manager.dispose({ close: true });
    expect(manager.disposed).toBe(true);
    await eventually(async () => expect(await manager.state('live')).toBeUndefined());
    await expect(manager.new('fresh', T0 + 100_000, { closer: 'lease' })).rejects.toThrow(
      'DurableExpireManager.new: the manager is closing (id "fresh")',
    );
    release();
    await closing;
    expect(closes).toEqual([]); // its own closers ran, not the recording ones
  });

  it('while a plain dispose winds down (a close still running): it reads disposed, refuses new, answers false, and writes nothing', async () => {
    const { manager, closes } = await durableManager(db, { hold: true });
    await db.clock.set(T0);
    await manager.new('a', T0 + 10, { closer: 'lease' });
    await manager.new('b', T0 + 100_000, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await manager.poll();
    await eventually(() => expect(closes).toHaveLength(1));
    let done = false;
    const disposing = manager.dispose().then(() => void (done = true));
    expect(manager.status).toBe('disposed');
    expect(manager.disposed).toBe(true);
    await eventually(() => expect(closes[0]!.signal.reason).toBe(MANAGER_DISPOSED));
    await expect(manager.new('c', T0 + 100_000, { closer: 'lease' })).rejects.toThrow('DurableExpireManager.new: the manager is disposed (id "c")');
    await expect(manager.newMany([{ id: 'c', deadline: T0 + 100_000, closer: 'lease' }])).rejects.toThrow(
      'DurableExpireManager.newMany: the manager is disposed (0 of 1 written)',
    );
    expect(await manager.stop('b')).toBe(false);
    expect(await manager.retry('b')).toBe(false);
    await manager.expire('b');
    expect(await manager.delete('b')).toBe(false);
    expect(done).toBe(false);
    closes[0]!.settle();
    await disposing;
    const other = await durableManager(db, { namespace: manager.namespace });
    expect((await other.manager.list()).map((e) => [e.id, e.state])).toEqual([['b', 'active']]);
    await other.manager.dispose();
  });

  it('dispose({ close: true }) called again while it closes is the same disposal: its closes run on, unaborted; dispose(null) is a plain one', async () => {
    const { manager, closes } = await durableManager(db, { hold: true });
    await db.clock.set(T0);
    await manager.new('a', T0 + 100_000, { closer: 'lease' });
    const first = manager.dispose({ close: true });
    await eventually(() => expect(closes).toHaveLength(1));
    const second = manager.dispose({ close: true });
    expect(second).toBe(first);
    expect(manager.status).toBe('draining');
    expect(closes[0]!.signal.aborted).toBe(false);
    closes[0]!.settle();
    await Promise.all([first, second]);
    expect(closes[0]!.signal.reason).toBe(CLOSE_SETTLED);
    expect(manager.status).toBe('disposed');
    const plain = await durableManager(db);
    await plain.manager.dispose(null as never);
    expect(plain.manager.status).toBe('disposed');
  });

  it('list by state: only live states, and only the entities in the one asked for', async () => {
    const { manager } = await durableManager(db);
    await db.clock.set(T0);
    await manager.new('a', T0 + 100_000, { closer: 'lease' });
    await manager.new('b', T0 + 100_000, { closer: 'lease' });
    await manager.stop('b');
    expect((await manager.list({ state: 'paused' })).map((e) => e.id)).toEqual(['b']);
    expect((await manager.list({ state: 'active' })).map((e) => e.id)).toEqual(['a']);
    expect(await manager.list({ state: 'failed' })).toEqual([]);
    await expect(manager.list({ state: 'closed' as never })).rejects.toThrow(
      'DurableExpireManager.list: state must be one of active, paused, expired, failed, got "closed"',
    );
    await manager.dispose();
  });

  it('a pass that fails is reported on console.error, and the next one works', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const counting = countingStore(db.store);
    const broken = new Error('connection lost');
    let failing = false;
    const store = { ...counting.store, transaction: <T,>(work: Parameters<typeof counting.store.transaction<T>>[0]) => (failing ? Promise.reject(broken) : counting.store.transaction(work)) };
    const { manager, closes } = await durableManager(db, { store });
    await db.clock.set(T0);
    await manager.new('a', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    failing = true;
    expect(await manager.poll()).toBe(0);
    expect(errors).toHaveBeenCalledWith('xstate-expire durable manager (poll):', broken);
    failing = false;
    await manager.poll();
    await eventually(() => expect(closes.map((c) => c.entity.id)).toEqual(['a']));
    await manager.dispose();
  });

  it('a manager whose open fails lets go of the store and throws what failed', async () => {
    const refused = new Error('LISTEN refused');
    let held = 0;
    const store = {
      ...db.store,
      kind: db.store.kind,
      schema: db.store.schema,
      acquire: async () => {
        await db.store.acquire();
        held++;
      },
      release: async () => {
        held--;
        await db.store.release();
      },
      listen: () => Promise.reject(refused),
    };
    await expect(durableManager(db, { store })).rejects.toBe(refused);
    expect(held).toBe(0);
  });

  it('the heartbeat renews a running close’s claim on the shorter of the two timeouts, so that no other process takes it over', async () => {
    const { manager, closes } = await durableManager(db, { hold: true, claimTimeoutMs: 3_000, pauseTimeoutMs: 600_000 });
    await db.clock.set(T0);
    await manager.new('a', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await manager.poll();
    await eventually(() => expect(closes).toHaveLength(1));
    // Only now: made earlier, it might have claimed the close first (woken by the NOTIFY of new).
    const other = await durableManager(db, { namespace: manager.namespace });
    for (const at of [T0 + 2_000, T0 + 4_000]) {
      await db.clock.set(at);
      // The next beat pushes the claim's end to claimTimeoutMs from the database's now.
      await eventually(async () => expect((await getStored(db.store, manager.namespace, 'a'))[0]?.leaseUntil).toBe(at + 3_000));
      await other.manager.poll();
    }
    expect(other.closes).toEqual([]);
    expect(closes[0]!.signal.aborted).toBe(false);
    closes[0]!.settle();
    await eventually(async () => expect(await getStored(db.store, manager.namespace, 'a')).toEqual([]));
    await manager.dispose();
    await other.manager.dispose();
  });

  it('a close taken over from a process whose claim ran out counts as a reclaim (telemetry)', async () => {
    const sdk = otel();
    try {
      const a = await durableManager(db, { hold: true });
      await db.clock.set(T0);
      await a.manager.new('x', T0 + 10, { closer: 'lease' });
      await db.clock.set(T0 + 10);
      await a.manager.poll();
      await eventually(() => expect(a.closes).toHaveLength(1));
      const b = await durableManager(db, { namespace: a.manager.namespace, hold: true, meterProvider: sdk.meterProvider });
      // Its claim is another process's now, and over: no heartbeat of A can renew it.
      await db.store.query(`UPDATE ${db.store.schema}.entities SET owner = 'dead', lease_until = $2 WHERE namespace = $1 AND id = 'x'`, [
        a.manager.namespace,
        T0,
      ]);
      await b.manager.poll();
      await eventually(() => expect(b.closes.map((c) => [c.entity.id, c.entity.attempt])).toEqual([['x', 2]]));
      expect(await sdk.value('xstate_expire.reclaims')).toBe(1);
      for (const close of [...a.closes, ...b.closes]) close.settle();
      await a.manager.dispose();
      await b.manager.dispose();
    } finally {
      await sdk.shutdown();
    }
  });

  it('a pass reads due rows in batches of 100 until a batch is short: 150 due at its start are all handled by its first pass', async () => {
    const a = await durableManager(db);
    await db.clock.set(T0);
    await a.manager.newMany(Array.from({ length: 150 }, (_, i) => ({ id: `e${i}`, deadline: T0 + 10, closer: 'lease' })));
    await a.manager.dispose(); // closes none of them
    await db.clock.set(T0 + 10);
    const running: AbortSignal[] = [];
    const lease = (_entity: ClosingEntity, signal: AbortSignal) => {
      running.push(signal);
      return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    };
    // Opening runs a first pass: 100 closes start (its concurrency), the other 50 wait to be claimed.
    const b = await durableManager(db, { namespace: a.manager.namespace, closers: { lease } });
    const states = (await listStored(db.store, b.manager.namespace, { limit: 1_000 })).map((e) => e.state);
    expect(states.filter((state) => state === 'expired.closing')).toHaveLength(100);
    expect(states.filter((state) => state === 'expired.queued')).toHaveLength(50);
    expect(states).toHaveLength(150);
    await b.manager.dispose();
    expect(running).toHaveLength(100);
  });

  it('a close whose claim ends as its timeout passes is taken over (a new attempt), not timed out: that attempt runs nowhere', async () => {
    const a = await durableManager(db, { hold: true });
    await db.clock.set(T0);
    await a.manager.new('x', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await a.manager.poll();
    await eventually(() => expect(a.closes).toHaveLength(1));
    const b = await durableManager(db, { namespace: a.manager.namespace, hold: true });
    const [row] = await getStored(db.store, a.manager.namespace, 'x');
    const end = row!.due!; // the attempt's timeout
    await db.clock.set(end);
    await db.store.query(`UPDATE ${db.store.schema}.entities SET owner = 'dead', lease_until = $2 WHERE namespace = $1 AND id = 'x'`, [
      a.manager.namespace,
      end,
    ]);
    await b.manager.poll();
    await eventually(() => expect(b.closes.map((c) => [c.entity.id, c.entity.attempt])).toEqual([['x', 2]]));
    expect(await getStored(db.store, a.manager.namespace, 'x')).toEqual([expect.objectContaining({ state: 'expired.closing', owner: b.manager.owner })]);
    for (const close of [...a.closes, ...b.closes]) close.settle();
    await a.manager.dispose();
    await b.manager.dispose();
  });
});
