/**
 * The durable protocol's checks of a renewal, what it closes when it cannot
 * arm one, and how it serializes an id's calls.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createDurableExpireProtocol } from '../../src/durable/index.js';
import { deferred } from '../helpers.js';
import { T0, type TestDatabase, durableManager, eventually, useDatabase } from './support.js';

describe('DurableExpireProtocol at its edges', () => {
  const database = useDatabase('pglite');
  let db: TestDatabase;
  beforeEach(() => void (db = database()));

  it('a renewal that is not one: a TypeError naming the field; the old entity is closed, not leaked; the closer gets data or null', async () => {
    const { manager, closes } = await durableManager(db);
    const protocol = createDurableExpireProtocol(manager);
    await db.clock.set(T0);
    const bad: Array<[unknown, string]> = [
      [5, 'DurableExpireProtocol.update: the update must resolve with a renewal { value, expiresAt, closer, data?, id? }, got 5'],
      [null, 'DurableExpireProtocol.update: the update must resolve with a renewal'],
      [{ value: 1, expiresAt: { ttlMs: 10 }, closer: 7 }, "DurableExpireProtocol.update: renewal.closer must be a closer's name, got 7"],
      [{ value: 1, expiresAt: { ttlMs: 10 } }, "DurableExpireProtocol.update: renewal.closer must be a closer's name, got undefined"],
      [{ value: 1, expiresAt: 5, closer: 'lease' }, 'DurableExpireProtocol.update: renewal.expiresAt 5 is not a deadline on the real clock'],
      [{ value: 1, expiresAt: { ttlMs: 10 }, closer: 'lease', data: [1n] }, 'DurableExpireProtocol.update: renewal.data[0] must be JSON'],
      [{ value: 1, expiresAt: { ttlMs: 10 }, closer: 'lease', id: '' }, 'DurableExpireProtocol.update: renewal: id must be a non-empty string'],
    ];
    for (const [i, [renewal, message]] of bad.entries()) {
      const id = `e${i}`;
      await manager.new(id, T0 + 1_000, { closer: 'lease' });
      const update = protocol.update(id, () => renewal as never);
      await expect(update, message).rejects.toThrow(TypeError);
      await expect(update, message).rejects.toThrow(message);
      // R2: the entity of the failed update closes (force-expired), now.
      await eventually(() => expect(closes.map((c) => c.entity.id), message).toContain(id));
    }
    closes.length = 0;
    // A renewal that names its closer but cannot be armed is closed once, unarmed (generation 0), with its data or null.
    await expect(protocol.update('n1', () => ({ value: 1, expiresAt: 5, closer: 'lease', data: { keep: true } }))).rejects.toThrow();
    await expect(protocol.update('n2', () => ({ value: 1, expiresAt: 5, closer: 'lease' }))).rejects.toThrow();
    await expect(protocol.update('n3', () => ({ value: 1, expiresAt: 5, closer: 'unknown' }))).rejects.toThrow();
    await expect(protocol.update('n4', () => ({ value: 1, expiresAt: 5 }) as never)).rejects.toThrow();
    const unarmed = closes.filter((c) => c.entity.generation === 0).map((c) => [c.entity.id, c.entity.data]);
    expect(unarmed).toEqual([
      ['n1', { keep: true }],
      ['n2', null],
    ]);
    // A renewal without data arms the entity with null; with data, with its data.
    expect(await protocol.update('ok', () => ({ value: 'v', expiresAt: { ttlMs: 1_000 }, closer: 'session' }))).toBe('v');
    expect(await manager.get('ok')).toMatchObject({ closer: 'session', data: null, deadline: T0 + 1_000 });
    await protocol.update('ok', () => ({ value: 'w', expiresAt: { ttlMs: 2_000 }, closer: 'lease', data: { d: [1] } }));
    expect(await manager.get('ok')).toMatchObject({ closer: 'lease', data: { d: [1] }, deadline: T0 + 2_000 });
    await manager.dispose();
  });

  it('a renewal whose closer is not a name closes nothing, not even a closer named like it', async () => {
    const called: string[] = [];
    const { manager } = await durableManager(db, { closers: { '5': (e) => void called.push(e.id), lease: () => {} } });
    const protocol = createDurableExpireProtocol(manager);
    await expect(protocol.update('n', () => ({ value: 1, expiresAt: 5, closer: 5 }) as never)).rejects.toThrow(TypeError);
    expect(called).toEqual([]);
    await manager.dispose();
  });

  it('an update queued behind another call of its id, when the manager is disposed meanwhile, is refused by name', async () => {
    const { manager } = await durableManager(db);
    const protocol = createDurableExpireProtocol(manager);
    const gate = deferred();
    const running = protocol.run('q', () => gate.promise);
    const queued = protocol.update('q', () => ({ value: 1, expiresAt: { ttlMs: 10 }, closer: 'lease' }));
    await manager.dispose();
    gate.resolve();
    await running;
    await expect(queued).rejects.toThrow('DurableExpireProtocol.update: the manager is disposed; "q" was not updated');
    await expect(protocol.update('r', () => ({ value: 1, expiresAt: { ttlMs: 10 }, closer: 'lease' }))).rejects.toThrow(
      'DurableExpireProtocol.update: the manager is disposed; "r" was not updated',
    );
  });

  it('bad ids and updates are refused at once; calls of one id run one after the other', async () => {
    const { manager } = await durableManager(db);
    const protocol = createDurableExpireProtocol(manager);
    expect(() => protocol.update('', () => ({ value: 1, expiresAt: { ttlMs: 1 }, closer: 'lease' }))).toThrow(
      'DurableExpireProtocol.update: id must be a non-empty string',
    );
    expect(() => protocol.update('a', 'no' as never)).toThrow('DurableExpireProtocol.update: update must be a function');
    expect(() => protocol.close('a\u0000', () => {})).toThrow('DurableExpireProtocol.close: id must be storable text');
    expect(() => protocol.fail('')).toThrow('DurableExpireProtocol.fail: id must be a non-empty string');
    expect(() => protocol.run('', () => 1)).toThrow('DurableExpireProtocol.run: id must be a non-empty string');

    const first = deferred();
    const order: string[] = [];
    expect(protocol.executors).toBe(0);
    const a = protocol.run('x', async () => {
      order.push('a');
      await first.promise;
      order.push('a done');
    });
    const b = protocol.run('x', () => void order.push('b'));
    const other = protocol.run('y', () => void order.push('y'));
    await other;
    expect(protocol.executors).toBe(1);
    expect(order).toEqual(['a', 'y']);
    first.resolve();
    await Promise.all([a, b]);
    expect(order).toEqual(['a', 'y', 'a done', 'b']);
    expect(protocol.executors).toBe(0);
    await manager.dispose();
  });
});
