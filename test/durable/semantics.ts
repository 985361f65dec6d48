/**
 * The durable manager's semantics — the Go requirements over PostgreSQL rows —
 * on both stores, one code path: PGlite in this process and a real PostgreSQL
 * 15 server. The database's clock is the test's (see support.ts). Run by
 * suite.ts, which opens each database once for these and the model paths.
 */
import { beforeEach, expect, it } from 'vitest';
import {
  CLOSE_SETTLED,
  MANAGER_DISPOSED,
} from '../../src/index.js';
import { createDurableExpireProtocol } from '../../src/durable/index.js';
import { T0, type TestDatabase, durableManager, eventually } from './support.js';

/** The semantics' tests, on the database `database()` gives (opened by the caller). */
export function semantics(database: () => TestDatabase): void {
  let db: TestDatabase;
  beforeEach(() => void (db = database()));

  it('closes once at the deadline on the database clock, not a millisecond before', async () => {
    const { manager, closes } = await durableManager(db);
    await db.clock.set(T0);
    await manager.new('a', T0 + 100, { closer: 'lease', data: { room: '4.12' } });
    expect(await manager.state('a')).toBe('active');
    expect(await manager.size()).toBe(1);
    await db.clock.set(T0 + 99);
    await manager.poll();
    expect(closes).toHaveLength(0);
    await db.clock.set(T0 + 100);
    await manager.poll();
    await eventually(() => expect(closes).toHaveLength(1));
    const [call] = closes;
    expect(call!.entity).toMatchObject({ id: 'a', data: { room: '4.12' }, deadline: T0 + 100 });
    expect(call!.entity.generation).toBeGreaterThan(0);
    await eventually(() => expect(call!.signal.reason).toBe(CLOSE_SETTLED));
    await eventually(async () => expect(await manager.has('a')).toBe(false));
    await manager.poll();
    expect(closes).toHaveLength(1);
    await manager.dispose();
  });

  it('computes { ttlMs } on the database clock', async () => {
    const { manager, closes } = await durableManager(db);
    await db.clock.set(T0 + 5_000);
    await manager.new('a', { ttlMs: 250 }, { closer: 'lease' });
    await db.clock.advance(249);
    await manager.poll();
    expect(closes).toHaveLength(0);
    await db.clock.advance(1);
    await manager.poll();
    await eventually(() => expect(closes.map((c) => c.entity.deadline)).toEqual([T0 + 5_250]));
    await manager.dispose();
  });

  it('stop pauses and keeps the deadline; start resumes the same one (R1); expire closes now (R2)', async () => {
    const { manager, closes } = await durableManager(db);
    await db.clock.set(T0);
    await manager.new('a', T0 + 100, { closer: 'lease' });
    await manager.new('b', T0 + 100, { closer: 'lease' });
    await db.clock.advance(40);
    expect(await manager.stop('a')).toBe(true);
    expect(await manager.stop('b')).toBe(true);
    expect(await manager.state('a')).toBe('paused');
    await db.clock.advance(110); // past the deadline, paused: nothing
    await manager.poll();
    expect(closes).toHaveLength(0);
    await manager.start('a'); // resumes the same deadline, long passed: due now
    await manager.poll();
    await eventually(() => expect(closes.map((c) => c.entity.id)).toEqual(['a']));
    await manager.expire('b');
    await eventually(() => expect(closes.map((c) => c.entity.id)).toEqual(['a', 'b']));
    expect(await manager.size()).toBe(0);
    await manager.dispose();
  });

  it('an active entity ignores start and expire; a closed one is never closed again until new (R4)', async () => {
    const { manager, closes } = await durableManager(db);
    await db.clock.set(T0);
    await manager.new('a', T0 + 10, { closer: 'lease' });
    await manager.start('a');
    await manager.expire('a');
    expect(await manager.state('a')).toBe('active');
    await db.clock.advance(10);
    await manager.poll();
    await eventually(async () => expect(await manager.has('a')).toBe(false));
    expect(await manager.stop('a')).toBe(false);
    await manager.expire('a');
    await manager.start('a');
    expect(await manager.delete('a')).toBe(false);
    await db.clock.advance(1_000);
    await manager.poll();
    expect(closes).toHaveLength(1);
    const first = closes[0]!.entity.generation;
    await manager.new('a', T0 + 2_000, { closer: 'lease' });
    await db.clock.set(T0 + 2_000);
    await manager.poll();
    await eventually(() => expect(closes).toHaveLength(2));
    expect(closes[1]!.entity.generation).toBeGreaterThan(first);
    await manager.dispose();
  });

  it('new for a live id renews it in place: new deadline, closer and data, a new generation; the old close never runs', async () => {
    const { manager, closes } = await durableManager(db);
    await db.clock.set(T0);
    await manager.new('a', T0 + 100, { closer: 'lease', data: 1 });
    await manager.stop('a');
    await manager.new('a', T0 + 300, { closer: 'session', data: 2 });
    expect(await manager.state('a')).toBe('active');
    expect(await manager.size()).toBe(1);
    await db.clock.set(T0 + 299);
    await manager.poll();
    expect(closes).toHaveLength(0);
    await db.clock.set(T0 + 300);
    await manager.poll();
    await eventually(() => expect(closes).toHaveLength(1));
    expect(closes[0]!.entity).toMatchObject({ id: 'a', data: 2, deadline: T0 + 300 });
    await manager.dispose();
  });

  it('delete removes without closing, and says whether one existed', async () => {
    const { manager, closes } = await durableManager(db);
    await db.clock.set(T0);
    await manager.new('a', T0 + 10, { closer: 'lease' });
    expect(await manager.delete('a')).toBe(true);
    expect(await manager.delete('a')).toBe(false);
    await db.clock.advance(100);
    await manager.poll();
    expect(closes).toHaveLength(0);
    await manager.dispose();
  });

  it('rejects bad input with a TypeError and changes nothing', async () => {
    const { manager } = await durableManager(db);
    const bad: Array<[string, () => Promise<unknown>]> = [
      ['unknown closer', () => manager.new('a', { ttlMs: 10 }, { closer: 'nope' })],
      ['a function in data', () => manager.new('a', { ttlMs: 10 }, { closer: 'lease', data: { f: () => 1 } })],
      ['NaN in data', () => manager.new('a', { ttlMs: 10 }, { closer: 'lease', data: [Number.NaN] })],
      ['a BigInt in data', () => manager.new('a', { ttlMs: 10 }, { closer: 'lease', data: 1n })],
      ['a Map in data', () => manager.new('a', { ttlMs: 10 }, { closer: 'lease', data: new Map() })],
      ['a TTL as deadline', () => manager.new('a', 30_000, { closer: 'lease' })],
      ['a NaN deadline', () => manager.new('a', Number.NaN, { closer: 'lease' })],
      ['a negative ttlMs', () => manager.new('a', { ttlMs: -1 }, { closer: 'lease' })],
      ['an empty id', () => manager.new('', { ttlMs: 10 }, { closer: 'lease' })],
      ['no options', () => manager.new('a', { ttlMs: 10 }, undefined as never)],
    ];
    for (const [what, call] of bad) {
      await expect(call(), what).rejects.toBeInstanceOf(TypeError);
    }
    expect(await manager.size()).toBe(0);
    await manager.dispose();
  });

  it('a pause held by a manager that died ends after pauseTimeoutMs: the entity resumes its saved deadline', async () => {
    const updater = await durableManager(db);
    await db.clock.set(T0);
    await updater.manager.new('a', T0 + 100, { closer: 'lease' });
    expect(await updater.manager.stop('a')).toBe(true);
    // The updater now behaves as dead: its heartbeat (every 20 s of real time) never
    // comes while the test moves the database's clock past its pause.
    const worker = await durableManager(db, { namespace: updater.manager.namespace });
    await db.clock.set(T0 + 60_000 - 1);
    await worker.manager.poll();
    expect(await worker.manager.state('a')).toBe('paused');
    await db.clock.set(T0 + 60_000);
    await worker.manager.poll(); // the pause ends (R1.2), and the saved deadline has long passed
    await worker.manager.poll();
    // The updater's process is alive to the operating system, so either may run the close.
    await eventually(() => expect([...worker.closes, ...updater.closes].map((c) => c.entity.deadline)).toEqual([T0 + 100]));
    await worker.manager.dispose();
    await updater.manager.dispose();
  });

  it('a second stop makes its caller a holder too: the pause lasts while either renews it, and ends after the last', async () => {
    const first = await durableManager(db);
    const second = await durableManager(db, { namespace: first.manager.namespace });
    await db.clock.set(T0);
    await first.manager.new('a', T0 + 100, { closer: 'lease' });
    expect(await first.manager.stop('a')).toBe(true);
    await db.clock.set(T0 + 30_000);
    expect(await second.manager.stop('a')).toBe(true); // joins: its lease runs from now
    // The first holder dies here (it renews nothing from now on); the second lives.
    await db.clock.set(T0 + 60_000);
    await first.manager.poll();
    expect(await first.manager.state('a')).toBe('paused');
    await db.clock.set(T0 + 89_999);
    await first.manager.poll();
    expect(await first.manager.state('a')).toBe('paused');
    await db.clock.set(T0 + 90_000);
    await first.manager.poll();
    await first.manager.poll();
    await eventually(() => expect([...first.closes, ...second.closes].map((c) => c.entity.deadline)).toEqual([T0 + 100]));
    await first.manager.dispose();
    await second.manager.dispose();
  });

  it('a plain dispose releases the pauses it holds: the entity resumes its saved deadline at once, unless another holder lives', async () => {
    const leaving = await durableManager(db);
    const staying = await durableManager(db, { namespace: leaving.manager.namespace });
    await db.clock.set(T0);
    await leaving.manager.new('alone', T0 + 1_000, { closer: 'lease' });
    await leaving.manager.new('shared', T0 + 1_000, { closer: 'lease' });
    await leaving.manager.stop('alone');
    await leaving.manager.stop('shared');
    await staying.manager.stop('shared');
    await leaving.manager.dispose();
    expect(await staying.manager.state('alone')).toBe('active'); // R1.2: its update can no longer finish
    expect((await staying.manager.get('alone'))?.deadline).toBe(T0 + 1_000);
    expect(await staying.manager.state('shared')).toBe('paused'); // the staying holder's update still runs
    await staying.manager.dispose();
    const reader = await durableManager(db, { namespace: leaving.manager.namespace });
    expect(await reader.manager.state('shared')).toBe('active'); // its last holder let go
    await reader.manager.dispose();
  });

  it('a claim that ran out is taken over; the first claimant’s late completion changes nothing', async () => {
    const first = await durableManager(db, { hold: true });
    await db.clock.set(T0);
    await first.manager.new('a', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await first.manager.poll();
    await eventually(() => expect(first.closes).toHaveLength(1));
    const second = await durableManager(db, { namespace: first.manager.namespace, hold: true });
    // The first stalls (it renews nothing in this test's time): its claim runs out.
    await db.clock.advance(60_000);
    await second.manager.poll();
    await eventually(() => expect(second.closes).toHaveLength(1));
    expect(second.closes[0]!.entity.generation).toBe(first.closes[0]!.entity.generation);
    second.closes[0]!.settle();
    await eventually(async () => expect(await db.store.query(`SELECT 1 FROM ${db.store.schema}.entities WHERE namespace = $1`, [first.manager.namespace])).toEqual([]));
    // A new incarnation of the same id, then the stalled close completes: it must not touch it.
    await second.manager.new('a', T0 + 1_000_000, { closer: 'lease' });
    first.closes[0]!.settle();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await second.manager.state('a')).toBe('active');
    await first.manager.dispose();
    await second.manager.dispose();
  });

  it('a restarted manager closes each past-due entity once', async () => {
    const before = await durableManager(db);
    await db.clock.set(T0);
    for (const id of ['a', 'b', 'c']) await before.manager.new(id, T0 + 100, { closer: 'lease' });
    await before.manager.dispose();
    await db.clock.set(T0 + 10_000);
    const after = await durableManager(db, { namespace: before.manager.namespace });
    await eventually(() => expect(after.closes.map((c) => c.entity.id).sort()).toEqual(['a', 'b', 'c']));
    await after.manager.poll();
    expect(after.closes).toHaveLength(3);
    expect(before.closes).toHaveLength(0);
    await after.manager.dispose();
  });

  it('dispose({ close: true }) closes every live entity once, waits, and refuses new ids meanwhile', async () => {
    const { manager, closes } = await durableManager(db, { hold: true });
    await db.clock.set(T0);
    await manager.new('a', T0 + 1_000, { closer: 'lease' });
    await manager.new('b', T0 + 1_000, { closer: 'lease' });
    await manager.stop('b');
    let done = false;
    const disposing = manager.dispose({ close: true }).then(() => (done = true));
    await eventually(() => expect(closes.map((c) => c.entity.id).sort()).toEqual(['a', 'b']));
    await expect(manager.new('c', { ttlMs: 10 }, { closer: 'lease' })).rejects.toThrow(/closing/);
    expect(done).toBe(false);
    closes.forEach((c) => c.settle());
    await disposing;
    expect(closes.every((c) => c.signal.reason === CLOSE_SETTLED)).toBe(true);
  });

  it('a plain dispose aborts running closes and hands a failed one over to the other managers', async () => {
    const failing = new Error('aborted mid-way');
    const stuck: Array<() => void> = [];
    const leaving = await durableManager(db, {
      closers: {
        lease: (_entity, signal) =>
          new Promise((_resolve, reject) => {
            stuck.push(() => reject(failing));
            signal.addEventListener('abort', () => reject(failing));
          }),
      },
    });
    await db.clock.set(T0);
    await leaving.manager.new('a', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await leaving.manager.poll();
    await eventually(() => expect(stuck).toHaveLength(1));
    const staying = await durableManager(db, { namespace: leaving.manager.namespace });
    await leaving.manager.dispose();
    expect(leaving.errors.map((e) => e.error)).toEqual([failing]);
    await staying.manager.poll(); // handed over at once, no claim timeout to wait for
    await eventually(() => expect(staying.closes.map((c) => c.entity.id)).toEqual(['a']));
    await staying.manager.dispose();
  });

  it('the protocol twin: update, close and fail with the Go guarantees; an unarmed renewal is closed once', async () => {
    const { manager, closes } = await durableManager(db);
    const protocol = createDurableExpireProtocol(manager);
    await db.clock.set(T0);
    expect(await protocol.update('a', () => ({ value: 1, expiresAt: { ttlMs: 100 }, closer: 'lease' }))).toBe(1);
    await expect(
      protocol.update('a', () => {
        throw new Error('backend down');
      }),
    ).rejects.toThrow('backend down');
    expect(await manager.state('a')).toBe('active'); // resumed, same deadline
    expect(await protocol.close('a', () => {})).toBe(true);
    expect(await protocol.close('a', () => {})).toBe(false);
    await protocol.update('b', () => ({ value: 2, expiresAt: { ttlMs: 100 }, closer: 'lease' }));
    expect(await protocol.fail('b')).toBe(true);
    await eventually(() => expect(closes.map((c) => c.entity.id)).toEqual(['b']));
    await expect(
      protocol.update('c', () => ({ value: 3, expiresAt: Number.NaN, closer: 'lease', data: { x: 1 } })),
    ).rejects.toThrow(/renewal\.expiresAt/);
    expect(closes.map((c) => [c.entity.id, c.entity.generation])).toEqual([
      ['b', closes[0]!.entity.generation],
      ['c', 0],
    ]);
    await manager.dispose();
    await expect(protocol.update('d', () => ({ value: 4, expiresAt: { ttlMs: 1 }, closer: 'lease' }))).rejects.toThrow(
      /disposed/,
    );
    expect(MANAGER_DISPOSED).toBeInstanceOf(Error);
  });
}
