/**
 * The model-based paths, generated from the same statechart, against the
 * durable manager on PGlite and on a real PostgreSQL 15 server. The database's
 * clock is the test's: each `tick`, `deadline`, `rearm` and `pauseTimeout`
 * advances it by the step's `ms` (paused too), then a poll lets due deadlines
 * and pause timeouts fire. Closes are claimed at once (`runClose` is
 * automatic) and settled by the test. Run by suite.ts.
 */
import { beforeEach, expect, it } from 'vitest';
import { type Requirement, requirements } from '../../src/index.js';
import type { DurableExpireManager } from '../../src/durable/index.js';
import {
  type ModelAdapter,
  type ModelEventName,
  PAUSE_TIMEOUT_EVENT,
  generateModelPaths,
  modelCoverage,
  runModelPaths,
} from '../../src/testing/index.js';
import { type CloseCall, T0, type TestDatabase, durableManager, eventually } from './support.js';

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
];
export const DEPTH = 3;
/** The sequences that see time (ticks while paused, a resume to the saved deadline) up to 4 events. */
const TIME_DEPTH = 4;
// Not yet the durable manager's: a failed close is completed as before (no retrying, no failed state), and the
// model's close timeout is not its own. So no failClose, closeTimeout, backoff or retry events, one attempt and
// no close timeout: no clock move of these paths can time a close out in the model.
/**
 * The manager's claim and pause timeouts, the longest a timer holds. Its
 * heartbeat beats every third of the shorter one: never during a test, so no
 * renewal moves a claim or a pause on behind the model's back. To the
 * database the process holding a pause is then as good as dead, and the pause
 * times out `PAUSE_MS` after its last `stop`, as the model's `pauseTimeout`
 * says; that a live holder keeps it is pause-timeout.test.ts's.
 */
const CLAIM_MS = 2 ** 31 - 1;
const PAUSE_MS = 2 ** 31 - 1;
// The paths' pause timeout is the manager's own: the model's pauseTimeout is then the durable one.
const paths = generateModelPaths({
  depth: DEPTH,
  timeDepth: TIME_DEPTH,
  events,
  automatic: ['runClose'],
  retry: { attempts: 1 },
  closeTimeoutMs: null,
  pauseTimeoutMs: PAUSE_MS,
});

interface World {
  manager: DurableExpireManager;
  /** Each path has an entity of its own in one manager: managers are made again only after a shutdown. */
  id: string;
  closes: CloseCall[];
  ttlMs: number;
  disposing: Promise<void> | undefined;
}

/** The entity's rows, the closing one included (a close that completed has taken its row away). */
const rows = async (db: TestDatabase, { manager, id }: World) =>
  db.store.query(`SELECT state, live FROM ${db.store.schema}.entities WHERE namespace = $1 AND id = $2`, [
    manager.namespace,
    id,
  ]);

const adapter = (db: TestDatabase): ModelAdapter<World> & { end(): Promise<void> } => {
  let current: Awaited<ReturnType<typeof durableManager>> | undefined;
  let paths = 0;
  return {
    /** Disposes the manager the last paths ran on. */
    end: async () => void (await current?.manager.dispose()),
    async setup(path) {
      await db.clock.set(T0);
      // The clock went back (the last path may have moved it months ahead): a pass that began
      // before, kicked by a close that ended, still holds the old time, and would find this
      // path's entity due. poll() resolves after that pass and one begun since.
      if (current && !current.manager.disposed) await current.manager.poll();
      if (!current || current.manager.disposed) {
        current = await durableManager(db, { hold: true, claimTimeoutMs: CLAIM_MS, pauseTimeoutMs: PAUSE_MS });
      }
      const { manager } = current;
      const id = `e${paths++}`;
      const world: World = { manager, id, closes: [], ttlMs: path.ttlMs, disposing: undefined };
      // This path's closes, from the manager's.
      const all = current.closes;
      Object.defineProperty(world, 'closes', { get: () => all.filter((c) => c.entity.id === id) });
      await manager.new(id, T0 + path.ttlMs, { closer: 'lease' });
      return world;
    },

    async perform(world, event, step) {
      const { manager, id } = world;
      const poll = () => manager.poll();
      // A pass steps each due row once: a pause that timed out past its deadline resumes in one
      // pass and expires in the next (the manager runs it a moment later on its own). The model
      // fires both at the new time: after a pause timeout, poll until a pass finds nothing to do.
      const settle = async () => {
        if (event !== 'pauseTimeout' && !step.then.includes('pauseTimeout')) return void (await poll());
        while ((await poll()) > 0);
      };
      switch (event) {
        case 'renew':
          await manager.new(id, db.clock.now() + world.ttlMs, { closer: 'lease' });
          return undefined;
        case 'stop':
          return manager.stop(id);
        case 'delete':
          return manager.delete(id);
        case 'start':
          await manager.start(id);
          await poll(); // a deadline that passed while paused fires at once
          return undefined;
        case 'expire':
          await manager.expire(id);
          return undefined;
        case 'shutdown':
          world.disposing = manager.dispose({ close: true });
          // It shuts the entity down before it waits for the close.
          await eventually(async () => expect((await rows(db, world)).every((r) => r.state !== 'active' && r.state !== 'paused')).toBe(true));
          // A close it queued is claimed by its next pass, a moment later (seconds on a loaded
          // machine): wait for the closes the model expects, up to a ceiling; the check after
          // the step judges what came (none, or one too many, still fails the path).
          await eventually(() => expect(world.closes.length).toBeGreaterThanOrEqual(step.expect.closes)).catch(() => {});
          return undefined;
        case 'tick':
        case 'deadline':
        case 'rearm':
        case 'pauseTimeout':
          await db.clock.advance(step.ms!);
          await settle();
          return undefined;
        case 'reclaim':
          // Only a running close has a claim to run out: elsewhere the model ignores reclaim, and time stands still.
          if (!world.closes.some((c) => !c.signal.aborted)) return undefined;
          // The claim runs out (nobody renewed it in the test's time); a pass takes the close over.
          await db.clock.advance(CLAIM_MS);
          await poll();
          return undefined;
        case 'settleClose': {
          const running = world.closes.find((c) => !c.signal.aborted);
          running?.settle();
          await eventually(() => expect(running?.signal.aborted ?? true).toBe(true));
          await eventually(async () => expect((await rows(db, world)).filter((r) => !r.live)).toEqual([]));
          return undefined;
        }
        default:
          throw new Error(`not a durable event: ${event}`);
      }
    },

    async observe({ manager, id, closes }) {
      return {
        live: await manager.has(id),
        state: await manager.state(id),
        closes: closes.length,
        closeSignalAborted: closes.at(-1)?.signal.aborted,
      };
    },

    async teardown(world) {
      // Nothing of this path is left for the next: its entity deleted, its closes settled and completed.
      if (!world.manager.disposed) await world.manager.delete(world.id);
      world.closes.forEach((c) => c.settle());
      await world.disposing;
      await eventually(async () => expect(await rows(db, world)).toEqual([]));
    },
  };
};

/** The model paths' tests, on the database `database()` gives (opened by the caller). */
export function modelPaths(database: () => TestDatabase): void {
  let db: TestDatabase;
  beforeEach(() => void (db = database()));

  it(`every one of ${paths.length} paths holds`, async () => {
    const durable = adapter(db);
    try {
      expect(await runModelPaths(paths, durable)).toBe(paths.length);
    } finally {
      await durable.end();
    }
  });

  it('they take every transition a durable manager can, reclaim and the pause timeout included', () => {
    const coverage = modelCoverage(paths, Object.keys(requirements) as Requirement[], { events: [...events, 'runClose'] });
    // Retrying and failed are not the durable manager's yet (see the paths above): nothing of theirs is missing.
    const retained = ['expiration.expired.retrying', 'expiration.failed'];
    const missing = coverage.transitions.missing.filter((t) => !retained.includes(t.source));
    // A queued close is claimed in the same transaction: renew and delete never find it queued.
    expect(missing.map((t) => t.id)).toEqual([
      'expiration.expired.queued --renew--> expiration.active',
      'expiration.expired.queued --delete--> expiration.deleted',
    ]);
    expect(coverage.transitions.covered.map((t) => t.event)).toContain('reclaim');
    expect(coverage.transitions.covered.map((t) => t.event)).toContain(PAUSE_TIMEOUT_EVENT);
    expect(coverage.requirements.missing).toEqual([]);
  });
}
