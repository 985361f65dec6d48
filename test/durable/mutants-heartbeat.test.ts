/**
 * What keeps a durable process's holdings alive (src/durable/heartbeat.ts):
 * its beat on an injected clock (vitest's fake timers), and, on a database,
 * what an operator sees when a heartbeat or the release of a pause fails,
 * and when a paused entity was deleted before its holder let go of it.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CLAIM_LOST, type DurableStore } from '../../src/durable/index.js';
import type { CloseRunner } from '../../src/durable/close-runner.js';
import type { DurableEngine } from '../../src/durable/engine.js';
import { Heartbeat } from '../../src/durable/heartbeat.js';
import { deleteStored } from '../../src/durable/admin-calls.js';
import { deferred } from '../helpers.js';
import { type TransactionKind, kindOf } from './held-store.js';
import { T0, type TestDatabase, durableManager, eventually, useDatabase } from './support.js';

/** A heartbeat whose engine renews what the test says; the closes running are `c#1` and `c#2`. */
function heartbeatOn() {
  const renewedClaims: string[][] = [];
  const renewedPauses: string[][] = [];
  const answers = { lost: [] as string[], gone: [] as string[], failure: undefined as Error | undefined, gate: undefined as Promise<void> | undefined };
  const aborted: Array<[string, Error]> = [];
  const failures: Array<[string, unknown]> = [];
  const engine = {
    renewClaims: async (keys: string[]) => {
      renewedClaims.push(keys);
      await answers.gate;
      if (answers.failure) throw answers.failure;
      return answers.lost;
    },
    renewPauses: async (keys: string[]) => {
      renewedPauses.push(keys);
      return answers.gone;
    },
  } as unknown as DurableEngine;
  const closes = { keys: () => ['c#1', 'c#2'], abort: (key: string, reason: Error) => void aborted.push([key, reason]) } as unknown as CloseRunner;
  const heartbeat = new Heartbeat({
    engine,
    closes,
    call: () => Promise.reject(new Error('no call here')),
    fail: (what, error) => void failures.push([what, error]),
  });
  return { heartbeat, renewedClaims, renewedPauses, answers, aborted, failures };
}

describe('durable heartbeat, on fake timers', () => {
  beforeEach(() => void vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] }));
  afterEach(() => void vi.useRealTimers());

  it('beats every intervalMs: renews the claims running here and the pauses held; a lost claim aborts its close, a gone pause is forgotten', async () => {
    const { heartbeat, renewedClaims, renewedPauses, answers, aborted } = heartbeatOn();
    heartbeat.hold(['p#1', 'q#2']);
    heartbeat.start(100);
    await vi.advanceTimersByTimeAsync(99);
    expect(renewedClaims).toEqual([]);
    answers.lost = ['c#2'];
    answers.gone = ['q#2'];
    await vi.advanceTimersByTimeAsync(1);
    expect(renewedClaims).toEqual([['c#1', 'c#2']]);
    expect(renewedPauses).toEqual([['p#1', 'q#2']]);
    expect(aborted).toEqual([['c#2', CLAIM_LOST]]);
    answers.lost = [];
    answers.gone = [];
    await vi.advanceTimersByTimeAsync(100);
    expect(renewedPauses).toEqual([['p#1', 'q#2'], ['p#1']]);
    await heartbeat.stop();
  });

  it('stop() ends the beating, and resolves only once the beat under way has ended', async () => {
    const { heartbeat, renewedClaims, answers } = heartbeatOn();
    heartbeat.start(100);
    const slow = deferred();
    answers.gate = slow.promise;
    await vi.advanceTimersByTimeAsync(100);
    expect(renewedClaims).toHaveLength(1);
    // A call while a beat is under way joins it.
    const joined = heartbeat.beat();
    expect(renewedClaims).toHaveLength(1);
    let stopped = false;
    const stopping = heartbeat.stop().then(() => void (stopped = true));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(stopped).toBe(false);
    slow.resolve();
    await stopping;
    await joined;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(renewedClaims).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a beat that fails is reported as the heartbeat’s failure, and the next one beats again', async () => {
    const { heartbeat, renewedClaims, answers, failures } = heartbeatOn();
    const failure = new Error('connection reset');
    answers.failure = failure;
    await heartbeat.beat();
    expect(failures).toEqual([['heartbeat', failure]]);
    answers.failure = undefined;
    await heartbeat.beat();
    expect(renewedClaims).toHaveLength(2);
    expect(failures).toHaveLength(1);
  });
});

/** Wraps a store: a transaction of a kind `failing` names throws before its COMMIT (rolled back, as a dropped connection would). */
function failingStore(inner: DurableStore) {
  const failing = new Set<TransactionKind>();
  const failure = new Error('injected: the connection dropped');
  const store: DurableStore = {
    kind: inner.kind,
    schema: inner.schema,
    acquire: () => inner.acquire(),
    release: () => inner.release(),
    query: (sql, params) => inner.query(sql, params),
    listen: (channel, onNotify, onReconnect) => inner.listen(channel, onNotify, onReconnect),
    transaction: (work) =>
      inner.transaction(async (query) => {
        const statements: string[] = [];
        const value = await work((sql, params) => {
          statements.push(sql);
          return query(sql, params);
        });
        if (failing.has(kindOf(statements))) throw failure;
        return value;
      }),
  };
  return { store, failing, failure };
}

describe('durable heartbeat, as an operator sees it', () => {
  const database = useDatabase('pglite');
  let db: TestDatabase;
  beforeEach(() => void (db = database()));
  afterEach(() => void vi.restoreAllMocks());

  const pausedRow = async (namespace: string, id: string) =>
    db.store.query(`SELECT state, holders FROM ${db.store.schema}.entities WHERE namespace = $1 AND id = $2`, [namespace, id]);

  it('a heartbeat that fails is reported as such; the pause it could not renew is renewed by the next one', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const { store, failing, failure } = failingStore(db.store);
    // A beat every 100 ms.
    const { manager } = await durableManager({ ...db, store }, { claimTimeoutMs: 300, pauseTimeoutMs: 300 });
    await db.clock.set(T0);
    await manager.new('x', T0 + 100_000, { closer: 'lease' });
    expect(await manager.stop('x')).toBe(true);
    failing.add('heartbeat');
    await eventually(() => expect(errors).toHaveBeenCalledWith('xstate-expire durable manager (heartbeat):', failure));
    // Renewed by the next beat that succeeds: its timeout moves on with the database's clock (still short of it).
    await db.clock.set(T0 + 200);
    failing.clear();
    const due = async () => Number((await db.store.query(`SELECT due FROM ${db.store.schema}.entities WHERE namespace = $1 AND id = 'x'`, [manager.namespace]))[0]!.due);
    await eventually(async () => expect(await due()).toBe(T0 + 500));
    await manager.dispose();
  });

  it('dispose after an operator deleted a paused entity: its pause is let go of quietly, the others resume', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const { manager } = await durableManager(db);
    await db.clock.set(T0);
    await manager.new('gone', T0 + 100_000, { closer: 'lease' });
    await manager.new('kept', T0 + 100_000, { closer: 'lease' });
    await manager.stop('gone');
    await manager.stop('kept');
    expect(await deleteStored(db.store, manager.namespace, 'gone')).toBe(true);
    await manager.dispose();
    expect(errors).not.toHaveBeenCalled();
    expect(await pausedRow(manager.namespace, 'gone')).toEqual([]);
    expect(await pausedRow(manager.namespace, 'kept')).toEqual([{ state: 'active', holders: [] }]);
  });

  it('a release that fails at dispose is reported; the pause stays and runs out after pauseTimeoutMs, as a dead holder’s does', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const { store, failing, failure } = failingStore(db.store);
    const { manager } = await durableManager({ ...db, store }, { pauseTimeoutMs: 60_000 });
    await db.clock.set(T0);
    await manager.new('x', T0 + 100_000, { closer: 'lease' });
    await manager.stop('x');
    failing.add('call');
    await manager.dispose();
    expect(errors).toHaveBeenCalledWith('xstate-expire durable manager (release):', failure);
    expect(await pausedRow(manager.namespace, 'x')).toEqual([{ state: 'paused', holders: [manager.owner] }]);
    // Another process of the namespace resumes it once its timeout has passed.
    const other = await durableManager(db, { namespace: manager.namespace });
    await db.clock.set(T0 + 60_000);
    await other.manager.poll();
    expect(await other.manager.state('x')).toBe('active');
    await other.manager.dispose();
  });
});
