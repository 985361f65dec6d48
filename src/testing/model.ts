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
import { CLOSE_TIMED_OUT } from '../machines/effects.js';
import { type RetryPolicy, backoffMs, toCloseTimeout, toRetryPolicy } from '../machines/retry.js';

/** The delayed event of `active`, as XState names it: `xstate.after.<delay>.<state id>`. */
export const DEADLINE_EVENT = 'xstate.after.deadline.expiration.active';
/** The event of the running close settling. */
export const CLOSE_SETTLED_EVENT = 'settled';
/** The delayed event of `expired.closing`: the running attempt timed out. */
export const CLOSE_TIMEOUT_EVENT = 'xstate.after.closeTimeout.expiration.expired.closing';
/** The delayed event of `expired.retrying`: the backoff is over. */
export const BACKOFF_EVENT = 'xstate.after.backoff.expiration.expired.retrying';
/** The delayed event of `paused`: the pause outlived its timeout, and the saved deadline resumes. */
export const PAUSE_TIMEOUT_EVENT = 'xstate.after.pauseTimeout.expiration.paused';
/** What the model's `failClose` fails with (the model reads no message: any error does). */
const MODEL_CLOSE_ERROR = new Error('the model: the close failed');

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
 * - `failClose`: the running close fails (it throws or rejects): reported, then
 *   retried after a backoff, kept as `failed` after the last attempt, or gone
 *   without retries ({@link ModelPath.retry}).
 * - `closeTimeout`: the clock advances by {@link ModelStep.ms} to the running
 *   attempt's timeout ({@link ModelPath.closeTimeoutMs}): its signal aborts and it fails.
 * - `backoff`: the clock advances by {@link ModelStep.ms} to the end of the
 *   backoff of a retrying entity: its next attempt is queued.
 * - `pauseTimeout`: the clock advances by {@link ModelStep.ms} to the end of the
 *   pause ({@link ModelPath.pauseTimeoutMs} after the last `stop`): the saved
 *   deadline resumes, as after a failed update.
 * - `retry`: `retry(id)`: a `failed` entity is closed again, with a fresh round of attempts.
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
  | 'settleClose'
  | 'failClose'
  | 'closeTimeout'
  | 'backoff'
  | 'pauseTimeout'
  | 'retry';

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
  'failClose',
  'closeTimeout',
  'backoff',
  'pauseTimeout',
  'retry',
];

/** Events only a durable manager has: not in the default events of {@link generateModelPaths}. */
export const durableOnlyModelEvents: readonly ModelEventName[] = ['reclaim'];

/** The events that move the clock; each step of one says by how much in {@link ModelStep.ms}. */
export const timeModelEvents: readonly ModelEventName[] = ['tick', 'deadline', 'rearm', 'closeTimeout', 'backoff', 'pauseTimeout'];

/**
 * The TTL of the generated paths unless {@link ModelPathOptions.ttlMs} says
 * otherwise: four maximal timers, so that a path can re-arm (`rearm`) before
 * its deadline and ticks still cross timer boundaries.
 */
export const DEFAULT_MODEL_TTL_MS = 4 * MAX_TIMER_DELAY;

/**
 * The retry policies of the generated paths unless {@link ModelPathOptions.retry}
 * says otherwise: two attempts (so that a failed close is retried, then kept as
 * `failed`), and one (Go's behaviour: a failed close is reported and gone).
 */
export const DEFAULT_MODEL_RETRY: readonly Readonly<RetryPolicy>[] = Object.freeze([
  Object.freeze({ attempts: 2, backoffMs: 1_000, maxBackoffMs: 60_000 }),
  Object.freeze({ attempts: 1, backoffMs: 1_000, maxBackoffMs: 60_000 }),
]);

/** The close timeout of the generated paths unless {@link ModelPathOptions.closeTimeoutMs} says otherwise. */
export const DEFAULT_MODEL_CLOSE_TIMEOUT_MS = 30_000;

/**
 * The pause timeouts of the generated paths unless {@link ModelPathOptions.pauseTimeoutMs}
 * says otherwise: one minute, then none (Go's behaviour, the in-memory
 * manager's default: a pause lasts until the update reports back).
 */
export const DEFAULT_MODEL_PAUSE_TIMEOUT_MS: readonly (number | null)[] = Object.freeze([60_000, null]);

/** The entity's id in the generated paths unless {@link ModelPathOptions.id} says otherwise. */
export const DEFAULT_MODEL_ID = 'e';

/** A state of the model: a top-level state, or a state of `expired` (`expired.queued`, ...). */
export type ModelState =
  | 'active'
  | 'paused'
  | 'expired.queued'
  | 'expired.closing'
  | 'expired.retrying'
  | 'failed'
  | 'closed'
  | 'deleted';

/** What a user can observe of the entity after a step. */
export interface Expectation {
  /** The model's state. */
  state: ModelState;
  /**
   * Whether the manager still holds the entity (`has(id)`): active, paused,
   * expired and queued or retrying, or failed; not while its close runs.
   */
  live: boolean;
  /** How many times the close has been called: each attempt is one. */
  closes: number;
  /** Whether the last close's signal is aborted; `undefined` before any close. */
  closeSignalAborted: boolean | undefined;
  /**
   * How many close attempts have failed (threw, rejected or timed out): each
   * is reported to `onCloseError`.
   */
  closeFailures: number;
  /**
   * The close attempts made since the entity expired or was retried by hand
   * (`get(id).attempts`): 0 until its first close runs, and after a renewal or `retry`.
   */
  attempts: number;
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
   * How far the clock advances on this step, in ms: given for `tick`, `deadline`,
   * `rearm`, `closeTimeout`, `backoff` and `pauseTimeout` (apply it to your clock:
   * `clock.increment(step.ms)`); `undefined` for every other event.
   */
  ms: number | undefined;
  /**
   * What followed the event on its own: `deadline` when the entity's timer fired
   * (a `tick` reached the deadline, or a `start` resumed a deadline that passed
   * while paused), `rearm` when it woke early, `pauseTimeout`, `closeTimeout` or
   * `backoff` when a tick crossed those, the automatic events (see
   * {@link ModelPathOptions.automatic}), and `dispose` when a manager closing
   * everything (`shutdown`) is left with nothing but this failed entity, and disposes.
   */
  then: ModelEventName[];
  /** The transitions taken; empty when the model ignores the event here. */
  transitions: ModelTransition[];
  /** What `stop()`, `delete()` or `retry()` must return on this step; `undefined` for other events. */
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
  /** The entity's id: the backoff's jitter is a hash of it (create the entity with this id). */
  id: string;
  /** The entity's retry policy: create it (or the manager) with it. */
  retry: Readonly<RetryPolicy>;
  /** The entity's close timeout; `undefined` for none. Create it (or the manager) with it. */
  closeTimeoutMs: number | undefined;
  /** How long a pause lasts before the deadline resumes; `undefined` for no limit. Create the manager (or the actor) with it. */
  pauseTimeoutMs: number | undefined;
  steps: ModelStep[];
}

/** One event of a path to walk: a model event, or a `tick` with how far the clock advances. */
export type ModelInput = ModelEventName | { event: 'tick'; ms: number };

/** The expiration machine with the model's policy: what a path's entity is created with. */
interface Policy {
  ttlMs: number;
  id: string;
  retry: Readonly<RetryPolicy>;
  closeTimeoutMs: number | undefined;
  pauseTimeoutMs: number | undefined;
  automatic: readonly ModelEventName[];
  /**
   * What this policy varies from the first (whose paths are all kept): the
   * retry policy (only the paths where a close fails are kept) or the pause
   * timeout (only those where time passes while paused).
   */
  variant: 'retry' | 'pause' | undefined;
}

/** The input of the model's machine: no clock or executor of its own, the path's policy. */
const inputOf = (policy: Policy): ExpirationInput => ({
  id: policy.id,
  deadline: 0,
  close: () => {},
  executor: { asyncExec: async () => {} },
  clock: { now: () => 0, setTimeout: () => 0, clearTimeout: () => {} },
  onCloseError: () => {},
  retry: policy.retry,
  closeTimeoutMs: policy.closeTimeoutMs,
  pauseTimeoutMs: policy.pauseTimeoutMs,
});

/**
 * The expiration machine as a model: the same states and transitions. The
 * guards that read the clock in production do not here: the model keeps its
 * own time (see {@link walkModel}), tells the timer event whether the deadline
 * was reached (`deadline`) or not (`rearm`), and sends the close timeout's
 * event only once it is due.
 */
export const expirationModel = expirationMachine.provide({
  guards: {
    deadlineReached: ({ event }) => (event as { reached?: boolean }).reached !== false,
    // The model's `refuse` is about the close queued now, never a stale one.
    sameGeneration: () => true,
    closeTimedOut: () => true,
  },
});

/**
 * The events the machine receives; `tick` has none of its own (it may fire a
 * timer). `timedOut` is the failure a close timeout sends (it follows `closeTimeout`).
 */
type MachineEventName = Exclude<ModelEventName, 'tick'> | 'timedOut';

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
  failClose: { type: 'failed', error: MODEL_CLOSE_ERROR },
  closeTimeout: { type: CLOSE_TIMEOUT_EVENT } as unknown as ExpirationEvent,
  backoff: { type: BACKOFF_EVENT } as unknown as ExpirationEvent,
  pauseTimeout: { type: PAUSE_TIMEOUT_EVENT } as unknown as ExpirationEvent,
  retry: { type: 'retry' },
  timedOut: { type: 'failed', error: CLOSE_TIMED_OUT },
};

/** The machine event type a model event is delivered as (a tick's: the timer's). */
const eventType = (name: ModelEventName): string => (name === 'tick' ? DEADLINE_EVENT : machineEvents[name].type);

const modelEventOf = new Map<ExpirationEvent, MachineEventName>(
  Object.entries(machineEvents).map(([name, event]) => [event, name as MachineEventName]),
);

/** The machine events one model event is: a close timeout is the timer, then the failure it sends. */
const microsOf = (name: MachineEventName): MachineEventName[] => (name === 'closeTimeout' ? ['closeTimeout', 'timedOut'] : [name]);

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
  /** The entity's id (default {@link DEFAULT_MODEL_ID}): the backoff's jitter is a hash of it. */
  id?: string;
  /**
   * The retry policy the entity is created with, or several: the paths of each
   * policy after the first are only those where a close attempt fails (the
   * others are the same whatever the policy), named with the policy
   * (`… (attempts: 1)`). Default {@link DEFAULT_MODEL_RETRY}: two attempts,
   * then one. `walkModel` takes one policy, by default the first of these.
   */
  retry?: Partial<RetryPolicy> | readonly Partial<RetryPolicy>[];
  /**
   * How long one close attempt may run (default
   * {@link DEFAULT_MODEL_CLOSE_TIMEOUT_MS}); `null` for no limit: then
   * `closeTimeout` never happens.
   */
  closeTimeoutMs?: number | null;
  /**
   * How long a pause may last before the saved deadline resumes, or several
   * settings: `null` for no limit (then `pauseTimeout` never happens). The
   * paths of each setting after the first are only those where time passes
   * while the entity is paused (the others are the same whatever the
   * setting), named with it (`… (pauseTimeoutMs: none)`). Default
   * {@link DEFAULT_MODEL_PAUSE_TIMEOUT_MS}: one minute, then none. `walkModel`
   * takes one setting, by default the first of these.
   */
  pauseTimeoutMs?: number | null | readonly (number | null)[];
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

/** A state of the model as the transition cache tells them apart: its value, attempt count and whether a pause times out. */
const serializeState = (snapshot: ExpirationSnapshot): string =>
  `${JSON.stringify(snapshot.value)}:${snapshot.status}:${snapshot.context.attempt}:${snapshot.context.pauseTimeoutMs !== undefined}`;

/**
 * A state as xstate/graph tells them apart: attempts beyond the policy's are
 * all alike (a durable `reclaim` counts one more each time: the graph would never end).
 */
const graphState = (snapshot: ExpirationSnapshot): string =>
  `${JSON.stringify(snapshot.value)}:${snapshot.status}:${Math.min(snapshot.context.attempt, snapshot.context.retry.attempts)}`;

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
 * The transitions of one generation or walk, by state, policy and event: the
 * model's snapshots differ otherwise only in what no expectation reads (the
 * generation, which the model counts itself). Scoped to the call, not the
 * module, so that no result outlives the code that computed it.
 */
let stepCache: Map<string, [ExpirationSnapshot, boolean]> | undefined;

/** The snapshot after `event` and whether the model takes a transition on it. */
function modelStep(snapshot: ExpirationSnapshot, event: MachineEventName): [ExpirationSnapshot, boolean] {
  const key = `${serializeState(snapshot)}:${snapshot.context.retry.attempts}:${event}`;
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

/**
 * The model with its clock: the snapshot, the time since `new`, the saved
 * deadline and when its timer was armed, the renewals so far, when the running
 * attempt times out, when the backoff ends and when the pause times out, and
 * whether the manager closes everything (`shutdown`).
 */
interface Timed {
  snapshot: ExpirationSnapshot;
  now: number;
  deadline: number;
  armedAt: number;
  generation: number;
  closeAt: number;
  retryAt: number;
  pauseAt: number;
  draining: boolean;
}

/** One transition (or ignored event) applied in a step; `own` when it is the step's event itself. */
type Applied = { name: MachineEventName; before: ExpirationSnapshot; after: ExpirationSnapshot; own: boolean };

/** How far the clock advances for `input` from `state`; `undefined` for events that do not move it. */
function msOf(state: Timed, input: ModelInput): number | undefined {
  if (typeof input !== 'string') return input.ms;
  if (input === 'deadline') return Math.max(0, state.deadline - state.now);
  if (input === 'rearm') return MAX_TIMER_DELAY;
  // To the timer of the state, 0 where it has none (the clock stands still).
  if (input === 'closeTimeout') return armed(state, 'expired.closing', state.closeAt);
  if (input === 'backoff') return armed(state, 'expired.retrying', state.retryAt);
  if (input === 'pauseTimeout') return armed(state, 'paused', state.pauseAt);
  return undefined;
}

const armed = (state: Timed, where: ModelState, at: number): number =>
  modelState(state.snapshot) === where && at !== Infinity ? Math.max(0, at - state.now) : 0;

/** The timer of the state that is due at `now`, if any: the deadline's (or its re-arm), the pause's, the close timeout's, the backoff's. */
function dueTimer(snapshot: ExpirationSnapshot, t: Omit<Timed, 'snapshot'>): MachineEventName | undefined {
  switch (modelState(snapshot)) {
    case 'active':
      // It fires once its delay (clamped to a maximal timer) has passed.
      if (t.now >= t.armedAt + Math.min(MAX_TIMER_DELAY, t.deadline - t.armedAt)) return t.now >= t.deadline ? 'deadline' : 'rearm';
      return undefined;
    case 'paused':
      return t.now >= t.pauseAt ? 'pauseTimeout' : undefined;
    case 'expired.closing':
      return t.now >= t.closeAt ? 'closeTimeout' : undefined;
    case 'expired.retrying':
      return t.now >= t.retryAt ? 'backoff' : undefined;
    default:
      return undefined;
  }
}

/** The timer events each time event of a step stands for (its own firing, not one that follows). */
const ownTimers: Partial<Record<ModelEventName, readonly MachineEventName[]>> = {
  deadline: ['deadline', 'rearm'],
  rearm: ['deadline', 'rearm'],
  closeTimeout: ['closeTimeout'],
  backoff: ['backoff'],
  pauseTimeout: ['pauseTimeout'],
};

/**
 * Applies one event with time: the event, then every timer that is due (it
 * fires with the clock at its new time, as a `SimulatedClock` does) and every
 * automatic event it enables, until nothing more happens; then, when the
 * manager closes everything and this entity is failed, the manager's dispose.
 */
function applyTimed(state: Timed, input: ModelInput, policy: Policy) {
  const name = typeof input === 'string' ? input : input.event;
  const ms = msOf(state, input);
  let { snapshot, now, deadline, armedAt, generation, closeAt, retryAt, pauseAt, draining } = state;
  const applied: Applied[] = [];
  const apply = (event: MachineEventName, own: boolean): void => {
    for (const micro of microsOf(event)) {
      const before = snapshot;
      const [after, accepted] = modelStep(before, micro);
      snapshot = after;
      applied.push({ name: micro, before, after, own });
      const from = modelState(before);
      const to = modelState(after);
      if (micro === 'renew' && accepted) generation++;
      if (to === 'active' && (from !== 'active' || micro === 'renew' || micro === 'rearm')) armedAt = now;
      // Entering paused arms its timeout; another update (`stop` again) re-enters it and starts it again.
      if (to === 'paused' && (from !== to || micro === 'stop')) {
        pauseAt = policy.pauseTimeoutMs === undefined ? Infinity : now + policy.pauseTimeoutMs;
      }
      if (to === 'expired.closing' && (from !== to || micro === 'reclaim')) {
        closeAt = policy.closeTimeoutMs === undefined ? Infinity : now + policy.closeTimeoutMs;
      }
      if (to === 'expired.retrying' && from !== to) retryAt = now + backoffMs(policy.retry, policy.id, generation, after.context.attempt);
    }
  };
  if (ms !== undefined) now += ms;
  else {
    if (name === 'renew') deadline = now + policy.ttlMs;
    // A second dispose({ close: true }) returns the first one's promise: the entities hear nothing more.
    if (name !== 'shutdown' || !draining) apply(name as MachineEventName, true);
    if (name === 'shutdown') draining = true;
  }
  let own = ownTimers[name];
  for (;;) {
    const timer = dueTimer(snapshot, { now, deadline, armedAt, generation, closeAt, retryAt, pauseAt, draining });
    if (timer !== undefined) {
      apply(timer, own?.includes(timer) === true);
      own = undefined; // a timer that follows is not the step's own
      continue;
    }
    const auto = policy.automatic.find((a) => a !== 'tick' && !timeModelEvents.includes(a) && accepts(snapshot, a as MachineEventName));
    if (auto === undefined) break;
    apply(auto as MachineEventName, false);
  }
  // Closing everything ends when nothing is left but failed entities: then the manager disposes.
  if (draining && modelState(snapshot) === 'failed') apply('dispose', false);
  return { next: { snapshot, now, deadline, armedAt, generation, closeAt, retryAt, pauseAt, draining }, applied, ms };
}

/** The model at `new`: active, the deadline one TTL away. */
const initialTimed = (policy: Policy): Timed => ({
  snapshot: initialTransition(expirationModel, inputOf(policy))[0],
  now: 0,
  deadline: policy.ttlMs,
  armedAt: 0,
  generation: 0,
  closeAt: Infinity,
  retryAt: Infinity,
  pauseAt: Infinity,
  draining: false,
});

/**
 * The model as actor logic whose every transition is a model event (a close
 * timeout with the failure it sends) followed by the automatic events: what
 * xstate/graph traverses.
 */
function stepLogic(automatic: readonly ModelEventName[]) {
  const applyStep = (snapshot: ExpirationSnapshot, event: MachineEventName) => {
    let next = snapshot;
    for (const micro of microsOf(event)) next = transition(expirationModel, next, machineEvents[micro])[0];
    for (let auto = automatic.find((a) => a !== 'tick' && accepts(next, a as MachineEventName)); auto; ) {
      next = transition(expirationModel, next, machineEvents[auto as MachineEventName])[0];
      auto = automatic.find((a) => a !== 'tick' && accepts(next, a as MachineEventName));
    }
    return next;
  };
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

/** The policies of `options`, validated, with their defaults: one per retry policy. */
function policiesOf(options: ModelPathOptions, where: string): Policy[] {
  const ttlMs = checkTtl(options.ttlMs ?? DEFAULT_MODEL_TTL_MS, where);
  const id = options.id ?? DEFAULT_MODEL_ID;
  if (typeof id !== 'string' || id === '') throw new TypeError(`${where}: id must be a non-empty string`);
  const closeTimeoutMs =
    options.closeTimeoutMs === null ? undefined : toCloseTimeout(where, options.closeTimeoutMs ?? DEFAULT_MODEL_CLOSE_TIMEOUT_MS);
  const given = options.retry ?? DEFAULT_MODEL_RETRY;
  const retries = (Array.isArray(given) ? given : [given]) as readonly Partial<RetryPolicy>[];
  if (retries.length === 0) throw new TypeError(`${where}: retry must name at least one policy`);
  const pausesGiven = options.pauseTimeoutMs === undefined ? DEFAULT_MODEL_PAUSE_TIMEOUT_MS : options.pauseTimeoutMs;
  const pauses = (Array.isArray(pausesGiven) ? pausesGiven : [pausesGiven]) as readonly (number | null)[];
  if (pauses.length === 0) throw new TypeError(`${where}: pauseTimeoutMs must name at least one setting`);
  const pauseTimeouts = pauses.map((ms) => (ms === null ? undefined : toCloseTimeout(where, ms, 'pauseTimeoutMs')));
  const automatic = options.automatic ?? [];
  const policy = (retry: Partial<RetryPolicy>, pauseTimeoutMs: number | undefined, variant: Policy['variant']): Policy => ({
    ttlMs,
    id,
    retry: toRetryPolicy(where, retry, DEFAULT_MODEL_RETRY[0]),
    closeTimeoutMs,
    pauseTimeoutMs,
    automatic,
    variant,
  });
  // Every retry policy with the first pause setting, then the first policy with every other setting.
  return [
    ...retries.map((retry, i) => policy(retry, pauseTimeouts[0], i === 0 ? undefined : 'retry')),
    ...pauseTimeouts.slice(1).map((pauseTimeoutMs) => policy(retries[0]!, pauseTimeoutMs, 'pause')),
  ];
}

/**
 * Runs `events` through the model from `new` (at time 0, deadline `ttlMs`),
 * computing what each step must show. A tick is `{ event: 'tick', ms }`.
 */
export function walkModel(
  events: readonly ModelInput[],
  options: Pick<ModelPathOptions, 'automatic' | 'ttlMs' | 'id' | 'closeTimeoutMs'> & {
    retry?: Partial<RetryPolicy>;
    pauseTimeoutMs?: number | null;
  } = {},
): ModelPath {
  if (Array.isArray(options.retry)) throw new TypeError('walkModel: retry must be one policy');
  if (Array.isArray(options.pauseTimeoutMs)) throw new TypeError('walkModel: pauseTimeoutMs must be one setting');
  const [policy] = policiesOf(options, 'walkModel');
  for (const input of events) {
    const ok =
      typeof input === 'string'
        ? input !== 'tick' && modelEventNames.includes(input)
        : input?.event === 'tick' && Number.isSafeInteger(input.ms) && input.ms >= 0;
    if (!ok) throw new TypeError(`walkModel: not a model event: ${JSON.stringify(input)} (a tick is { event: 'tick', ms })`);
  }
  return cached(() => walk(events, policy!, modelTransitions()));
}

/** {@link walkModel} with the machine's transitions read once by the caller (one read for all the paths). */
function walk(events: readonly ModelInput[], policy: Policy, transitions: ModelTransition[], suffix = ''): ModelPath {
  let state = initialTimed(policy);
  let closes = 0;
  let closeFailures = 0;
  let closeSignalAborted: boolean | undefined;
  const steps: ModelStep[] = [];
  for (const input of events) {
    const event = typeof input === 'string' ? input : input.event;
    const before = modelState(state.snapshot);
    const { next, applied, ms } = applyTimed(state, input, policy);
    const taken: ModelTransition[] = [];
    for (const { name, before, after } of applied) {
      const from = modelState(before);
      const to = modelState(after);
      const accepted = accepts(before, name);
      const t = accepted ? transitionTaken(transitions, from, to, machineEvents[name].type) : undefined;
      if (t) taken.push(t);
      if (accepted && machineEvents[name].type === 'failed') closeFailures++;
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
      then: applied.filter((a) => !a.own && a.name !== 'timedOut').map((a) => a.name as ModelEventName),
      transitions: taken,
      returns: returnsOf(event, before),
      expect: { state: to, live: isLive(to), closes, closeSignalAborted, closeFailures, attempts: state.snapshot.context.attempt },
    });
  }
  const name = (events.map(inputName).join(' > ') || '(new)') + suffix;
  const { ttlMs, id, retry, closeTimeoutMs, pauseTimeoutMs } = policy;
  return { name, ttlMs, id, retry, closeTimeoutMs, pauseTimeoutMs, steps };
}

/** What the call of `event` returns from `state`: whether there was a live entity (a failed one, for `retry`). */
function returnsOf(event: ModelEventName, state: ModelState): boolean | undefined {
  if (event === 'stop' || event === 'delete') return isLive(state);
  return event === 'retry' ? state === 'failed' : undefined;
}

const inputName = (input: ModelInput): string => (typeof input === 'string' ? input : `tick(${input.ms})`);

function isLive(state: ModelState): boolean {
  return (
    state === 'active' || state === 'paused' || state === 'expired.queued' || state === 'expired.retrying' || state === 'failed'
  );
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

/**
 * The ticks tried from `state`: half the TTL, to 1 ms before the deadline while
 * it is ahead, and while paused to 1 ms before the pause times out (so that a
 * `stop` that restarts the timeout is told from one that does not).
 */
function ticksFrom(state: Timed, ttlMs: number): ModelInput[] {
  const half = Math.floor(ttlMs / 2);
  const left = state.deadline - state.now;
  const ticks: ModelInput[] = [{ event: 'tick', ms: half }];
  if (left > 1 && left - 1 !== half) ticks.push({ event: 'tick', ms: left - 1 });
  const pauseLeft = modelState(state.snapshot) === 'paused' ? state.pauseAt - state.now : Infinity;
  if (pauseLeft !== Infinity && pauseLeft > 1 && pauseLeft - 1 !== half && pauseLeft !== left) {
    ticks.push({ event: 'tick', ms: pauseLeft - 1 });
  }
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
 *   included), the clock moving only to the deadline (`deadline`), by a
 *   maximal timer (`rearm`), to a close timeout or to the end of a backoff;
 * - every sequence of the events that see time up to `timeDepth`, with ticks of
 *   half the TTL and to 1 ms before the deadline, paused or not;
 * - the shortest path to every state (from xstate/graph), extended by every
 *   event, accepted or not, so that ignored events are tested too (R4), and
 *   after a `stop` by every outcome of that update; the same from the state
 *   after each event it accepts (a close that settled, a tick while paused).
 *
 * Each for the first retry policy, then, for every other policy, those where
 * a close attempt fails. A path that is a prefix of another is dropped: every
 * step of a path is checked.
 */
export function generateModelPaths(options: ModelPathOptions = {}): ModelPath[] {
  const depth = options.depth ?? 6;
  if (!Number.isInteger(depth) || depth < 1) throw new TypeError('generateModelPaths: depth must be a positive integer');
  const timeDepth = options.timeDepth ?? 5;
  if (!Number.isInteger(timeDepth) || timeDepth < 0) {
    throw new TypeError('generateModelPaths: timeDepth must be a non-negative integer');
  }
  const policies = policiesOf(options, 'generateModelPaths');
  const automatic = policies[0]!.automatic;
  const events =
    options.events ?? modelEventNames.filter((e) => !automatic.includes(e) && !durableOnlyModelEvents.includes(e));
  return cached(() =>
    policies.flatMap((policy) => {
      switch (policy.variant) {
        case undefined:
          return generate(depth, timeDepth, events, policy, '');
        case 'retry':
          return generate(depth, timeDepth, events, policy, ` (attempts: ${policy.retry.attempts})`).filter((path) =>
            path.steps.some((step) => step.expect.closeFailures > 0),
          );
        case 'pause':
          return generate(depth, timeDepth, events, policy, ` (pauseTimeoutMs: ${policy.pauseTimeoutMs ?? 'none'})`).filter(
            (path) => path.steps.some((step, i) => (step.ms ?? 0) > 0 && (path.steps[i - 1]?.expect.state ?? 'active') === 'paused'),
          );
      }
    }),
  );
}

function generate(depth: number, timeDepth: number, events: readonly ModelEventName[], policy: Policy, suffix: string): ModelPath[] {
  const { ttlMs, automatic } = policy;
  const sequences = new Set<string>();
  const add = (path: readonly ModelInput[]): void => void sequences.add(keyOf(path));
  const inputsFrom = (state: Timed, among: readonly ModelEventName[]): ModelInput[] =>
    among.flatMap((e) => (e === 'tick' ? ticksFrom(state, ttlMs) : [e]));
  const initial = initialTimed(policy);

  // 1. Every sequence of accepted events up to `depth`; no ticks.
  const extend = (state: Timed, path: ModelInput[]): void => {
    const enabled =
      path.length < depth
        ? events.filter((e) => e !== 'tick' && possible(path, e) && accepts(state.snapshot, e as MachineEventName) && agrees(state, e))
        : [];
    if (enabled.length === 0) return add(path);
    for (const event of enabled) extend(applyTimed(state, event, policy).next, [...path, event]);
  };
  extend(initial, []);

  // 2. Every sequence of the events that see time up to `timeDepth`.
  const seeing = timedEvents.filter((e) => events.includes(e));
  const extendTimed = (state: Timed, path: ModelInput[]): void => {
    const enabled =
      path.length < timeDepth ? inputsFrom(state, seeing).filter((i) => possible(path, i) && acceptsTimed(state, i, ttlMs)) : [];
    if (enabled.length === 0) return add(path);
    for (const input of enabled) extendTimed(applyTimed(state, input, policy).next, [...path, input]);
  };
  if (timeDepth > 0) extendTimed(initial, []);

  // 3. The shortest path to every state, extended by every event; a `stop` by every outcome too.
  const machineOnly = events.filter(
    (e): e is Exclude<ModelEventName, 'tick'> =>
      e !== 'tick' &&
      (e !== 'closeTimeout' || policy.closeTimeoutMs !== undefined) &&
      (e !== 'pauseTimeout' || policy.pauseTimeoutMs !== undefined),
  );
  const shortestWith = (among: readonly MachineEventName[]) =>
    getShortestPaths(stepLogic(automatic), {
      input: inputOf(policy),
      events: among.map((name) => machineEvents[name]),
      serializeState: graphState,
    });
  // To each state with the manager still running where it can be (what follows is tested on a working manager),
  // through `dispose` or `shutdown` where it cannot.
  const running = shortestWith(machineOnly.filter((e) => e !== 'dispose' && e !== 'shutdown'));
  const reached = new Set(running.map((path) => graphState(path.state)));
  const shortest = [...running, ...shortestWith(machineOnly).filter((path) => !reached.has(graphState(path.state)))];
  const stateAfter = (path: readonly ModelInput[]): Timed =>
    path.reduce((state, input) => applyTimed(state, input, policy).next, initial);
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
      return name ? [name as ModelEventName] : []; // the first step is xstate.init
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
  return maximal.map((key) => walk(parseKey(key.slice(0, -1)), policy, transitions, suffix));
}

/** Whether a user can make `input` happen after `path`: once the manager closes everything, it refuses `new`. */
function possible(path: readonly ModelInput[], input: ModelInput): boolean {
  return input !== 'renew' || !path.includes('shutdown');
}

/**
 * Whether a timer event can happen in `state`: a `rearm` is a timer waking
 * before the deadline, only where the deadline is more than a maximal timer
 * away; `closeTimeout` needs a running close with a timeout, `backoff` a
 * retrying entity, `pauseTimeout` a pause with a timeout.
 */
function agrees(state: Timed, input: ModelInput): boolean {
  if (input === 'rearm') return state.deadline - state.now > MAX_TIMER_DELAY;
  if (input === 'closeTimeout') return modelState(state.snapshot) === 'expired.closing' && state.closeAt !== Infinity;
  if (input === 'backoff') return modelState(state.snapshot) === 'expired.retrying';
  if (input === 'pauseTimeout') return modelState(state.snapshot) === 'paused' && state.pauseAt !== Infinity;
  return true;
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
