/**
 * `xstate-expire/testing` as a user meets it: what a wrong adapter is told,
 * and what coverage says of a few paths.
 */
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { type ExpireManager, MAX_TIMER_DELAY, type Requirement, createExpireManager, requirements } from '../src/index.js';
import {
  DEFAULT_MODEL_TTL_MS,
  type ModelAdapter,
  type ModelEventName,
  type ModelInput,
  type ModelStep,
  ModelMismatchError,
  generateModelPaths,
  modelCoverage,
  modelStates,
  modelTransitions,
  runModelPath,
  runModelPaths,
  walkModel,
} from '../src/testing/index.js';
import { flush } from './helpers.js';

interface World {
  clock: SimulatedClock;
  manager: ExpireManager;
  closes: number;
  tornDown: boolean;
}

/** An adapter of the real manager, with one event mapped wrong on purpose. */
function adapter(
  wrong: Partial<Record<ModelEventName, (world: World, step: ModelStep) => unknown>>,
  worlds: World[] = [],
): ModelAdapter<World> {
  return {
    setup(path) {
      const clock = new SimulatedClock();
      const world: World = { clock, manager: createExpireManager({ clock }), closes: 0, tornDown: false };
      world.manager.new('e', path.ttlMs, () => void world.closes++);
      worlds.push(world);
      return world;
    },
    async perform(world, event, step) {
      const override = wrong[event];
      if (override) return override(world, step);
      const { manager, clock } = world;
      switch (event) {
        case 'stop':
          return manager.stop('e');
        case 'delete':
          return manager.delete('e');
        case 'start':
        case 'expire':
          manager[event]('e');
          break;
        case 'tick':
        case 'deadline':
          clock.increment(step.ms!);
          break;
        default:
          throw new Error(`not in these paths: ${event}`);
      }
      await flush();
    },
    observe: ({ manager, closes }) => ({ live: manager.has('e'), closes, state: manager.state('e') }),
    teardown(world) {
      world.tornDown = true;
      return world.manager.dispose();
    },
  };
}

const automatic: ModelEventName[] = ['runClose', 'settleClose'];

describe('a wrong adapter', () => {
  it('fails with a ModelMismatchError that names the path, the step, what differed and both values', async () => {
    const path = walkModel(['stop', 'start', 'deadline'], { automatic });
    const worlds: World[] = [];
    const error = await runModelPath(path, adapter({ start: () => undefined }, worlds)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelMismatchError);
    expect((error as Error).name).toBe('ModelMismatchError');
    expect((error as Error).message).toBe(
      'model path "stop > start > deadline", step 2 (start): state expected "active", got "paused"',
    );
    expect(error).toMatchObject({ path, stepIndex: 1, expected: 'active', actual: 'paused' });
    expect(worlds[0]!.tornDown).toBe(true); // torn down, failed or not
  });

  it('is caught on what it returns from stop() or delete()', async () => {
    const path = walkModel(['delete', 'stop'], { automatic });
    const lies = adapter({ stop: ({ manager }) => (manager.stop('e'), true) });
    await expect(runModelPath(path, lies)).rejects.toThrow(
      'model path "delete > stop", step 2 (stop): stop() returned expected false, got true',
    );
  });

  it('an adapter that returns nothing from stop() or delete() is not checked on it', async () => {
    const silent = adapter({
      stop: ({ manager }) => void manager.stop('e'),
      delete: ({ manager }) => void manager.delete('e'),
      // What other calls return is never checked, booleans included.
      start: ({ manager }) => (manager.start('e'), false),
    });
    await expect(runModelPath(walkModel(['stop', 'start', 'delete'], { automatic }), silent)).resolves.toBeUndefined();
  });

  it('is caught on live and on the number of closes', async () => {
    const path = walkModel(['deadline'], { automatic });
    await expect(runModelPath(path, adapter({ deadline: () => undefined }))).rejects.toThrow(
      'model path "deadline", step 1 (deadline): live expected false, got true',
    );
    const twice = adapter({
      deadline: async (world, step) => {
        world.clock.increment(step.ms!);
        await flush();
        world.closes++;
      },
    });
    await expect(runModelPath(path, twice)).rejects.toThrow('step 1 (deadline): closes expected 1, got 2');
  });

  it('is caught right after new, before any step', async () => {
    const broken: ModelAdapter<null> = { setup: () => null, perform: () => {}, observe: () => ({ live: false, closes: 0 }) };
    await expect(runModelPath(walkModel(['stop']), broken)).rejects.toThrow(
      'model path "stop", step 0 (new): live expected true, got false',
    );
  });

  it('is caught on the full model state and the close signal when it reports them', async () => {
    const path = walkModel(['deadline'], { automatic });
    const base = adapter({});
    // Right after new, then wrong once it closed.
    const seen = (extra: object): ModelAdapter<World> => ({
      ...base,
      observe: async (world) => ({ ...(await base.observe(world)), ...(world.closes > 0 ? extra : {}) }),
    });
    await expect(runModelPath(path, seen({ modelState: 'expired.queued' }))).rejects.toThrow(
      'step 1 (deadline): model state expected "closed", got "expired.queued"',
    );
    await expect(runModelPath(path, seen({ closeSignalAborted: false }))).rejects.toThrow(
      'step 1 (deadline): close signal aborted expected true, got false',
    );
  });

  it('is handed the path by setup and each step by perform: the TTL to arm, the ms to tick', async () => {
    const path = walkModel(['stop', { event: 'tick', ms: 60 }, 'start', { event: 'tick', ms: 39 }, 'deadline'], { automatic, ttlMs: 100 });
    const seen: unknown[] = [];
    const base = adapter({});
    const recording: ModelAdapter<World> = {
      ...base,
      setup: (p) => (seen.push(p), base.setup(p)),
      perform: (world, event, step) => (seen.push(step), base.perform(world, event, step)),
    };
    await runModelPath(path, recording);
    expect(seen).toEqual([path, ...path.steps]);
    expect(path.steps.map((s) => s.ms)).toEqual([undefined, 60, undefined, 39, 1]);
    // An adapter that arms a fresh TTL on start is one tick late.
    const fresh = adapter({ start: ({ manager, clock, closes }) => void (manager.start('e'), manager.new('e', clock.now() + 100, () => void closes)) });
    await expect(runModelPath(path, fresh)).rejects.toThrow('step 5 (deadline): live expected false, got true');
  });

  it('a right adapter passes every path, and runModelPaths counts them', async () => {
    const paths = [walkModel(['stop', 'start', 'deadline'], { automatic }), walkModel(['delete', 'stop'], { automatic })];
    expect(await runModelPaths(paths, adapter({}))).toBe(2);
  });
});

describe('modelCoverage', () => {
  const all = Object.keys(requirements) as Requirement[];

  it('reports exactly the transitions the paths did not take', () => {
    const paths = [walkModel(['stop', 'start']), walkModel(['stop', 'expire'])];
    const coverage = modelCoverage(paths, all);
    const taken = [
      'expiration.active --stop--> expiration.paused',
      'expiration.paused --start--> expiration.active',
      'expiration.paused --expire--> expiration.expired',
    ];
    expect(coverage.transitions.covered.map((t) => t.id).sort()).toEqual([...taken].sort());
    expect(coverage.transitions.missing.map((t) => t.id).sort()).toEqual(
      modelTransitions()
        .map((t) => t.id)
        .filter((id) => !taken.includes(id))
        .sort(),
    );
  });

  it('reports the states reached, the requirements traced per path, and those no path traced', () => {
    const paths = [walkModel(['stop', 'start']), walkModel(['stop', 'expire']), walkModel(['stop'])];
    const coverage = modelCoverage(paths, all);
    expect(coverage.states.covered.sort()).toEqual(
      ['expiration.active', 'expiration.paused', 'expiration.expired', 'expiration.expired.queued'].sort(),
    );
    expect(coverage.states.missing.sort()).toEqual(
      modelStates()
        .filter((s) => !coverage.states.covered.includes(s))
        .sort(),
    );
    expect(coverage.states.missing).toContain('expiration.closed');
    expect(Object.fromEntries(coverage.requirements.traced)).toEqual({ 'R1.1': 3, 'R1.2': 1, R2: 1 });
    expect(coverage.requirements.missing.sort()).toEqual(all.filter((r) => !['R1.1', 'R1.2', 'R2'].includes(r)).sort());
  });

  it('takes the requirements object itself, or nothing, for every requirement', () => {
    const paths = [walkModel(['stop', 'start'])];
    const names = modelCoverage(paths, all);
    expect(modelCoverage(paths, requirements)).toEqual(names);
    expect(modelCoverage(paths)).toEqual(names);
    expect(modelCoverage(paths, ['R1.2', 'R2']).requirements.missing).toEqual(['R2']);
  });

  it('a path of no steps has reached the initial state, and taken nothing', () => {
    const coverage = modelCoverage([walkModel([])], all);
    expect(coverage.states.covered).toEqual(['expiration.active']);
    expect(coverage.transitions.covered).toEqual([]);
    expect(coverage.requirements.traced.size).toBe(0);
  });

  it('counts only the transitions of the given events: a durable-only one is neither covered nor missing', () => {
    const events = ['stop', 'start', 'expire', 'deadline', 'rearm', 'runClose', 'settleClose'] as const;
    const paths = generateModelPaths({ depth: 4, events: ['stop', 'start', 'expire', 'deadline', 'rearm'], automatic });
    const coverage = modelCoverage(paths, all, { events });
    const ids = [...coverage.transitions.covered, ...coverage.transitions.missing].map((t) => t.id);
    expect(ids.some((id) => id.includes('--reclaim-->'))).toBe(false);
    expect(ids.some((id) => id.includes('--delete-->'))).toBe(false);
    expect(coverage.transitions.missing.map((t) => t.id)).toEqual([]);
    // Only the reclaim transition realises durable:claim: with reclaim left out, it is not missing.
    expect(coverage.requirements.missing).not.toContain('durable:claim');
  });
});

describe('generateModelPaths and walkModel at their edges', () => {
  it('a path of no steps is named (new), with the default TTL', () => {
    expect(walkModel([])).toEqual({ name: '(new)', ttlMs: DEFAULT_MODEL_TTL_MS, steps: [] });
  });

  it('with no events to make happen, the one path is new itself', () => {
    expect(generateModelPaths({ depth: 3, events: [], ttlMs: 1000 })).toEqual([{ name: '(new)', ttlMs: 1000, steps: [] }]);
  });

  it('refuses a TTL, a time depth or a tick that is not a whole number of ms', () => {
    for (const ttlMs of [0, 1, 1.5, Number.NaN, Infinity]) {
      expect(() => generateModelPaths({ ttlMs })).toThrow(new TypeError('generateModelPaths: ttlMs must be an integer of at least 2 ms'));
      expect(() => walkModel([], { ttlMs })).toThrow(new TypeError('walkModel: ttlMs must be an integer of at least 2 ms'));
    }
    for (const timeDepth of [-1, 0.5]) {
      expect(() => generateModelPaths({ timeDepth })).toThrow(new TypeError('generateModelPaths: timeDepth must be a non-negative integer'));
    }
    for (const bad of ['tick', 'nap', { event: 'tick', ms: -1 }, { event: 'tick', ms: 0.5 }, { event: 'stop', ms: 1 }]) {
      expect(() => walkModel([bad as ModelInput])).toThrow(TypeError);
    }
  });

  it('refuses a depth that is not a positive integer', () => {
    for (const depth of [0, -1, 1.5, Number.NaN]) {
      expect(() => generateModelPaths({ depth })).toThrow(new TypeError('generateModelPaths: depth must be a positive integer'));
    }
  });
});

describe('walkModel: what each step must show', () => {
  const shown = (events: ModelEventName[], automatic: ModelEventName[] = []) =>
    walkModel(events, { automatic }).steps.map((s) => ({ event: s.event, then: s.then, returns: s.returns, ...s.expect }));

  it('what stop() and delete() return, and only for them: whether the entity was live', () => {
    expect(shown(['stop', 'start', 'delete']).map((s) => s.returns)).toEqual([true, undefined, true]);
    // Queued is live; closing is not: delete finds nothing live once the close runs.
    expect(shown(['stop', 'expire', 'runClose', 'delete']).map((s) => [s.state, s.live, s.returns])).toEqual([
      ['paused', true, true],
      ['expired.queued', true, undefined],
      ['expired.closing', false, undefined],
      ['expired.closing', false, false],
    ]);
  });

  it('counts the closes, and the close signal is unaborted while the close runs, aborted once it settled', () => {
    expect(shown(['stop', 'expire', 'runClose', 'settleClose']).map((s) => [s.closes, s.closeSignalAborted])).toEqual([
      [0, undefined],
      [0, undefined],
      [1, false],
      [1, true],
    ]);
  });

  it('lists the automatic events that followed a step, and shows the state after them', () => {
    expect(shown(['stop', 'expire'], ['runClose', 'settleClose'])).toEqual([
      { event: 'stop', then: [], returns: true, state: 'paused', live: true, closes: 0, closeSignalAborted: undefined },
      { event: 'expire', then: ['runClose', 'settleClose'], returns: undefined, state: 'closed', live: false, closes: 1, closeSignalAborted: true },
    ]);
  });
});

describe('walkModel: time', () => {
  const tick = (ms: number) => ({ event: 'tick', ms }) as const;
  const shown = (events: ModelInput[], automatic: ModelEventName[] = []) =>
    walkModel(events, { automatic, ttlMs: 1000 }).steps.map((s) => [s.event, s.ms, s.then.join(','), s.expect.state]);

  it('a tick past the TTL while paused: the update fails, and the entity expires at once (the deadline is absolute)', () => {
    expect(shown(['stop', tick(1500), 'start'])).toEqual([
      ['stop', undefined, '', 'paused'],
      ['tick', 1500, '', 'paused'],
      ['start', undefined, 'deadline', 'expired.queued'],
    ]);
    expect(shown(['stop', 'deadline', 'start'], ['runClose', 'settleClose']).at(-1)).toEqual([
      'start',
      undefined,
      'deadline,runClose,settleClose',
      'closed',
    ]);
  });

  it('resumed, the entity expires at the saved deadline exactly: not 1 ms before', () => {
    expect(shown(['stop', tick(400), 'start', tick(599), tick(1)])).toEqual([
      ['stop', undefined, '', 'paused'],
      ['tick', 400, '', 'paused'],
      ['start', undefined, '', 'active'],
      ['tick', 599, '', 'active'],
      ['tick', 1, 'deadline', 'expired.queued'],
    ]);
    // `deadline` is the tick to the saved deadline: what is left of it, 0 once it passed.
    expect(shown(['stop', tick(400), 'start', 'deadline', 'deadline']).slice(3)).toEqual([
      ['deadline', 600, '', 'expired.queued'],
      ['deadline', 0, '', 'expired.queued'],
    ]);
  });

  it('a renewal arms a full TTL from its own time; a stop does not move the deadline', () => {
    expect(shown([tick(600), 'renew', tick(999), tick(1)]).slice(2)).toEqual([
      ['tick', 999, '', 'active'],
      ['tick', 1, 'deadline', 'expired.queued'],
    ]);
    expect(shown([tick(600), 'stop', 'start', 'deadline']).at(-1)).toEqual(['deadline', 400, '', 'expired.queued']);
  });

  it('a re-arm moves the clock by a maximal timer; a long tick that crosses a timer re-arms on its way', () => {
    const ttlMs = 3 * MAX_TIMER_DELAY;
    const steps = walkModel(['rearm', { event: 'tick', ms: MAX_TIMER_DELAY + 5 }, 'deadline'], { ttlMs }).steps;
    expect(steps.map((s) => [s.event, s.ms, s.then.join(','), s.expect.state, s.transitions.length])).toEqual([
      ['rearm', MAX_TIMER_DELAY, '', 'active', 1],
      ['tick', MAX_TIMER_DELAY + 5, 'rearm', 'active', 1],
      ['deadline', MAX_TIMER_DELAY - 5, '', 'expired.queued', 1],
    ]);
  });
});

describe('generateModelPaths: which paths', () => {
  it('every accepted sequence up to the depth, and the shortest path to each state extended by each event', () => {
    const names = generateModelPaths({ depth: 2, timeDepth: 0, events: ['stop', 'start', 'shutdown', 'renew'] }).map((p) => p.name);
    expect(names.sort()).toEqual(
      [
        // Every accepted sequence of 2, each extended when it ends where a shortest path does (paused, active).
        'renew > renew',
        'renew > shutdown',
        'renew > stop',
        'stop > renew > renew',
        'stop > renew > shutdown',
        'stop > renew > start',
        'stop > start > renew',
        'stop > start > shutdown',
        'stop > start > start',
        'stop > shutdown > shutdown',
        'stop > shutdown > start',
        // A stop the model ignores is an update all the same: its outcomes follow it; once the entity is gone, only its failure.
        'stop > renew > stop > renew',
        'stop > renew > stop > start',
        'stop > start > stop > renew',
        'stop > start > stop > start',
        'stop > stop > renew',
        'stop > stop > start',
        'stop > shutdown > stop > start',
        'shutdown > stop > start',
        // The shortest paths (to active, expired) extended by every event.
        'start',
        'shutdown > start',
        'shutdown > shutdown',
      ].sort(),
    );
  });

  it('no path is the start of another; renew never follows shutdown, nor an entity no longer live', () => {
    const paths = generateModelPaths({ depth: 3 });
    const names = paths.map((p) => `${p.name} >`);
    expect(names.filter((name, i) => names.some((other, j) => j !== i && other.startsWith(name)))).toEqual([]);
    for (const path of paths) {
      path.steps.forEach((step, i) => {
        if (step.event !== 'renew') return;
        expect(path.steps.slice(0, i).some((s) => s.event === 'shutdown'), path.name).toBe(false);
        if (i > 0) expect(path.steps[i - 1]!.expect.live, path.name).toBe(true);
      });
    }
    expect(paths.every((p) => p.steps.length >= 1)).toBe(true);
  });

  it('takes a depth of 1', () => {
    const paths = generateModelPaths({ depth: 1, timeDepth: 0, events: ['stop', 'start'] });
    expect(paths.map((p) => p.name).sort()).toEqual(['start', 'stop > start > start', 'stop > start > stop > start', 'stop > stop > start'].sort());
  });

  it('extends the shortest path to a live state by renew too', () => {
    const names = generateModelPaths({ depth: 1, timeDepth: 0, events: ['stop', 'renew'] }).map((p) => p.name);
    expect(names.sort()).toEqual(['renew', 'stop > renew > renew', 'stop > renew > stop > renew', 'stop > stop > renew'].sort());
  });
});

describe('the model at its less travelled edges', () => {
  it('a close refused by the executor leaves the manager at once; a close taken over by another worker is the same close', () => {
    expect(walkModel(['stop', 'expire', 'refuse']).steps.at(-1)!.expect).toMatchObject({ state: 'deleted', live: false, closes: 0 });
    expect(walkModel(['stop', 'expire', 'runClose', 'reclaim']).steps.at(-1)!.expect).toEqual({
      state: 'expired.closing',
      live: false,
      closes: 1,
      closeSignalAborted: false,
    });
  });

  it('by default, the events to make happen are those neither automatic nor durable-only', () => {
    const events = generateModelPaths({ depth: 2, automatic: ['runClose'] }).flatMap((p) => p.steps.map((s) => s.event));
    expect(new Set(events)).toEqual(
      new Set(['renew', 'stop', 'start', 'expire', 'delete', 'dispose', 'shutdown', 'tick', 'deadline', 'rearm', 'refuse', 'settleClose']),
    );
  });

  it('once the entity is gone, every event but renew is tried (renew would be a new entity), and an update both ways', () => {
    const names = generateModelPaths({ depth: 2, ttlMs: 1000 }).map((p) => p.name);
    expect(names.filter((n) => n.startsWith('delete > ')).sort()).toEqual(
      [
        'delete > deadline',
        'delete > delete',
        'delete > dispose',
        'delete > expire',
        'delete > refuse',
        'delete > runClose',
        'delete > settleClose',
        'delete > shutdown',
        'delete > start',
        'delete > stop > start', // a success would be a new entity's
        // Half the TTL, and to 1 ms before the deadline the entity no longer has.
        'delete > tick(500)',
        'delete > tick(999)',
      ].sort(),
    );
    // No re-arm: the deadline is closer than a maximal timer.
    expect(names.some((n) => n.includes('rearm'))).toBe(false);
  });
});

