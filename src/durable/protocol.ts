import { type DanceSteps, IdExecutors, closeDance, disposedError, failDance, updateDance } from '../shared/dance.js';
import { describe } from '../shared/validate.js';
import { type DurableExpireManager, uncheckedCalls } from './manager.js';
import type { DurableDeadline } from './options.js';
import { assertDurableId, assertJson, toDurableDeadline } from './validate.js';

/** What a successful update hands back to (re)arm a durable expiration. */
export interface DurableRenewal<T = void> {
  /** What `update()` resolves with. */
  value: T;
  /** The entity's id after the update; a different one retires the old id. Default: the same id. */
  id?: string;
  /** The new deadline: absolute on the database's clock, or `{ ttlMs }`. */
  expiresAt: DurableDeadline;
  /** The name of its closer. */
  closer: string;
  /** What the closer gets (JSON). */
  data?: unknown;
}

/**
 * `ExpireProtocol`'s twin over a {@link DurableExpireManager}: `update`,
 * `close` and `fail` with the same guarantees — a failed update resumes the
 * same deadline (R1), an error after a successful one closes gracefully (R2),
 * and a renewal the manager could not take is closed, not leaked.
 *
 * Calls for one id are serialized in this process. Across processes, the
 * statechart (in the database) keeps every guarantee, but two processes may
 * update one id at the same time: route an id's updates to one process when
 * their order matters.
 */
export class DurableExpireProtocol {
  // Stryker disable next-line ArrowFunction: undefined is as falsy as false (no idle id's executor is kept)
  readonly #executors = new IdExecutors(() => false);
  readonly #steps: DanceSteps<DurableRenewal<unknown>>;

  /** Wraps `manager`, whose expirations this protocol updates and closes. */
  constructor(readonly manager: DurableExpireManager) {
    // The protocol checks each id and renewal once, here; the manager's own calls skip their checks.
    const { dance, arm } = uncheckedCalls(manager);
    this.#steps = {
      owner: 'DurableExpireProtocol',
      manager: dance,
      check: assertDurableRenewal,
      arm: (id, renewal) => arm(id, toDurableDeadline(RENEWAL_DEADLINE, renewal.expiresAt), renewal.closer, renewal.data ?? null),
      closeUnarmed: async (id, renewal) => {
        const { closer, data } = (renewal ?? {}) as Partial<DurableRenewal<unknown>>;
        // Stryker disable next-line ConditionalExpression: closeUnarmed finds no closer under a name that is not a string
        if (typeof closer === 'string') await manager.closeUnarmed(id, closer, data ?? null);
      },
    };
  }

  /** How many ids have calls queued or running in this process. */
  get executors(): number {
    return this.#executors.size;
  }

  /** Runs `task` after every call for `id` queued before it in this process. */
  run<T>(id: string, task: () => T | Promise<T>): Promise<T> {
    assertDurableId('DurableExpireProtocol.run', id);
    return this.#executors.run(id, task);
  }

  /**
   * Wraps an update (Go: Stop → next → Start on failure → New), as
   * `ExpireProtocol.update` does; the renewal names its closer and data.
   */
  update<T>(id: string, update: () => DurableRenewal<T> | Promise<DurableRenewal<T>>): Promise<T> {
    assertDurableId('DurableExpireProtocol.update', id);
    if (typeof update !== 'function') throw new TypeError('DurableExpireProtocol.update: update must be a function');
    // Stryker disable next-line ConditionalExpression: updateDance refuses a disposed manager with the same error; this refuses it before queueing
    if (this.manager.disposed) return Promise.reject(disposedError('DurableExpireProtocol', id));
    return this.#executors.run(id, () => updateDance(this.#steps as DanceSteps<DurableRenewal<T>>, id, update));
  }

  /**
   * Wraps an explicit close (Go: Stop → next.Close → Start on failure → Delete).
   *
   * @returns `true` when it closed, `false` when already closed or expired (then `close` is not called).
   */
  close(id: string, close: () => unknown): Promise<boolean> {
    assertDurableId('DurableExpireProtocol.close', id);
    return this.#executors.run(id, () => closeDance(this.#steps.manager, id, close));
  }

  /**
   * The post-update error path (R2): force-expire the entity so it closes gracefully.
   *
   * @returns whether an expiration existed.
   */
  fail(id: string): Promise<boolean> {
    assertDurableId('DurableExpireProtocol.fail', id);
    return this.#executors.run(id, () => failDance(this.#steps.manager, id));
  }
}

const RENEWAL_DEADLINE = 'DurableExpireProtocol.update: renewal.expiresAt';

/** Throws a TypeError naming the field, unless `renewal` is a well-formed {@link DurableRenewal}. */
function assertDurableRenewal(renewal: unknown): asserts renewal is DurableRenewal<unknown> {
  const fail = (what: string): never => {
    throw new TypeError(`DurableExpireProtocol.update: ${what}`);
  };
  if (typeof renewal !== 'object' || renewal === null) {
    fail(`the update must resolve with a renewal { value, expiresAt, closer, data?, id? }, got ${describe(renewal)}`);
  }
  const { closer, id, expiresAt, data } = renewal as Partial<DurableRenewal<unknown>>;
  if (typeof closer !== 'string') fail(`renewal.closer must be a closer's name, got ${describe(closer)}`);
  toDurableDeadline(RENEWAL_DEADLINE, expiresAt);
  assertJson('DurableExpireProtocol.update', data ?? null, 'renewal.data');
  if (id !== undefined) assertDurableId('DurableExpireProtocol.update: renewal', id);
}

/** Creates a {@link DurableExpireProtocol} over `manager`. */
export function createDurableExpireProtocol(manager: DurableExpireManager): DurableExpireProtocol {
  return new DurableExpireProtocol(manager);
}
