/**
 * Property: the table is the machine. The same random calls, clock moves,
 * executor steps, refusals, settles and materializations run on three
 * managers — entities as records only, as live actors from creation, and
 * materialized at random moments (in the middle of closes too) — and every
 * observable agrees after every step. A deliberately wrong table entry must
 * make it fail.
 */
import fc from 'fast-check';
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { type ExpireManager, compileMachine, createExpireManager, expirationMachine } from '../../src/index.js';
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

type Step =
  | { kind: 'new'; id: Id; ttl: number }
  | { kind: 'call'; call: 'stop' | 'start' | 'expire' | 'delete'; id: Id }
  | { kind: 'advance'; ms: number }
  | { kind: 'executor'; how: 'run' | 'refuse' }
  | { kind: 'settle' }
  | { kind: 'materialize'; id: Id }
  | { kind: 'dispose'; close: boolean };

const id = fc.constantFrom(...ids);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('new' as const), id, ttl: fc.constantFrom(0, 5, 10, 30) }) },
  {
    weight: 7,
    arbitrary: fc.record({ kind: fc.constant('call' as const), call: fc.constantFrom('stop', 'start', 'expire', 'delete' as const), id }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(0, 1, 5, 10, 40) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('executor' as const), how: fc.constantFrom('run', 'run', 'refuse' as const) }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'settle' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('materialize' as const), id }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dispose' as const), close: fc.boolean() }) },
);

type Engine = 'records' | 'actors' | 'mixed';

/** One manager and what it did: its closes, signals and reports. */
function world(engine: Engine) {
  const clock = new SimulatedClock();
  const errors: unknown[] = [];
  const manager: ExpireManager = createExpireManager({ clock, onCloseError: (_id, error) => errors.push(error) });
  const executor = new ManualExecutor();
  const closes: Array<{ id: Id; signal: AbortSignal; settle: () => void }> = [];
  const running: Array<() => void> = [];
  const close = (key: Id) => (signal: AbortSignal) => {
    const done = deferred();
    closes.push({ id: key, signal, settle: done.resolve });
    running.push(done.resolve);
    return done.promise;
  };
  const apply = async (s: Step): Promise<unknown> => {
    let result: unknown;
    switch (s.kind) {
      case 'new':
        try {
          // 'c' runs on the manager's default per-id executor, the others on the manual one.
          manager.new(s.id, clock.now() + s.ttl, close(s.id), s.id === 'c' ? {} : { executor });
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
      case 'settle':
        running.shift()?.();
        break;
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
    entities: ids.map((key) => [key, manager.has(key), manager.state(key)]),
    closes: closes.map((c) => `${c.id}:${c.signal.aborted ? String((c.signal.reason as Error).name) : 'running'}`),
    errors: errors.map((e) => (e === REFUSED ? 'refused' : String(e))),
  });
  const end = async () => {
    void manager.dispose();
    running.forEach((settle) => settle());
    await flush();
  };
  return { apply, observe, end };
}

const agree = fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 40, size: "max" }), async (steps) => {
  const worlds = (['records', 'actors', 'mixed'] as const).map(world);
  try {
    for (const [i, s] of steps.entries()) {
      const results = await Promise.all(worlds.map((w) => w.apply(s)));
      const seen = worlds.map((w) => ({ result: results[worlds.indexOf(w)], ...w.observe() }));
      for (const other of seen.slice(1)) {
        if (JSON.stringify(other) !== JSON.stringify(seen[0])) {
          throw new Error(`step ${i + 1} (${JSON.stringify(s)}): records ${JSON.stringify(seen[0])}, actors ${JSON.stringify(other)}`);
        }
      }
    }
  } finally {
    await Promise.all(worlds.map((w) => w.end()));
  }
});

describe('property: records and live actors are the same machine', () => {
  it('agree after every step: state, has, size, closes, signals and reports', async () => {
    announce('engines', SEED, NUM_RUNS);
    await fc.assert(agree, { seed: SEED, numRuns: NUM_RUNS });
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
  };

  for (const [name, wrong] of Object.entries(wrongEntries)) {
    it(`fails for a wrong table entry: ${name}`, async () => {
      const table = compileMachine(expirationMachine);
      const on = (leaf: string, event: string) =>
        table.leaves.find((l) => l.path === leaf)!.on.get(event) as TableTransition[];
      const restore = wrong(on);
      try {
        const result = await fc.check(agree, { seed: SEED, numRuns: NUM_RUNS });
        expect(result.failed).toBe(true);
      } finally {
        restore();
      }
    });
  }
});
