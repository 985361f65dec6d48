/**
 * The durable pause timeout end to end, on PGlite: the statechart's delayed
 * transition `paused → active` after `pauseTimeoutMs`, renewed by the
 * heartbeat of every process holding the pause. A holder whose heartbeat
 * stopped (its replies held for good: to the database it is dead) lets the
 * pause run out, and another process finds the entity resumed on its saved
 * deadline; a live holder keeps it paused long past `pauseTimeoutMs`. The
 * database's clock is the test's; heartbeats come every 100 ms of real time.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { heldStore } from './held-store.js';
import { T0, type TestDatabase, durableManager, eventually, useDatabase } from './support.js';

const PAUSE_MS = 300;
const DEADLINE = T0 + 10_000;

describe('durable pause timeout, on PGlite', () => {
  const database = useDatabase('pglite');
  let db: TestDatabase;
  beforeEach(() => void (db = database()));

  /** A holder (its heartbeat every PAUSE_MS / 3 of real time) that pauses `a`, and another process that reads and polls. */
  async function pausedByHolder() {
    const held = heldStore(db.store);
    const holder = await durableManager(db, { store: held.store, claimTimeoutMs: PAUSE_MS, pauseTimeoutMs: PAUSE_MS });
    const other = await durableManager(db, { namespace: holder.manager.namespace });
    await db.clock.set(T0);
    await holder.manager.new('a', DEADLINE, { closer: 'lease' });
    expect(await holder.manager.stop('a')).toBe(true);
    const beat = async (keep: boolean) => {
      const watch = held.hold({ kind: 'heartbeat', point: 'reply' });
      const next = await watch.next();
      watch.stop();
      if (!keep) next.release();
      return next;
    };
    /**
     * Waits for a heartbeat of the holder that read the clock as it is now, committed; `keep` holds its
     * reply (and so every later beat: one runs at a time) for good. The first beat seen may have begun
     * before the clock last moved; the one after it began once that one ended.
     */
    const nextBeat = async (keep = false) => {
      await beat(false);
      return beat(keep);
    };
    const end = async () => {
      await holder.manager.dispose();
      await other.manager.dispose();
    };
    return { holder, other, nextBeat, end };
  }

  it('a live holder keeps its pause past pauseTimeoutMs: every heartbeat pushes the timeout on', async () => {
    const { other, nextBeat, end } = await pausedByHolder();
    try {
      // Four beats, the clock 200 ms on after each: 800 ms paused, more than twice the timeout.
      for (let round = 0; round < 4; round++) {
        await nextBeat();
        await db.clock.advance(PAUSE_MS - 100);
        await other.manager.poll();
        expect(await other.manager.state('a'), `round ${round}`).toBe('paused');
      }
      expect(db.clock.now() - T0).toBeGreaterThan(2 * PAUSE_MS);
      expect((await other.manager.get('a'))?.deadline).toBe(DEADLINE);
    } finally {
      await end();
    }
  });

  it('a holder whose heartbeat stopped lets the pause run out: another process sees the saved deadline resume, and close at it', async () => {
    const { holder, other, nextBeat, end } = await pausedByHolder();
    const released: Array<() => void> = [];
    try {
      await nextBeat();
      await db.clock.advance(PAUSE_MS - 100);
      // The holder's last renewal: committed at this clock, its reply never arrives, no beat follows it.
      const last = await nextBeat(true);
      released.push(last.release);
      const renewedAt = db.clock.now();
      await db.clock.set(renewedAt + PAUSE_MS - 1);
      await other.manager.poll();
      expect(await other.manager.state('a')).toBe('paused');
      await db.clock.set(renewedAt + PAUSE_MS);
      await other.manager.poll();
      // Resumed as after a failed update (R1.2): the deadline of `new`, not a fresh one.
      expect(await other.manager.get('a')).toMatchObject({ state: 'active', deadline: DEADLINE });
      await db.clock.set(DEADLINE - 1);
      await other.manager.poll();
      expect(await other.manager.state('a')).toBe('active');
      await db.clock.set(DEADLINE);
      await other.manager.poll();
      // The holder is alive to this process's event loop, so either may run the close: once in all.
      await eventually(() => expect([...holder.closes, ...other.closes].map((c) => c.entity.deadline)).toEqual([DEADLINE]));
    } finally {
      released.forEach((release) => release());
      await end();
    }
  });
});
