/**
 * `xstate-expire/testing` as a user meets it: what a wrong adapter is told,
 * and what coverage says of a few paths.
 */
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { type ExpireManager, MAX_TIMER_DELAY, type Requirement, createExpireManager, requirements } from '../src/index.js';
import {
  DEFAULT_MODEL_CLOSE_TIMEOUT_MS,
  DEFAULT_MODEL_ID,
  DEFAULT_MODEL_PAUSE_TIMEOUT_MS,
  DEFAULT_MODEL_RETRY,
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
import { backoffMs } from '../src/machines/retry.js';
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
    // `superseded` is the manager's own (an id taken while the close ran): no model event, neither covered nor missing.
    expect(coverage.transitions.missing.map((t) => t.id).sort()).toEqual(
      modelTransitions()
        .filter((t) => t.event !== 'superseded')
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
    expect(walkModel([])).toEqual({
      name: '(new)',
      ttlMs: DEFAULT_MODEL_TTL_MS,
      id: DEFAULT_MODEL_ID,
      retry: DEFAULT_MODEL_RETRY[0],
      closeTimeoutMs: DEFAULT_MODEL_CLOSE_TIMEOUT_MS,
      pauseTimeoutMs: DEFAULT_MODEL_PAUSE_TIMEOUT_MS[0],
      steps: [],
    });
  });

  it('with no events to make happen, the one path is new itself', () => {
    // No time passes while paused: the default's second pause setting (none) adds no path.
    expect(generateModelPaths({ depth: 3, events: [], ttlMs: 1000, retry: { attempts: 1 }, closeTimeoutMs: null })).toEqual([
      {
        name: '(new)',
        ttlMs: 1000,
        id: 'e',
        retry: { attempts: 1, backoffMs: 1_000, maxBackoffMs: 60_000 },
        closeTimeoutMs: undefined,
        pauseTimeoutMs: 60_000,
        steps: [],
      },
    ]);
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
      { event: 'stop', then: [], returns: true, state: 'paused', live: true, closes: 0, closeSignalAborted: undefined, closeFailures: 0, attempts: 0 },
      {
        event: 'expire',
        then: ['runClose', 'settleClose'],
        returns: undefined,
        state: 'closed',
        live: false,
        closes: 1,
        closeSignalAborted: true,
        closeFailures: 0,
        attempts: 1,
      },
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
        'stop > shutdown > stop > start',
        'shutdown > stop > start',
        // Another update joins the pause (stop re-enters paused): its outcomes follow it too.
        'stop > stop > renew',
        'stop > stop > start',
        'stop > stop > shutdown',
        'stop > stop > stop > renew',
        'stop > stop > stop > start',
        // The shortest paths (to active, expired) extended by every event.
        'start',
        'shutdown > start',
        'shutdown > shutdown',
      ].sort(),
    );
  });

  it('no path is the start of another; renew never follows shutdown, nor an entity no longer live', () => {
    const paths = generateModelPaths({ depth: 3 });
    // Within one setting (retry policy, pause timeout): the name without its setting's suffix.
    const names = paths.map((p) => [`${p.retry.attempts}/${p.pauseTimeoutMs}`, `${p.name.replace(/ \(.*\)$/, '')} >`] as const);
    expect(names.filter(([key, name], i) => names.some(([k, other], j) => j !== i && k === key && other.startsWith(name)))).toEqual([]);
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
    expect(paths.map((p) => p.name).sort()).toEqual(
      ['start', 'stop > start > start', 'stop > start > stop > start', 'stop > stop > start', 'stop > stop > stop > start'].sort(),
    );
  });

  it('extends the shortest path to a live state by renew too', () => {
    const names = generateModelPaths({ depth: 1, timeDepth: 0, events: ['stop', 'renew'] }).map((p) => p.name);
    expect(names.sort()).toEqual(
      ['renew', 'stop > renew > renew', 'stop > renew > stop > renew', 'stop > stop > renew', 'stop > stop > stop > renew'].sort(),
    );
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
      closeFailures: 0,
      attempts: 2, // each claim of the close is an attempt
    });
  });

  it('by default, the events to make happen are those neither automatic nor durable-only', () => {
    const events = generateModelPaths({ depth: 2, automatic: ['runClose'] }).flatMap((p) => p.steps.map((s) => s.event));
    expect(new Set(events)).toEqual(
      new Set([
        'renew',
        'stop',
        'start',
        'expire',
        'delete',
        'dispose',
        'shutdown',
        'tick',
        'deadline',
        'rearm',
        'refuse',
        'settleClose',
        'failClose',
        'closeTimeout',
        'backoff',
        'pauseTimeout',
        'retry',
      ]),
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
        'delete > failClose',
        'delete > refuse',
        'delete > retry',
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
    // No re-arm: the deadline is closer than a maximal timer. No close timeout or backoff where nothing waits for one.
    expect(names.some((n) => n.includes('rearm'))).toBe(false);
    expect(names.filter((n) => n.startsWith('delete > ') && /closeTimeout|backoff/.test(n))).toEqual([]);
  });
});

describe('the model: the pause timeout', () => {
  const TTL = 1_000_000;
  const PAUSE = 60_000;
  const shown = (events: ModelInput[], pauseTimeoutMs: number | null = PAUSE) =>
    walkModel(events, { ttlMs: TTL, pauseTimeoutMs }).steps.map((s) => [s.event, s.ms, s.then.join(','), s.expect.state, s.transitions.map((t) => t.id)]);
  const timeout = 'expiration.paused --xstate.after.pauseTimeout.expiration.paused--> expiration.active';
  const rejoin = 'expiration.paused --stop--> expiration.paused';

  it('runs out pauseTimeoutMs after the last stop: another update 1 ms before it starts it again', () => {
    expect(shown(['stop', { event: 'tick', ms: PAUSE - 1 }, 'stop', { event: 'tick', ms: PAUSE - 1 }, 'pauseTimeout', 'deadline'])).toEqual([
      ['stop', undefined, '', 'paused', ['expiration.active --stop--> expiration.paused']],
      ['tick', PAUSE - 1, '', 'paused', []],
      ['stop', undefined, '', 'paused', [rejoin]],
      ['tick', PAUSE - 1, '', 'paused', []],
      ['pauseTimeout', 1, '', 'active', [timeout]],
      // The saved deadline, consumed by the pause: what is left of it.
      ['deadline', TTL - 2 * (PAUSE - 1) - 1, '', 'expired.queued', ['expiration.active --xstate.after.deadline.expiration.active--> expiration.expired']],
    ]);
    expect(walkModel(['stop', 'pauseTimeout'], { ttlMs: TTL, pauseTimeoutMs: 5 }).steps[1]!.ms).toBe(5);
  });

  it('a tick across the timeout ends the pause on its way, and a deadline that passed meanwhile fires at once', () => {
    expect(shown(['stop', { event: 'tick', ms: PAUSE }, 'start'])).toEqual([
      ['stop', undefined, '', 'paused', ['expiration.active --stop--> expiration.paused']],
      ['tick', PAUSE, 'pauseTimeout', 'active', [timeout]],
      ['start', undefined, '', 'active', []], // the update's failure finds it resumed already
    ]);
    const late = walkModel(['stop', { event: 'tick', ms: 2 * PAUSE }], { ttlMs: PAUSE, pauseTimeoutMs: PAUSE });
    expect(late.steps.map((s) => [s.then.join(','), s.expect.state])).toEqual([
      ['', 'paused'],
      ['pauseTimeout,deadline', 'expired.queued'],
    ]);
  });

  it('without a pause timeout, or where nothing is paused, pauseTimeout moves nothing and takes nothing', () => {
    expect(shown(['stop', 'pauseTimeout', { event: 'tick', ms: TTL - 1 }], null)).toEqual([
      ['stop', undefined, '', 'paused', ['expiration.active --stop--> expiration.paused']],
      ['pauseTimeout', 0, '', 'paused', []],
      ['tick', TTL - 1, '', 'paused', []],
    ]);
    expect(shown(['pauseTimeout'])).toEqual([['pauseTimeout', 0, '', 'active', []]]);
    expect(shown(['stop', 'start', 'pauseTimeout'])[2]).toEqual(['pauseTimeout', 0, '', 'active', []]);
  });

  it('generates it where a pause has a timeout: to it, and ticks to 1 ms before it; none, in paths of their own', () => {
    const paths = generateModelPaths({ depth: 2, timeDepth: 2, events: ['stop', 'start', 'tick'], ttlMs: TTL, pauseTimeoutMs: PAUSE });
    expect(paths.some((p) => p.name.startsWith(`stop > tick(${PAUSE - 1}) > `))).toBe(true);
    expect(paths.every((p) => p.pauseTimeoutMs === PAUSE && !p.name.includes('(pauseTimeoutMs'))).toBe(true);
    const withEvent = generateModelPaths({ depth: 2, timeDepth: 0, events: ['stop', 'start', 'pauseTimeout'], ttlMs: TTL, pauseTimeoutMs: PAUSE });
    expect(withEvent.some((p) => p.name.startsWith('stop > pauseTimeout'))).toBe(true);
    const untimed = generateModelPaths({ depth: 2, timeDepth: 0, events: ['stop', 'start', 'pauseTimeout'], ttlMs: TTL, pauseTimeoutMs: null });
    expect(untimed.some((p) => p.steps.some((s) => s.event === 'pauseTimeout' && s.transitions.length > 0))).toBe(false);
    expect(untimed.every((p) => p.pauseTimeoutMs === undefined && !p.name.includes('(pauseTimeoutMs'))).toBe(true);
    // Both: every path with the first, and with none only those where time passes while paused.
    const both = generateModelPaths({ depth: 2, timeDepth: 2, events: ['stop', 'start', 'tick'], ttlMs: TTL, pauseTimeoutMs: [PAUSE, null] });
    const none = both.filter((p) => p.pauseTimeoutMs === undefined);
    expect(both.filter((p) => p.pauseTimeoutMs === PAUSE)).toHaveLength(paths.length);
    expect(none.length).toBeGreaterThan(0);
    for (const path of none) {
      expect(path.name.endsWith(' (pauseTimeoutMs: none)'), path.name).toBe(true);
      expect(path.steps.some((s, i) => (s.ms ?? 0) > 0 && (path.steps[i - 1]?.expect.state ?? 'active') === 'paused'), path.name).toBe(true);
    }
    expect(none.some((p) => p.name.startsWith(`stop > tick(${TTL / 2})`))).toBe(true);
    expect(none.some((p) => p.name.startsWith('stop > start'))).toBe(false);
  });
});

describe('the model: retries, close timeouts and the failed state', () => {
  const policy = { attempts: 2, backoffMs: 1_000, maxBackoffMs: 60_000 };
  const shown = (events: ModelInput[], options: Parameters<typeof walkModel>[1] = {}) =>
    walkModel(events, { ttlMs: 1000, ...options }).steps.map((s) => ({
      event: s.event,
      ms: s.ms,
      then: s.then.join(','),
      returns: s.returns,
      state: s.expect.state,
      live: s.expect.live,
      closes: s.expect.closes,
      aborted: s.expect.closeSignalAborted,
      failures: s.expect.closeFailures,
      attempts: s.expect.attempts,
    }));

  it('a failed attempt waits out its backoff, live, and the last one leaves the entity failed until retry()', () => {
    const steps = shown(['deadline', 'runClose', 'failClose', 'backoff', 'runClose', 'closeTimeout', 'retry', 'runClose', 'settleClose']);
    // The backoff of the first failed attempt: the policy's, with the jitter of the id, generation 0 and attempt 1.
    const backoff = backoffMs(policy, DEFAULT_MODEL_ID, 0, 1);
    expect(backoff).toBeGreaterThanOrEqual(500);
    expect(backoff).toBeLessThan(1000);
    expect(steps).toEqual([
      { event: 'deadline', ms: 1000, then: '', returns: undefined, state: 'expired.queued', live: true, closes: 0, aborted: undefined, failures: 0, attempts: 0 },
      { event: 'runClose', ms: undefined, then: '', returns: undefined, state: 'expired.closing', live: false, closes: 1, aborted: false, failures: 0, attempts: 1 },
      { event: 'failClose', ms: undefined, then: '', returns: undefined, state: 'expired.retrying', live: true, closes: 1, aborted: true, failures: 1, attempts: 1 },
      { event: 'backoff', ms: backoff, then: '', returns: undefined, state: 'expired.queued', live: true, closes: 1, aborted: true, failures: 1, attempts: 1 },
      { event: 'runClose', ms: undefined, then: '', returns: undefined, state: 'expired.closing', live: false, closes: 2, aborted: false, failures: 1, attempts: 2 },
      { event: 'closeTimeout', ms: DEFAULT_MODEL_CLOSE_TIMEOUT_MS, then: '', returns: undefined, state: 'failed', live: true, closes: 2, aborted: true, failures: 2, attempts: 2 },
      { event: 'retry', ms: undefined, then: '', returns: true, state: 'expired.queued', live: true, closes: 2, aborted: true, failures: 2, attempts: 0 },
      { event: 'runClose', ms: undefined, then: '', returns: undefined, state: 'expired.closing', live: false, closes: 3, aborted: false, failures: 2, attempts: 1 },
      { event: 'settleClose', ms: undefined, then: '', returns: undefined, state: 'closed', live: false, closes: 3, aborted: true, failures: 2, attempts: 1 },
    ]);
  });

  it('without retries (one attempt, Go) a failed close is gone; with no close timeout, closeTimeout moves nothing', () => {
    const one = shown(['deadline', 'runClose', 'failClose', 'retry'], { retry: { attempts: 1 } });
    expect(one.slice(2).map((s) => [s.state, s.live, s.failures, s.returns])).toEqual([
      ['closed', false, 1, undefined],
      ['closed', false, 1, false],
    ]);
    const untimed = shown(['deadline', 'runClose', 'closeTimeout', { event: 'tick', ms: 2 ** 31 - 1 }], { closeTimeoutMs: null });
    expect(untimed.slice(2).map((s) => [s.event, s.ms, s.state, s.failures])).toEqual([
      ['closeTimeout', 0, 'expired.closing', 0],
      ['tick', 2 ** 31 - 1, 'expired.closing', 0],
    ]);
  });

  it('a tick crosses a close timeout and a backoff on its way; retry() of anything but a failed entity returns false', () => {
    const steps = shown([
      'deadline',
      'runClose',
      { event: 'tick', ms: 10 * 60_000 },
      'retry',
      { event: 'tick', ms: 10 * 60_000 },
      'runClose',
      { event: 'tick', ms: 29_999 },
      { event: 'tick', ms: 1 },
    ]);
    expect(steps.slice(2).map((s) => [s.event, s.then, s.state, s.returns, s.failures])).toEqual([
      // The attempt times out on the way; its backoff starts when the clock has arrived (as on a SimulatedClock).
      ['tick', 'closeTimeout', 'expired.retrying', undefined, 1],
      ['retry', '', 'expired.retrying', false, 1],
      ['tick', 'backoff', 'expired.queued', undefined, 1],
      ['runClose', '', 'expired.closing', undefined, 1],
      ['tick', '', 'expired.closing', undefined, 1],
      ['tick', 'closeTimeout', 'failed', undefined, 2],
    ]);
  });

  it('the backoff is a hash of the id, the generation and the attempt: a renewal changes it', () => {
    const after = (events: ModelInput[], id = DEFAULT_MODEL_ID) => walkModel(events, { ttlMs: 1000, id }).steps.at(-1)!.ms;
    expect(after(['deadline', 'runClose', 'failClose', 'backoff'])).toBe(backoffMs(policy, 'e', 0, 1));
    expect(after(['deadline', 'runClose', 'failClose', 'backoff'], 'lease-7')).toBe(backoffMs(policy, 'lease-7', 0, 1));
    expect(after(['deadline', 'runClose', 'failClose', 'renew', 'deadline', 'runClose', 'failClose', 'backoff'])).toBe(
      backoffMs(policy, 'e', 1, 1),
    );
    expect(walkModel([], { id: 'lease-7' }).id).toBe('lease-7');
  });

  it('a manager closing everything disposes once nothing is left but this failed entity; a second shutdown changes nothing', () => {
    const steps = shown(['deadline', 'runClose', 'shutdown', 'failClose', 'shutdown', 'backoff', 'runClose', 'failClose']);
    expect(steps.slice(2).map((s) => [s.event, s.then, s.state, s.live])).toEqual([
      ['shutdown', '', 'expired.closing', false],
      ['failClose', '', 'expired.retrying', true],
      ['shutdown', '', 'expired.retrying', true],
      ['backoff', '', 'expired.queued', true],
      ['runClose', '', 'expired.closing', false],
      ['failClose', 'dispose', 'deleted', false],
    ]);
    expect(shown(['deadline', 'runClose', 'failClose', 'backoff', 'runClose', 'failClose', 'shutdown']).at(-1)).toMatchObject({
      then: 'dispose',
      state: 'deleted',
    });
  });

  it('generates the paths of every policy: after the first, only those where a close fails, named with the policy', () => {
    const events: ModelEventName[] = ['deadline', 'runClose', 'failClose', 'settleClose', 'retry'];
    const paths = generateModelPaths({ depth: 5, timeDepth: 0, events, retry: [{ attempts: 2 }, { attempts: 1 }] });
    const one = paths.filter((p) => p.retry.attempts === 1);
    expect(one.length).toBeGreaterThan(0);
    expect(one.every((p) => p.name.endsWith(' (attempts: 1)') && p.steps.some((s) => s.event === 'failClose'))).toBe(true);
    expect(one.some((p) => p.name.startsWith('deadline > runClose > failClose > '))).toBe(true);
    expect(one.find((p) => p.name.startsWith('deadline > runClose > failClose > '))!.steps[2]!.expect.state).toBe('closed');
    expect(paths.filter((p) => p.retry.attempts === 2).every((p) => !p.name.includes('(attempts'))).toBe(true);
    // One policy: its paths, all of them, unnamed.
    expect(generateModelPaths({ depth: 5, timeDepth: 0, events, retry: { attempts: 1 } }).some((p) => p.name.includes('(attempts'))).toBe(false);
  });

  it('refuses a retry policy, a close timeout or an id that the managers would refuse', () => {
    const bad: Array<[Parameters<typeof generateModelPaths>[0], string]> = [
      [{ retry: { attempts: 0 } }, 'generateModelPaths: retry.attempts must be an integer from 1 to 1000, got 0'],
      [{ retry: [] }, 'generateModelPaths: retry must name at least one policy'],
      [{ closeTimeoutMs: 0 }, 'generateModelPaths: closeTimeoutMs must be a number of ms from 1 to 2^31−1, got 0'],
      [{ pauseTimeoutMs: 0 }, 'generateModelPaths: pauseTimeoutMs must be a number of ms from 1 to 2^31−1, got 0'],
      [{ pauseTimeoutMs: [60_000, 2 ** 31] }, 'generateModelPaths: pauseTimeoutMs must be a number of ms from 1 to 2^31−1, got 2147483648'],
      [{ pauseTimeoutMs: [] }, 'generateModelPaths: pauseTimeoutMs must name at least one setting'],
      [{ id: '' }, 'generateModelPaths: id must be a non-empty string'],
    ];
    for (const [options, message] of bad) expect(() => generateModelPaths(options)).toThrow(new TypeError(message));
    expect(() => walkModel([], { retry: [{ attempts: 1 }] as never })).toThrow(new TypeError('walkModel: retry must be one policy'));
    expect(() => walkModel([], { pauseTimeoutMs: [1_000] as never })).toThrow(new TypeError('walkModel: pauseTimeoutMs must be one setting'));
  });
});

describe('a wrong adapter, on retries', () => {
  interface RetryWorld {
    clock: SimulatedClock;
    manager: ExpireManager;
    calls: Array<{ resolve: () => void; reject: (error: unknown) => void }>;
    failures: number;
  }
  const failing = new Error('close failed');
  /** The real manager with the path's policy; `override` maps one event wrong. */
  const retrying = (override: Partial<Record<ModelEventName, (world: RetryWorld) => unknown>> = {}): ModelAdapter<RetryWorld> => ({
    setup(path) {
      const clock = new SimulatedClock();
      const world: RetryWorld = { clock, manager: undefined as never, calls: [], failures: 0 };
      world.manager = createExpireManager({
        clock,
        retry: path.retry,
        closeTimeoutMs: path.closeTimeoutMs,
        onCloseError: () => void world.failures++,
      });
      world.manager.new(path.id, path.ttlMs, () => new Promise<void>((resolve, reject) => void world.calls.push({ resolve, reject })));
      return world;
    },
    async perform(world, event, step) {
      let result = override[event] ? override[event](world) : undefined;
      if (!override[event]) {
        if (event === 'failClose') world.calls.at(-1)?.reject(failing);
        else if (event === 'retry') result = world.manager.retry('e');
        else world.clock.increment(step.ms ?? 0);
      }
      await flush();
      world.clock.increment(0);
      await flush();
      return result;
    },
    observe: ({ manager, calls, failures }) => ({
      live: manager.has('e'),
      closes: calls.length,
      state: manager.state('e'),
      closeFailures: failures,
      attempts: manager.get('e')?.attempts,
    }),
    teardown: ({ manager, calls }) => (calls.forEach((c) => c.resolve()), manager.dispose()),
  });
  // Closes run at once on the manager's executor.
  const path = walkModel(['deadline', 'failClose', 'backoff', 'failClose', 'retry'], { automatic: ['runClose'], ttlMs: 1000 });

  it('the real manager passes: each attempt a close, each failure reported, then failed and retried', async () => {
    await expect(runModelPath(path, retrying())).resolves.toBeUndefined();
    expect(path.steps.map((s) => [s.expect.state, s.expect.attempts])).toEqual([
      ['expired.closing', 1],
      ['expired.retrying', 1],
      ['expired.closing', 2],
      ['failed', 2],
      ['expired.closing', 1],
    ]);
  });

  it('is caught on a backoff cut short, on what retry() returns, and on failures it did not report', async () => {
    const early = retrying({ backoff: (world) => world.clock.increment(path.steps[2]!.ms! - 1) });
    await expect(runModelPath(path, early)).rejects.toThrow('step 3 (backoff): live expected false, got true');
    const lies = retrying({ retry: (world) => (world.manager.retry('e'), false) });
    await expect(runModelPath(path, lies)).rejects.toThrow('step 5 (retry): retry() returned expected true, got false');
    const settles = retrying({ failClose: (world) => world.calls.at(-1)?.resolve() });
    await expect(runModelPath(path, settles)).rejects.toThrow('step 2 (failClose): live expected true, got false');
    const base = retrying();
    const quiet: ModelAdapter<RetryWorld> = { ...base, observe: async (world) => ({ ...(await base.observe(world)), closeFailures: 0 }) };
    await expect(runModelPath(path, quiet)).rejects.toThrow('step 2 (failClose): close failures expected 1, got 0');
    // attempts is the live entity's: none while its close runs.
    const counted: ModelAdapter<RetryWorld> = { ...base, observe: async (world) => ({ ...(await base.observe(world)), attempts: 0 }) };
    await expect(runModelPath(path, counted)).rejects.toThrow('step 1 (deadline): attempts expected undefined, got 0');
    const uncounted: ModelAdapter<RetryWorld> = {
      ...base,
      observe: async (world) => ({ ...(await base.observe(world)), attempts: world.manager.has('e') ? 0 : undefined }),
    };
    await expect(runModelPath(path, uncounted)).rejects.toThrow('step 2 (failClose): attempts expected 1, got 0');
  });
});
