import { type AnyActorRef, createActor } from 'xstate';
import type { TableLeaf, TableOp, TableTransition, TransitionTable } from '../machines/compile.js';
import { type OpDriver, type TableArgs, applyOps, chooseTransition } from '../machines/interpret.js';
import {
  type CloseEvent,
  type EffectTarget,
  abortClose,
  notifyClosing,
  queueClose,
  rejoin,
  runClose,
  timeoutClose,
} from '../machines/effects.js';
import {
  type ExpirationActorRef,
  type ExpirationContext,
  type ExpirationEvent,
  type ExpirationMachine,
  type LiveExpirationState,
  ROUTED_CALLS,
  type RoutedCall,
} from '../machines/expiration.js';
import { NO_RETRY, type RetryPolicy } from '../machines/retry.js';
import type { CloseErrorHandler, CloseFn, Executor } from '../types.js';
import { EntityRecord, type RecordHost, type RecordShared } from './record.js';
import { SerialExecutor } from '../shared/serial-executor.js';
import type { InstalledScheduler } from './scheduler.js';
import type { TimerHeap } from './timer-heap.js';

/** The effects a record can run, by the names the machine gives its actions. */
const effects: Record<string, (target: EffectTarget, event: CloseEvent) => void> = {
  queueClose,
  runClose,
  abortClose,
  notifyClosing,
  timeoutClose,
  rejoin,
};

/** What an entity is created with besides its id, deadline and close. */
export interface EntityOptions {
  /** Its executor; `undefined` for the manager's per-id default. */
  executor: Executor | undefined;
  /** How a failed close is tried again. */
  retry: Readonly<RetryPolicy>;
  /** How long one close attempt may run; `undefined` for no limit. */
  closeTimeoutMs: number | undefined;
}

/** What an engine is built from. */
export interface EngineOptions {
  /** The compiled expiration statechart. */
  table: TransitionTable;
  /** The manager's timer heap: the records' timers, and the clock of its actors. */
  heap: TimerHeap;
  /** Receives every close failure, with the entity's id. */
  onCloseError: CloseErrorHandler;
  /** How long a pause may last; `undefined` for no limit. */
  pauseTimeoutMs?: number | undefined;
  /** The manager actor: the parent of every materialized actor. */
  parent: AnyActorRef;
  /** Materialize every entity as it is created (for an inspector). */
  materializeAll: boolean;
  /** The scheduler of the manager's actor system, where materialized actors' deadlines go. */
  scheduler: InstalledScheduler;
}

/** Routed calls and the manager's own: events with no payload, shared. */
const EVENTS = Object.fromEntries(
  [...ROUTED_CALLS, 'dispose', 'shutdown', 'superseded'].map((type) => [type, Object.freeze({ type })]),
) as Record<RoutedCall | 'dispose' | 'shutdown' | 'superseded', { readonly type: string }>;
const INIT = Object.freeze({ type: 'xstate.init' });

/** A live entity as {@link ExpireManager.get} reports it. */
export interface ExpirationEntry {
  id: string;
  /** Its top-level state. */
  state: LiveExpirationState;
  /** Its absolute deadline on the manager's clock (kept while paused). */
  deadline: number;
  /** Which renewal it is on: 0 when created, one more on each `new` for the live id. */
  generation: number;
  /** Close attempts made since it expired (while retrying or failed; 0 before). */
  attempts: number;
  /** The last failed attempt's error message, while retrying or failed. */
  lastError?: string;
}


/**
 * The manager's entities as virtual actors: each rests as an
 * {@link EntityRecord} driven by the table compiled from the expiration
 * statechart, and runs as a live XState actor once someone asks for one
 * ({@link ExpireEngine.actorOf}). Either way, every decision is the statechart's:
 * the engine looks up the transition XState chose for (state, event) and runs
 * its operations; it never decides by itself.
 */
export class ExpireEngine implements RecordHost {
  readonly #table: TransitionTable;
  readonly #leaves: readonly TableLeaf[];
  readonly #heap: TimerHeap;
  readonly #parent: AnyActorRef;
  readonly #materializeAll: boolean;
  readonly #scheduler: InstalledScheduler;
  readonly #shared: RecordShared;
  /** Live entities (active, paused, or expired with the close not started), by id. */
  readonly #live = new Map<string, EntityRecord>();
  /** Closes in flight, with the promise each settles with. */
  readonly #closing = new Map<EntityRecord, Promise<void>>();
  /** Default per-id executors: each lives while a close of its id is queued or running. */
  readonly #executors = new Map<string, SerialExecutor>();
  /** Materialized actors, back to their records. */
  readonly #records = new WeakMap<AnyActorRef, EntityRecord>();
  /** The args of guards, delays and assigns: one object, refilled per call. */
  // Stryker disable next-line ObjectLiteral: both fields are set before every read
  readonly #args: TableArgs = { context: undefined, event: undefined };
  /** Events that effects sent during a step, run once it ends (an actor's mailbox, for records). */
  readonly #mailbox: Array<EntityRecord | { type: string }> = [];
  /** The delayed event of each leaf, shared. */
  readonly #delayed: ReadonlyArray<{ type: string } | undefined>;
  #stepping = false;
  /** The record (and event) the driver below applies operations to: one driver, no allocation per step. */
  #target: EntityRecord | undefined;
  #targetEvent: unknown;
  readonly #driver: OpDriver = {
    // Stryker disable next-line BlockStatement,ArrowFunction: a record left armed without a delayed event wakes up to nothing (see due())
    cancel: () => this.#heap.disarm(this.#target!),
    schedule: (delay) => {
      // A delay of Infinity (no close timeout) arms nothing.
      // Stryker disable next-line ConditionalExpression: arming at Infinity leaves due = Infinity, as disarming does
      if (delay === Infinity) this.#heap.disarm(this.#target!);
      else this.#heap.arm(this.#target!, this.#heap.now() + delay);
    },
    assign: (changes) => void Object.assign(this.#target!, changes),
    effect: (name) => effects[name]!(this.#target!, this.#targetEvent as CloseEvent),
  };
  #draining: { resolve: () => void; promise: Promise<void> } | undefined;
  #disposed = false;

  /** Builds an engine; records get the shared parts of their context from it. */
  constructor(options: EngineOptions) {
    this.#table = options.table;
    this.#leaves = options.table.leaves;
    this.#heap = options.heap;
    this.#parent = options.parent;
    this.#materializeAll = options.materializeAll;
    this.#scheduler = options.scheduler;
    this.#delayed = this.#leaves.map((leaf) => (leaf.delayed ? Object.freeze({ type: leaf.delayed }) : undefined));
    for (const leaf of this.#leaves) {
      for (const transitions of leaf.on.values()) {
        for (const { ops } of transitions) {
          for (const op of ops) {
            if (op.kind === 'effect' && !(op.name in effects)) {
              throw new TypeError(`ExpireEngine: no record effect for the action "${op.name}" (state "${leaf.id}")`);
            }
          }
        }
      }
    }
    this.#shared = {
      clock: options.heap,
      onCloseError: options.onCloseError,
      pauseTimeoutMs: options.pauseTimeoutMs,
      executorFor: (id) => this.#executorFor(id),
      host: this,
    };
  }

  /** How many live entities there are. */
  get size(): number {
    return this.#live.size;
  }

  /** How many closes are in flight. */
  get closingCount(): number {
    return this.#closing.size;
  }

  /** How many default per-id executors exist (one per id with a close queued or running). */
  get executorCount(): number {
    return this.#executors.size;
  }

  /** Whether `dispose({ close: true })` is closing everything. */
  get draining(): boolean {
    return this.#draining !== undefined;
  }

  /** The ids of the first `limit` live entities. */
  ids(limit: number): string[] {
    const ids: string[] = [];
    for (const id of this.#live.keys()) if (ids.push(id) >= limit) break;
    return ids;
  }

  /** The manager's clock time. */
  now(): number {
    return this.#heap.now();
  }

  /** The generation of the live entity `id` (0 when none): which renewal it is on. */
  generation(id: string): number {
    const record = this.#live.get(id);
    if (record === undefined) return 0;
    return record.actor === undefined ? record.generation : record.actor.getSnapshot().context.generation;
  }

  /** How many live entities are in each top-level state (for the entities gauge: O(live), when collected). */
  countByState(): Array<[LiveExpirationState, number]> {
    const counts: Record<LiveExpirationState, number> = { active: 0, paused: 0, expired: 0, failed: 0 };
    for (const id of this.#live.keys()) counts[this.state(id)!]++;
    return Object.entries(counts) as Array<[LiveExpirationState, number]>;
  }

  /** Whether `id` has a live entity. */
  has(id: string): boolean {
    return this.#live.has(id);
  }

  /** What the live entity `id` is at: its state, deadline and generation. */
  entry(id: string): ExpirationEntry | undefined {
    const record = this.#live.get(id);
    if (record === undefined) return undefined;
    const context = record.actor === undefined ? record : record.actor.getSnapshot().context;
    const { deadline, generation, attempt: attempts, lastError } = context;
    return { id, state: this.state(id)!, deadline, generation, attempts, ...(lastError === undefined ? {} : { lastError }) };
  }

  /** Every live entity, in the order they were created. */
  *entries(): IterableIterator<[string, ExpirationEntry]> {
    for (const id of [...this.#live.keys()]) {
      const entry = this.entry(id);
      if (entry !== undefined) yield [id, entry];
    }
  }

  /** The top-level state of the live entity `id`. */
  state(id: string): LiveExpirationState | undefined {
    const record = this.#live.get(id);
    if (record === undefined) return undefined;
    if (record.actor === undefined) return this.#leaves[record.state]!.top as LiveExpirationState;
    const value = record.actor.getSnapshot().value;
    return (typeof value === 'string' ? value : Object.keys(value)[0]) as LiveExpirationState;
  }

  /** Creates the entity `id`, or renews the live one in place (its old close never runs). */
  new(id: string, deadline: number, close: CloseFn, options: Partial<EntityOptions> = {}): void {
    const { executor, retry = NO_RETRY, closeTimeoutMs } = options;
    const live = this.#live.get(id);
    if (live !== undefined) {
      this.#send(live, { type: 'renew', deadline, close, executor, retry, closeTimeoutMs } satisfies ExpirationEvent);
      return;
    }
    const record = new EntityRecord(this.#shared, id, deadline, close, executor, retry, closeTimeoutMs, this.#table.initial.target);
    this.#live.set(id, record);
    if (this.#materializeAll) {
      this.#start(record, createActor(this.#machine, { parent: this.#parent, id, input: this.#input(record) }));
      return;
    }
    this.#run(record, this.#table.initial.ops, INIT);
  }

  /** Routes a call to the live entity `id`; whether there was one. */
  route(call: RoutedCall | 'shutdown', id: string): boolean {
    const record = this.#live.get(id);
    if (record === undefined) return false;
    // The manager forgets a deleted entity at once, whatever its state does.
    // Stryker disable next-line StringLiteral,ConditionalExpression: ending forgets the entity too
    if (call === 'delete') this.#live.delete(id);
    this.#send(record, EVENTS[call]);
    return true;
  }

  /** Whether the entity `id` takes `call` now: its statechart's answer, guards included; nothing changes. */
  takes(call: RoutedCall, id: string): boolean {
    const record = this.#live.get(id);
    if (record === undefined) return false;
    if (record.actor !== undefined) return record.actor.getSnapshot().can(EVENTS[call] as ExpirationEvent);
    return this.#choose(record, EVENTS[call]) !== undefined;
  }

  /**
   * A live XState actor for the entity `id`, created from its current state
   * with its pending deadline moved to it; the same actor on later calls.
   * From then on the entity's events go through the actor.
   */
  actorOf(id: string): ExpirationActorRef | undefined {
    const record = this.#live.get(id);
    if (record === undefined) return undefined;
    if (record.actor === undefined) this.#materialize(record);
    return record.actor;
  }

  /**
   * Closes every live entity once, whatever its state (a paused one after its
   * update), and resolves when every close has settled.
   */
  shutdown(): Promise<void> {
    if (this.#draining === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.#draining = { resolve, promise };
      for (const record of [...this.#live.values()]) this.#send(record, EVENTS.shutdown);
      this.#checkDrained();
    }
    return this.#draining.promise;
  }

  /**
   * Ends every entity (`dispose`: live ones are deleted, running closes see
   * their signal abort) and clears every timer. Resolves when the closes that
   * were running have settled.
   */
  dispose(): Promise<void> {
    // Stryker disable next-line ConditionalExpression: a second dispose finds nothing to do
    if (this.#disposed) return Promise.resolve();
    // Stryker disable next-line BooleanLiteral: the wholesale clear does the same bookkeeping
    this.#disposed = true;
    const running = [...this.#closing.values()];
    // Dropped wholesale, so that each record's own end costs nothing (see #ended).
    this.#heap.clear();
    for (const record of this.#live.values()) this.#send(record, EVENTS.dispose);
    for (const record of this.#closing.keys()) this.#send(record, EVENTS.dispose);
    this.#live.clear();
    this.#closing.clear();
    this.#draining?.resolve();
    return Promise.all(running).then(() => undefined);
  }

  /** From the manager actor: a materialized actor's close starts. */
  actorClosing(ref: AnyActorRef, settled: Promise<void>): void {
    const record = this.#records.get(ref);
    // Stryker disable next-line ConditionalExpression: only the engine's own actors notify it
    if (record) this.closing(record, settled);
  }

  /** From the manager actor: a materialized actor reached a final state. */
  actorEnded(ref: AnyActorRef): void {
    const record = this.#records.get(ref);
    // Stryker disable next-line ConditionalExpression: only the engine's own actors end under it
    if (record) this.#ended(record);
  }

  /** @internal The record's timer is due: its delayed event happens. */
  due(record: EntityRecord): void {
    const event = this.#delayed[record.state];
    // Stryker disable next-line ConditionalExpression: armed only in a leaf with a delayed event
    if (event !== undefined) this.deliver(record, event);
  }

  /** @internal An effect's event: now, or after the running step. */
  deliver(record: EntityRecord, event: { type: string }): void {
    // Stryker disable next-line ConditionalExpression: queueClose is its step's last operation
    if (this.#stepping) this.#mailbox.push(record, event);
    else this.#send(record, event);
  }

  /** @internal */
  isCurrent(record: EntityRecord, generation: number): boolean {
    const actor = record.actor;
    if (actor !== undefined) {
      const snapshot = actor.getSnapshot();
      return snapshot.status === 'active' && snapshot.context.generation === generation;
    }
    return !this.#leaves[record.state]!.final && record.generation === generation;
  }

  /** @internal The record's close failed: live again, unless its id was taken meanwhile. */
  rejoin(record: EntityRecord): void {
    if (this.#rejoined(record)) this.deliver(record, EVENTS.superseded);
  }

  /** From the manager actor: a materialized actor's close failed. */
  actorRejoined(ref: AnyActorRef): void {
    const record = this.#records.get(ref);
    // Stryker disable next-line ConditionalExpression: only the engine's own materialized actors notify it
    if (record && this.#rejoined(record)) ref.send(EVENTS.superseded);
  }

  /** A failed close hands its entity back: whether its id was taken meanwhile (superseded). */
  #rejoined(record: EntityRecord): boolean {
    this.#closing.delete(record);
    const holder = this.#live.get(record.id);
    // Stryker disable next-line ConditionalExpression: a closing record is never the live one (closing() took it out)
    if (holder !== undefined && holder !== record) return true;
    this.#live.set(record.id, record);
    // Checked once the step that failed it has ended: a last failure (failed) may drain the manager.
    // Stryker disable next-line ConditionalExpression: #checkDrained does nothing while not draining
    if (this.#draining !== undefined) queueMicrotask(() => this.#checkDrained());
    return false;
  }

  /** @internal The record's close starts: it is no longer live. */
  closing(record: EntityRecord, settled: Promise<void>): void {
    // Stryker disable next-line ConditionalExpression: a close starts only from the live record
    if (this.#live.get(record.id) === record) this.#live.delete(record.id);
    this.#closing.set(record, settled);
    this.#checkDrained();
  }

  get #machine(): ExpirationMachine {
    return this.#table.machine as ExpirationMachine;
  }

  /** Sends `event` to the entity: through its actor, or one step of the table. */
  #send(record: EntityRecord, event: { type: string } | ExpirationEvent): void {
    if (record.actor !== undefined) {
      if (record.actor.getSnapshot().status === 'active') record.actor.send(event as ExpirationEvent);
      return;
    }
    const transition = this.#choose(record, event);
    if (transition === undefined) return;
    const outer = !this.#stepping;
    // Stryker disable next-line BooleanLiteral: as in deliver()
    this.#stepping = true;
    try {
      record.state = transition.target;
      this.#run(record, transition.ops, event);
      if (this.#leaves[transition.target]!.final) this.#ended(record);
    } finally {
      // Stryker disable next-line ConditionalExpression: no step runs inside another here
      if (outer) this.#stepping = false;
    }
    // Stryker disable next-line ConditionalExpression: every step that drains is an outer one
    if (outer) this.#drainMailbox();
  }

  /** The transition the record's state takes on `event` (guards evaluated), if any; nothing changes. */
  #choose(record: EntityRecord, event: { type: string }): TableTransition | undefined {
    const transitions = this.#leaves[record.state]!.on.get(event.type);
    if (transitions === undefined) return undefined;
    const args = this.#argsOf(record, event);
    const transition = chooseTransition(transitions, args);
    args.context = args.event = undefined;
    return transition;
  }

  /**
   * The stepper applies a transition's operations to `record` through this engine's one driver.
   * Steps never nest (what a step starts is queued or runs after it), so one target at a time.
   */
  #run(record: EntityRecord, ops: readonly TableOp[], event: { type: string }): void {
    this.#target = record;
    this.#targetEvent = event;
    applyOps(ops, this.#argsOf(record, event), this.#driver);
    // Not kept for the next step: the record and event can be collected meanwhile.
    this.#args.context = this.#args.event = this.#target = this.#targetEvent = undefined;
  }


  #argsOf(record: EntityRecord, event: unknown): TableArgs {
    this.#args.context = record;
    this.#args.event = event;
    return this.#args;
  }

  #drainMailbox(): void {
    const mailbox = this.#mailbox;
    while (mailbox.length > 0) {
      const record = mailbox.shift() as EntityRecord;
      const event = mailbox.shift() as { type: string };
      this.#send(record, event);
    }
  }

  /** The entity reached a final state: it leaves the manager and the heap. */
  #ended(record: EntityRecord): void {
    // Stryker disable next-line ConditionalExpression: the wholesale clear does the same bookkeeping
    if (this.#disposed) return; // dispose drops them all at once
    this.#heap.remove(record);
    if (this.#live.get(record.id) === record) this.#live.delete(record.id);
    this.#closing.delete(record);
    this.#checkDrained();
  }

  /** Drained: no close in flight, and every live entity left has failed for good (a dead letter). */
  #checkDrained(): void {
    if (this.#draining === undefined || this.#closing.size > 0) return;
    for (const id of this.#live.keys()) if (this.state(id) !== 'failed') return;
    this.#draining.resolve();
  }

  /** The id's default executor: made when one of its closes is queued, dropped when it has none left. */
  #executorFor(id: string): Executor {
    let serial = this.#executors.get(id);
    if (serial === undefined) this.#executors.set(id, (serial = new SerialExecutor()));
    const executor = serial;
    return {
      asyncExec: (task) => {
        const done = executor.asyncExec(task) as Promise<void>;
        const forget = (): void => {
          // Stryker disable next-line ConditionalExpression: an executor with tasks is its id's one
          if (executor.pending === 0 && this.#executors.get(id) === executor) this.#executors.delete(id);
        };
        done.then(forget, forget);
        return done;
      },
    };
  }

  /** The record's fields as a machine context, for an actor. */
  #input(record: EntityRecord): ExpirationContext {
    return {
      id: record.id,
      deadline: record.deadline,
      close: record.close,
      executor: record.executor,
      executorFor: record.executorFor,
      clock: record.clock,
      onCloseError: record.onCloseError,
      generation: record.generation,
      retry: record.retry,
      closeTimeoutMs: record.closeTimeoutMs,
      pauseTimeoutMs: record.pauseTimeoutMs,
      attempt: record.attempt,
      closeDeadline: record.closeDeadline,
      lastError: record.lastError,
    };
  }

  #materialize(record: EntityRecord): void {
    const leaf = this.#leaves[record.state]!;
    const snapshot = this.#machine.resolveState({ value: leaf.value as never, context: this.#input(record) });
    const actor = createActor(this.#machine, { parent: this.#parent, id: record.id, snapshot, input: undefined as never });
    // Stryker disable next-line ConditionalExpression,LogicalOperator: a live record is armed exactly in a leaf with a delayed event
    const pending = record.index >= 0 && record.due !== Infinity ? record.due : undefined;
    this.#heap.remove(record);
    this.#start(record, actor);
    // Stryker disable next-line ConditionalExpression,LogicalOperator: as above, the two halves agree
    if (pending !== undefined && leaf.delayed !== undefined) {
      const delay = Math.max(0, pending - this.#heap.now());
      actor.system.scheduler.schedule(actor, actor, { type: leaf.delayed }, delay, leaf.delayed);
      // Among deadlines at the same time, it keeps the turn it had as a record.
      this.#heap.keepTurn(this.#scheduler.handleOf(actor, leaf.delayed), record);
    }
  }

  #start(record: EntityRecord, actor: ExpirationActorRef): void {
    record.actor = actor;
    this.#records.set(actor, record);
    actor.start();
  }
}
