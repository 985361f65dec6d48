import type { CloseFn, Executor } from '../types.js';
import type { ExpireManager } from './expire-manager.js';
import { SerialExecutor } from './serial-executor.js';
import { assertId } from './validate.js';

/** What a successful update hands back to (re)arm the expiration. */
export interface Renewal<T = void> {
  /** What `update()` resolves with. */
  value: T;
  /** The entity's id after the update; a different one retires the old id. Default: the same id. */
  id?: string;
  /** The new deadline, on the manager's clock. */
  expiresAt: number | Date;
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
  readonly #executors = new Map<string, Executor>();

  /** Wraps `manager`, whose expirations this protocol updates and closes. */
  constructor(readonly manager: ExpireManager) {}

  /** How many ids hold an executor now: those with queued work or a live expiration. */
  get executors(): number {
    return this.#executors.size;
  }

  /** The serial executor of `id`: the one its expiration closes on. */
  executor(id: string): Executor {
    assertId('executor', id, 'ExpireProtocol');
    let executor = this.#executors.get(id);
    if (!executor) {
      const serial = new SerialExecutor();
      const created: Executor = {
        asyncExec: async (task) => {
          try {
            await serial.asyncExec(task);
          } finally {
            // Idle and nothing left to close: forget it, so short-lived ids do not accumulate.
            if (serial.pending === 0 && !this.manager.has(id)) this.#executors.delete(id);
          }
        },
      };
      this.#executors.set(id, (executor = created));
    }
    return executor;
  }

  /** Runs `task` on the executor of `id`, after everything queued there before. */
  run<T>(id: string, task: () => T | Promise<T>): Promise<T> {
    let result!: T;
    return this.executor(id)
      .asyncExec(async () => {
        result = await task();
      })
      .then(() => result);
  }

  /**
   * Wraps an update (Go: Stop → next → Start on failure → New):
   * pauses expiration, runs `update`; if it fails, resumes the same deadline and
   * rethrows (R1). On success, arms the renewal's expiration, retiring the old id
   * when the update returned a new one. If arming fails after the update
   * succeeded, the old expiration is force-expired so it closes gracefully (R2).
   */
  update<T>(id: string, update: () => Renewal<T> | Promise<Renewal<T>>): Promise<T> {
    assertId('update', id, 'ExpireProtocol');
    return this.run(id, async () => {
      const { manager } = this;
      manager.stop(id);
      let renewal: Renewal<T>;
      try {
        renewal = await update();
      } catch (error) {
        manager.start(id);
        throw error;
      }
      const next = renewal?.id ?? id;
      try {
        manager.new(next, renewal.expiresAt, renewal.close, { executor: this.executor(next) });
      } catch (error) {
        manager.expire(id);
        throw error;
      }
      if (next !== id) manager.delete(id);
      return renewal.value;
    });
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
    return this.run(id, async () => {
      if (!this.manager.stop(id)) return false;
      try {
        await close();
      } catch (error) {
        this.manager.start(id);
        throw error;
      }
      this.manager.delete(id);
      return true;
    });
  }

  /**
   * The post-update error path (R2): something failed after a successful update,
   * so force-expire the entity and let its close run gracefully.
   *
   * @returns whether an expiration existed.
   */
  fail(id: string): Promise<boolean> {
    assertId('fail', id, 'ExpireProtocol');
    return this.run(id, () => {
      const existed = this.manager.stop(id);
      this.manager.expire(id);
      return existed;
    });
  }
}

/** Creates an {@link ExpireProtocol} over `manager`. */
export function createExpireProtocol(manager: ExpireManager): ExpireProtocol {
  return new ExpireProtocol(manager);
}
