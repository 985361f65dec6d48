/**
 * The durable manager's API as a user and an operator see it, where the other
 * tests left a mutant of src/durable/manager.ts (its constructor, `new`,
 * `newMany`, the calls and reads, `list`, `dispose` and its close-all) alive:
 * what each refuses before any SQL, what a second process sees, when a
 * disposal ends and what it leaves behind.
 */
import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CLOSE_SETTLED, MANAGER_DISPOSED } from '../../src/index.js';
import {
  type ClosingEntity,
  DurableExpireManager,
  type DurableStore,
  createDurableExpireProtocol,
} from '../../src/durable/index.js';
import { withDefaults } from '../../src/durable/options.js';
import { otel } from '../support/otel.js';
import { heldStore, kindOf } from './held-store.js';
import { T0, type TestDatabase, countingStore, databaseKinds, durableManager, eventually, useDatabase } from './support.js';

/** `inner` as it is, but for the calls given in `calls`. */
function wrap(inner: DurableStore, calls: Partial<Pick<DurableStore, 'query' | 'transaction'>>): DurableStore {
  return {
    kind: inner.kind,
    schema: inner.schema,
    acquire: () => inner.acquire(),
    release: () => inner.release(),
    listen: (channel, onNotify, onReconnect) => inner.listen(channel, onNotify, onReconnect),
    query: (sql, params) => inner.query(sql, params),
    transaction: (work) => inner.transaction(work),
    ...calls,
  };
}

/**
 * Wraps a store: records the statements run outside transactions, and runs
 * `after(sql)` once one of them has answered, before its caller sees the rows
 * (another process acting in between).
 */
function watchedStore(inner: DurableStore, after: (sql: string) => Promise<void> = async () => {}) {
  const statements: string[] = [];
  const store = wrap(inner, {
    query: async (sql, params) => {
      const rows = await inner.query(sql, params);
      statements.push(sql);
      await after(sql);
      return rows;
    },
  });
  return { store, statements };
}

/**
 * Wraps a store: while `failures.left > 0`, the transaction that writes a
 * close's completion (it opens on the claims this process owns) fails, as when
 * the database is away for a moment; each failure counts one down.
 */
function failingCompletions(inner: DurableStore, failures: { left: number }) {
  const error = new Error('database away');
  const store = wrap(inner, {
    transaction: (work) =>
      inner.transaction((query) =>
        work((sql, params) => {
          if (failures.left > 0 && sql.includes('AND owner = $4') && sql.includes('ORDER BY id, generation FOR UPDATE')) {
            failures.left--;
            return Promise.reject(error);
          }
          return query(sql, params);
        }),
      ),
  });
  return { store, error };
}

/** Wraps a store and counts its heartbeats: transactions that renew claims or pauses (see held-store.ts). */
function beatingStore(inner: DurableStore) {
  const counts = { beats: 0 };
  const store = wrap(inner, {
    transaction: async (work) => {
      const statements: string[] = [];
      const result = await inner.transaction((query) =>
        work((sql, params) => {
          statements.push(sql);
          return query(sql, params);
        }),
      );
      if (kindOf(statements) === 'heartbeat') counts.beats++;
      return result;
    },
  });
  return { store, counts };
}

const isCountUnsettled = (sql: string): boolean => sql.includes('count(*)') && sql.includes("state <> 'failed'");
const isLiveIds = (sql: string): boolean => /^SELECT id FROM \S+ WHERE namespace = \$1 AND live$/.test(sql);

describe('durable manager API', () => {
  const database = useDatabase('pglite');
  let db: TestDatabase;
  beforeEach(async () => {
    db = database();
    await db.clock.set(T0);
  });
  afterEach(() => void vi.restoreAllMocks());

  it('new with options that are not an object: the options TypeError, before any SQL', async () => {
    const counter = countingStore(db.store);
    const { manager } = await durableManager(db, { store: counter.store });
    const before = counter.counts.statements;
    for (const options of ['lease', 5, undefined]) {
      await expect(manager.new('a', T0 + 10, options as never)).rejects.toThrow(
        new TypeError('DurableExpireManager.new: options must be { closer, data? }'),
      );
    }
    expect(counter.counts.statements).toBe(before);
    await manager.dispose();
  });

  it('newMany with an item that is not an object: the TypeError names its index and shape, before any SQL', async () => {
    const counter = countingStore(db.store);
    const { manager } = await durableManager(db, { store: counter.store });
    const before = counter.counts.statements;
    for (const item of ['a', 7, undefined]) {
      await expect(manager.newMany([{ id: 'ok', deadline: T0 + 10, closer: 'lease' }, item as never])).rejects.toThrow(
        new TypeError('DurableExpireManager.newMany: entities[1] must be { id, deadline, closer, data? }'),
      );
    }
    expect(counter.counts.statements).toBe(before);
    expect(await manager.size()).toBe(0);
    await manager.dispose();
  });

  it('newMany([]) sends no SQL while running, and is refused once disposed', async () => {
    const counter = countingStore(db.store);
    const { manager } = await durableManager(db, { store: counter.store });
    const before = { ...counter.counts };
    await manager.newMany([]);
    expect(counter.counts).toEqual(before);
    await manager.dispose();
    await expect(manager.newMany([])).rejects.toThrow(new TypeError('DurableExpireManager.newMany: the manager is disposed (0 of 0 written)'));
  });

  it('dispose() takes its listener off the signal: a long-lived signal keeps no disposed manager', async () => {
    const controller = new AbortController();
    const { manager } = await durableManager(db, { signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    await manager.dispose();
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('dispose({ close: true }) lets a close already running here run on, unaborted, and waits for it', async () => {
    const watched = watchedStore(db.store);
    const { manager, closes } = await durableManager(db, { store: watched.store, hold: true });
    await manager.new('a', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await manager.poll();
    await eventually(() => expect(closes).toHaveLength(1));
    let done = false;
    const disposing = manager.dispose({ close: true }).then(() => void (done = true));
    // The close-all is waiting: it has counted what is left to close.
    await eventually(() => expect(watched.statements.some(isCountUnsettled)).toBe(true));
    expect(closes[0]!.signal.aborted).toBe(false);
    expect(done).toBe(false);
    closes[0]!.settle();
    await disposing;
    expect(closes[0]!.signal.reason).toBe(CLOSE_SETTLED);
    const other = await durableManager(db, { namespace: manager.namespace });
    expect(await other.manager.size()).toBe(0);
    await other.manager.dispose();
  });

  it('a plain dispose() while dispose({ close: true }) waits ends both: the running close aborts, and another process closes its entity', async () => {
    const watched = watchedStore(db.store);
    const signals: AbortSignal[] = [];
    // A close that gives up when its signal aborts, as a well-behaved one does.
    const lease = (_entity: ClosingEntity, signal: AbortSignal) =>
      new Promise<void>((_resolve, reject) => {
        signals.push(signal);
        signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      });
    const { manager } = await durableManager(db, { store: watched.store, closers: { lease } });
    await manager.new('a', T0 + 100_000, { closer: 'lease' });
    const closing = manager.dispose({ close: true });
    await eventually(() => expect(signals).toHaveLength(1));
    await eventually(() => expect(watched.statements.some(isCountUnsettled)).toBe(true));
    await Promise.all([closing, manager.dispose()]);
    expect(signals[0]!.reason).toBe(MANAGER_DISPOSED);
    expect(manager.status).toBe('disposed');
    // Shut down, its close handed back: another process runs it.
    const other = await durableManager(db, { namespace: manager.namespace });
    await other.manager.poll();
    await eventually(() => expect(other.closes.map((c) => c.entity.id)).toEqual(['a']));
    await other.manager.dispose();
  });

  it('dispose({ close: true }) waits through a retry due later on the database clock, and runs it once that time comes', async () => {
    const attempts: number[] = [];
    const { manager } = await durableManager(db, {
      closers: {
        lease: {
          close: (entity: ClosingEntity) => {
            attempts.push(entity.attempt);
            if (entity.attempt === 1) throw new Error('first attempt fails');
          },
          retry: { attempts: 3, backoffMs: 60_000, maxBackoffMs: 60_000 },
        },
      },
    });
    await manager.new('a', T0 + 100_000, { closer: 'lease' });
    let done = false;
    const disposing = manager.dispose({ close: true }).then(() => void (done = true));
    await eventually(async () => expect((await manager.get('a'))?.attempts).toBe(1));
    expect(done).toBe(false);
    // The backoff passes on the database's clock, which no timer of this process follows.
    await db.clock.advance(60_000);
    await eventually(() => expect(done).toBe(true));
    await disposing;
    expect(attempts).toEqual([1, 2]);
  });

  it('dispose({ close: true }) skips an entity another process deletes after the listing, and closes the rest', async () => {
    let other: Awaited<ReturnType<typeof durableManager>> | undefined;
    const watched = watchedStore(db.store, async (sql) => {
      if (other && isLiveIds(sql)) await other.manager.delete('b');
    });
    const { manager, closes } = await durableManager(db, { store: watched.store });
    await manager.new('a', T0 + 100_000, { closer: 'lease' });
    await manager.new('b', T0 + 100_000, { closer: 'lease' });
    other = await durableManager(db, { namespace: manager.namespace });
    await manager.dispose({ close: true });
    expect(closes.map((c) => c.entity.id)).toEqual(['a']);
    expect(await other.manager.size()).toBe(0);
    await other.manager.dispose();
  });

  it('new names itself in the TypeError of a bad id and of data that is not JSON, before any SQL', async () => {
    const counter = countingStore(db.store);
    const { manager } = await durableManager(db, { store: counter.store });
    const before = counter.counts.statements;
    await expect(manager.new('', T0 + 10, { closer: 'lease' })).rejects.toThrow(new TypeError('DurableExpireManager.new: id must be a non-empty string, got ""'));
    const circular: Record<string, unknown> = {};
    circular['self'] = circular;
    await expect(manager.new('a', T0 + 10, { closer: 'lease', data: circular })).rejects.toThrow(/^DurableExpireManager\.new: data\.self must be JSON/);
    expect(counter.counts.statements).toBe(before);
    await manager.dispose();
  });

  it('a protocol over a wrapper of the manager (a decorator) arms its renewals through the public new: ttl and absolute deadlines', async () => {
    const { manager } = await durableManager(db);
    const seen: unknown[][] = [];
    // A decorator that logs each call: the protocol only knows its public methods.
    const decorated = {
      get disposed() {
        return manager.disposed;
      },
      stop: (id: string) => manager.stop(id),
      start: (id: string) => manager.start(id),
      expire: (id: string) => manager.expire(id),
      delete: (id: string) => manager.delete(id),
      has: (id: string) => manager.has(id),
      closeUnarmed: (id: string, closer: string, data: unknown) => manager.closeUnarmed(id, closer, data),
      new: (...args: Parameters<DurableExpireManager['new']>) => {
        seen.push(args);
        return manager.new(...args);
      },
    } as unknown as DurableExpireManager;
    const protocol = createDurableExpireProtocol(decorated);
    expect(await protocol.update('ttl', () => ({ value: 1, expiresAt: { ttlMs: 700 }, closer: 'session', data: { n: 1 } }))).toBe(1);
    expect(await protocol.update('at', () => ({ value: 2, expiresAt: T0 + 900, closer: 'lease' }))).toBe(2);
    expect(seen).toEqual([
      ['ttl', { ttlMs: 700 }, { closer: 'session', data: { n: 1 } }],
      ['at', T0 + 900, { closer: 'lease', data: null }],
    ]);
    expect(await manager.get('ttl')).toMatchObject({ state: 'active', deadline: T0 + 700, closer: 'session', data: { n: 1 } });
    expect(await manager.get('at')).toMatchObject({ state: 'active', deadline: T0 + 900, closer: 'lease', data: null });
    await manager.dispose();
  });

  it('a completion the database refuses a few times while the manager runs is written once it is back: the entity closes, nothing reported', async () => {
    const reports = vi.spyOn(console, 'error').mockImplementation(() => {});
    const failures = { left: 0 };
    const failing = failingCompletions(db.store, failures);
    const { manager, closes, errors } = await durableManager(db, { store: failing.store, hold: true });
    await manager.new('a', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await manager.poll();
    await eventually(() => expect(closes).toHaveLength(1));
    failures.left = 4;
    closes[0]!.settle();
    // Completed: the row has left the table (a closing row is not live: size() does not count it).
    const rows = () => db.store.query(`SELECT id FROM ${db.store.schema}.entities WHERE namespace = $1`, [manager.namespace]);
    await eventually(async () => expect(await rows()).toEqual([]));
    expect(failures.left).toBe(0);
    expect(reports).not.toHaveBeenCalled();
    expect(errors).toEqual([]);
    await manager.dispose();
  });

  it('a completion that cannot be written while the manager winds down is reported on console.error, and dispose() still ends', async () => {
    const reports = vi.spyOn(console, 'error').mockImplementation(() => {});
    const failures = { left: 0 };
    const failing = failingCompletions(db.store, failures);
    const { manager, closes } = await durableManager(db, { store: failing.store, hold: true });
    await manager.new('a', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await manager.poll();
    await eventually(() => expect(closes).toHaveLength(1));
    failures.left = Infinity;
    const disposing = manager.dispose();
    await eventually(() => expect(closes[0]!.signal.reason).toBe(MANAGER_DISPOSED));
    closes[0]!.settle();
    await disposing;
    expect(reports).toHaveBeenCalledWith('xstate-expire durable manager (complete):', failing.error);
  });

  it('the entities gauge reads the namespace by state while the manager runs, and no longer once it is disposed', async () => {
    const sdk = otel();
    try {
      const counter = countingStore(db.store);
      const { manager } = await durableManager(db, { store: counter.store, meterProvider: sdk.meterProvider });
      const namespace = manager.namespace;
      await manager.new('a', T0 + 100_000, { closer: 'lease' });
      await manager.new('b', T0 + 100_000, { closer: 'lease' });
      await manager.stop('b');
      const byState = async () =>
        Object.fromEntries((await sdk.points('xstate_expire.entities')).map((p) => [`${String(p.attributes['namespace'])}/${String(p.attributes['state'])}`, p.value]));
      expect(await byState()).toEqual({ [`${namespace}/active`]: 1, [`${namespace}/paused`]: 1, [`${namespace}/expired`]: 0, [`${namespace}/failed`]: 0 });
      await manager.dispose();
      // Collected after disposal, the gauge no longer reads the database.
      const before = counter.counts.statements;
      await sdk.points('xstate_expire.entities');
      expect(counter.counts.statements).toBe(before);
    } finally {
      await sdk.shutdown();
    }
  });

  it('a manager whose open failed reads disposed and refuses new with the TypeError of a disposed manager', async () => {
    const refused = new Error('LISTEN refused');
    const store: DurableStore = { ...wrap(db.store, {}), listen: () => Promise.reject(refused) };
    const manager = new DurableExpireManager(withDefaults({ store, closers: { lease: () => {} }, namespace: 'open-fails' }));
    await expect(manager.open()).rejects.toBe(refused);
    expect(manager.status).toBe('disposed');
    expect(manager.disposed).toBe(true);
    await expect(manager.new('a', T0 + 10, { closer: 'lease' })).rejects.toThrow(new TypeError('DurableExpireManager.new: the manager is disposed (id "a")'));
  });

  it('newMany of a full batch whose transaction commits as a plain dispose() begins resolves: every item is written', async () => {
    const held = heldStore(db.store);
    const { manager } = await durableManager(db, { store: held.store });
    const writes = held.hold({ kind: 'call', point: 'commit' });
    const items = Array.from({ length: 1_000 }, (_, i) => ({ id: `e${i}`, deadline: T0 + 100_000, closer: 'lease' }));
    const writing = manager.newMany(items);
    const committing = await writes.next();
    writes.stop();
    const disposing = manager.dispose();
    committing.release();
    await expect(writing).resolves.toBeUndefined();
    await disposing;
    const other = await durableManager(db, { namespace: manager.namespace });
    expect(await other.manager.size()).toBe(1_000);
    await other.manager.dispose();
  });

  it('every call on an id names itself in the TypeError of a bad id, before any SQL', async () => {
    const counter = countingStore(db.store);
    const { manager } = await durableManager(db, { store: counter.store });
    const before = counter.counts.statements;
    for (const name of ['stop', 'start', 'expire', 'retry', 'delete', 'has', 'state', 'get'] as const) {
      await expect((manager[name] as (id: string) => Promise<unknown>).call(manager, '')).rejects.toThrow(new TypeError(`DurableExpireManager.${name}: id must be a non-empty string, got ""`));
    }
    expect(counter.counts.statements).toBe(before);
    await manager.dispose();
  });

  it('dispose({ close: true }) after a plain dispose() is that disposal: it shuts nothing down, and the manager stays disposed', async () => {
    const { manager } = await durableManager(db);
    await manager.new('a', T0 + 100_000, { closer: 'lease' });
    await manager.dispose();
    await manager.dispose({ close: true });
    expect(manager.status).toBe('disposed');
    expect(await manager.stop('a')).toBe(false);
    const other = await durableManager(db, { namespace: manager.namespace });
    expect((await other.manager.list()).map((e) => [e.id, e.state])).toEqual([['a', 'active']]);
    await other.manager.dispose();
  });

  it('dispose({ close: true }) with nothing to close reads the live ids and counts nothing: no wait', async () => {
    const watched = watchedStore(db.store);
    const { manager } = await durableManager(db, { store: watched.store });
    await manager.dispose({ close: true });
    expect(watched.statements.filter(isLiveIds)).toHaveLength(1);
    expect(watched.statements.filter(isCountUnsettled)).toEqual([]);
  });

  it('its heartbeat beats every third of the shorter timeout, whichever of the two it is', async () => {
    // Only the intervals are the test's: the database and its replies run as they do.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      for (const [claimTimeoutMs, pauseTimeoutMs] of [
        [3_000, 600_000],
        [600_000, 3_000],
      ]) {
        const beating = beatingStore(db.store);
        const { manager } = await durableManager(db, { store: beating.store, claimTimeoutMs, pauseTimeoutMs });
        await manager.new('a', T0 + 100_000, { closer: 'lease' });
        await manager.stop('a'); // a pause held here: each beat renews it
        await vi.advanceTimersByTimeAsync(999);
        expect(beating.counts.beats).toBe(0);
        await vi.advanceTimersByTimeAsync(1);
        await eventually(() => expect(beating.counts.beats).toBe(1));
        await manager.dispose();
      }
    } finally {
      vi.useRealTimers();
    }
  });
});

// On PostgreSQL where a server can start (always in CI): on PGlite every statement waits behind a transaction held open, the
// disposal's own too, so a disposal that did not wait for it would wait all the same.
describe.skipIf(!(databaseKinds as readonly string[]).includes('postgres'))('durable manager API on PostgreSQL', () => {
  const database = useDatabase('postgres');
  let db: TestDatabase;
  beforeEach(async () => {
    db = database();
    await db.clock.set(T0);
  });

  it('dispose() lets go of the store only once the transactions in flight have committed: a call under way when it begins is written', async () => {
    const held = heldStore(db.store);
    let inFlight = 0;
    const atRelease: number[] = [];
    let released!: () => void;
    const releasing = new Promise<void>((resolve) => (released = resolve));
    const store = wrap(held.store, {
      transaction: async (work) => {
        inFlight++;
        try {
          return await held.store.transaction(work);
        } finally {
          inFlight--;
        }
      },
    });
    store.release = async () => {
      atRelease.push(inFlight);
      released();
      await held.store.release();
    };
    const { manager } = await durableManager(db, { store });
    const commits = held.hold({ kind: 'call', point: 'commit' });
    const arming = manager.new('a', T0 + 100_000, { closer: 'lease' });
    const committing = await commits.next();
    commits.stop();
    const disposing = manager.dispose();
    // The store is not let go of while the call is held (a ceiling: it never is, unless broken).
    await Promise.race([releasing, new Promise((resolve) => setTimeout(resolve, 500))]);
    committing.release();
    await Promise.all([arming, disposing]);
    expect(atRelease).toEqual([0]);
    const other = await durableManager(db, { namespace: manager.namespace });
    expect(await other.manager.get('a')).toMatchObject({ state: 'active', deadline: T0 + 100_000 });
    await other.manager.dispose();
  });
});
