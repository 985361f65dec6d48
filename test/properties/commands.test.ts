/**
 * Property (a): random sequences of API calls, clock moves, executor runs and
 * dispose on the facade, checked after every command against a small reference
 * model written independently of the statechart.
 */
import fc from 'fast-check';
import { type AnyActorRef, SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { type ExpireManager, createExpireManager } from '../../src/index.js';
import { countingClock, flush } from '../helpers.js';
import { NUM_RUNS, SEED, announce } from './settings.js';

/** Runs queued tasks only when told to, synchronously: the test decides when closes happen. */
class ManualExecutor {
  readonly queue: Array<() => unknown> = [];
  asyncExec(task: () => unknown): Promise<void> {
    return new Promise((resolve) => this.queue.push(() => resolve(void task())));
  }
  runAll(): void {
    for (let task = this.queue.shift(); task; task = this.queue.shift()) task();
  }
}

type RefState = 'active' | 'paused' | 'expired';
interface RefEntry {
  /** Absolute: never moved by stop and start. */
  deadline: number;
  state: RefState;
}
/** The reference: what the Go semantics say, as plain data. */
interface Model {
  now: number;
  disposed: boolean;
  entries: Map<string, RefEntry>;
  closes: Map<string, number>;
}
interface Real {
  clock: SimulatedClock;
  manager: ExpireManager;
  executor: ManualExecutor;
  closes: Map<string, number>;
}

const ids = ['a', 'b'] as const;
const id = fc.constantFrom(...ids);

function checkAgainst(model: Model, real: Real): void {
  expect(real.manager.size()).toBe(model.entries.size);
  for (const key of ids) {
    const entry = model.entries.get(key);
    expect(real.manager.has(key)).toBe(entry !== undefined);
    expect(real.manager.state(key)).toBe(entry?.state);
    expect(real.closes.get(key) ?? 0).toBe(model.closes.get(key) ?? 0);
  }
}

/**
 * Time passes: active entries whose deadline has come expire. One started after
 * its deadline expires on the next clock move, even a move of 0 ms.
 */
function advance(model: Model, ms: number): void {
  model.now += ms;
  for (const entry of model.entries.values()) {
    if (entry.state === 'active' && entry.deadline <= model.now) entry.state = 'expired';
  }
}

class NewCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly id: string, readonly ttl: number) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const close = () => void real.closes.set(this.id, (real.closes.get(this.id) ?? 0) + 1);
    if (model.disposed) {
      expect(() => real.manager.new(this.id, model.now + this.ttl, close)).toThrow(TypeError);
      return;
    }
    real.manager.new(this.id, model.now + this.ttl, close, { executor: real.executor });
    model.entries.set(this.id, { deadline: model.now + this.ttl, state: 'active' });
    checkAgainst(model, real);
  }
  toString = () => `new(${this.id}, +${this.ttl})`;
}

class CallCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly call: 'stop' | 'start' | 'expire' | 'delete', readonly id: string) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const entry = model.entries.get(this.id);
    const returned = real.manager[this.call](this.id);
    if (this.call === 'stop' || this.call === 'delete') expect(returned).toBe(entry !== undefined);
    if (entry) {
      if (this.call === 'stop' && entry.state === 'active') {
        entry.state = 'paused';
      } else if (this.call === 'start' && entry.state === 'paused') {
        entry.state = 'active';
      } else if (this.call === 'expire' && entry.state === 'paused') {
        entry.state = 'expired';
      } else if (this.call === 'delete') {
        model.entries.delete(this.id);
      }
    }
    checkAgainst(model, real);
  }
  toString = () => `${this.call}(${this.id})`;
}

class AdvanceCommand implements fc.AsyncCommand<Model, Real> {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    real.clock.increment(this.ms);
    if (!model.disposed) advance(model, this.ms);
    checkAgainst(model, real);
  }
  toString = () => `advance(${this.ms})`;
}

class RunExecutorCommand implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    real.executor.runAll();
    await flush(); // each close is called on the microtask after its task starts
    for (const [key, entry] of model.entries) {
      if (entry.state !== 'expired') continue;
      model.entries.delete(key);
      model.closes.set(key, (model.closes.get(key) ?? 0) + 1);
    }
    checkAgainst(model, real);
  }
  toString = () => 'runExecutor()';
}

class DisposeCommand implements fc.AsyncCommand<Model, Real> {
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    void real.manager.dispose();
    model.disposed = true;
    model.entries.clear();
    checkAgainst(model, real);
  }
  toString = () => 'dispose()';
}

// Weighted so that runs build up live entities before a (rare) dispose ends them.
const command = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(id, fc.integer({ min: 0, max: 30 })).map(([key, ttl]) => new NewCommand(key, ttl)) },
  {
    weight: 8,
    arbitrary: fc
      .tuple(fc.constantFrom('stop', 'start', 'expire', 'delete' as const), id)
      .map(([call, key]) => new CallCommand(call, key)),
  },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 20 }).map((ms) => new AdvanceCommand(ms)) },
  { weight: 3, arbitrary: fc.constant(new RunExecutorCommand()) },
  { weight: 1, arbitrary: fc.constant(new DisposeCommand()) },
);

describe.each(['records', 'live actors'] as const)('property: the facade against a reference model (entities as %s)', (engine) => {
  it('agrees with the reference after every command; nothing is left after dispose', async () => {
    announce('commands', SEED, NUM_RUNS);
    await fc.assert(
      fc.asyncProperty(fc.commands([command], { maxCommands: 60, size: 'medium' }), async (cmds) => {
        const { clock: counted, inner, pending } = countingClock();
        const actors: AnyActorRef[] = [];
        const real: Real = {
          clock: inner,
          manager: createExpireManager({
            clock: counted,
            // An inspector materializes every entity as a live actor.
            inspect: engine === 'records' ? undefined : (e) => void (e.type === '@xstate.actor' && actors.push(e.actorRef as AnyActorRef)),
          }),
          executor: new ManualExecutor(),
          closes: new Map(),
        };
        const model: Model = { now: 0, disposed: false, entries: new Map(), closes: new Map() };
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        void real.manager.dispose();
        real.executor.runAll();
        await flush();
        expect(pending.size).toBe(0);
        expect(actors.filter((a) => a.getSnapshot().status === 'active')).toEqual([]);
        if (engine === 'live actors') expect(actors.length).toBeGreaterThan(0);
      }),
      { seed: SEED, numRuns: NUM_RUNS },
    );
  });
});
