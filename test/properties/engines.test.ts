/**
 * Property: the table is the machine. The same random calls, clock moves,
 * executor steps, refusals, settles, close failures and materializations run
 * on three managers — entities as records only, as live actors from creation,
 * and materialized at random moments (in the middle of closes and retries
 * too) — and every observable agrees after every step. Entities are created
 * with or without retries and a close timeout, so closes fail, time out, are
 * retried after their backoff, and end failed (then retried, renewed or
 * deleted); the managers with or without a pause timeout, so pauses run out
 * (and are restarted by another stop). A deliberately wrong table entry must
 * make it fail.
 */
import fc from 'fast-check';
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import {
  CLOSE_TIMED_OUT,
  type ExpireManager,
  type NewExpirationOptions,
  compileMachine,
  createExpireManager,
  expirationMachine,
} from '../../src/index.js';
import type { TableTransition } from '../../src/machines/compile.js';
import { deferred, flush } from '../helpers.js';
import { NUM_RUNS, SEED, announce } from './settings.js';

const REFUSED = new Error('refused');

/** Holds close tasks until told to run them, or to refuse them. */
class ManualExecutor {
  readonly queue: Array<{ run: () => void; refuse: () => void }> = [];
  asyncExec(task: () => unknown): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({
        run: () => void Promise.resolve(task()).then(() => resolve(), reject),
        refuse: () => reject(REFUSED),
      });
    });
  }
  next(how: 'run' | 'refuse'): void {
    this.queue.shift()?.[how]();
  }
}

const ids = ['a', 'b', 'c'] as const;
type Id = (typeof ids)[number];

/** How an entity's failed closes are handled: Go's (no retries), or retried, with or without a close timeout. */
const policies: Record<string, NewExpirationOptions> = {
  go: {},
  retried: { retry: { attempts: 2, backoffMs: 2, maxBackoffMs: 20 } },
  timed: { retry: { attempts: 2, backoffMs: 1, maxBackoffMs: 3 }, closeTimeoutMs: 15 },
  'go-timed': { closeTimeoutMs: 10 },
};

type Step =
  | { kind: 'new'; id: Id; ttl: number; policy: string }
  | { kind: 'call'; call: 'stop' | 'start' | 'expire' | 'delete' | 'retry'; id: Id }
  | { kind: 'advance'; ms: number }
  | { kind: 'executor'; how: 'run' | 'refuse' }
  | { kind: 'settle'; how: 'resolve' | 'reject'; late: boolean }
  | { kind: 'materialize'; id: Id }
  | { kind: 'dispose'; close: boolean };

const id = fc.constantFrom(...ids);
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('new' as const),
      id,
      ttl: fc.constantFrom(0, 5, 10, 30),
      policy: fc.constantFrom('go', 'go-timed', 'retried', 'retried', 'timed', 'timed'),
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('call' as const),
      call: fc.constantFrom('stop', 'start', 'expire', 'delete', 'retry', 'retry' as const),
      id,
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(0, 1, 5, 10, 40) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('executor' as const), how: fc.constantFrom('run', 'run', 'refuse' as const) }) },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('settle' as const), how: fc.constantFrom('resolve', 'reject' as const), late: fc.boolean() }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('materialize' as const), id }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dispose' as const), close: fc.boolean() }) },
);

/**
 * Steps that reach the retries: entities with retries, closes that fail more
 * often than not, short moves of the clock past their backoffs and timeouts,
 * `retry` often enough to find a failed entity, and few disposes (every run
 * of the general steps soon ends with one).
 */
const retryStep: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 9,
    arbitrary: fc.record({ kind: fc.constant('new' as const), id, ttl: fc.constantFrom(0, 5), policy: fc.constantFrom('retried', 'timed') }),
  },
  {
    weight: 30,
    arbitrary: fc.record({
      kind: fc.constant('call' as const),
      call: fc.constantFrom('stop', 'start', 'expire', 'delete', 'retry', 'retry', 'retry' as const),
      id,
    }),
  },
  { weight: 15, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(0, 1, 5, 20) }) },
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('executor' as const), how: fc.constantFrom('run', 'run', 'run', 'refuse' as const) }) },
  {
    weight: 15,
    arbitrary: fc.record({
      kind: fc.constant('settle' as const),
      how: fc.constantFrom('resolve', 'reject', 'reject' as const),
      late: fc.constantFrom(false, false, false, true),
    }),
  },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('materialize' as const), id }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dispose' as const), close: fc.boolean() }) },
);

/**
 * Steps that reach the pause timeout: long deadlines, updates that start and
 * join each other (`stop` often) while the clock moves by less than the
 * timeout, so that only a restarted timeout tells two managers apart.
 */
const pauseStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('new' as const), id, ttl: fc.constantFrom(30, 60), policy: fc.constantFrom('go', 'timed') }) },
  {
    weight: 12,
    arbitrary: fc.record({ kind: fc.constant('call' as const), call: fc.constantFrom('stop', 'stop', 'stop', 'start', 'expire' as const), id }),
  },
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(1, 5, 10, 15) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('executor' as const), how: fc.constant('run' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('settle' as const), how: fc.constantFrom('resolve', 'reject' as const), late: fc.constant(false) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('materialize' as const), id }) },
);

type Engine = 'records' | 'actors' | 'mixed';

/** The managers' pause timeouts: none (Go's), or one that the clock's moves reach, in one move or in several. */
const pauseTimeouts = [undefined, 20] as const;

/** One manager and what it did: its closes, signals and reports. */
function world(engine: Engine, pauseTimeoutMs: number | undefined) {
  const clock = new SimulatedClock();
  const errors: unknown[] = [];
  const manager: ExpireManager = createExpireManager({
    clock,
    onCloseError: (_id, error) => errors.push(error),
    ...(pauseTimeoutMs !== undefined && { pauseTimeoutMs }),
  });
  const executor = new ManualExecutor();
  const closes: Array<{ id: Id; signal: AbortSignal }> = [];
  /** Closes not yet settled, oldest first (a timed-out one too: settling or failing it late must change nothing). */
  const running: Array<{ signal: AbortSignal; done: ReturnType<typeof deferred<void>> }> = [];
  const close = (key: Id) => (signal: AbortSignal) => {
    const done = deferred();
    closes.push({ id: key, signal });
    running.push({ signal, done });
    return done.promise;
  };
  const apply = async (s: Step): Promise<unknown> => {
    let result: unknown;
    switch (s.kind) {
      case 'new':
        try {
          // 'c' runs on the manager's default per-id executor, the others on the manual one.
          const policy = policies[s.policy]!;
          manager.new(s.id, clock.now() + s.ttl, close(s.id), s.id === 'c' ? policy : { ...policy, executor });
          if (engine === 'actors') manager.actorOf(s.id);
        } catch (error) {
          result = error instanceof TypeError ? 'TypeError' : error;
        }
        break;
      case 'call':
        result = manager[s.call](s.id);
        break;
      case 'advance':
        clock.increment(s.ms);
        break;
      case 'executor':
        executor.next(s.how);
        break;
      case 'settle': {
        // The oldest close still running, or (late) the oldest not settled: one that timed out, or was aborted.
        const at = running.findIndex((r) => s.late || !r.signal.aborted);
        const oldest = at < 0 ? undefined : running.splice(at, 1)[0]!.done;
        if (s.how === 'resolve') oldest?.resolve();
        else oldest?.reject(new Error('close failed'));
        break;
      }
      case 'materialize':
        if (engine === 'mixed') manager.actorOf(s.id);
        break;
      case 'dispose':
        void manager.dispose({ close: s.close });
        break;
    }
    await flush();
    return result;
  };
  const observe = () => ({
    size: manager.size(),
    // get() holds the state, deadline, generation, attempts and last error of each live entity.
    entities: ids.map((key) => [key, manager.has(key), manager.state(key), manager.get(key)]),
    closes: closes.map((c) => `${c.id}:${c.signal.aborted ? String((c.signal.reason as Error).name) : 'running'}`),
    errors: errors.map((e) => (e === REFUSED ? 'refused' : e === CLOSE_TIMED_OUT ? 'timed out' : String(e))),
  });
  const end = async () => {
    void manager.dispose();
    running.forEach((r) => r.done.resolve());
    await flush();
  };
  return { apply, observe, end };
}

/** The property over sequences of `steps`, with a pause timeout or none: the three managers agree after every step. */
const agreeOn = (steps: fc.Arbitrary<Step>, maxLength: number) =>
  fc.asyncProperty(fc.constantFrom(...pauseTimeouts), fc.array(steps, { minLength: 5, maxLength, size: 'max' }), run);

async function run(pauseTimeoutMs: number | undefined, steps: Step[]): Promise<void> {
  const worlds = (['records', 'actors', 'mixed'] as const).map((engine) => world(engine, pauseTimeoutMs));
  try {
    for (const [i, s] of steps.entries()) {
      const results = await Promise.all(worlds.map((w) => w.apply(s)));
      const seen = worlds.map((w) => ({ result: results[worlds.indexOf(w)], ...w.observe() }));
      for (const other of seen.slice(1)) {
        if (JSON.stringify(other) !== JSON.stringify(seen[0])) {
          throw new Error(`step ${i + 1} (${JSON.stringify(s)}, pauseTimeoutMs ${pauseTimeoutMs}): records ${JSON.stringify(seen[0])}, actors ${JSON.stringify(other)}`);
        }
      }
    }
  } finally {
    await Promise.all(worlds.map((w) => w.end()));
  }
}

const agree = agreeOn(step, 40);
// Longer: a failed entity comes only after a few closes have failed.
const agreeOnRetries = agreeOn(retryStep, 60);
const agreeOnPauses = agreeOn(pauseStep, 40);

describe('property: records and live actors are the same machine', () => {
  it('agree after every step: state, has, size, closes, signals and reports', async () => {
    announce('engines', SEED, NUM_RUNS);
    await fc.assert(agree, { seed: SEED, numRuns: NUM_RUNS });
  });

  it('agree after every step of closes that fail, time out, are retried, and of failed entities retried, renewed or deleted', async () => {
    announce('engines (retries)', SEED, NUM_RUNS);
    await fc.assert(agreeOnRetries, { seed: SEED, numRuns: NUM_RUNS });
  });

  it('agree after every step of pauses that run out, and of updates that join a pause and restart its timeout', async () => {
    announce('engines (pauses)', SEED, NUM_RUNS);
    await fc.assert(agreeOnPauses, { seed: SEED, numRuns: NUM_RUNS });
  });

  /** Each swaps one entry of the compiled table that records run on; live actors still run the machine. */
  const wrongEntries: Record<string, (on: (leaf: string, event: string) => TableTransition[]) => () => void> = {
    'start resumes to expired instead of active': (on) => {
      const [t] = on('paused', 'start');
      const target = t!.target;
      t!.target = on('paused', 'expire')[0]!.target;
      return () => void (t!.target = target);
    },
    'a renewal keeps the old deadline and close': (on) => {
      const [t] = on('active', 'renew');
      const ops = t!.ops;
      t!.ops = ops.filter((op) => op.kind !== 'assign');
      return () => void (t!.ops = ops);
    },
    'expire forgets to queue the close': (on) => {
      const [t] = on('paused', 'expire');
      const ops = t!.ops;
      t!.ops = [];
      return () => void (t!.ops = ops);
    },
    'the deadline guard is tried after the re-arm': (on) => {
      const row = on('active', 'xstate.after.deadline.expiration.active');
      row.reverse();
      return () => void row.reverse();
    },
    'a failed close is never retried': (on) => {
      const row = on('expired.closing', 'failed');
      row.reverse();
      return () => void row.reverse();
    },
    'retry keeps the attempts of the round that failed': (on) => {
      const [t] = on('failed', 'retry');
      const ops = t!.ops;
      t!.ops = ops.filter((op) => op.kind !== 'assign');
      return () => void (t!.ops = ops);
    },
    'a pause that timed out expires instead of resuming': (on) => {
      const [t] = on('paused', 'xstate.after.pauseTimeout.expiration.paused');
      const target = t!.target;
      t!.target = on('paused', 'expire')[0]!.target;
      return () => void (t!.target = target);
    },
    'another stop leaves the pause timeout running': (on) => {
      const [t] = on('paused', 'stop');
      const ops = t!.ops;
      t!.ops = [];
      return () => void (t!.ops = ops);
    },
    'a timed-out attempt keeps running': (on) => {
      const [t] = on('expired.closing', 'xstate.after.closeTimeout.expiration.expired.closing');
      const ops = t!.ops;
      t!.ops = [];
      return () => void (t!.ops = ops);
    },
  };

  for (const [name, wrong] of Object.entries(wrongEntries)) {
    it(`fails for a wrong table entry: ${name}`, async () => {
      const table = compileMachine(expirationMachine);
      const on = (leaf: string, event: string) =>
        table.leaves.find((l) => l.path === leaf)!.on.get(event) as TableTransition[];
      const restore = wrong(on);
      try {
        const general = await fc.check(agree, { seed: SEED, numRuns: NUM_RUNS });
        const failed =
          general.failed ||
          (await fc.check(agreeOnRetries, { seed: SEED, numRuns: NUM_RUNS })).failed ||
          (await fc.check(agreeOnPauses, { seed: SEED, numRuns: NUM_RUNS })).failed;
        expect(failed).toBe(true);
      } finally {
        restore();
      }
    });
  }
});
