import { randomUUID } from 'node:crypto';
import { compileMachine } from '../machines/compile.js';
import { CLOSE_SETTLED, MANAGER_DISPOSED, report } from '../machines/effects.js';
import { type LiveExpirationState, type RoutedCall, expirationMachine } from '../machines/expiration.js';
import type { CloseErrorHandler, ManagerStatus } from '../types.js';
import { type ParsedDeadline, describe } from '../shared/validate.js';
import { type DanceCalls, type DanceManager, danceCalls, danceManager } from '../shared/dance.js';
import { assertDurableId, assertJson, toDurableDeadline } from './validate.js';
import { type Draft, DurableEngine, type Opening, type Step, keyOf } from './engine.js';
import { DEFAULT_CLOSE_POLICY, type NamedCloser, toClosers } from './closers.js';
import type { DurableStore } from './store.js';
import { type Plans, plansFor } from './plans.js';
import { WakeUps } from './wake-ups.js';
import { CloseRunner } from './close-runner.js';
import { Heartbeat } from './heartbeat.js';
import { ExpireTelemetry } from '../telemetry/telemetry.js';
import {
  type DurableDeadline,
  type DurableDisposeOptions,
  type DurableEntity,
  type DurableExpireManagerOptions,
  type DurableNewOptions,
  type ResolvedDurableOptions,
  withDefaults,
} from './options.js';
import { countByState } from './admin.js';

const SHUTDOWN = { type: 'shutdown' } as const;
const LIVE_STATES: readonly LiveExpirationState[] = ['active', 'paused', 'expired', 'failed'];
const BATCH = 100;
/** Entities per transaction of `newMany`. */
const NEW_BATCH = 1_000;
/** How soon to look again at a deadline that was due but not handled by a pass. */
const RETRY_MS = 5;

/**
 * Where a manager is in its life: `running`; `draining` during
 * `dispose({ close: true })` (every call still works, `new` renews live ids
 * only); `disposing` while it winds down (calls are refused, running closes
 * end); `disposed`.
 */
type Status = 'running' | 'draining' | 'disposing' | 'disposed';

/** A durable manager's calls on input checked already, for its protocol (which checks its input once, at its edge). */
interface UncheckedDurableCalls extends DanceCalls {
  /** `new`, whose closer is still checked against this process's closers. */
  arm(id: string, at: ParsedDeadline, closer: string, data: unknown): Promise<void>;
}

const unchecked = new WeakMap<DurableExpireManager, UncheckedDurableCalls>();

/**
 * The dance's view of `manager` (its calls without the id checks of its public
 * methods), and its `new` on a renewal checked already (no second walk of its data).
 */
export function uncheckedCalls(manager: DurableExpireManager): {
  dance: DanceManager;
  arm: (id: string, at: ParsedDeadline, closer: string, data: unknown) => Promise<void>;
} {
  const calls = unchecked.get(manager);
  return {
    dance: danceManager(manager, calls),
    arm: calls?.arm ?? ((id, at, closer, data) => manager.new(id, at.at === undefined ? { ttlMs: at.ttlMs } : at.at, { closer, data })),
  };
}

/**
 * Expirations that survive the process and are shared by every process on the
 * same database and namespace: the expiration statechart over PostgreSQL rows.
 * Every call is one transaction that runs the compiled statechart on the
 * entity's row; every "has the deadline passed" is decided by the database's
 * clock. Create it with {@link createDurableExpireManager}.
 *
 * A closer is invoked at least once after a crash: its effect is exactly once
 * when it is idempotent on `(id, generation)`.
 */
export class DurableExpireManager implements AsyncDisposable {
  readonly #store: DurableStore;
  readonly #plans: Plans;
  readonly #closers: Map<string, NamedCloser>;
  readonly #names: string[];
  readonly #engine: DurableEngine;
  readonly #onCloseError: CloseErrorHandler;
  readonly #pollIntervalMs: number;
  readonly #heartbeatMs: number;
  readonly #concurrency: number;
  readonly #signal: AbortSignal | undefined;
  /** The closes running here. */
  readonly #closes: CloseRunner;
  /** Transactions in flight: a disposal waits for them, and for what they started. */
  readonly #inflight = new Set<Promise<unknown>>();
  /** During `dispose({ close: true })`: the entities it waits for (keys). */
  readonly #closeAll = new Set<string>();
  readonly #onAbort = (): void => void this.dispose();
  #status: Status = 'running';
  /** Telemetry: instruments resolved once per manager. */
  readonly #telemetry: ExpireTelemetry;
  #unobserve: (() => void) | undefined;
  /** When to look for due entities: a timer, notifications and polling. */
  readonly #wakeUps: WakeUps;
  /** Keeps this process's claims and pauses alive while it lives. */
  readonly #heartbeat: Heartbeat;
  #closing: Promise<void> | undefined;
  #disposal: Promise<void> | undefined;

  /** @internal Use {@link createDurableExpireManager}. */
  constructor(options: ResolvedDurableOptions) {
    this.#store = options.store;
    this.#plans = plansFor(options.store.schema);
    // Stryker disable next-line StringLiteral: withDefaults checked the same closers, under the same name, before
    this.#closers = toClosers('createDurableExpireManager', options.closers);
    this.#names = [...this.#closers.keys()];
    this.#onCloseError =
      options.onCloseError ?? ((id, error) => console.error(`xstate-expire: close of "${id}" failed:`, error));
    this.#pollIntervalMs = options.pollIntervalMs;
    this.#heartbeatMs = Math.max(1, Math.min(options.claimTimeoutMs, options.pauseTimeoutMs) / 3);
    this.#concurrency = options.concurrency;
    this.#signal = options.signal;
    this.#telemetry = new ExpireTelemetry(options);
    this.#wakeUps = new WakeUps({
      store: options.store,
      namespace: options.namespace,
      pollIntervalMs: options.pollIntervalMs,
      pass: () => this.#pass(),
      active: () => this.#active,
    });
    this.#engine = new DurableEngine(
      options.store,
      options.namespace,
      `${options.namespace}:${randomUUID()}`,
      compileMachine(expirationMachine),
      options.claimTimeoutMs,
      options.pauseTimeoutMs,
      this.#onCloseError,
      {
        canClose: (closer, pending) => this.#canClose(closer, pending),
        policyOf: (closer) => this.#closers.get(closer) ?? DEFAULT_CLOSE_POLICY,
      },
    );
    this.#closes = new CloseRunner({
      engine: this.#engine,
      closers: this.#closers,
      telemetry: this.#telemetry,
      onCloseError: this.#onCloseError,
      call: (work, options) => this.#call(work, options),
      active: () => this.#active,
      now: () => Date.now() + this.#wakeUps.offset,
      freed: () => this.#kick(),
      fail: (what, error) => this.#report(what, error),
    });
    this.#heartbeat = new Heartbeat({
      engine: this.#engine,
      closes: this.#closes,
      call: (work) => this.#call(work),
      fail: (what, error) => this.#report(what, error),
    });
    unchecked.set(this, {
      ...danceCalls(
        (call, id) => this.#route(call, id),
        async (id) => (await this.#state(id)) !== undefined,
        () => this.disposed,
      ),
      arm: async (id, at, closer, data) => {
        this.#assertCloser(closer);
        return this.#new(id, at, closer, data);
      },
    });
  }

  /** @internal Opens the store, listens, and runs a first pass (past-due entities close now). */
  async open(): Promise<void> {
    await this.#store.acquire();
    try {
      await this.#wakeUps.start();
      this.#heartbeat.start(this.#heartbeatMs);
      // Telemetry: the entities gauge reads the namespace's counts when collected.
      this.#unobserve = this.#telemetry.observeEntities(
        async () => Object.entries(await countByState(this.#store, this.namespace)),
        { namespace: this.namespace },
      );
      await this.poll();
    } catch (error) {
      this.#status = 'disposed';
      await this.#stop();
      throw error;
    }
    if (this.#signal?.aborted) void this.dispose();
    else {
      // Stryker disable next-line ObjectLiteral,BooleanLiteral: a signal aborts once, and dispose() removes the listener anyway
      this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** This manager's id: the owner of the leases it holds. */
  get owner(): string {
    return this.#engine.owner;
  }

  /** The namespace it shares. */
  get namespace(): string {
    return this.#engine.namespace;
  }

  /** `true` once {@link DurableExpireManager.dispose} has been called. */
  get disposed(): boolean {
    return this.#status !== 'running';
  }

  /** Where the manager is in its life: `running → draining → disposed`, as in memory (winding down reads `disposed`). */
  get status(): ManagerStatus {
    return this.#status === 'disposing' ? 'disposed' : this.#status;
  }

  /** Where closer failures are reported. */
  get onCloseError(): CloseErrorHandler {
    return this.#onCloseError;
  }

  /**
   * Creates or renews the expiration for `id` (Go: `New`): a live one takes the
   * new deadline, closer and data, and its old close never runs.
   *
   * @param deadline absolute (epoch ms on the database's clock, or a Date), or
   *   `{ ttlMs }` from the database's now.
   * @throws TypeError on a bad id, deadline, closer name or data that is not
   *   JSON (the message names the path inside `data`), or when the manager is
   *   disposed; nothing changes then.
   */
  async new(id: string, deadline: DurableDeadline, options: DurableNewOptions): Promise<void> {
    assertDurableId('DurableExpireManager.new', id);
    const at = toDurableDeadline('DurableExpireManager.new: deadline', deadline);
    if (options === null || typeof options !== 'object') {
      throw new TypeError('DurableExpireManager.new: options must be { closer, data? }');
    }
    const { closer, data = null } = options;
    this.#assertCloser(closer);
    assertJson('DurableExpireManager.new', data, 'data');
    return this.#new(id, at, closer, data);
  }

  /** Throws a TypeError unless `closer` names one of this process's closers. */
  #assertCloser(closer: unknown): asserts closer is string {
    // Stryker disable next-line ConditionalExpression: the closers' keys are strings: has() is false for anything else
    if (typeof closer !== 'string' || !this.#closers.has(closer)) {
      throw new TypeError(`DurableExpireManager.new: unknown closer ${describe(closer)}; known: ${this.#names.join(', ')}`);
    }
  }

  /** `new` on an id, deadline and data checked already (by the public method, or by the protocol at its edge). */
  async #new(id: string, at: ParsedDeadline, closer: string, data: unknown): Promise<void> {
    if (this.#status === 'disposing' || this.#status === 'disposed') {
      throw new TypeError(`DurableExpireManager.new: the manager is disposed (id "${id}")`);
    }
    const closingAll = this.#status === 'draining';
    await this.#call(
      async (step, [live]) => {
        const absolute = at.at ?? step.now + at.ttlMs!;
        if (live) {
          await this.#engine.send(step, live, { type: 'renew', deadline: absolute, close: { closer, data } });
          // While everything closes, an update of a live entity closes at once (not leaked).
          if (closingAll) {
            await this.#engine.send(step, live, SHUTDOWN);
            // Stryker disable next-line ConditionalExpression: every live state takes renew, so its closer is the one checked above
            if (this.#closers.has(live.closer)) step.waitFor.push(keyOf(live.id, live.generation));
          }
          await this.#engine.write(step, live);
        } else {
          if (closingAll) throw new TypeError(`DurableExpireManager.new: the manager is closing (id "${id}")`);
          await this.#engine.write(step, await this.#engine.create(step, id, absolute, closer, data));
        }
      },
      { open: this.#engine.opensLive(id, 1) },
    );
  }

  /**
   * `new` for each of `entities`, in order, as if called one after the other
   * (a later item for an id renews what an earlier one armed): every item is
   * checked before anything is written, then one transaction per 1,000 items.
   * While `dispose({ close: true })` runs, the items go one by one through `new`.
   *
   * @throws TypeError naming the index of the first bad item (nothing changes
   *   then), or when the manager is disposed.
   */
  async newMany(entities: ReadonlyArray<{ id: string; deadline: DurableDeadline; closer: string; data?: unknown }>): Promise<void> {
    if (!Array.isArray(entities)) throw new TypeError('DurableExpireManager.newMany: entities must be an array of { id, deadline, closer, data? }');
    const items = entities.map((entity: unknown, index) => {
      const owner = `DurableExpireManager.newMany: entities[${index}]`;
      if (entity === null || typeof entity !== 'object') throw new TypeError(`${owner} must be { id, deadline, closer, data? }`);
      const { id, deadline, closer, data = null } = entity as Record<string, unknown>;
      assertDurableId(owner, id);
      const at = toDurableDeadline(`${owner}: deadline`, deadline);
      // Stryker disable next-line ConditionalExpression: the closers' keys are strings: has() is false for anything else
      if (typeof closer !== 'string' || !this.#closers.has(closer)) {
        throw new TypeError(`${owner}: unknown closer ${describe(closer)}; known: ${this.#names.join(', ')}`);
      }
      assertJson(owner, data, 'data');
      return { id, at, closer, data };
    });
    for (let from = 0; from < items.length || from === 0; from += NEW_BATCH) {
      if (this.#status === 'disposing' || this.#status === 'disposed') {
        throw new TypeError(`DurableExpireManager.newMany: the manager is disposed (${from} of ${items.length} written)`);
      }
      const batch = items.slice(from, from + NEW_BATCH);
      if (batch.length === 0) return;
      if (this.#status === 'draining') {
        for (const { id, at, closer, data } of batch) await this.#new(id, at, closer, data);
        continue;
      }
      const ids = [...new Set(batch.map(({ id }) => id))];
      await this.#call(
        async (step, rows) => {
          const drafts = new Map(rows.map((draft) => [draft.id, draft]));
          for (const [index, { id, at, closer, data }] of batch.entries()) {
            // Each item its own generation, as each `new` draws one.
            step.generation = step.generations[index];
            const absolute = at.at ?? step.now + at.ttlMs!;
            const draft = drafts.get(id);
            if (draft) await this.#engine.send(step, draft, { type: 'renew', deadline: absolute, close: { closer, data } });
            else drafts.set(id, await this.#engine.create(step, id, absolute, closer, data));
          }
          await this.#engine.writeAll(step, [...drafts.values()]);
        },
        { open: this.#engine.opensLives(ids, batch.length) },
      );
    }
  }

  /**
   * Runs the closer `closer` once for an entity the manager never armed (a
   * renewal that could not be armed): with a signal, its failure reported. Its
   * generation is 0, which no armed entity has.
   */
  async closeUnarmed(id: string, closer: string, data: unknown): Promise<void> {
    const close = this.#closers.get(closer)?.close;
    if (close === undefined) return;
    const controller = new AbortController();
    try {
      await close({ id, data, generation: 0, deadline: Number.NaN, attempt: 1 }, controller.signal);
    } catch (error) {
      report({ id, onCloseError: this.#onCloseError }, error);
    } finally {
      controller.abort(CLOSE_SETTLED);
    }
  }

  /**
   * Pauses the expiration for `id`, keeping its deadline, while an update runs
   * (Go: `Stop`) — for every process. The caller becomes a holder of the pause,
   * also when the entity was paused already: the pause lasts while any holder
   * lives, and `pauseTimeoutMs` after the last one died the entity resumes.
   *
   * @returns whether an expiration exists for `id`.
   */
  async stop(id: string): Promise<boolean> {
    assertDurableId('DurableExpireManager.stop', id);
    return this.#route('stop', id);
  }

  /** Resumes a paused expiration with the same deadline (Go: `Start`). */
  async start(id: string): Promise<void> {
    assertDurableId('DurableExpireManager.start', id);
    await this.#route('start', id);
  }

  /** Force-expires a paused expiration now (Go: `Expire`). */
  async expire(id: string): Promise<void> {
    assertDurableId('DurableExpireManager.expire', id);
    await this.#route('expire', id);
  }

  /**
   * Sends a `failed` expiration (every close attempt failed) back to closing,
   * with a fresh round of attempts.
   *
   * @returns whether `id` was failed (anything else is left as it is).
   */
  async retry(id: string): Promise<boolean> {
    assertDurableId('DurableExpireManager.retry', id);
    return this.#route('retry', id);
  }

  /**
   * Removes the expiration for `id` without closing it (Go: `Delete`).
   *
   * @returns whether one existed.
   */
  async delete(id: string): Promise<boolean> {
    assertDurableId('DurableExpireManager.delete', id);
    return this.#route('delete', id);
  }

  /** Whether a live expiration exists for `id`. */
  async has(id: string): Promise<boolean> {
    assertDurableId('DurableExpireManager.has', id);
    return (await this.#state(id)) !== undefined;
  }

  /** The top-level state of the live expiration for `id`, or `undefined`. */
  async state(id: string): Promise<LiveExpirationState | undefined> {
    assertDurableId('DurableExpireManager.state', id);
    return this.#state(id);
  }

  async #state(id: string): Promise<LiveExpirationState | undefined> {
    const [row] = await this.#store.query(this.#plans.state, [this.namespace, id]);
    return row && (this.#engine.top(row.state as string) as LiveExpirationState);
  }

  /** The live entity `id` as stored: state, deadline, closer, data, generation; `undefined` when none. */
  async get(id: string): Promise<DurableEntity | undefined> {
    assertDurableId('DurableExpireManager.get', id);
    const [row] = await this.#store.query(this.#plans.entity, [this.namespace, id]);
    return row && this.#entity(row);
  }

  /**
   * The live entities of the namespace (every process's), by id; at most
   * `limit` (default 1000); only those in top-level `state` when given
   * (`list({ state: 'failed' })`: the dead letters).
   */
  async list({ limit = 1_000, state }: { limit?: number; state?: LiveExpirationState } = {}): Promise<DurableEntity[]> {
    if (!Number.isInteger(limit) || limit < 0) throw new TypeError('DurableExpireManager.list: limit must be an integer, 0 or more');
    if (state !== undefined && !LIVE_STATES.includes(state)) {
      throw new TypeError(`DurableExpireManager.list: state must be one of ${LIVE_STATES.join(', ')}, got ${describe(state)}`);
    }
    const rows = await this.#store.query(this.#plans.entities, [this.namespace, limit, state ?? null]);
    return rows.map((row) => this.#entity(row));
  }

  #entity(row: Record<string, unknown>): DurableEntity {
    return {
      id: row.id as string,
      state: this.#engine.top(row.state as string) as LiveExpirationState,
      deadline: Number(row.deadline),
      closer: row.closer as string,
      data: row.data ?? null,
      generation: Number(row.generation),
      attempts: Number(row.attempt),
      // Stryker disable next-line ConditionalExpression: both reads select last_error: null when empty, never missing
      ...(row.last_error === null || row.last_error === undefined ? {} : { lastError: row.last_error as string }),
    };
  }

  /** How many live expirations the namespace has (every process's). */
  async size(): Promise<number> {
    const [row] = await this.#store.query(this.#plans.size, [this.namespace]);
    // Stryker disable next-line OptionalChaining: count(*) always answers one row
    return Number(row?.n ?? 0);
  }

  /**
   * Handles what is due now: deadlines that passed, closes waiting to be
   * claimed, and leases of dead processes. The manager does this on its own
   * (a timer on the earliest deadline, notifications, and polling); call it to
   * make it happen now: it resolves after a pass that began after the call,
   * with how many entities that pass handled.
   */
  poll(): Promise<number> {
    return this.#wakeUps.poll();
  }

  /**
   * Stops this manager. By default only this process stops: its timers and
   * notifications end; a close whose claim commits from now on is handed back
   * to the other managers at once instead of starting; the signals of its
   * running closes abort (`MANAGER_DISPOSED`: a close that then fails is
   * handed over at once too); the pauses it holds are released (an entity no
   * other live process holds resumes its saved deadline now, R1.2: the updates
   * of this process can no longer finish); and the entities stay for the other
   * managers or a restart. With `{ close: true }`, the namespace's live
   * entities are closed first (see {@link DurableDisposeOptions}).
   *
   * Every call resolves once every close this manager started has settled and
   * its completion (or hand-over) is written.
   */
  dispose(options: DurableDisposeOptions = {}): Promise<void> {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    if (options?.close === true && (this.#status === 'running' || this.#status === 'draining')) {
      this.#closing ??= this.#closeEverything().then(() => this.#disposeNow());
      return this.#closing;
    }
    return this.#disposeNow();
  }

  /** `await using manager = await createDurableExpireManager(…)` disposes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** Whether the manager takes calls and runs closes: not once disposal began. */
  get #active(): boolean {
    return this.#status === 'running' || this.#status === 'draining';
  }

  #disposeNow(): Promise<void> {
    this.#disposal ??= (async () => {
      this.#status = 'disposing';
      this.#wakeUps.quiet();
      // Whatever commits from now on hands its claims back (see #call).
      await this.#settle();
      await this.#closes.abortAll(MANAGER_DISPOSED);
      await this.#settle();
      await this.#heartbeat.releasePauses();
      await this.#settle();
      this.#status = 'disposed';
      await this.#stop();
    })();
    return this.#disposal;
  }

  /** Waits until no transaction of this manager is in flight (one may start another). */
  async #settle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  async #stop(): Promise<void> {
    this.#unobserve?.();
    await this.#wakeUps.stop();
    await this.#heartbeat.stop();
    await this.#store.release();
  }

  /**
   * `dispose({ close: true })`: every entity live now is shut down; then wait
   * until each of those this process can close, and each close running here,
   * has left the table (closed or deleted) or changed generation (renewed by
   * another process).
   */
  async #closeEverything(): Promise<void> {
    this.#status = 'draining';
    // The closes running here finish as they are (not aborted by the disposal that follows).
    for (const key of this.#closes.keys()) this.#closeAll.add(key);
    const rows = await this.#store.query(this.#plans.liveIds, [this.namespace]);
    for (const { id } of rows) {
      await this.#call(async (step) => {
        const live = await this.#engine.live(step, id as string);
        if (!live) return;
        // A failed entity takes no shutdown: it rests, kept for retry(id), as in memory.
        if (!(await this.#engine.send(step, live, SHUTDOWN))) return;
        if (this.#closers.has(live.closer)) step.waitFor.push(keyOf(live.id, live.generation));
        await this.#engine.write(step, live);
      });
    }
    // Until each has closed, been deleted or renewed elsewhere, or failed for good.
    while (this.#status === 'draining' && this.#closeAll.size > 0) {
      if ((await this.#engine.countUnsettled([...this.#closeAll])) === 0) return;
      await this.poll();
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, this.#pollIntervalMs)));
    }
  }

  /** One call on an id checked already: a transaction on its live row. */
  async #route(call: RoutedCall, id: string): Promise<boolean> {
    if (!this.#active) return false;
    return this.#call(
      async (step, [live]) => {
        if (!live) return false;
        const taken = await this.#engine.send(step, live, { type: call });
        // retry answers whether the statechart took it (only a failed entity does); the Go calls, whether the id was live.
        if (call === 'retry' && !taken) return false;
        // The caller holds the pause, whether it took it or joined it (R1.1 for every updater).
        if (call === 'stop' && taken) this.#engine.holdPause(step, live);
        await this.#engine.write(step, live);
        return true;
      },
      { open: this.#engine.opensLive(id) },
    );
  }

  /** A transaction, then what it asked for once committed: closes to run or hand back, leases to renew, managers to wake. */
  #call<T>(work: (step: Step, rows: Draft[]) => Promise<T>, options?: { generation?: boolean; open?: Opening }): Promise<T> {
    const call = this.#transaction(work, options);
    this.#inflight.add(call);
    const forget = (): void => void this.#inflight.delete(call);
    call.then(forget, forget);
    return call;
  }

  async #transaction<T>(work: (step: Step, rows: Draft[]) => Promise<T>, options?: { generation?: boolean; open?: Opening }): Promise<T> {
    let done!: Step;
    const result = await this.#engine.transaction(async (step, rows) => {
      done = step;
      const value = await work(step, rows);
      await this.#engine.notify(step, this.#pollIntervalMs);
      return value;
    }, options);
    this.#wakeUps.measured(done.now);
    // Only once committed, and told so: a lease whose reply was lost is not renewed, so it runs out.
    this.#heartbeat.hold(done.pauses);
    for (const key of done.waitFor) this.#closeAll.add(key);
    for (const [key, reason] of done.aborts) this.#closes.abort(key, reason);
    for (const [id, error] of done.reports) report({ id, onCloseError: this.#onCloseError }, error);
    if (this.#active) for (const claim of done.claims) this.#closes.run(claim);
    // Claimed as disposal began: never started here, handed back to the others at once.
    else if (done.claims.length > 0) void this.#closes.handBack(done.claims).catch((error) => this.#report('hand back', error));
    // Stryker disable next-line ConditionalExpression: schedule(Infinity) does nothing; never scheduling is the EqualityOperator mutant
    if (done.earliest !== Infinity) this.#wakeUps.schedule(done.earliest);
    return result;
  }

  /** One pass: due rows in batches, each batch one transaction; then the timer on what comes next. */
  async #pass(): Promise<number> {
    let handled = 0;
    try {
      while (this.#active) {
        const batch = await this.#call(
          async (step, rows) => {
            const handled: Draft[] = [];
            for (const draft of rows) if (await this.#handleDue(step, draft)) handled.push(draft);
            await this.#engine.writeAll(step, handled);
            return { rows: rows.length, count: handled.length };
          },
          // Without room, the closes waiting for one are not read: they would fill the batch.
          { open: this.#engine.opensDue(this.#names, BATCH, this.#canClose(this.#names[0]!)) },
        );
        handled += batch.count;
        if (batch.rows < BATCH || batch.count === 0) break;
      }
      const next = this.#active ? await this.#engine.next(this.#names) : undefined;
      if (next) {
        this.#wakeUps.measured(next.now);
        // Due already: the timer fired a little early, or another pass holds it; look
        // again soon. With no room for closes, the next one that ends looks again.
        const full = !this.#canClose(this.#names[0]!);
        this.#wakeUps.schedule(next.at > next.now ? next.at : next.now + (full ? this.#pollIntervalMs : RETRY_MS));
      }
    } catch (error) {
      this.#report('poll', error);
    } finally {
      this.#closes.reclaims.clear(); // Telemetry: reclaims not run (rolled back) are not counted
    }
    return handled;
  }

  /**
   * A due row: the event of its ended lease, or its delayed event. A close
   * whose claim ended (handed back, or its process died) is taken over before
   * its timeout counts: that attempt is not running anywhere.
   */
  async #handleDue(step: Step, draft: Draft): Promise<boolean> {
    const leaseEnded = draft.leaseUntil !== null && draft.leaseUntil <= step.now;
    // Stryker disable next-line ConditionalExpression: the due read returns only rows due by their due time or by their ended lease
    if (!leaseEnded && draft.due !== null && draft.due <= step.now) {
      draft.due = null;
      const event = this.#engine.delayedEvent(draft);
      // Stryker disable next-line ConditionalExpression: an event of no type takes no transition; never sending is the EqualityOperator mutant
      if (event !== undefined) await this.#engine.send(step, draft, { type: event });
      return true;
    }
    // Stryker disable next-line StringLiteral: a lease always has its event, and no state takes either fallback
    const event = { type: draft.leaseEvent ?? '' };
    // A close waits for room here: the lease stays for whoever has it first.
    if (this.#engine.startsClose(draft, event, step.now) && !this.#canClose(draft.closer, step.claims.length)) return false;
    // Telemetry: a claim of another process ran out; its close is taken over.
    if (event.type === 'reclaim' && draft.owner !== this.owner) this.#closes.reclaims.add(keyOf(draft.id, draft.generation));
    this.#engine.endLease(draft);
    await this.#engine.send(step, draft, event);
    return true;
  }

  #canClose(closer: string, pending = 0): boolean {
    return this.#active && this.#closers.has(closer) && this.#closes.size + pending < this.#concurrency;
  }

  #kick(): void {
    this.#wakeUps.kick();
  }

  #report(what: string, error: unknown): void {
    if (this.#status !== 'disposed') console.error(`xstate-expire durable manager (${what}):`, error);
  }
}

/** Validates the options, opens the store (creating or migrating the schema), and starts the manager. */
export async function createDurableExpireManager(options: DurableExpireManagerOptions): Promise<DurableExpireManager> {
  const manager = new DurableExpireManager(withDefaults(options));
  await manager.open();
  return manager;
}
