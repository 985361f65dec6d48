/**
 * The durable manager's promises the semantics suite does not pin down one by
 * one: its checks of each call, its own timer, a claim lost to another
 * process, unarmed closes, its life cycle (signal, `await using`) and where
 * it reports failures.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CLOSE_SETTLED, MANAGER_DISPOSED } from '../../src/index.js';
import { CLAIM_LOST, type ClosingEntity, type DurableExpireManager, createDurableExpireManager } from '../../src/durable/index.js';
import { getStored, listStored } from '../../src/durable/admin.js';
import { otel } from '../support/otel.js';
import type { DurableStore } from '../../src/durable/index.js';
import { heldStore } from './held-store.js';
import { T0, type TestDatabase, countingStore, durableManager, eventually, useDatabase } from './support.js';

/** The real setTimeout, for waiting while a test fakes the manager's timers. */
const realSetTimeout = globalThis.setTimeout;

/** Waits (on real time) until `check` passes; the ceiling only catches what never comes. */
async function until(check: () => unknown): Promise<void> {
  for (const started = Date.now(); ; ) {
    try {
      return void (await check());
    } catch (error) {
      if (Date.now() - started > 15_000) throw error;
      await new Promise((resolve) => realSetTimeout(resolve, 10));
    }
  }
}

/** Only the timer under test is fake: the manager's own wake-up timer (setTimeout), armed from now on. */
const fakeTimeouts = () => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });

/**
 * A store that counts the transactions begun through it (at once, as a pass
 * begins its first) and its passes (their SKIP LOCKED read); `deaf`: its
 * LISTEN hears nothing, as behind a pooler in transaction mode; `gate`: the
 * next pass's read, or the next look at what comes next, waits for it first
 * (and fails with `fail` when given).
 */
function watchedStore(inner: DurableStore, { deaf = false } = {}) {
  const counts = { transactions: 0, passes: 0 };
  let gate: { on: 'pass' | 'next'; reached: () => void; open: Promise<void>; fail?: Error } | undefined;
  const gated = async (sql: string): Promise<void> => {
    const on = sql.includes('SKIP LOCKED') ? 'pass' : sql.includes('least(') ? 'next' : undefined;
    if (on === 'pass') counts.passes++;
    if (gate === undefined || gate.on !== on) return;
    const { reached, open, fail } = gate;
    gate = undefined;
    reached();
    await open;
    if (fail) throw fail;
  };
  const store: DurableStore = {
    kind: inner.kind,
    schema: inner.schema,
    acquire: () => inner.acquire(),
    release: () => inner.release(),
    listen: (channel, onNotify, onReconnect) => (deaf ? Promise.resolve(async () => {}) : inner.listen(channel, onNotify, onReconnect)),
    query: async (sql, params) => {
      await gated(sql);
      return inner.query(sql, params);
    },
    transaction: async (work) => {
      counts.transactions++;
      return inner.transaction((query) =>
        work(async (sql, params) => {
          await gated(sql);
          return query(sql, params);
        }),
      );
    },
  };
  /** Holds the next statement of kind `on` until `release()` (which fails it with `fail`, when given). */
  const hold = (on: 'pass' | 'next', fail?: Error) => {
    let release!: () => void;
    let reached!: () => void;
    const open = new Promise<void>((resolve) => (release = resolve));
    const held = new Promise<void>((resolve) => (reached = resolve));
    gate = { on, reached, open, ...(fail ? { fail } : {}) };
    return { held, release };
  };
  return { store, counts, hold };
}

describe('durable manager at its edges', () => {
  const database = useDatabase('pglite');
  let db: TestDatabase;
  beforeEach(() => void (db = database()));
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

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

  /**
   * A close that a first manager runs, whose claim the test then hands to `owner(second)` and
   * ends; a second manager of the namespace polls and takes it over as attempt 2. Resolves with
   * the reclaims the second counted.
   */
  async function claimRunsOut(owner: (second: DurableExpireManager) => string): Promise<number> {
    const sdk = otel();
    try {
      const first = await durableManager(db, { hold: true });
      await db.clock.set(T0);
      await first.manager.new('x', T0 + 10, { closer: 'lease' });
      await db.clock.set(T0 + 10);
      await first.manager.poll();
      await eventually(() => expect(first.closes).toHaveLength(1));
      const second = await durableManager(db, { namespace: first.manager.namespace, hold: true, meterProvider: sdk.meterProvider });
      await db.store.query(`UPDATE ${db.store.schema}.entities SET owner = $2, lease_until = $3 WHERE namespace = $1 AND id = 'x'`, [
        first.manager.namespace,
        owner(second.manager),
        T0,
      ]);
      await second.manager.poll();
      await eventually(() => expect(second.closes.map((c) => [c.entity.id, c.entity.attempt])).toEqual([['x', 2]]));
      const reclaims = await sdk.value('xstate_expire.reclaims');
      for (const close of [...first.closes, ...second.closes]) close.settle();
      await first.manager.dispose();
      await second.manager.dispose();
      return reclaims;
    } finally {
      await sdk.shutdown();
    }
  }

  it('a close taken over from a process whose claim ran out counts as a reclaim (telemetry)', async () => {
    // Its claim is another process's now, and over: no heartbeat of the first can renew it.
    expect(await claimRunsOut(() => 'dead')).toBe(1);
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

  it('an updater whose update ended (stop, then start) holds no pause: a second updater that lets go resumes the entity at once', async () => {
    const a = await durableManager(db);
    const b = await durableManager(db, { namespace: a.manager.namespace });
    await db.clock.set(T0);
    await a.manager.new('x', T0 + 100_000, { closer: 'lease' });
    expect(await a.manager.stop('x')).toBe(true);
    await a.manager.start('x');
    expect((await getStored(db.store, a.manager.namespace, 'x'))[0]).toMatchObject({ state: 'active', holders: [] });
    expect(await b.manager.stop('x')).toBe(true);
    expect((await getStored(db.store, a.manager.namespace, 'x'))[0]).toMatchObject({ state: 'paused', holders: [b.manager.owner] });
    // B's update can no longer finish: its pause goes, and nobody else holds one.
    await b.manager.dispose();
    expect(await a.manager.state('x')).toBe('active');
    await a.manager.dispose();
  });

  it('with notifications lost (a pooler in transaction mode), a manager wakes at the deadline it wrote: its own commit aims its timer', async () => {
    const watched = watchedStore(db.store, { deaf: true });
    const { manager, closes } = await durableManager(db, { store: watched.store, claimTimeoutMs: 600_000, pauseTimeoutMs: 600_000 });
    await db.clock.set(T0);
    fakeTimeouts();
    await manager.new('x', T0 + 300, { closer: 'lease' });
    const before = watched.counts.transactions;
    vi.advanceTimersByTime(290);
    expect(watched.counts.transactions).toBe(before);
    await db.clock.set(T0 + 300);
    vi.advanceTimersByTime(20);
    expect(watched.counts.transactions).toBe(before + 1); // a pass began
    await manager.poll();
    expect(closes.map((c) => c.entity.id)).toEqual(['x']);
    vi.useRealTimers();
    await manager.dispose();
  });

  it('a pass aims the timer at the next deadline it found (written by another process, no notification): not sooner, not later', async () => {
    const errors = vi.spyOn(console, 'error');
    const watched = watchedStore(db.store, { deaf: true });
    // Nothing to do yet: its first pass finds no next deadline, and reports nothing.
    const { manager, closes } = await durableManager(db, { store: watched.store, claimTimeoutMs: 600_000, pauseTimeoutMs: 600_000 });
    expect(await manager.poll()).toBe(0);
    const other = await durableManager(db, { namespace: manager.namespace });
    await db.clock.set(T0);
    await other.manager.new('x', T0 + 100_000, { closer: 'lease' });
    await other.manager.dispose();
    await db.clock.set(T0 + 99_700);
    fakeTimeouts();
    expect(await manager.poll()).toBe(0);
    const before = watched.counts.transactions;
    vi.advanceTimersByTime(290);
    expect(watched.counts.transactions).toBe(before);
    await db.clock.set(T0 + 100_000);
    vi.advanceTimersByTime(20);
    expect(watched.counts.transactions).toBe(before + 1);
    await manager.poll();
    expect(closes.map((c) => c.entity.id)).toEqual(['x']);
    vi.useRealTimers();
    await manager.dispose();
    expect(errors).not.toHaveBeenCalled();
  });

  it('a deadline that passed while a pass ran: the pass looks again a few ms later, not at once and not a poll interval later', async () => {
    const watched = watchedStore(db.store, { deaf: true });
    const held = heldStore(watched.store);
    const { manager, closes } = await durableManager(db, { store: held.store, claimTimeoutMs: 600_000, pauseTimeoutMs: 600_000 });
    const other = await durableManager(db, { namespace: manager.namespace });
    await db.clock.set(T0);
    await other.manager.new('x', T0 + 10, { closer: 'lease' });
    await other.manager.dispose();
    fakeTimeouts();
    const claims = held.hold({ kind: 'claim', point: 'reply' });
    const passing = manager.poll();
    const batch = await claims.next(); // read at T0: nothing due yet
    await db.clock.set(T0 + 10);
    batch.release();
    expect(await passing).toBe(0);
    const before = watched.counts.transactions;
    vi.advanceTimersByTime(3);
    expect(watched.counts.transactions).toBe(before);
    vi.advanceTimersByTime(5);
    expect(watched.counts.transactions).toBe(before + 1);
    await manager.poll();
    expect(closes.map((c) => c.entity.id)).toEqual(['x']);
    vi.useRealTimers();
    await manager.dispose();
  });

  it('with no room for closes: poll counts what its one batch handled, the queued close waits without a pass spinning, and the close that ends wakes a pass that claims it (no reclaim)', async () => {
    const sdk = otel();
    try {
      const watched = watchedStore(db.store, { deaf: true });
      const { manager, closes } = await durableManager(db, {
        store: watched.store,
        hold: true,
        concurrency: 1,
        claimTimeoutMs: 600_000,
        pauseTimeoutMs: 600_000,
        meterProvider: sdk.meterProvider,
      });
      await db.clock.set(T0);
      fakeTimeouts();
      await manager.new('a', T0 + 10, { closer: 'lease' });
      await manager.new('b', T0 + 10, { closer: 'lease' });
      await db.clock.set(T0 + 10);
      const passes = watched.counts.passes;
      expect(await manager.poll()).toBe(2); // both expired, one close claimed
      expect(watched.counts.passes).toBe(passes + 1); // one batch: it was short
      await until(() => expect(closes).toHaveLength(1));
      expect(await manager.poll()).toBe(0); // the queued close waits for room: nothing handled
      // The timer aimed by the commits of new (at the deadline): that pass, then none.
      vi.advanceTimersByTime(20);
      await manager.poll();
      const before = watched.counts.transactions;
      vi.advanceTimersByTime(1_000);
      expect(watched.counts.transactions).toBe(before);
      closes[0]!.settle();
      await until(() => expect(closes).toHaveLength(2));
      expect(closes.map((c) => [c.entity.id, c.entity.attempt]).sort()).toEqual([
        ['a', 1],
        ['b', 1],
      ]);
      closes[1]!.settle();
      vi.useRealTimers();
      await manager.dispose();
      expect(await sdk.value('xstate_expire.reclaims')).toBe(0);
    } finally {
      vi.useRealTimers();
      await sdk.shutdown();
    }
  });

  it('a pass under way as dispose begins claims nothing: its due entity is left queued, and the next manager runs it as its first attempt', async () => {
    const watched = watchedStore(db.store, { deaf: true });
    const a = await durableManager(db, { store: watched.store });
    await db.clock.set(T0);
    fakeTimeouts();
    await a.manager.new('x', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    const gate = watched.hold('pass');
    const passing = a.manager.poll();
    await gate.held;
    const disposing = a.manager.dispose();
    gate.release();
    await Promise.all([passing, disposing]);
    vi.useRealTimers();
    expect(a.closes).toEqual([]);
    expect((await getStored(db.store, a.manager.namespace, 'x'))[0]).toMatchObject({ state: 'expired.queued', owner: null });
    const b = await durableManager(db, { namespace: a.manager.namespace });
    await eventually(() => expect(b.closes.map((c) => [c.entity.id, c.entity.attempt])).toEqual([['x', 1]]));
    await b.manager.dispose();
  });

  it('a hand-back that fails is reported on console.error', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const broken = new Error('connection lost');
    let failing = false;
    const held = heldStore(db.store);
    const store: DurableStore = { ...held.store, kind: db.store.kind, schema: db.store.schema, transaction: (work) => (failing ? Promise.reject(broken) : held.store.transaction(work)) };
    const { manager, closes } = await durableManager(db, { store });
    await db.clock.set(T0);
    await manager.new('a', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    const claims = held.hold({ kind: 'claim', point: 'commit' });
    const passing = manager.poll();
    const claiming = await claims.next();
    const disposing = manager.dispose();
    failing = true;
    claiming.release();
    await Promise.all([passing, disposing]);
    expect(closes).toEqual([]);
    expect(errors).toHaveBeenCalledWith('xstate-expire durable manager (hand back):', broken);
  });

  it('a failure after dispose has ended the manager (its last pass’s look ahead) is not reported', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const watched = watchedStore(db.store, { deaf: true });
    const { manager } = await durableManager(db, { store: watched.store });
    const gate = watched.hold('next', new Error('connection closed'));
    const passing = manager.poll();
    await gate.held;
    const disposing = manager.dispose();
    // Disposal has nothing to wait for but that pass: it is over once a macrotask has run.
    await new Promise((resolve) => setImmediate(resolve));
    gate.release();
    expect(await passing).toBe(0);
    await disposing;
    expect(errors).not.toHaveBeenCalled();
  });

  it('a pass whose full batch can handle nothing (no room for closes) ends there: poll resolves with 0; deadlines behind such a backlog still expire', async () => {
    const running: string[] = [];
    const lease = (entity: ClosingEntity, signal: AbortSignal) => {
      running.push(entity.id);
      return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    };
    const { manager } = await durableManager(db, { concurrency: 1, closers: { lease } });
    await db.clock.set(T0);
    await manager.newMany(Array.from({ length: 120 }, (_, i) => ({ id: `q${i}`, deadline: T0 + 10, closer: 'lease' })));
    await db.clock.set(T0 + 10);
    // One close runs; the others expire and wait for room, 100 rows a batch: a pass ends at a batch that handled none.
    let handled: number;
    do handled = await manager.poll();
    while (handled > 0);
    expect(running).toHaveLength(1);
    // Read without the 100 closes waiting for room, the batch after reaches the 20 rows behind them.
    expect(await manager.list({ state: 'active' })).toEqual([]);
    expect(await manager.list({ state: 'expired' })).toHaveLength(119); // and the one closing, no longer live
    await manager.dispose();
  });

  it('a close of its own whose claim ran out (no longer running here) is taken back, and counts as no reclaim', async () => {
    // As if the second had claimed it and its claim ran out after its close was gone (its completion never written).
    expect(await claimRunsOut((second) => second.owner)).toBe(0);
  });

  it('a takeover whose commit failed leaves no trace: the same close, claimed later from its queue, counts as no reclaim', async () => {
    const sdk = otel();
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const dead = await durableManager(db, { hold: true });
      await db.clock.set(T0);
      await dead.manager.new('x', T0 + 10, { closer: 'lease' });
      await db.clock.set(T0 + 10);
      await dead.manager.poll();
      await eventually(() => expect(dead.closes).toHaveLength(1));
      const broken = new Error('COMMIT failed');
      let failing = false;
      const store: DurableStore = {
        ...db.store,
        kind: db.store.kind,
        schema: db.store.schema,
        transaction: (work) =>
          db.store.transaction(async (query) => {
            const value = await work(query);
            if (failing) throw broken;
            return value;
          }),
      };
      const a = await durableManager(db, { namespace: dead.manager.namespace, store, hold: true, meterProvider: sdk.meterProvider });
      const s = db.store.schema;
      await db.store.query(`UPDATE ${s}.entities SET owner = 'dead', lease_until = $2 WHERE namespace = $1 AND id = 'x'`, [a.manager.namespace, T0]);
      failing = true;
      expect(await a.manager.poll()).toBe(0); // its takeover rolled back
      expect(errors).toHaveBeenCalledWith('xstate-expire durable manager (poll):', broken);
      failing = false;
      // Meanwhile another process took it over, its attempt failed, and the next one is queued.
      await db.store.query(
        `UPDATE ${s}.entities SET state = 'expired.queued', live = true, owner = NULL, lease_state = 'expired.queued', lease_until = $2,
           lease_ms = NULL, lease_event = 'close', due = NULL WHERE namespace = $1 AND id = 'x'`,
        [a.manager.namespace, T0 + 10],
      );
      await a.manager.poll();
      await eventually(() => expect(a.closes.map((c) => [c.entity.id, c.entity.attempt])).toEqual([['x', 2]]));
      expect(await sdk.value('xstate_expire.reclaims')).toBe(0);
      for (const close of [...a.closes, ...dead.closes]) close.settle();
      await a.manager.dispose();
      await dead.manager.dispose();
    } finally {
      await sdk.shutdown();
    }
  });
});
