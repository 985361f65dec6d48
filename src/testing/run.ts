import type { LiveExpirationState } from '../machines/expiration.js';
import type { Expectation, ModelEventName, ModelPath, ModelState, ModelStep } from './model.js';

/** What an adapter reports it can observe; leave out what your integration cannot see. */
export interface Observation {
  /** Whether the entity still has a live expiration (e.g. `manager.has(id)`). */
  live: boolean;
  /** How many times the entity has been closed. */
  closes: number;
  /** The top-level state, when the integration exposes it (`manager.state(id)`). */
  state?: LiveExpirationState | undefined;
  /** Whether the last close's signal is aborted (`undefined` before any close). */
  closeSignalAborted?: boolean | undefined;
  /** How many close attempts failed: the failures reported to `onCloseError` (a refusal is not one). */
  closeFailures?: number | undefined;
  /** `get(id)?.attempts`: the close attempts of the live entity, `undefined` when it is not live. */
  attempts?: number | undefined;
  /**
   * The full model state, when the integration can see it: from a live actor
   * of the entity (`modelState(manager.actorOf(id).getSnapshot())`), which
   * keeps showing `closed` or `deleted` after the manager forgot it.
   */
  modelState?: ModelState | undefined;
}

/**
 * Maps the model's events onto a real integration: the library's manager, or a
 * server of your own built on it.
 */
export interface ModelAdapter<S> {
  /**
   * A fresh world with one entity just created (`new`) with the TTL
   * `path.ttlMs`: its deadline is `clock.now() + path.ttlMs`. Create it with the
   * path's `retry`, `closeTimeoutMs` and `pauseTimeoutMs`. The start of every path.
   */
  setup(path: ModelPath): S | Promise<S>;
  /**
   * Makes `event` happen. For `tick`, `deadline` and `rearm`, advance your clock
   * by `step.ms` (`clock.increment(step.ms)` on a `SimulatedClock`); for `renew`,
   * arm the entity for `now + path.ttlMs`. For `stop` and `delete`, return what
   * the call returned (a boolean), to be checked against the model, and for
   * `retry` what `retry(id)` returned; otherwise return nothing. For
   * `closeTimeout`, `backoff` and `pauseTimeout`, advance the clock by `step.ms` too; for
   * `failClose`, make the running close throw or reject.
   */
  perform(world: S, event: ModelEventName, step: ModelStep): unknown;
  /** Reads what is observable now. */
  observe(world: S): Observation | Promise<Observation>;
  /** Releases the world after its path, passed or failed. */
  teardown?(world: S): unknown;
}

/** Thrown when an integration does not do what the model says. */
export class ModelMismatchError extends Error {
  /**
   * Describes the first difference on a path.
   *
   * @param path the failing path; `stepIndex` its step (-1: right after `new`).
   * @param what what differed: `expected` and `actual` are its two values.
   */
  constructor(
    readonly path: ModelPath,
    readonly stepIndex: number,
    readonly expected: unknown,
    readonly actual: unknown,
    what: string,
  ) {
    const step = path.steps[stepIndex];
    super(
      `model path "${path.name}", step ${stepIndex + 1} (${step?.event ?? 'new'}): ${what} ` +
        `expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
    );
    this.name = 'ModelMismatchError';
  }
}

const topLevel = (expect: Expectation): LiveExpirationState | undefined =>
  expect.live ? (expect.state.split('.')[0] as LiveExpirationState) : undefined;

/** Checks the fields an adapter observed against what the model expects after a step. */
function check(path: ModelPath, index: number, expect: Expectation, seen: Observation): void {
  const mismatch = (what: string, expected: unknown, actual: unknown) => {
    throw new ModelMismatchError(path, index, expected, actual, what);
  };
  if (seen.live !== expect.live) mismatch('live', expect.live, seen.live);
  if (seen.closes !== expect.closes) mismatch('closes', expect.closes, seen.closes);
  if ('state' in seen && seen.state !== topLevel(expect)) mismatch('state', topLevel(expect), seen.state);
  if ('modelState' in seen && seen.modelState !== expect.state) mismatch('model state', expect.state, seen.modelState);
  if ('closeSignalAborted' in seen && seen.closeSignalAborted !== expect.closeSignalAborted) {
    mismatch('close signal aborted', expect.closeSignalAborted, seen.closeSignalAborted);
  }
  if ('closeFailures' in seen && seen.closeFailures !== expect.closeFailures) {
    mismatch('close failures', expect.closeFailures, seen.closeFailures);
  }
  const attempts = expect.live ? expect.attempts : undefined;
  if ('attempts' in seen && seen.attempts !== attempts) mismatch('attempts', attempts, seen.attempts);
}

const initial: Expectation = {
  state: 'active',
  live: true,
  closes: 0,
  closeSignalAborted: undefined,
  closeFailures: 0,
  attempts: 0,
};

/**
 * Runs one model path against an integration and checks every step.
 *
 * @throws ModelMismatchError at the first step where the integration differs.
 */
export async function runModelPath<S>(path: ModelPath, adapter: ModelAdapter<S>): Promise<void> {
  const world = await adapter.setup(path);
  try {
    check(path, -1, initial, await adapter.observe(world));
    for (const [index, step] of path.steps.entries()) {
      await runStep(path, index, step, adapter, world);
    }
  } finally {
    await adapter.teardown?.(world);
  }
}

async function runStep<S>(path: ModelPath, index: number, step: ModelStep, adapter: ModelAdapter<S>, world: S) {
  const returned = await adapter.perform(world, step.event, step);
  if (step.returns !== undefined && typeof returned === 'boolean' && returned !== step.returns) {
    throw new ModelMismatchError(path, index, step.returns, returned, `${step.event}() returned`);
  }
  check(path, index, step.expect, await adapter.observe(world));
}

/**
 * Runs every path; resolves with how many ran.
 *
 * @throws ModelMismatchError for the first path that fails.
 */
export async function runModelPaths<S>(paths: readonly ModelPath[], adapter: ModelAdapter<S>): Promise<number> {
  for (const path of paths) await runModelPath(path, adapter);
  return paths.length;
}
