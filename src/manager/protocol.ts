import { CLOSE_SETTLED, report } from '../machines/effects.js';
import type { CloseErrorHandler, CloseFn, Executor } from '../types.js';
import { type DanceSteps, IdExecutors, closeDance, disposedError, failDance, updateDance } from '../shared/dance.js';
import { type ExpireManager, uncheckedCalls } from './expire-manager.js';
import { type Deadline, assertId, describe, parseDeadline } from '../shared/validate.js';

/** What a successful update hands back to (re)arm the expiration. */
export interface Renewal<T = void> {
  /** What `update()` resolves with. */
  value: T;
  /** The entity's id after the update; a different one retires the old id. Default: the same id. */
  id?: string;
  /** The new deadline, on the manager's clock. */
  expiresAt: Deadline;
  /** The close for the renewed entity. */
  close: CloseFn;
}

/**
 * The update/close protocol of the Go package's users, as one object: every
 * server built on an expire manager writes the same dance around `stop`,
 * `start`, `new` and `delete`, and getting it wrong leaks or double-closes.
 *
 * Every call runs on the id's serial executor, which is also the executor of
 * the id's expiration, so updates, explicit closes and the expiry close of one
 * id never interleave. Executors are created on demand and dropped when idle.
 */
export class ExpireProtocol {
  readonly #executors: IdExecutors;
  readonly #steps: DanceSteps<Renewal<unknown>>;

  /** Wraps `manager`, whose expirations this protocol updates and closes. */
  constructor(readonly manager: ExpireManager) {
    // An idle executor stays while its id's expiration may still close on it.
    this.#executors = new IdExecutors((id) => manager.has(id));
    this.#steps = {
      owner: 'ExpireProtocol',
      manager: uncheckedCalls(manager),
      check: assertRenewal,
      arm: (id, renewal) => manager.new(id, renewal.expiresAt, renewal.close, { executor: this.#executors.of(id) }),
      closeUnarmed: async (id, renewal) => {
        const close = (renewal as Partial<Renewal<unknown>> | null)?.close;
        if (typeof close === 'function') await closeOnce(id, close, manager.onCloseError);
      },
    };
  }

  /** How many ids hold an executor now: those with queued work or a live expiration. */
  get executors(): number {
    return this.#executors.size;
  }

  /** The serial executor of `id`: the one its expiration closes on. */
  executor(id: string): Executor {
    assertId('executor', id, 'ExpireProtocol');
    return this.#executors.of(id);
  }

  /** Runs `task` on the executor of `id`, after everything queued there before. */
  run<T>(id: string, task: () => T | Promise<T>): Promise<T> {
    assertId('run', id, 'ExpireProtocol');
    return this.#executors.run(id, task);
  }

  /**
   * Wraps an update (Go: Stop → next → Start on failure → New):
   * pauses expiration, runs `update`; if it fails, resumes the same deadline and
   * rethrows (R1). On success, arms the renewal's expiration, retiring the old id
   * when the update returned a new one.
   *
   * If arming fails after the update succeeded (a malformed renewal, an invalid
   * `expiresAt`, the manager disposed meanwhile), nothing it opened is left
   * without a close: the live expiration is force-expired, so it closes
   * gracefully (R2); when none exists, or the renewal is for another id, the
   * renewal's `close` is called once, with a signal, and the update rejects
   * with the arming error.
   *
   * @throws TypeError for a bad id, and (as a rejection) when the manager is
   *   disposed or closing: then `update` is not called.
   */
  update<T>(id: string, update: () => Renewal<T> | Promise<Renewal<T>>): Promise<T> {
    assertId('update', id, 'ExpireProtocol');
    if (typeof update !== 'function') throw new TypeError('ExpireProtocol.update: update must be a function');
    // At once: not behind work of the id that is still running.
    if (this.manager.disposed) return Promise.reject(disposedError('ExpireProtocol', id));
    return this.#executors.run(id, () => updateDance(this.#steps as DanceSteps<Renewal<T>>, id, update));
  }

  /**
   * Wraps an explicit close (Go: Stop → next.Close → Start on failure → Delete).
   * Only when an expiration exists: pauses it and runs `close`; if that fails,
   * resumes the same deadline (so expiry closes it later) and rethrows; on
   * success deletes it.
   *
   * @returns `true` when it closed, `false` when already closed or expired (then `close` is not called).
   */
  close(id: string, close: () => unknown): Promise<boolean> {
    assertId('close', id, 'ExpireProtocol');
    return this.#executors.run(id, () => closeDance(this.#steps.manager, id, close));
  }

  /**
   * The post-update error path (R2): something failed after a successful update,
   * so force-expire the entity and let its close run gracefully.
   *
   * @returns whether an expiration existed.
   */
  fail(id: string): Promise<boolean> {
    assertId('fail', id, 'ExpireProtocol');
    return this.#executors.run(id, () => failDance(this.#steps.manager, id));
  }
}

/** Closes what the manager could not take, as the manager would: once, with a signal, failures reported. */
export async function closeOnce(id: string, close: CloseFn, onCloseError: CloseErrorHandler): Promise<void> {
  const scope = new AbortController();
  try {
    await close(scope.signal);
  } catch (error) {
    report({ id, onCloseError }, error);
  } finally {
    scope.abort(CLOSE_SETTLED);
  }
}

/** Throws a TypeError naming the field, unless `renewal` is a well-formed {@link Renewal}. */
function assertRenewal(renewal: unknown): asserts renewal is Renewal<unknown> {
  const fail = (what: string): never => {
    throw new TypeError(`ExpireProtocol.update: ${what}`);
  };
  if (typeof renewal !== 'object' || renewal === null) {
    fail(`the update must resolve with a renewal { value, expiresAt, close, id? }, got ${describe(renewal)}`);
  }
  const { close, id, expiresAt } = renewal as Partial<Renewal<unknown>>;
  if (typeof close !== 'function') fail(`renewal.close must be a function, got ${describe(close)}`);
  if (id !== undefined && (typeof id !== 'string' || id === '')) fail(`renewal.id must be a non-empty string, got ${describe(id)}`);
  // The TTL-by-mistake check is the manager's: only it knows its clock.
  parseDeadline('ExpireProtocol.update: renewal.expiresAt', expiresAt, { realTime: false });
}

/** Creates an {@link ExpireProtocol} over `manager`. */
export function createExpireProtocol(manager: ExpireManager): ExpireProtocol {
  return new ExpireProtocol(manager);
}
