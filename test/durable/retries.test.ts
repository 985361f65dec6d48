/**
 * Durable retries, close timeouts and failed rows, on the database's clock:
 * the same statechart transitions as in memory, over rows.
 */
import { describe, expect, it } from 'vitest';
import { CLOSE_TIMED_OUT } from '../../src/index.js';
import { type ClosingEntity, createDurableExpireManager } from '../../src/durable/index.js';
import { backoffMs } from '../../src/machines/retry.js';
import { retryStored } from '../../src/durable/admin-calls.js';
import { deferred } from '../helpers.js';
import { T0, databaseKinds, durableManager, eventually, renewedWhileClosing, useDatabase } from './support.js';

const POLICY = { attempts: 3, backoffMs: 1_000, maxBackoffMs: 10_000 };

describe.each(databaseKinds)('durable retries on %s', (kind) => {
  const database = useDatabase(kind);

  /** A manager whose `lease` closer fails its first `failures` calls. */
  async function flaky(failures: number, options: { retry?: object; closeTimeoutMs?: number } = {}) {
    const db = database();
    const calls: ClosingEntity[] = [];
    const made = await durableManager(db, {
      closers: {
        lease: {
          close: (entity: ClosingEntity) => {
            calls.push(entity);
            if (calls.length <= failures) throw new Error(`boom ${calls.length}`);
          },
          ...options,
        },
      },
    });
    return { ...made, db, calls };
  }

  it('retries a failed close after its backoff on the database clock, attempt by attempt, until one succeeds', async () => {
    const { manager, db, calls, errors } = await flaky(2, { retry: POLICY });
    await db.clock.set(T0);
    await manager.new('a', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await manager.poll();
    await eventually(async () => expect(await manager.get('a')).toMatchObject({ state: 'expired', attempts: 1, lastError: 'boom 1' }));
    const { generation } = (await manager.get('a'))!;
    const first = backoffMs(POLICY, 'a', generation, 1);
    await db.clock.set(T0 + 10 + first - 1);
    await manager.poll();
    expect(calls).toHaveLength(1);
    await db.clock.set(T0 + 10 + first);
    await manager.poll();
    await eventually(() => expect(calls).toHaveLength(2));
    await eventually(async () => expect(await manager.get('a')).toMatchObject({ attempts: 2, lastError: 'boom 2' }));
    await db.clock.advance(backoffMs(POLICY, 'a', generation, 2));
    await manager.poll();
    await eventually(async () => expect(await manager.has('a')).toBe(false));
    expect(calls.map((c) => [c.id, c.attempt, c.generation])).toEqual([
      ['a', 1, generation],
      ['a', 2, generation],
      ['a', 3, generation],
    ]);
    expect(errors.map((e) => (e.error as Error).message)).toEqual(['boom 1', 'boom 2']);
    await manager.dispose();
  });

  it('keeps a row whose every attempt failed as failed: listed, retried by hand, renewed or deleted', async () => {
    const { manager, db, calls } = await flaky(3, { retry: { attempts: 2, backoffMs: 0 } });
    await db.clock.set(T0);
    await manager.new('a', T0 + 10, { closer: 'lease' });
    await manager.new('b', T0 + 100_000_000, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await manager.poll();
    await eventually(async () => {
      await manager.poll();
      expect(await manager.state('a')).toBe('failed');
    });
    expect(calls).toHaveLength(2);
    expect((await manager.list({ state: 'failed' })).map((e) => [e.id, e.attempts, e.lastError])).toEqual([['a', 2, 'boom 2']]);
    expect((await manager.list({ state: 'active' })).map((e) => e.id)).toEqual(['b']);
    expect(await manager.size()).toBe(2);
    // Nothing closes it on its own.
    await db.clock.advance(600_000);
    await manager.poll();
    expect(calls).toHaveLength(2);
    expect([await manager.retry('b'), await manager.retry('nobody')]).toEqual([false, false]);
    expect(await manager.retry('a')).toBe(true);
    await eventually(() => expect(calls.map((c) => c.attempt)).toEqual([1, 2, 1]));
    await eventually(async () => {
      await manager.poll();
      expect(calls).toHaveLength(4);
    });
    await eventually(async () => expect(await manager.has('a')).toBe(false)); // the 4th call succeeded
    await manager.dispose();
  });

  it("an operator's retry (the CLI's) re-queues a failed row; a running manager with its closer runs it", async () => {
    const { manager, db, calls } = await flaky(2, { retry: { attempts: 2, backoffMs: 0 } });
    await db.clock.set(T0);
    await manager.new('a', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await eventually(async () => {
      await manager.poll();
      expect(await manager.state('a')).toBe('failed');
    });
    expect(await retryStored(db.store, manager.namespace, 'nobody')).toBe(false);
    expect(await retryStored(db.store, manager.namespace, 'a')).toBe(true);
    expect(await retryStored(db.store, manager.namespace, 'a')).toBe(false); // queued now, not failed
    await eventually(async () => {
      await manager.poll();
      expect(calls.map((c) => c.attempt)).toEqual([1, 2, 1]);
    });
    await eventually(async () => expect(await manager.has('a')).toBe(false));
    await manager.dispose();
  });

  it('new(id) renews a failed row like any live one; delete(id) drops one', async () => {
    const { manager, db, calls } = await flaky(10, { retry: { attempts: 2, backoffMs: 0 } });
    await db.clock.set(T0);
    await manager.new('a', T0 + 10, { closer: 'lease' });
    await manager.new('b', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await eventually(async () => {
      await manager.poll();
      expect((await manager.list({ state: 'failed' })).map((e) => e.id)).toEqual(['a', 'b']);
    });
    const failedGeneration = (await manager.get('a'))!.generation;
    await manager.new('a', { ttlMs: 1_000 }, { closer: 'lease', data: { again: true } });
    const renewed = await manager.get('a');
    expect(renewed).toMatchObject({ state: 'active', attempts: 0, data: { again: true } });
    expect(renewed!.generation).toBeGreaterThan(failedGeneration);
    expect(renewed).not.toHaveProperty('lastError');
    expect(await manager.delete('b')).toBe(true);
    expect(await manager.has('b')).toBe(false);
    expect(calls).toHaveLength(4);
    await manager.dispose();
  });

  it('with { attempts: 1 } a failed close is reported and the row is gone (Go); a bare function retries by default', async () => {
    const db = database();
    const errors: string[] = [];
    const manager = await createDurableExpireManager({
      store: db.store,
      namespace: `once-${kind}`,
      closers: {
        once: { close: () => Promise.reject(new Error('once')), retry: { attempts: 1 } },
        bare: () => Promise.reject(new Error('bare')),
      },
      pollIntervalMs: 60_000,
      onCloseError: (_id, error) => errors.push((error as Error).message),
    });
    await db.clock.set(T0);
    await manager.new('a', T0 + 10, { closer: 'once' });
    await manager.new('b', T0 + 10, { closer: 'bare' });
    await db.clock.set(T0 + 10);
    await manager.poll();
    await eventually(() => expect(errors.sort()).toEqual(['bare', 'once']));
    await eventually(async () => expect(await manager.has('a')).toBe(false));
    // Reported as it failed; handed back once the failure is written.
    await eventually(async () => expect(await manager.get('b')).toMatchObject({ state: 'expired', attempts: 1, lastError: 'bare' }));
    await manager.dispose();
  });

  it('an attempt longer than closeTimeoutMs aborts with CLOSE_TIMED_OUT, frees its slot at once and counts as failed', async () => {
    const db = database();
    const signals = new Map<string, AbortSignal>();
    const hang = deferred();
    const errors: unknown[] = [];
    const { manager } = await durableManager(db, {
      concurrency: 1,
      closers: {
        lease: {
          close: (entity: ClosingEntity, signal: AbortSignal) => {
            signals.set(`${entity.id}#${entity.attempt}`, signal);
            return entity.id === 'a' && entity.attempt === 1 ? hang.promise : undefined;
          },
          closeTimeoutMs: 5_000,
          retry: { attempts: 2, backoffMs: 0 },
        },
      },
      onCloseError: (_id, error) => errors.push(error),
    });
    await db.clock.set(T0);
    await manager.new('a', T0 + 10, { closer: 'lease' });
    await manager.new('b', T0 + 20, { closer: 'lease' });
    await db.clock.set(T0 + 20);
    await manager.poll();
    await eventually(() => expect([...signals.keys()]).toEqual(['a#1']));
    await manager.poll();
    expect([...signals.keys()]).toEqual(['a#1']); // one slot, held by the hung close
    await db.clock.advance(5_000);
    await eventually(async () => {
      await manager.poll();
      expect([...signals.keys()].sort()).toEqual(['a#1', 'a#2', 'b#1']);
    });
    expect(signals.get('a#1')!.reason).toBe(CLOSE_TIMED_OUT);
    expect(errors).toEqual([CLOSE_TIMED_OUT]);
    await eventually(async () => expect(await manager.size()).toBe(0));
    // What the timed-out close does later changes nothing, and dispose() does not wait for it.
    hang.reject(new Error('late'));
    await manager.dispose();
    expect(await manager.has('a')).toBe(false);
  });

  it('a failed close whose id was renewed meanwhile is not retried; the renewal is left alone', async () => {
    const db = database();
    const { manager, calls: entities, fail } = await renewedWhileClosing(db);
    const calls = () => entities.map((entity) => `${entity.id}#${(entity.data as { n: number }).n}`);
    expect(calls()).toEqual(['a#1']);
    fail(new Error('old failed'));
    await eventually(async () => expect(await manager.list()).toEqual([expect.objectContaining({ id: 'a', state: 'active', data: { n: 2 } })]));
    await manager.poll();
    expect(calls()).toEqual(['a#1']);
    await db.clock.set(T0 + 1_000);
    await manager.poll();
    await eventually(() => expect(calls()).toEqual(['a#1', 'a#2']));
    await manager.dispose();
  });
});

describe('bad closer options', () => {
  it.each([
    [{ lease: { close: 1 } }, /closers\.lease must be a function or \{ close, retry\?, closeTimeoutMs\? \}/],
    [{ lease: { close: () => {}, retry: { attempts: 0 } } }, /closers\.lease: retry\.attempts must be an integer from 1 to 1000/],
    [{ lease: { close: () => {}, closeTimeoutMs: -5 } }, /closers\.lease: closeTimeoutMs must be a number of ms/],
  ])('%o is a TypeError before any SQL', async (closers, message) => {
    const store = { transaction: () => Promise.reject(new Error('no SQL')), acquire: () => Promise.reject(new Error('no SQL')) };
    await expect(createDurableExpireManager({ store: store as never, closers: closers as never })).rejects.toThrow(message);
  });
});
