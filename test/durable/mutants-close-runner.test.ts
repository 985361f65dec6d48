/**
 * The closes a durable manager runs (src/durable/close-runner.ts), as a user
 * and an operator see them: each close's span and counts by outcome (ok,
 * error, aborted, timeout), its lateness, takeovers counted, the slot of a
 * close that timed out freed at once, and completions retried while the
 * database is away. A claim is taken over by one statement, not by a race
 * with the heartbeat.
 */
import { SpanStatusCode } from '@opentelemetry/api';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CLOSE_SETTLED, CLOSE_TIMED_OUT, MANAGER_DISPOSED } from '../../src/index.js';
import { CLAIM_LOST, type ClosingEntity } from '../../src/durable/index.js';
import { CloseRunner } from '../../src/durable/close-runner.js';
import { DEFAULT_CLOSE_POLICY } from '../../src/durable/closers.js';
import { type Claim, type Draft, type DurableEngine, Step, keyOf } from '../../src/durable/engine.js';
import { ExpireTelemetry } from '../../src/telemetry/telemetry.js';
import { deferred } from '../helpers.js';
import { otel } from '../support/otel.js';
import { heldStore } from './held-store.js';
import { T0, type TestDatabase, durableManager, eventually, useDatabase } from './support.js';

/** A close the test ends: its entity, signal, and how to settle or fail it. */
interface Running {
  entity: ClosingEntity;
  signal: AbortSignal;
  settle(): void;
  fail(error: unknown): void;
}

/** A closer whose closes wait for the test. */
function heldCloser() {
  const running: Running[] = [];
  const close = (entity: ClosingEntity, signal: AbortSignal) => {
    const done = deferred();
    running.push({ entity, signal, settle: () => done.resolve(), fail: (error) => done.reject(error) });
    return done.promise;
  };
  const find = (id: string) => running.find((r) => r.entity.id === id);
  return { close, running, find };
}

/** An OpenTelemetry SDK on in-memory exporters, for the whole file. */
const sdk = otel();
afterAll(() => sdk.shutdown());

/**
 * A close runner whose manager's transactions fail while `down` is set (the
 * database away), on fake timers: the rows it completes are closing rows of
 * this manager, and what it wrote is recorded.
 */
function runnerOn({ active = true, close = (_entity: ClosingEntity, _signal: AbortSignal): unknown => undefined, telemetry = new ExpireTelemetry() } = {}) {
  const state = {
    down: 0,
    active,
    transactions: [] as number[],
    written: [] as string[],
    failures: [] as Array<[string, unknown]>,
    freed: 0,
    /** When set, each transaction waits for it; `inFlight` counts those under way, `most` the most at once. */
    gate: undefined as Promise<void> | undefined,
    inFlight: 0,
    most: 0,
  };
  const outage = new Error('injected: the database is away');
  const engine = {
    opensClaims: (keys: readonly string[]) => ({ sql: 'open', params: keys }),
    releaseNow: (step: Step, draft: Draft) => void (draft.leaseUntil = step.now),
    send: async (_step: Step, draft: Draft, event: { type: string }) => void (draft.state = `after ${event.type}`),
    writeAll: async (_step: Step, drafts: readonly Draft[]) =>
      void state.written.push(...drafts.map((d) => `${keyOf(d.id, d.generation)} ${d.state}${d.leaseUntil === undefined ? '' : ' released'}`)),
  } as unknown as DurableEngine;
  const runner = new CloseRunner({
    engine,
    closers: new Map([['unit', { ...DEFAULT_CLOSE_POLICY, close }]]),
    telemetry,
    onCloseError: () => {},
    call: async (work, options) => {
      state.transactions.push(Date.now());
      if (state.down > 0) {
        state.down--;
        throw outage;
      }
      const keys = options!.open!.params as string[];
      const rows = keys.map((key) => ({ id: key.split('#')[0]!, generation: Number(key.split('#')[1]), state: 'expired.closing' }) as Draft);
      state.most = Math.max(state.most, ++state.inFlight);
      try {
        await state.gate;
        return await work(new Step(async () => [], Date.now()), rows);
      } finally {
        state.inFlight--;
      }
    },
    active: () => state.active,
    now: () => Date.now(),
    freed: () => void state.freed++,
    fail: (what, error) => void state.failures.push([what, error]),
  });
  const claim = (id: string): Claim => ({ id, generation: 1, deadline: 0, closer: 'unit', data: null, attempt: 1 });
  return { runner, state, outage, claim };
}

describe('durable completions while the database is away, on fake timers', () => {
  beforeEach(() => void vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] }));
  afterEach(() => void vi.useRealTimers());

  it('a completion is retried 50 ms, then twice as long each time up to 5 s, after each failure; written once the database is back', async () => {
    const { runner, state, claim } = runnerOn();
    const started = Date.now();
    state.down = 9;
    runner.run(claim('a'));
    await vi.advanceTimersByTimeAsync(60_000);
    const waits = state.transactions.map((at, i) => at - (state.transactions[i - 1] ?? started));
    expect(waits).toEqual([0, 50, 100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
    expect(state.written).toEqual(['a#1 after settled']);
    expect(state.failures).toEqual([]);
    expect(runner.size).toBe(0);
    expect(state.freed).toBe(1);
  });

  it('completions that end while one is written go in one transaction right after it, never two at once; a hand-back releases the claim', async () => {
    const { runner, state, claim } = runnerOn();
    const slow = deferred();
    state.gate = slow.promise;
    runner.run(claim('a'));
    await vi.advanceTimersByTimeAsync(0);
    expect(state.transactions).toHaveLength(1);
    state.gate = undefined;
    runner.run(claim('b'));
    runner.run(claim('c'));
    await vi.advanceTimersByTimeAsync(0);
    expect(state.transactions).toHaveLength(1);
    slow.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(state.written).toEqual(['a#1 after settled', 'b#1 after settled', 'c#1 after settled']);
    expect(state.transactions).toHaveLength(2);
    expect(state.most).toBe(1);
    // Idle again: the next completion is written at once, on its own.
    runner.run(claim('d'));
    await vi.advanceTimersByTimeAsync(0);
    expect(state.written.at(-1)).toBe('d#1 after settled');
    expect(state.transactions).toHaveLength(3);
    await runner.handBack([claim('e')]);
    expect(state.written.at(-1)).toBe('e#1 expired.closing released');
    expect(runner.size).toBe(0);
    expect(state.freed).toBe(4);
  });

  it('abortAll aborts every close running here, and resolves only once each has ended and its completion is written', async () => {
    const ends = new Map<string, () => void>();
    const signals: AbortSignal[] = [];
    const { runner, state, claim } = runnerOn({
      close: (entity, signal) => {
        signals.push(signal);
        return new Promise<void>((resolve) => ends.set(entity.id, resolve));
      },
    });
    runner.run(claim('a'));
    runner.run(claim('b'));
    await vi.advanceTimersByTimeAsync(0);
    expect(runner.keys()).toEqual(['a#1', 'b#1']);
    let done = false;
    const aborting = runner.abortAll(MANAGER_DISPOSED).then(() => void (done = true));
    expect(signals.map((s) => s.reason)).toEqual([MANAGER_DISPOSED, MANAGER_DISPOSED]);
    // The closes ignore their signals: nothing resolves until they end.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(done).toBe(false);
    ends.get('a')!();
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(false);
    ends.get('b')!();
    await aborting;
    // Cut short but not failed: each settled, and that is written.
    expect(state.written).toEqual(['a#1 after settled', 'b#1 after settled']);
    expect(runner.size).toBe(0);
  });

  it('gives up after 20 retries while the manager runs, after 3 once it is disposing: reported, and its claim left to run out', async () => {
    for (const [active, retries] of [
      [true, 20],
      [false, 3],
    ] as const) {
      const telemetry = new ExpireTelemetry({ meterProvider: sdk.meterProvider, tracerProvider: sdk.tracerProvider });
      const { runner, state, outage, claim } = runnerOn({ active, telemetry });
      state.down = Infinity;
      const id = `given-up-${active}`;
      runner.run(claim(id));
      await vi.advanceTimersByTimeAsync(10 * 60_000);
      expect(state.transactions).toHaveLength(1 + retries);
      expect(state.failures).toEqual([['complete', outage]]);
      expect(state.written).toEqual([]);
      expect(runner.size).toBe(0);
      // Not known to be completed: as for a claim that ran out, its span says so.
      const [span] = sdk.spans().filter((s) => s.attributes['xstate_expire.entity.id'] === id);
      expect(span!.attributes['xstate_expire.close.outcome']).toBe('timeout');
    }
  });
});

describe('durable closes as telemetry and operators see them', () => {
  const database = useDatabase('pglite');
  const providers = { meterProvider: sdk.meterProvider, tracerProvider: sdk.tracerProvider };
  let db: TestDatabase;
  beforeEach(async () => {
    db = database();
    await db.clock.set(T0);
  });
  afterEach(() => void vi.restoreAllMocks());

  const spanOf = (id: string) => {
    const spans = sdk.spans().filter((s) => s.attributes['xstate_expire.entity.id'] === id);
    expect(spans).toHaveLength(1);
    return spans[0]!;
  };
  const row = async (namespace: string, id: string) =>
    (await db.store.query(`SELECT state, owner, lease_until, attempt FROM ${db.store.schema}.entities WHERE namespace = $1 AND id = $2`, [namespace, id]))[0];

  it('a close that settles and one that throws: their spans, outcomes, closer, attempt and lateness', async () => {
    const closer = heldCloser();
    const { manager, errors } = await durableManager(db, { ...providers, closers: { lease: closer.close } });
    const reclaims = await sdk.value('xstate_expire.reclaims');
    await manager.new('fine', T0 + 10, { closer: 'lease', data: { n: 1 } });
    await manager.new('broken', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 60);
    await manager.poll();
    await eventually(() => expect(closer.running).toHaveLength(2));
    const fine = closer.find('fine')!;
    expect(fine.entity).toMatchObject({ id: 'fine', data: { n: 1 }, deadline: T0 + 10, attempt: 1 });
    expect(fine.signal.aborted).toBe(false);
    fine.settle();
    const failure = new Error('backend down');
    closer.find('broken')!.fail(failure);
    await eventually(async () => expect(await row(manager.namespace, 'fine')).toBeUndefined());
    await eventually(async () => expect(await sdk.value('xstate_expire.closes', { outcome: 'error', closer: 'lease' })).toBe(1));
    // Neither was taken over from anyone.
    expect(await sdk.value('xstate_expire.reclaims')).toBe(reclaims);
    expect(await sdk.value('xstate_expire.closes', { outcome: 'ok', closer: 'lease' })).toBe(1);
    // The signal of a close that settled aborts with CLOSE_SETTLED; the failure goes to onCloseError.
    expect(fine.signal.reason).toBe(CLOSE_SETTLED);
    expect(errors).toEqual([{ id: 'broken', error: failure }]);

    const ok = spanOf('fine');
    expect(ok.attributes).toMatchObject({
      'xstate_expire.entity.generation': fine.entity.generation,
      'xstate_expire.close.attempt': 1,
      'xstate_expire.closer': 'lease',
      'xstate_expire.close.outcome': 'ok',
    });
    expect(ok.status.code).toBe(SpanStatusCode.UNSET);
    const error = spanOf('broken');
    expect(error.attributes['xstate_expire.close.outcome']).toBe('error');
    expect(error.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'backend down' });
    // The broken one is retried later (a fresh attempt), kept live meanwhile.
    expect(await row(manager.namespace, 'broken')).toMatchObject({ state: 'expired.retrying', owner: null, attempt: 1 });

    // Both started 50 ms after their deadline by the database's clock (give or take this process's estimate of it).
    const [lateness] = (await sdk.histogram('xstate_expire.close.lateness')).filter((p) => p.attributes['closer'] === 'lease');
    expect(lateness!.value.count).toBe(2);
    expect(lateness!.value.min).toBeGreaterThanOrEqual(50);
    expect(lateness!.value.max).toBeLessThan(50 + 60_000);
    await manager.dispose();
  });

  it('a claim another process took over: its late completion changes nothing, and its span ends as timed out', async () => {
    const closer = heldCloser();
    const { manager } = await durableManager(db, { ...providers, closers: { lease: closer.close } });
    await manager.new('taken', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await manager.poll();
    await eventually(() => expect(closer.running).toHaveLength(1));
    await db.store.query(`UPDATE ${db.store.schema}.entities SET owner = 'thief', lease_until = $2 WHERE namespace = $1 AND id = 'taken'`, [manager.namespace, T0 + 1e9]);
    closer.running[0]!.settle();
    await eventually(() => expect(spanOf('taken').attributes['xstate_expire.close.outcome']).toBe('timeout'));
    expect(spanOf('taken').status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'the claim ran out' });
    expect(await row(manager.namespace, 'taken')).toMatchObject({ state: 'expired.closing', owner: 'thief' });
    await manager.dispose();
  });

  it('a claim that ran out while its close still runs here, taken back by this very manager: the close goes on, not started twice', async () => {
    const closer = heldCloser();
    const { manager } = await durableManager(db, { ...providers, closers: { lease: closer.close } });
    await manager.new('slow', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await manager.poll();
    await eventually(() => expect(closer.running).toHaveLength(1));
    // This process stalled past its claim (no heartbeat came): its own next pass takes the close back.
    await db.store.query(`UPDATE ${db.store.schema}.entities SET lease_until = $2 WHERE namespace = $1 AND id = 'slow'`, [manager.namespace, T0 + 20]);
    await db.clock.set(T0 + 20);
    await manager.poll();
    expect(await row(manager.namespace, 'slow')).toMatchObject({ state: 'expired.closing', owner: manager.owner, lease_until: T0 + 20 + 60_000 });
    closer.running[0]!.settle();
    await eventually(async () => expect(await row(manager.namespace, 'slow')).toBeUndefined());
    expect(closer.running).toHaveLength(1);
    expect(closer.running[0]!.signal.reason).toBe(CLOSE_SETTLED);
    await manager.dispose();
  });

  it('another process finds the attempt running here timed out: it reports the timeout and fails the attempt, with nothing of its own to abort', async () => {
    const consoleErrors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const closer = heldCloser();
    const policy = { closeTimeoutMs: 100_000, retry: { attempts: 2, backoffMs: 1_000 } };
    // Claims outlast the attempt's timeout: B finds the timeout, not a claim to take over.
    const options = { ...providers, claimTimeoutMs: 200_000, closers: { lease: { close: closer.close, ...policy } } };
    const held = heldStore(db.store);
    const a = await durableManager({ ...db, store: held.store }, options);
    await a.manager.new('late', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await a.manager.poll();
    await eventually(() => expect(closer.running).toHaveLength(1));
    // A stalls from now on: each pass it begins commits, and its reply never comes; so B is the one to find the timeout.
    const stalled = held.hold({ kind: 'claim', point: 'reply', count: Infinity });
    const replies: Array<() => void> = [];
    void (async () => {
      for (;;) replies.push((await stalled.next()).release);
    })();
    const b = await durableManager(db, { ...options, namespace: a.manager.namespace });
    await db.clock.set(T0 + 10 + 100_000);
    await b.manager.poll();
    await eventually(() => expect(b.errors).toEqual([{ id: 'late', error: CLOSE_TIMED_OUT }]));
    expect(consoleErrors).not.toHaveBeenCalled();
    expect(await row(a.manager.namespace, 'late')).toMatchObject({ state: 'expired.retrying', owner: null, attempt: 1 });
    stalled.stop();
    for (const release of replies) release();
    closer.running[0]!.settle();
    await b.manager.dispose();
    await a.manager.dispose();
  });

  it('a close whose claim was lost keeps its slot until it ends: the signal aborts, the concurrency still counts it', async () => {
    const closer = heldCloser();
    // A heartbeat every 100 ms finds the claim lost.
    const { manager } = await durableManager(db, { ...providers, concurrency: 1, claimTimeoutMs: 300, closers: { lease: closer.close } });
    await manager.new('lost', T0 + 10, { closer: 'lease' });
    await manager.new('next', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await manager.poll();
    await eventually(() => expect(closer.running.map((r) => r.entity.id)).toHaveLength(1));
    const lost = closer.running[0]!;
    await db.store.query(`UPDATE ${db.store.schema}.entities SET owner = 'thief', lease_until = $3 WHERE namespace = $1 AND id = $2`, [
      manager.namespace,
      lost.entity.id,
      T0 + 1e9,
    ]);
    await eventually(() => expect(lost.signal.reason).toBe(CLAIM_LOST));
    await manager.poll();
    expect(closer.running).toHaveLength(1);
    lost.settle();
    await eventually(() => expect(closer.running).toHaveLength(2));
    closer.running[1]!.settle();
    await manager.dispose();
  });

  it('a close cut short by dispose fails and is handed back: another process runs it at once as the next attempt, counted as a reclaim', async () => {
    const first = heldCloser();
    const second = heldCloser();
    const a = await durableManager(db, { ...providers, closers: { lease: first.close } });
    await a.manager.new('handed', T0 + 10, { closer: 'lease' });
    await db.clock.set(T0 + 10);
    await a.manager.poll();
    await eventually(() => expect(first.running).toHaveLength(1));
    const cut = first.running[0]!;
    cut.signal.addEventListener('abort', () => cut.fail(cut.signal.reason));
    const reclaims = await sdk.value('xstate_expire.reclaims');
    await a.manager.dispose();
    expect(cut.signal.reason).toBe(MANAGER_DISPOSED);
    // Handed back: its claim ends now, not claimTimeoutMs later, and the failure is no attempt of its own.
    expect(await row(a.manager.namespace, 'handed')).toMatchObject({ state: 'expired.closing', lease_until: T0 + 10, attempt: 1 });
    expect(spanOf('handed').attributes['xstate_expire.close.outcome']).toBe('aborted');
    // Another process of the namespace: its first pass, as it opens, takes the close over.
    const b = await durableManager(db, { ...providers, namespace: a.manager.namespace, closers: { lease: second.close } });
    await eventually(() => expect(second.running).toHaveLength(1));
    expect(second.running[0]!.entity).toMatchObject({ id: 'handed', generation: cut.entity.generation, attempt: 2 });
    expect(await sdk.value('xstate_expire.reclaims')).toBe(reclaims + 1);
    second.running[0]!.settle();
    await eventually(async () => expect(await row(a.manager.namespace, 'handed')).toBeUndefined());
    await b.manager.dispose();
  });

  it('an attempt that timed out leaves its slot at once; its late end writes nothing and its span ends as timed out', async () => {
    const closer = heldCloser();
    const { manager, errors } = await durableManager(db, {
      ...providers,
      concurrency: 1,
      closers: { lease: { close: closer.close, closeTimeoutMs: 1_000, retry: { attempts: 2, backoffMs: 100_000 } } },
    });
    await manager.new('stuck', T0 + 10, { closer: 'lease' });
    await manager.new('waiting', T0 + 20, { closer: 'lease' });
    await db.clock.set(T0 + 20);
    await manager.poll();
    await eventually(() => expect(closer.running.map((r) => r.entity.id)).toEqual(['stuck']));
    // One slot: the second waits while the first runs, though due.
    await manager.poll();
    expect(closer.running).toHaveLength(1);
    await db.clock.set(T0 + 20 + 1_000);
    await manager.poll();
    const stuck = closer.find('stuck')!;
    await eventually(() => expect(stuck.signal.reason).toBe(CLOSE_TIMED_OUT));
    // The close ignores its signal: its slot is free all the same.
    await eventually(() => expect(closer.running.map((r) => r.entity.id)).toEqual(['stuck', 'waiting']));
    expect(errors).toEqual([{ id: 'stuck', error: CLOSE_TIMED_OUT }]);
    const retrying = await row(manager.namespace, 'stuck');
    expect(retrying).toMatchObject({ state: 'expired.retrying', owner: null, attempt: 1 });
    closer.find('waiting')!.settle();
    await eventually(async () => expect(await row(manager.namespace, 'waiting')).toBeUndefined());
    // The backoff over, the next attempt of the same close runs here while the first one lingers on.
    await db.clock.set(T0 + 20 + 1_000 + 100_000);
    await manager.poll();
    await eventually(() => expect(closer.running.map((r) => [r.entity.id, r.entity.attempt])).toEqual([['stuck', 1], ['waiting', 1], ['stuck', 2]]));
    const next = closer.running[2]!;
    next.signal.addEventListener('abort', () => next.fail(next.signal.reason));
    stuck.settle();
    await eventually(() => expect(sdk.spans().filter((s) => s.attributes['xstate_expire.entity.id'] === 'stuck')).toHaveLength(1));
    expect(spanOf('stuck').attributes['xstate_expire.close.outcome']).toBe('timeout');
    // The first one's end is not a completion (its attempt failed already), nor the end of the second, which still runs here.
    expect(await row(manager.namespace, 'stuck')).toMatchObject({ state: 'expired.closing', owner: manager.owner, attempt: 2 });
    await manager.dispose();
    expect(next.signal.reason).toBe(MANAGER_DISPOSED);
  });
});
