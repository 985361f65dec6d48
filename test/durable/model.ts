/**
 * The model-based paths, generated from the same statechart, against the
 * durable manager on PGlite and on a real PostgreSQL 15 server (every path on
 * one, a sample showing every kind of step on the other). The database's
 * clock is the test's: each `tick`, `deadline`, `rearm`, `pauseTimeout`,
 * `closeTimeout` and `backoff` advances it by the step's `ms` (paused too),
 * then a poll lets due deadlines, pause and close timeouts and backoffs fire.
 * Closes are claimed at once (`runClose` is automatic) and settled or failed
 * by the test. Run by suite.ts.
 */
import { beforeEach, expect, it } from 'vitest';
import { type Requirement, requirements } from '../../src/index.js';
import type { ClosingEntity, DurableExpireManager } from '../../src/durable/index.js';
import { backoffMs } from '../../src/machines/retry.js';
import {
  type ModelAdapter,
  type ModelEventName,
  type ModelPath,
  type ModelStep,
  BACKOFF_EVENT,
  CLOSE_TIMEOUT_EVENT,
  PAUSE_TIMEOUT_EVENT,
  generateModelPaths,
  modelCoverage,
  modelTransitions,
  runModelPaths,
} from '../../src/testing/index.js';
import { deferred } from '../helpers.js';
import { T0, type TestDatabase, durableManager, eventually } from './support.js';

/** What a durable integration makes happen: no executor to refuse, and its dispose leaves entities to others. */
const events: ModelEventName[] = [
  'renew',
  'stop',
  'start',
  'expire',
  'delete',
  'shutdown',
  'tick',
  'deadline',
  'rearm',
  'pauseTimeout',
  'reclaim',
  'settleClose',
  'failClose',
  'closeTimeout',
  'backoff',
  'retry',
];
export const DEPTH = 3;
/** The sequences that see time (ticks while paused, a resume to the saved deadline) up to 4 events. */
const TIME_DEPTH = 4;
/**
 * The manager's claim and pause timeouts, the longest a timer holds. Its
 * heartbeat beats every third of the shorter one: never during a test, so no
 * renewal moves a claim or a pause on behind the model's back. To the
 * database the process holding a pause is then as good as dead, and the pause
 * times out `PAUSE_MS` after its last `stop`, as the model's `pauseTimeout`
 * says; that a live holder keeps it is pause-timeout.test.ts's. A running
 * close's claim is renewed by the adapter instead (`heartbeat`), before each
 * clock move but `reclaim`'s: the model's close times out only while its process lives.
 */
const CLAIM_MS = 2 ** 31 - 1;
const PAUSE_MS = 2 ** 31 - 1;
// The paths' pause timeout is the manager's own: the model's pauseTimeout is then the durable one. Their retry
// policies (two attempts, then one: Go's) and close timeout (30 s) are the closers' (closerOf).
const generated = generateModelPaths({
  depth: DEPTH,
  timeDepth: TIME_DEPTH,
  events,
  automatic: ['runClose'],
  pauseTimeoutMs: PAUSE_MS,
});
/**
 * The paths where `dispose({ close: true })` is left with nothing but this
 * entity, failed: the manager then disposes and the failed row stays (its drain
 * once waited for it to leave the table, for ever).
 */
const drainsToFailed = (path: ModelPath): boolean => path.steps.some((step) => step.then.includes('dispose'));
const paths = generated;

/**
 * What one path shows of the manager, each a string: its entity's settings
 * (retry policy, close timeout, TTL), every step as the state it met, the
 * event, what followed, what the call returned and the state it left, and
 * every transition taken.
 */
function pathFeatures(path: ModelPath): Set<string> {
  const features = new Set([`armed ${closerOf(path)} ttl ${path.ttlMs}`]);
  let state = 'active';
  for (const step of path.steps) {
    features.add(`${state} --${step.event}--> ${step.expect.state} then [${step.then.join(', ')}] returns ${String(step.returns)}`);
    for (const transition of step.transitions) features.add(transition.id);
    state = step.expect.state;
  }
  return features;
}

/**
 * The paths a second store runs: fewer paths showing everything the full set
 * does. Chosen greedily (the path showing most of what is not yet shown,
 * first in generated order on a tie) until every step, transition and entity
 * setting of the full set is in, and every eighth path besides for steps in
 * other orders. The manager's code is the same on both stores; what differs
 * is the store, whose statements each step sends, and those adapters have
 * tests of their own (mutants-pglite, mutants-postgres*): every kind of step
 * on each store, and every path on one, leaves nothing only one store runs.
 */
export function samplePaths(all: readonly ModelPath[]): ModelPath[] {
  const features = all.map(pathFeatures);
  const missing = new Set(features.flatMap((shown) => [...shown]));
  const chosen = new Set(all.map((_, index) => index).filter((index) => index % 8 === 0));
  for (const index of chosen) for (const feature of features[index]!) missing.delete(feature);
  while (missing.size > 0) {
    let best = -1;
    let most = 0;
    features.forEach((shown, index) => {
      let count = 0;
      for (const feature of shown) if (missing.has(feature)) count++;
      if (count > most) [best, most] = [index, count];
    });
    chosen.add(best);
    for (const feature of features[best]!) missing.delete(feature);
  }
  return all.filter((_, index) => chosen.has(index));
}

/** The closer a path's entity is armed with: one per retry policy and close timeout, named after them. */
const closerOf = ({ retry, closeTimeoutMs }: ModelPath): string =>
  `lease-${retry.attempts}-${retry.backoffMs}-${retry.maxBackoffMs}-${closeTimeoutMs ?? 'none'}`;

/** One close as the test's closer saw it: the test settles or fails it. */
interface HeldClose {
  entity: ClosingEntity;
  signal: AbortSignal;
  settle(): void;
  fail(error: Error): void;
}

interface World {
  manager: DurableExpireManager;
  path: ModelPath;
  /** Each path has an entity of its own in one manager: managers are made again only after a shutdown. */
  id: string;
  closes: HeldClose[];
  /** How many close failures the manager reported for this entity. */
  failures: () => number;
  disposing: Promise<void> | undefined;
  /** Whether `dispose({ close: true })` has ended. */
  drained: boolean;
  /** The manager closed everything but this failed entity and disposed: the row is left to other managers. */
  handedOver: boolean;
}

/** The entity's rows, the closing one included (a close that completed has taken its row away). */
const rows = async (db: TestDatabase, { manager, id }: World) =>
  db.store.query(`SELECT state, live FROM ${db.store.schema}.entities WHERE namespace = $1 AND id = $2`, [
    manager.namespace,
    id,
  ]);

/** The adapter of the model onto one durable manager on `db`. */
const adapter = (db: TestDatabase): ModelAdapter<World> & { end(): Promise<void> } => {
  let current: Awaited<ReturnType<typeof durableManager>> | undefined;
  let held: HeldClose[] = [];
  let count = 0;
  const closers = Object.fromEntries(
    [...new Map(generated.map((path) => [closerOf(path), path])).entries()].map(([name, { retry, closeTimeoutMs }]) => [
      name,
      {
        close: (entity: ClosingEntity, signal: AbortSignal) => {
          const done = deferred();
          held.push({ entity, signal, settle: done.resolve, fail: done.reject });
          return done.promise;
        },
        retry,
        closeTimeoutMs,
      },
    ]),
  );
  const schema = db.store.schema;

  /**
   * What the heartbeat of a live process does for the close it runs (its
   * beats are beyond any test here): the claim now ends a claim timeout after
   * `at`. A clock move that the model says is not a `reclaim` then only
   * times the close out, as it would while its process lives.
   */
  const heartbeat = ({ manager, id }: World, at: number) =>
    db.store.query(
      `UPDATE ${schema}.entities SET lease_until = $3 + lease_ms WHERE namespace = $1 AND id = $2 AND lease_event = 'reclaim'`,
      [manager.namespace, id, at],
    );

  /**
   * The retrying entity's backoff: the durable manager's generation comes
   * from a sequence and each path's id is its own, so its jitter is not the
   * model's. The row's `due` must be `backoffMs` of the row's own id,
   * generation and attempt from now (the clock stood still since the attempt
   * failed); the clock advances to it. Elsewhere the step's `ms` (0).
   */
  const backoff = async ({ manager, id, path }: World, ms: number): Promise<number> => {
    const [row] = await db.store.query(
      `SELECT state, due, generation::float8 AS generation, attempt FROM ${schema}.entities WHERE namespace = $1 AND id = $2 AND live`,
      [manager.namespace, id],
    );
    if (row?.state !== 'expired.retrying') return ms;
    const wait = backoffMs(path.retry, id, Number(row.generation), Number(row.attempt));
    if (Number(row.due) !== db.clock.now() + wait) {
      throw new Error(
        `model path "${path.name}": the retrying row is due in ${Number(row.due) - db.clock.now()} ms, ` +
          `not backoffMs(retry, "${id}", ${Number(row.generation)}, ${Number(row.attempt)}) = ${wait}`,
      );
    }
    return wait;
  };

  /** Waits until `dispose({ close: true })` has ended (`meanwhile` on every look); if it does not, ends it (nothing of the path runs on) and throws. */
  const drained = async (world: World, left: string, meanwhile = () => {}) => {
    try {
      await eventually(() => {
        meanwhile();
        if (!world.drained) throw new Error(`model path "${world.path.name}": dispose({ close: true }) did not end, ${left}`);
      });
    } catch (error) {
      await world.manager.dispose();
      throw error;
    }
  };

  /**
   * The model says the manager, closing everything, was left with nothing but
   * this failed entity and disposed: its `dispose({ close: true })` ends, and
   * the failed row stays for other managers (a durable dispose leaves every
   * entity), no longer this manager's.
   */
  const handOver = async (world: World) => {
    await drained(world, 'a failed entity left');
    expect(await rows(db, world)).toEqual([{ state: 'failed', live: true }]);
    world.handedOver = true;
  };

  return {
    /** Disposes the manager the last paths ran on. */
    end: async () => void (await current?.manager.dispose()),
    async setup(path) {
      // The clock goes back (the last path may have moved it months ahead): a pass that began
      // before, kicked by a close that ended, still holds the old time, and would find this
      // path's entity due. poll() resolves after that pass and one begun since.
      if (db.clock.now() !== T0) {
        await db.clock.set(T0);
        if (current && !current.manager.disposed) await current.manager.poll();
      }
      if (!current || current.manager.disposed) {
        held = [];
        current = await durableManager(db, { closers, claimTimeoutMs: CLAIM_MS, pauseTimeoutMs: PAUSE_MS });
      }
      const { manager, errors } = current;
      const id = `e${count++}`;
      const all = held;
      const world: World = {
        manager,
        path,
        id,
        // This path's closes and failures, from the manager's.
        get closes() {
          return all.filter((c) => c.entity.id === id);
        },
        failures: () => errors.filter((e) => e.id === id).length,
        disposing: undefined,
        drained: false,
        handedOver: false,
      };
      await manager.new(id, T0 + path.ttlMs, { closer: closerOf(path) });
      return world;
    },

    async perform(world, event, step) {
      const returned = await act(world, event, step);
      if (step.then.includes('dispose')) await handOver(world);
      return returned;
    },

    async observe(world) {
      const { manager, id, closes } = world;
      const seen = { closes: closes.length, closeSignalAborted: closes.at(-1)?.signal.aborted, closeFailures: world.failures() };
      if (world.handedOver) return { ...seen, live: false, state: undefined, attempts: undefined };
      // One read for all three: get(id) reads the live row as has(id) and state(id) do (those are semantics.ts's).
      const entity = await manager.get(id);
      return { ...seen, live: entity !== undefined, state: entity?.state, attempts: entity?.attempts };
    },

    async teardown(world) {
      try {
        await cleanUp(world);
      } catch (error) {
        // runModelPath names the path of a mismatch, not of a failed teardown.
        if (error instanceof Error) error.message = `model path "${world.path.name}", its teardown: ${error.message}`;
        throw error;
      }
    },
  };

  /** Nothing of this path is left for the next: its entity deleted (while a drain waits for it too), its closes settled and completed. */
  async function cleanUp(world: World): Promise<void> {
    if (world.manager.status !== 'disposed') await world.manager.delete(world.id);
    // Settled on every look, not once: a pass the manager ran on its own (its wake-up
    // timer) may have claimed a close just before the delete, and start it a moment later.
    const settleAll = () => world.closes.forEach((c) => c.settle());
    settleAll();
    if (world.disposing) await drained(world, 'its entity deleted and its closes settled', settleAll);
    await world.disposing;
    // A failed row a disposed manager left (handed over, or a drain that did not end): no manager
    // of its namespace takes it.
    if (world.manager.disposed) {
      await db.store.query(`DELETE FROM ${schema}.entities WHERE namespace = $1 AND id = $2 AND state = 'failed'`, [
        world.manager.namespace,
        world.id,
      ]);
    }
    await eventually(async () => {
      settleAll();
      expect(await rows(db, world)).toEqual([]);
    });
  }

  /** Makes `event` happen to the path's entity: what `perform` returns. */
  async function act(world: World, event: ModelEventName, step: ModelStep): Promise<unknown> {
    const { manager, id } = world;
    const poll = () => manager.poll();
    const running = () => world.closes.find((c) => !c.signal.aborted);
    // A pass steps each due row once: a pause that timed out past its deadline resumes in one
    // pass and expires in the next (the manager runs it a moment later on its own). The model
    // fires both at the new time: after a pause timeout, poll until a pass finds nothing to do.
    const settle = async () => {
      if (event !== 'pauseTimeout' && !step.then.includes('pauseTimeout')) return void (await poll());
      while ((await poll()) > 0);
    };
    // A close, failed or settled, is written in a transaction of its own: wait until its row is back or gone.
    const completed = async (close: HeldClose | undefined) => {
      await eventually(() => expect(close?.signal.aborted ?? true).toBe(true));
      await eventually(async () => expect((await rows(db, world)).filter((r) => !r.live)).toEqual([]));
    };
    switch (event) {
      case 'renew':
        await manager.new(id, db.clock.now() + world.path.ttlMs, { closer: closerOf(world.path) });
        return undefined;
      case 'stop':
        return manager.stop(id);
      case 'delete':
        return manager.delete(id);
      case 'retry':
        return manager.retry(id);
      case 'start':
        await manager.start(id);
        await poll(); // a deadline that passed while paused fires at once
        return undefined;
      case 'expire':
        await manager.expire(id);
        return undefined;
      case 'shutdown':
        world.disposing = manager.dispose({ close: true }).then(() => void (world.drained = true));
        // It shuts the entity down before it waits for the close.
        await eventually(async () =>
          expect((await rows(db, world)).every((r) => r.state !== 'active' && r.state !== 'paused')).toBe(true),
        );
        // A close it queued is claimed by its next pass, a moment later (seconds on a loaded
        // machine): wait for the closes the model expects, up to a ceiling; the check after
        // the step judges what came (none, or one too many, still fails the path).
        await eventually(() => expect(world.closes.length).toBeGreaterThanOrEqual(step.expect.closes)).catch(() => {});
        return undefined;
      case 'tick':
      case 'deadline':
      case 'rearm':
      case 'pauseTimeout':
      case 'closeTimeout':
      case 'backoff': {
        const ms = event === 'backoff' ? await backoff(world, step.ms!) : step.ms!;
        if (ms > 0 && running()) await heartbeat(world, db.clock.now() + ms);
        await db.clock.advance(ms);
        await settle();
        return undefined;
      }
      case 'reclaim':
        // Only a running close has a claim to run out: elsewhere the model ignores reclaim, and time stands still.
        if (!running()) return undefined;
        // The claim runs out (nobody renewed it in the test's time); a pass takes the close over
        // before its timeout counts (that attempt runs nowhere), as the model's reclaim does.
        await db.clock.advance(CLAIM_MS);
        await poll();
        return undefined;
      case 'settleClose': {
        const close = running();
        close?.settle();
        await completed(close);
        return undefined;
      }
      case 'failClose': {
        const close = running();
        close?.fail(new Error('the model: the close failed'));
        await completed(close);
        return undefined;
      }
      default:
        throw new Error(`not a durable event: ${event}`);
    }
  }
};

/**
 * The model paths' tests, on the database `database()` gives (opened by the
 * caller): every path, or with `sampled` the paths of {@link samplePaths}
 * (suite.ts runs every path on one store and the sample on the other).
 */
export function modelPaths(database: () => TestDatabase, { sampled = false }: { sampled?: boolean } = {}): void {
  let db: TestDatabase;
  beforeEach(() => void (db = database()));
  const run = sampled ? samplePaths(paths) : paths;

  it(`${sampled ? `a sample of ${run.length}` : `every one`} of ${paths.length} paths hold${sampled ? '' : 's'}`, async () => {
    const durable = adapter(db);
    try {
      expect(await runModelPaths(run, durable)).toBe(run.length);
    } finally {
      await durable.end();
    }
  });

  if (sampled) {
    it('the sample shows every step, transition and entity setting of the full set, and every eighth path', () => {
      const shown = new Set(run.flatMap((path) => [...pathFeatures(path)]));
      expect(paths.flatMap((path) => [...pathFeatures(path)]).filter((feature) => !shown.has(feature))).toEqual([]);
      expect(paths.filter((_, index) => index % 8 === 0).filter((path) => !run.includes(path))).toEqual([]);
      expect(run.length).toBeLessThan(paths.length / 2);
    });
  }

  // The drain once waited for every row it shut down to leave the table, and a failed row never does.
  const toFailed = generated.filter(drainsToFailed);
  it(`dispose({ close: true }) ends when all it has left is a failed row (as on ${toFailed.length} paths: ${toFailed[0]?.name}, …)`, async () => {
    const fail = () => Promise.reject(new Error('boom'));
    const lease = { close: fail, retry: { attempts: 2, backoffMs: 0 } };
    const { manager } = await durableManager(db, { closers: { lease } });
    try {
      await db.clock.set(T0);
      await manager.new('a', T0 + 10, { closer: 'lease' });
      await db.clock.set(T0 + 10);
      await eventually(async () => {
        await manager.poll();
        expect(await manager.state('a')).toBe('failed');
      });
      let drained = false;
      void manager.dispose({ close: true }).then(() => void (drained = true));
      // A ceiling for the hang: a drain with nothing to close ends at once.
      await eventually(() => expect(drained).toBe(true), 3_000);
      // Left for other managers, as every durable dispose leaves its entities.
      expect(await manager.state('a')).toBe('failed');
    } finally {
      await manager.dispose();
    }
  });

  it('they take every transition a durable manager can: reclaim, the pause and close timeouts, retries and failed included', () => {
    const coverage = modelCoverage(paths, Object.keys(requirements) as Requirement[], { events: [...events, 'runClose'] });
    // A queued close is claimed in the same transaction: renew and delete never find it queued.
    expect(coverage.transitions.missing.map((t) => t.id)).toEqual([
      'expiration.expired.queued --renew--> expiration.active',
      'expiration.expired.queued --delete--> expiration.deleted',
    ]);
    const covered = coverage.transitions.covered.map((t) => t.event);
    for (const event of ['reclaim', PAUSE_TIMEOUT_EVENT, CLOSE_TIMEOUT_EVENT, BACKOFF_EVENT, 'failed', 'retry']) {
      expect(covered).toContain(event);
    }
    expect(coverage.states.missing).toEqual([]);
    expect(coverage.requirements.missing).toEqual([]);
    // Not the durable manager's to take: an executor's refusal (it has none), the in-memory dispose
    // (a durable one leaves its entities to other managers), and a failed close whose id a renewal
    // took meanwhile (a race between two calls: retries.test.ts).
    const counted = new Set([...coverage.transitions.covered, ...coverage.transitions.missing].map((t) => t.id));
    const outside = modelTransitions().filter((t) => !counted.has(t.id));
    expect([...new Set(outside.map((t) => t.event))].sort()).toEqual(['dispose', 'refused', 'superseded']);
  });
}
