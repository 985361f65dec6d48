/**
 * The durable manager's promises under races, replayed: a store wrapper
 * (held-store.ts) holds a chosen transaction before its COMMIT or before its
 * reply, and the test runs the other side of the race meanwhile. On PGlite, in
 * this process; the database's clock is the test's. Each race here broke a
 * promise of the README in an earlier version.
 */
import fc from 'fast-check';
import { beforeEach, describe, expect, it } from 'vitest';
import { CLOSE_SETTLED, MANAGER_DISPOSED } from '../../src/index.js';
import { CLAIM_LOST, type ClosingEntity } from '../../src/durable/index.js';
import { NUM_RUNS, SEED } from '../properties/settings.js';
import { heldStore } from './held-store.js';
import { T0, type TestDatabase, durableManager, eventually, useDatabase } from './support.js';

/** A closer that runs until its signal aborts, as a well-behaved long close does; it records each call. */
function untilAborted() {
  const calls: Array<{ entity: ClosingEntity; signal: AbortSignal; settled: boolean }> = [];
  const closer = async (entity: ClosingEntity, signal: AbortSignal) => {
    const call = { entity, signal, settled: false };
    calls.push(call);
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    call.settled = true;
  };
  return { calls, closer };
}

describe('durable races, replayed on PGlite', () => {
  const database = useDatabase('pglite');
  let db: TestDatabase;
  beforeEach(() => void (db = database()));

  it('dispose() while a claim commits: the close is not started here but handed back at once; dispose waits for what it started', async () => {
    const held = heldStore(db.store);
    const leaving = untilAborted();
    const m = await durableManager(db, { store: held.store, closers: { lease: leaving.closer } });
    const other = await durableManager(db, { namespace: m.manager.namespace });
    await db.clock.set(T0);
    await m.manager.new('a', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    const claims = held.hold({ kind: 'claim', point: 'commit' });
    const passing = m.manager.poll();
    const claiming = await claims.next();
    const disposing = m.manager.dispose();
    claiming.release();
    await Promise.all([disposing, passing]);
    // Whatever this manager started has settled, its signal aborted, before dispose resolved.
    expect(leaving.calls.every((call) => call.signal.aborted && call.settled)).toBe(true);
    // The claim is not left to run out: the other manager closes it now, once in all.
    await other.manager.poll();
    await eventually(() => expect(leaving.calls.length + other.closes.length).toBe(1));
    await other.manager.dispose();
  });

  it('a pause taken again while a heartbeat is in flight is not dropped: it is renewed for as long as its holder lives', async () => {
    const held = heldStore(db.store);
    // A heartbeat every 100 ms of real time; the database's clock moves only when the test moves it.
    const m = await durableManager(db, { store: held.store, claimTimeoutMs: 300, pauseTimeoutMs: 300 });
    await db.clock.set(T0);
    await m.manager.new('a', T0 + 100_000, { closer: 'lease' });
    await m.manager.stop('a');
    await m.manager.start('a'); // a failed update, retried at once:
    const beats = held.hold({ kind: 'heartbeat', point: 'reply' });
    const beat = await beats.next(); // this heartbeat ran while 'a' was active
    await m.manager.stop('a'); // …and the pause is taken again before its reply arrives
    beats.stop();
    beat.release();
    // From now on the pause must be renewed by every heartbeat, past many pause timeouts.
    for (let round = 0; round < 4; round++) {
      // Two beats: the first may have read the clock before it last moved; the second began after the first ended.
      for (let beat = 0; beat < 2; beat++) {
        const watch = held.hold({ kind: 'heartbeat', point: 'reply' });
        const next = await watch.next();
        watch.stop();
        next.release();
      }
      await db.clock.advance(200);
      await m.manager.poll();
      expect(await m.manager.state('a'), `round ${round}`).toBe('paused');
    }
    await m.manager.dispose();
  });

  // Not in a mutation run, whose server is shared: there the takeover races the heartbeat
  // (mutants-manager.test.ts takes the claim over in one statement instead).
  it.skipIf(process.env['XSTATE_EXPIRE_MUTATION_RUN'] !== undefined)('a close whose claim was taken over sees its signal abort with CLAIM_LOST', async () => {
    const stalled = untilAborted();
    const m = await durableManager(db, { closers: { lease: stalled.closer }, claimTimeoutMs: 300, pauseTimeoutMs: 300 });
    const taker = await durableManager(db, { namespace: m.manager.namespace });
    await db.clock.set(T0);
    await m.manager.new('a', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await m.manager.poll();
    await eventually(() => expect(stalled.calls).toHaveLength(1));
    // m looks dead to the database once its claim has run out; the taker reclaims it.
    // (m's heartbeat may renew it first: then the clock moves on again.)
    await eventually(async () => {
      await db.clock.advance(10_000);
      await taker.manager.poll();
      expect(taker.closes).toHaveLength(1);
    });
    await eventually(() => expect(stalled.calls[0]!.signal.reason).toBe(CLAIM_LOST));
    await taker.manager.dispose();
    await m.manager.dispose();
  });

  it('dispose({ close: true }) ends while another process arms entities and one entity has a closer nobody runs', async () => {
    const orphaned = await durableManager(db, { closers: { other: () => {} } });
    const namespace = orphaned.manager.namespace;
    await db.clock.set(T0);
    await orphaned.manager.new('orphan', T0 + 1_000_000, { closer: 'other' });
    await orphaned.manager.dispose();
    const m = await durableManager(db, { namespace, closers: { lease: () => {} } });
    const arming = await durableManager(db, { namespace, closers: { lease: () => {} } });
    await m.manager.new('a', T0 + 1_000_000, { closer: 'lease' });
    let stop = false;
    const armed = (async () => {
      for (let i = 0; !stop; i++) await arming.manager.new(`late-${i}`, T0 + 1_000_000, { closer: 'lease' });
    })();
    await m.manager.dispose({ close: true });
    stop = true;
    await armed;
    expect(await arming.manager.state('a')).toBeUndefined(); // closed
    expect(await arming.manager.state('orphan')).toBe('expired'); // shut down, left for a process with its closer
    await arming.manager.dispose();
  });

  it('a new incarnation never reuses an earlier generation, even at the same database time', async () => {
    const { manager, closes } = await durableManager(db);
    await db.clock.set(T0);
    const generations: number[] = [];
    for (let i = 0; i < 3; i++) {
      // Not due yet (the database's clock stays at T0): its timer must not close it before the renewal.
      await manager.new('a', T0 + 1, { closer: 'lease' });
      generations.push((await manager.get('a'))!.generation);
      await manager.new('a', { ttlMs: 0 }, { closer: 'lease' }); // a renewal in between, due at once
      await manager.poll();
      await eventually(() => expect(closes).toHaveLength(i + 1));
      generations.push(closes[i]!.entity.generation); // the renewal's: it may close before a read
      await eventually(async () => expect(await manager.has('a')).toBe(false));
    }
    expect(new Set(generations).size).toBe(generations.length);
    expect([...generations].sort((x, y) => x - y)).toEqual(generations);
    await manager.dispose();
  });

  it('stop on an entity whose close is queued leaves its claim alone; one pass never exceeds concurrency', async () => {
    const { manager, closes } = await durableManager(db, { hold: true, concurrency: 2 });
    await db.clock.set(T0);
    for (const id of ['a', 'b', 'c', 'd']) await manager.new(id, T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await manager.poll();
    await eventually(() => expect(closes).toHaveLength(2));
    const queued = ['a', 'b', 'c', 'd'].filter((id) => !closes.some((c) => c.entity.id === id));
    expect(await manager.stop(queued[0]!)).toBe(true); // R4: expired ignores stop…
    expect(await manager.state(queued[0]!)).toBe('expired');
    closes.forEach((c) => c.settle());
    // …and its queued close still runs, once there is room.
    await eventually(async () => {
      await manager.poll();
      expect(closes.map((c) => c.entity.id).sort()).toEqual(['a', 'b', 'c', 'd']);
    });
    closes.forEach((c) => c.settle());
    await manager.dispose();
  });

  it('a renewal during dispose({ close: true }) is closed too, and waited for', async () => {
    const { manager, closes } = await durableManager(db, { hold: true });
    const other = await durableManager(db, { namespace: manager.namespace, hold: true });
    await db.clock.set(T0);
    await manager.new('a', T0 + 1_000, { closer: 'lease' });
    let done = false;
    const disposing = manager.dispose({ close: true }).then(() => (done = true));
    await eventually(() => expect(closes.map((c) => c.entity.id)).toEqual(['a']));
    await other.manager.new('late', T0 + 1_000, { closer: 'lease' }); // armed by another process meanwhile
    await manager.new('late', T0 + 2_000, { closer: 'lease' }); // …and renewed here: this renewal is closed too
    await eventually(() => expect(closes.map((c) => c.entity.id)).toEqual(['a', 'late']));
    closes[0]!.settle();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(done).toBe(false); // it waits for the renewal's close
    closes[1]!.settle();
    await disposing;
    expect(closes.every((c) => c.signal.reason === CLOSE_SETTLED)).toBe(true);
    expect(other.closes).toHaveLength(0);
    await other.manager.dispose();
  });

  // A NOTIFY from another process waking a manager long before its poll would: in
  // mutants-plans.test.ts, on a database of its own (so that a mutant of its statement shows).

  it('a plain dispose aborts running closes with MANAGER_DISPOSED and waits for them', async () => {
    const running = untilAborted();
    const m = await durableManager(db, { closers: { lease: running.closer } });
    await db.clock.set(T0);
    await m.manager.new('a', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await m.manager.poll();
    await eventually(() => expect(running.calls).toHaveLength(1));
    await m.manager.dispose();
    expect(running.calls[0]!.signal.reason).toBe(MANAGER_DISPOSED);
    expect(running.calls[0]!.settled).toBe(true);
  });

  it('property: passes, calls, heartbeats and commits in any order; every close a manager started settles before its dispose resolves, and every due entity closes once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.array(fc.constantFrom('stop', 'start', 'poll', 'renew'), { maxLength: 6 }), async (s, ops) => {
        await db.clock.set(T0);
        // Every transaction's commit and reply is released in an order the scheduler picks.
        const inner = db.store;
        let gating = false; // from when the race starts: opening the managers goes straight through
        const scheduled = {
          ...inner,
          kind: inner.kind,
          schema: inner.schema,
          acquire: () => inner.acquire(),
          release: () => inner.release(),
          query: inner.query,
          listen: inner.listen,
          transaction: async <T,>(work: (q: Parameters<Parameters<typeof inner.transaction>[0]>[0]) => Promise<T>) => {
            const result = await inner.transaction(work);
            if (gating) await s.schedule(Promise.resolve(), 'reply');
            return result;
          },
        };
        const closer = untilAborted();
        const m = await durableManager(db, { store: scheduled, closers: { lease: closer.closer } });
        const reader = await durableManager(db, { namespace: m.manager.namespace });
        await m.manager.new('a', T0 + 10, { closer: 'lease' });
        await db.clock.set(T0 + 10);
        gating = true;
        const calls = ops.map((op) =>
          s.schedule(Promise.resolve(op)).then(async (o): Promise<void> => {
            if (o === 'poll') await m.manager.poll();
            else if (o === 'renew') await m.manager.new('a', T0 + 10, { closer: 'lease' }).catch(() => {});
            else await m.manager[o]('a');
          }),
        );
        const disposed = s.schedule(Promise.resolve()).then(() => m.manager.dispose());
        await s.waitFor(Promise.all([...calls, disposed]).then(() => undefined));
        await s.waitAll();
        expect(closer.calls.every((call) => call.settled && call.signal.aborted)).toBe(true);
        // Whatever m left (handed back, paused and released, or live) the reader finishes: 'a' closes once in all.
        await db.clock.set(T0 + 1_000_000);
        await eventually(async () => {
          await reader.manager.poll();
          expect(await reader.manager.has('a')).toBe(false);
        });
        const byGeneration = new Map<number, number>();
        for (const c of [...closer.calls, ...reader.closes]) {
          byGeneration.set(c.entity.generation, (byGeneration.get(c.entity.generation) ?? 0) + 1);
        }
        expect([...byGeneration.values()].every((n) => n === 1)).toBe(true);
        await reader.manager.dispose();
      }),
      { seed: SEED, numRuns: Math.min(NUM_RUNS, 25) },
    );
  }, 120_000);
});
