import { initialTransition, transition } from 'xstate';
import { getShortestPaths, toDirectedGraph } from 'xstate/graph';
import {
  type ExpirationEvent,
  type ExpirationInput,
  type ExpirationSnapshot,
  MAX_TIMER_DELAY,
  expirationMachine,
} from '../machines/expiration.js';
import { type Requirement, type TransitionMeta, requirements } from '../machines/requirements.js';

/** The delayed event of `active`, as XState names it: `xstate.after.<delay>.<state id>`. */
export const DEADLINE_EVENT = 'xstate.after.deadline.expiration.active';
/** The event of the running close settling. */
export const CLOSE_SETTLED_EVENT = 'settled';

/**
 * What a test can make happen to one entity, as the model names it.
 *
 * - `stop`, `start`, `expire`, `delete`, `dispose`: the API calls.
 * - `shutdown`: `dispose({ close: true })`; the manager refuses `new` from then on.
 * - `renew`: `new` for the live id (a successful update), with a new deadline:
 *   now + the path's TTL ({@link ModelPath.ttlMs}).
 * - `tick`: the clock advances by {@link ModelStep.ms}, in any state (paused too:
 *   the deadline is absolute, so a pause consumes it).
 * - `deadline`: the clock advances to the saved deadline exactly ({@link ModelStep.ms}
 *   is what is left of it; 0 once it has passed).
 * - `rearm`: the clock advances by `MAX_TIMER_DELAY` while the deadline is further
 *   away: a timer wakes before a far deadline (delays beyond 2^31−1 ms) and re-arms.
 * - `runClose`: the executor runs the queued close task.
 * - `refuse`: the executor refuses the queued close task (it throws or rejects).
 * - `reclaim`: durable managers only — the claim of a running close ran out (its
 *   process died) and another process takes the close over.
 * - `settleClose`: the running close settles.
 */
export type ModelEventName =
  | 'renew'
  | 'stop'
  | 'start'
  | 'expire'
  | 'delete'
  | 'dispose'
  | 'shutdown'
  | 'tick'
  | 'deadline'
  | 'rearm'
  | 'runClose'
  | 'refuse'
  | 'reclaim'
  | 'settleClose';

/** Every model event, in a fixed order. */
export const modelEventNames: readonly ModelEventName[] = [
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
  'runClose',
  'refuse',
  'reclaim',
  'settleClose',
];

/** Events only a durable manager has: not in the default events of {@link generateModelPaths}. */
export const durableOnlyModelEvents: readonly ModelEventName[] = ['reclaim'];

/** The events that move the clock; each step of one says by how much in {@link ModelStep.ms}. */
export const timeModelEvents: readonly ModelEventName[] = ['tick', 'deadline', 'rearm'];

/**
 * The TTL of the generated paths unless {@link ModelPathOptions.ttlMs} says
 * otherwise: four maximal timers, so that a path can re-arm (`rearm`) before
 * its deadline and ticks still cross timer boundaries.
 */
export const DEFAULT_MODEL_TTL_MS = 4 * MAX_TIMER_DELAY;

/** A state of the model: a top-level state, or `expired.queued` / `expired.closing`. */
export type ModelState = 'active' | 'paused' | 'expired.queued' | 'expired.closing' | 'closed' | 'deleted';

/** What a user can observe of the entity after a step. */
export interface Expectation {
  /** The model's state. */
  state: ModelState;
  /** Whether the manager still holds the entity (`has(id)`): active, paused or expired and queued. */
  live: boolean;
  /** How many times the close has been called. */
  closes: number;
  /** Whether the last close's signal is aborted; `undefined` before any close. */
  closeSignalAborted: boolean | undefined;
}

/** One transition of the statechart, from the directed graph of the machine. */
export interface ModelTransition {
  /** A stable id: `source --event--> target`. */
  id: string;
  source: string;
  target: string;
  event: string;
  requirements: Requirement[];
}

/** One step of a path: an event, and the automatic events it lets happen. */
export interface ModelStep {
  event: ModelEventName;
  /**
   * How far the clock advances on this step, in ms: given for `tick`, `deadline`
   * and `rearm` (apply it to your clock: `clock.increment(step.ms)`); `undefined`
   * for every other event.
   */
  ms: number | undefined;
  /**
   * What followed the event on its own: `deadline` when the entity's timer fired
   * (a `tick` reached the deadline, or a `start` resumed a deadline that passed
   * while paused), `rearm` when it woke early, then the automatic events (see
   * {@link ModelPathOptions.automatic}).
   */
  then: ModelEventName[];
  /** The transitions taken; empty when the model ignores the event here. */
  transitions: ModelTransition[];
  /** What `stop()` or `delete()` must return on this step; `undefined` for other events. */
  returns: boolean | undefined;
  /** What must be observable after the step. */
  expect: Expectation;
}

/** A path from the initial state: `new` with a TTL, then its steps. */
export interface ModelPath {
  /** The events, joined: `stop > tick(500) > start > deadline`. */
  name: string;
  /**
   * The entity's TTL: `new` at the start of the path gives it the deadline
   * `now + ttlMs`, and every `renew` the deadline `now + ttlMs` of its time.
   */
  ttlMs: number;
  steps: ModelStep[];
}

/** One event of a path to walk: a model event, or a `tick` with how far the clock advances. */
export type ModelInput = ModelEventName | { event: 'tick'; ms: number };

const dummyInput: ExpirationInput = {
  id: 'model',
  deadline: 0,
  close: () => {},
  executor: { asyncExec: async () => {} },
  clock: { now: () => 0, setTimeout: () => 0, clearTimeout: () => {} },
  onCloseError: () => {},
};

/**
 * The expiration machine as a model: the same states and transitions. The
 * deadline guard reads the clock in production; the model keeps its own time
 * (see {@link walkModel}) and tells the timer event whether the deadline was
 * reached (`deadline`) or not (`rearm`).
 */
export const expirationModel = expirationMachine.provide({
  guards: {
    deadlineReached: ({ event }) => (event as { reached?: boolean }).reached !== false,
    // The model's `refuse` is about the close queued now, never a stale one.
    sameGeneration: () => true,
  },
});

/** The events the machine receives; `tick` has none of its own (it may fire the timer). */
type MachineEventName = Exclude<ModelEventName, 'tick'>;

const machineEvents: Record<MachineEventName, ExpirationEvent> = {
  renew: { type: 'renew', deadline: 0, close: () => {} },
  stop: { type: 'stop' },
  start: { type: 'start' },
  expire: { type: 'expire' },
  delete: { type: 'delete' },
  dispose: { type: 'dispose' },
  shutdown: { type: 'shutdown' },
  deadline: { type: DEADLINE_EVENT, reached: true } as unknown as ExpirationEvent,
  rearm: { type: DEADLINE_EVENT, reached: false } as unknown as ExpirationEvent,
  runClose: { type: 'close', settle: () => {}, settled: Promise.resolve() },
  refuse: { type: 'refused', generation: 0 },
  reclaim: { type: 'reclaim' },
  settleClose: { type: CLOSE_SETTLED_EVENT },
};

/** The machine event type a model event is delivered as (a tick's: the timer's). */
const eventType = (name: ModelEventName): string => (name === 'tick' ? DEADLINE_EVENT : machineEvents[name].type);

const modelEventOf = new Map<ExpirationEvent, MachineEventName>(
  Object.entries(machineEvents).map(([name, event]) => [event, name as MachineEventName]),
);

/** The model state of a snapshot: `active`, `expired.queued`, ... */
export function modelState(snapshot: ExpirationSnapshot): ModelState {
  const value = snapshot.value;
  return (typeof value === 'string' ? value : `expired.${value.expired}`) as ModelState;
}

const stateNodeId = (state: ModelState): string => `expiration.${state}`;

/**
 * Every transition of the statechart, read from `toDirectedGraph`: a fresh list
 * each call (about 20 µs), so that a caller may sort or filter it in place.
 */
export function modelTransitions(): ModelTransition[] {
  const result: ModelTransition[] = [];
  const walk = (node: ReturnType<typeof toDirectedGraph>): void => {
    for (const edge of node.edges) {
      const meta = edge.transition.meta as TransitionMeta | undefined;
      const event = edge.label.text;
      result.push({
        id: `${edge.source.id} --${event}--> ${edge.target.id}`,
        source: edge.source.id,
        target: edge.target.id,
        event,
        // Stryker disable next-line OptionalChaining,ArrayDeclaration: every transition names its requirements
        requirements: meta?.requirements ?? [],
      });
    }
    node.children.forEach(walk);
  };
  walk(toDirectedGraph(expirationMachine));
  return result;
}

/** Every state node of the statechart, by id (`expiration.expired.queued`, ...). */
export function modelStates(): string[] {
  const ids: string[] = [];
  const walk = (node: ReturnType<typeof toDirectedGraph>): void => {
    if (node.id !== 'expiration') ids.push(node.id);
    node.children.forEach(walk);
  };
  walk(toDirectedGraph(expirationMachine));
  return ids;
}

/** Options of {@link generateModelPaths} and {@link walkModel}. */
export interface ModelPathOptions {
  /** Every sequence of accepted events up to this length is a path (default 6). */
  depth?: number;
  /**
   * Every sequence of the events that see time (`renew`, `stop`, `start` and the
   * clock's `tick` and `deadline`) up to this length is a path too (default 5): a
   * tick of half the TTL, and one to 1 ms before the deadline, in `active` and in
   * `paused`. They check that a pause consumes the deadline and that a failed
   * update resumes it, to the millisecond.
   */
  timeDepth?: number;
  /** The entity's TTL of every path (default {@link DEFAULT_MODEL_TTL_MS}): what your integration arms on `new` and `renew`. */
  ttlMs?: number;
  /**
   * The events your integration makes happen. Default: every event that is not
   * automatic, but for {@link durableOnlyModelEvents}.
   */
  events?: readonly ModelEventName[];
  /**
   * Events that happen on their own in your integration, right after any step
   * that enables them. With a real executor and closes that settle at once,
   * that is `['runClose', 'settleClose']`. Default: none.
   */
  automatic?: readonly ModelEventName[];
}

const serializeState = (snapshot: ExpirationSnapshot): string => `${JSON.stringify(snapshot.value)}:${snapshot.status}`;

/**
 * Whether `event` takes a transition from `snapshot`. An ignored event returns
 * the same snapshot and no actions; a self-transition (a re-arm) may return the
 * same snapshot, but with actions (cancel and re-schedule the timer).
 */
function accepts(snapshot: ExpirationSnapshot, event: MachineEventName): boolean {
  // Stryker disable next-line ConditionalExpression: a shortcut: a done snapshot stays as it is
  if (snapshot.status !== 'active') return false;
  return modelStep(snapshot, event)[1];
}

/**
 * The transitions of one generation or walk, by state and event: the model's
 * snapshots differ only in context, which no expectation reads. Scoped to the
 * call, not the module, so that no result outlives the code that computed it.
 */
let stepCache: Map<string, [ExpirationSnapshot, boolean]> | undefined;

/** The snapshot after `event` and whether the model takes a transition on it. */
function modelStep(snapshot: ExpirationSnapshot, event: MachineEventName): [ExpirationSnapshot, boolean] {
  const key = `${serializeState(snapshot)}:${event}`;
  let hit = stepCache?.get(key);
  if (!hit) {
    const [next, actions] = transition(expirationModel, snapshot, machineEvents[event]);
    hit = [next, next !== snapshot || actions.length > 0];
    stepCache?.set(key, hit);
  }
  return hit;
}

/** Runs `fn` with a transition cache of its own. */
function cached<T>(fn: () => T): T {
  const outer = stepCache;
  stepCache = outer ?? new Map();
  try {
    return fn();
  } finally {
    stepCache = outer;
  }
}

/** The model with its clock: the snapshot, the time since `new`, the saved deadline and when the timer was armed. */
interface Timed {
  snapshot: ExpirationSnapshot;
  now: number;
  deadline: number;
  armedAt: number;
}

/** One transition (or ignored event) applied in a step; `own` when it is the step's event itself. */
type Applied = { name: MachineEventName; before: ExpirationSnapshot; after: ExpirationSnapshot; own: boolean };

/** How far the clock advances for `input` from `state`; `undefined` for events that do not move it. */
function msOf(state: Timed, input: ModelInput): number | undefined {
  if (typeof input !== 'string') return input.ms;
  if (input === 'deadline') return Math.max(0, state.deadline - state.now);
  if (input === 'rearm') return MAX_TIMER_DELAY;
  return undefined;
}

/**
 * Applies one event with time: the event, then the entity's timer if it is due
 * (it fires with the clock at its new time, as a `SimulatedClock` does), then
 * every automatic event it enables.
 */
function applyTimed(state: Timed, input: ModelInput, automatic: readonly ModelEventName[], ttlMs: number) {
  const name = typeof input === 'string' ? input : input.event;
  const ms = msOf(state, input);
  let { snapshot, now, deadline, armedAt } = state;
  const applied: Applied[] = [];
  const apply = (micro: MachineEventName, own: boolean): void => {
    const before = snapshot;
    snapshot = modelStep(before, micro)[0];
    applied.push({ name: micro, before, after: snapshot, own });
    if (snapshot.value === 'active' && (before.value !== 'active' || micro === 'renew' || micro === 'rearm')) armedAt = now;
  };
  if (ms !== undefined) now += ms;
  else {
    if (name === 'renew') deadline = now + ttlMs;
    apply(name as MachineEventName, true);
  }
  // The timer of an active entity fires once its delay (clamped to a maximal timer) has passed.
  if (snapshot.value === 'active' && now >= armedAt + Math.min(MAX_TIMER_DELAY, deadline - armedAt)) {
    apply(now >= deadline ? 'deadline' : 'rearm', name === 'deadline' || name === 'rearm');
  }
  for (let auto = automatic.find((a) => a !== 'tick' && accepts(snapshot, a as MachineEventName)); auto; ) {
    apply(auto as MachineEventName, false);
    auto = automatic.find((a) => a !== 'tick' && accepts(snapshot, a as MachineEventName));
  }
  return { next: { snapshot, now, deadline, armedAt }, applied, ms };
}

/** The model at `new`: active, the deadline one TTL away. */
const initialTimed = (ttlMs: number): Timed => ({
  snapshot: initialTransition(expirationModel, dummyInput)[0],
  now: 0,
  deadline: ttlMs,
  armedAt: 0,
});

/** The model as actor logic whose every transition also runs the automatic events: what xstate/graph traverses. */
function stepLogic(automatic: readonly ModelEventName[]) {
  const applyStep = (snapshot: ExpirationSnapshot, event: MachineEventName) => {
    let next = transition(expirationModel, snapshot, machineEvents[event])[0];
    for (let auto = automatic.find((a) => a !== 'tick' && accepts(next, a as MachineEventName)); auto; ) {
      next = transition(expirationModel, next, machineEvents[auto as MachineEventName])[0];
      auto = automatic.find((a) => a !== 'tick' && accepts(next, a as MachineEventName));
    }
    return next;
  };
  // Stryker disable next-line ConditionalExpression: a shortcut: no automatic events, the model
  if (automatic.length === 0) return expirationModel;
  return {
    ...expirationModel,
    getInitialSnapshot: expirationModel.getInitialSnapshot.bind(expirationModel),
    getPersistedSnapshot: expirationModel.getPersistedSnapshot.bind(expirationModel),
    transition: (snapshot: ExpirationSnapshot, event: ExpirationEvent) => applyStep(snapshot, modelEventOf.get(event)!),
  } as unknown as typeof expirationModel;
}

const checkTtl = (ttlMs: number, where: string): number => {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 2) throw new TypeError(`${where}: ttlMs must be an integer of at least 2 ms`);
  return ttlMs;
};

/**
 * Runs `events` through the model from `new` (at time 0, deadline `ttlMs`),
 * computing what each step must show. A tick is `{ event: 'tick', ms }`.
 */
export function walkModel(
  events: readonly ModelInput[],
  options: Pick<ModelPathOptions, 'automatic' | 'ttlMs'> = {},
): ModelPath {
  const ttlMs = checkTtl(options.ttlMs ?? DEFAULT_MODEL_TTL_MS, 'walkModel');
  for (const input of events) {
    const ok =
      typeof input === 'string'
        ? input !== 'tick' && modelEventNames.includes(input)
        : input?.event === 'tick' && Number.isSafeInteger(input.ms) && input.ms >= 0;
    if (!ok) throw new TypeError(`walkModel: not a model event: ${JSON.stringify(input)} (a tick is { event: 'tick', ms })`);
  }
  return cached(() => walk(events, options.automatic ?? [], modelTransitions(), ttlMs));
}

/** {@link walkModel} with the machine's transitions read once by the caller (one read for all the paths). */
function walk(
  events: readonly ModelInput[],
  automatic: readonly ModelEventName[],
  transitions: ModelTransition[],
  ttlMs: number,
): ModelPath {
  let state = initialTimed(ttlMs);
  let closes = 0;
  let closeSignalAborted: boolean | undefined;
  const steps: ModelStep[] = [];
  for (const input of events) {
    const event = typeof input === 'string' ? input : input.event;
    const live = isLive(modelState(state.snapshot));
    const { next, applied, ms } = applyTimed(state, input, automatic, ttlMs);
    const taken: ModelTransition[] = [];
    for (const { name, before, after } of applied) {
      const from = modelState(before);
      const to = modelState(after);
      const t = accepts(before, name) ? transitionTaken(transitions, from, to, machineEvents[name].type) : undefined;
      if (t) taken.push(t);
      if (from !== 'expired.closing' && to === 'expired.closing') {
        closes++;
        closeSignalAborted = false;
      }
      if (from === 'expired.closing' && to !== 'expired.closing') closeSignalAborted = true;
    }
    state = next;
    const to = modelState(state.snapshot);
    steps.push({
      event,
      ms,
      then: applied.filter((a) => !a.own).map((a) => a.name),
      transitions: taken,
      returns: event === 'stop' || event === 'delete' ? live : undefined,
      expect: { state: to, live: isLive(to), closes, closeSignalAborted },
    });
  }
  return { name: events.map(inputName).join(' > ') || '(new)', ttlMs, steps };
}

const inputName = (input: ModelInput): string => (typeof input === 'string' ? input : `tick(${input.ms})`);

function isLive(state: ModelState): boolean {
  return state === 'active' || state === 'paused' || state === 'expired.queued';
}

function transitionTaken(
  transitions: ModelTransition[],
  from: ModelState,
  to: ModelState,
  eventType: string,
): ModelTransition | undefined {
  const source = stateNodeId(from);
  const target = stateNodeId(to);
  const within = (id: string, node: string): boolean => id === node || id.startsWith(`${node}.`);
  // A transition is declared on the state or an ancestor, and may target a compound state.
  return transitions.find((t) => t.event === eventType && within(target, t.target) && within(source, t.source));
}

/** How an update (`stop`) ends: it fails, succeeds, or fails after it succeeded. */
const updateOutcomes: readonly ModelEventName[] = ['start', 'renew', 'expire'];

/** The events whose order matters to time: the sequences of {@link ModelPathOptions.timeDepth} are of these. */
const timedEvents: readonly ModelEventName[] = ['renew', 'stop', 'start', 'tick', 'deadline'];

/** The ticks tried from `state`: half the TTL, and to 1 ms before the deadline while it is ahead. */
function ticksFrom(state: Timed, ttlMs: number): ModelInput[] {
  const half = Math.floor(ttlMs / 2);
  const left = state.deadline - state.now;
  const ticks: ModelInput[] = [{ event: 'tick', ms: half }];
  if (left > 1 && left - 1 !== half) ticks.push({ event: 'tick', ms: left - 1 });
  return ticks;
}

/** Whether `input` changes the model from `state`: a transition, or time passing while the deadline counts (active or paused). */
function acceptsTimed(state: Timed, input: ModelInput, ttlMs: number): boolean {
  const event = typeof input === 'string' ? input : input.event;
  const counting = state.snapshot.value === 'active' || state.snapshot.value === 'paused';
  if (timeModelEvents.includes(event) && counting) return (msOf(state, input) ?? 0) > 0;
  // A renewal of an active entity whose deadline is already one TTL away changes nothing time can tell.
  if (event === 'renew' && state.snapshot.value === 'active' && state.deadline - state.now === ttlMs) return false;
  return event !== 'tick' && accepts(state.snapshot, event as MachineEventName);
}

/** The key of a path in the set of sequences: its events, a tick with its ms. */
const keyOf = (path: readonly ModelInput[]): string => path.map(inputName).join(' ');
const parseKey = (key: string): ModelInput[] =>
  key === ''
    ? []
    : key.split(' ').map((part) => (part.startsWith('tick(') ? { event: 'tick', ms: Number(part.slice(5, -1)) } : (part as ModelEventName)));

/**
 * The paths that exercise the statechart, each with the TTL `ttlMs`:
 * - every sequence of accepted events from `new` up to `depth` (back-edges
 *   included), the clock moving only to the deadline (`deadline`) or by a
 *   maximal timer (`rearm`);
 * - every sequence of the events that see time up to `timeDepth`, with ticks of
 *   half the TTL and to 1 ms before the deadline, paused or not;
 * - the shortest path to every state (from xstate/graph), extended by every
 *   event, accepted or not, so that ignored events are tested too (R4), and
 *   after a `stop` by every outcome of that update; the same from the state
 *   after each event it accepts (a close that settled, a tick while paused).
 *
 * A path that is a prefix of another is dropped: every step of a path is checked.
 */
export function generateModelPaths(options: ModelPathOptions = {}): ModelPath[] {
  return cached(() => generate(options));
}

function generate(options: ModelPathOptions): ModelPath[] {
  const depth = options.depth ?? 6;
  if (!Number.isInteger(depth) || depth < 1) throw new TypeError('generateModelPaths: depth must be a positive integer');
  const timeDepth = options.timeDepth ?? 5;
  if (!Number.isInteger(timeDepth) || timeDepth < 0) {
    throw new TypeError('generateModelPaths: timeDepth must be a non-negative integer');
  }
  const ttlMs = checkTtl(options.ttlMs ?? DEFAULT_MODEL_TTL_MS, 'generateModelPaths');
  const automatic = options.automatic ?? [];
  const events =
    options.events ?? modelEventNames.filter((e) => !automatic.includes(e) && !durableOnlyModelEvents.includes(e));
  const sequences = new Set<string>();
  const add = (path: readonly ModelInput[]): void => void sequences.add(keyOf(path));
  const inputsFrom = (state: Timed, among: readonly ModelEventName[]): ModelInput[] =>
    among.flatMap((e) => (e === 'tick' ? ticksFrom(state, ttlMs) : [e]));

  // 1. Every sequence of accepted events up to `depth`; no ticks.
  const extend = (state: Timed, path: ModelInput[]): void => {
    const enabled =
      path.length < depth
        ? events.filter((e) => e !== 'tick' && possible(path, e) && accepts(state.snapshot, e as MachineEventName) && agrees(state, e))
        : [];
    if (enabled.length === 0) return add(path);
    for (const event of enabled) extend(applyTimed(state, event, automatic, ttlMs).next, [...path, event]);
  };
  extend(initialTimed(ttlMs), []);

  // 2. Every sequence of the events that see time up to `timeDepth`.
  const seeing = timedEvents.filter((e) => events.includes(e));
  const extendTimed = (state: Timed, path: ModelInput[]): void => {
    const enabled =
      path.length < timeDepth ? inputsFrom(state, seeing).filter((i) => possible(path, i) && acceptsTimed(state, i, ttlMs)) : [];
    if (enabled.length === 0) return add(path);
    for (const input of enabled) extendTimed(applyTimed(state, input, automatic, ttlMs).next, [...path, input]);
  };
  if (timeDepth > 0) extendTimed(initialTimed(ttlMs), []);

  // 3. The shortest path to every state, extended by every event; a `stop` by every outcome too.
  const machineOnly = events.filter((e): e is MachineEventName => e !== 'tick');
  const shortestWith = (among: readonly MachineEventName[]) =>
    getShortestPaths(stepLogic(automatic), { input: dummyInput, events: among.map((name) => machineEvents[name]), serializeState });
  // To each state with the manager still running where it can be (what follows is tested on a working manager),
  // through `dispose` or `shutdown` where it cannot.
  const running = shortestWith(machineOnly.filter((e) => e !== 'dispose' && e !== 'shutdown'));
  const reached = new Set(running.map((path) => serializeState(path.state)));
  const shortest = [...running, ...shortestWith(machineOnly).filter((path) => !reached.has(serializeState(path.state)))];
  const stateAfter = (path: readonly ModelInput[]): Timed =>
    path.reduce((state, input) => applyTimed(state, input, automatic, ttlMs).next, initialTimed(ttlMs));
  const continuations = (prefix: readonly ModelInput[]): ModelInput[] => {
    const state = stateAfter(prefix);
    return inputsFrom(state, events).filter(
      // `new` for an id the manager no longer holds starts a new expiration: not this one's `renew`.
      (input) => possible(prefix, input) && (input !== 'renew' || isLive(modelState(state.snapshot))) && agrees(state, input),
    );
  };
  const extendByAll = (prefix: readonly ModelInput[]): void => {
    for (const input of continuations(prefix)) {
      if (input !== 'stop') add([...prefix, input]);
      else {
        // An update that found the entity gone is a new one's if it succeeds: only its failure is this entity's.
        const gone = !isLive(modelState(stateAfter(prefix).snapshot));
        const outcomes = continuations([...prefix, input]).filter(
          (o) => (gone ? o === 'start' : updateOutcomes.includes(o as ModelEventName)),
        );
        if (outcomes.length === 0) add([...prefix, input]);
        for (const outcome of outcomes) add([...prefix, input, outcome]);
      }
    }
  };
  for (const path of shortest) {
    const prefix: ModelInput[] = path.steps.flatMap((step) => {
      const name = modelEventOf.get(step.event as ExpirationEvent);
      return name ? [name] : []; // the first step is xstate.init
    });
    extendByAll(prefix);
    // Every transition out of the state too (a close that settled, a tick while paused), then every event.
    const state = stateAfter(prefix);
    for (const input of continuations(prefix)) if (acceptsTimed(state, input, ttlMs)) extendByAll([...prefix, input]);
  }

  // Sorted, the sequences that start with a key follow it at once.
  const keys = [...sequences].map((key) => `${key} `).sort();
  const maximal = keys.filter((key, i) => !keys[i + 1]?.startsWith(key));
  const transitions = modelTransitions();
  return maximal.map((key) => walk(parseKey(key.slice(0, -1)), automatic, transitions, ttlMs));
}

/** Whether a user can make `input` happen after `path`: once the manager closes everything, it refuses `new`. */
function possible(path: readonly ModelInput[], input: ModelInput): boolean {
  return input !== 'renew' || !path.includes('shutdown');
}

/** A `rearm` is a timer waking before the deadline: only where the deadline is more than a maximal timer away. */
function agrees(state: Timed, input: ModelInput): boolean {
  return input !== 'rearm' || state.deadline - state.now > MAX_TIMER_DELAY;
}

/** Coverage of a set of paths over the statechart. */
export interface ModelCoverage {
  states: { covered: string[]; missing: string[] };
  transitions: { covered: ModelTransition[]; missing: ModelTransition[] };
  requirements: { traced: Map<Requirement, number>; missing: Requirement[] };
}

/**
 * Which states and transitions `paths` take, and through how many paths each
 * requirement is traced. With `events`, only transitions taken on those events
 * count: those on other events (say, durable-only ones) are neither covered nor
 * missing, and a requirement only they realise is not missing.
 *
 * @param requirementsToTrace the requirements to report on: their names, or the
 *   `requirements` object itself (its keys). Default: every requirement.
 */
export function modelCoverage(
  paths: readonly ModelPath[],
  requirementsToTrace: readonly Requirement[] | Readonly<Record<Requirement, string>> = requirements,
  options: { events?: readonly ModelEventName[] } = {},
): ModelCoverage {
  const allRequirements = Array.isArray(requirementsToTrace)
    ? (requirementsToTrace as readonly Requirement[])
    : (Object.keys(requirementsToTrace) as Requirement[]);
  const allowed = new Set((options.events ?? modelEventNames).map((name) => eventType(name)));
  const transitions = modelTransitions().filter((t) => allowed.has(t.event));
  const reachable = new Set(transitions.flatMap((t) => t.requirements));
  const states = modelStates();
  const takenIds = new Set<string>();
  const visited = new Set<string>(['expiration.active']);
  const traced = new Map<Requirement, number>();
  for (const path of paths) {
    const inPath = new Set<Requirement>();
    for (const step of path.steps) {
      visited.add(stateNodeId(step.expect.state));
      // Stryker disable next-line ConditionalExpression,MethodExpression,StringLiteral: a shortcut: expired is added below too
      if (step.expect.state.startsWith('expired.')) visited.add('expiration.expired');
      for (const t of step.transitions) {
        takenIds.add(t.id);
        visited.add(t.source).add(t.target);
        t.requirements.forEach((r) => inPath.add(r));
      }
    }
    inPath.forEach((r) => traced.set(r, (traced.get(r) ?? 0) + 1));
  }
  return {
    states: { covered: states.filter((s) => visited.has(s)), missing: states.filter((s) => !visited.has(s)) },
    transitions: {
      covered: transitions.filter((t) => takenIds.has(t.id)),
      missing: transitions.filter((t) => !takenIds.has(t.id)),
    },
    requirements: { traced, missing: allRequirements.filter((r) => !traced.has(r) && reachable.has(r)) },
  };
}
