import type { CloseEvent, EffectEvent, EffectTarget, ExpirationContext } from '../machines/effects.js';
import type { ExpirationActorRef } from '../machines/expiration.js';
import type { RetryPolicy } from '../machines/retry.js';
import type { CloseErrorHandler, CloseFn, ExpireClock, Executor } from '../types.js';
import type { HeapNode } from './timer-heap.js';

/** What a record asks of the engine that holds it. */
export interface RecordHost {
  /** Delivers an event from an effect or a timer (later, if a step is running). */
  deliver(record: EntityRecord, event: { type: string }): void;
  /** Whether the record has neither ended nor been renewed since `generation`. */
  isCurrent(record: EntityRecord, generation: number): boolean;
  /** The record's close starts: it leaves the live entities. */
  closing(record: EntityRecord, settled: Promise<void>): void;
  /** The record's close failed: it is live again, or `superseded` when its id was taken. */
  rejoin(record: EntityRecord): void;
  /** The record's timer is due. */
  due(record: EntityRecord): void;
}

/** What every record of one engine shares: the parts of its context that are the manager's. */
export interface RecordShared {
  /** The manager's clock (its timer heap). */
  clock: ExpireClock;
  /** Where close failures are reported. */
  onCloseError: CloseErrorHandler;
  /** How long a pause may last; `undefined` for no limit. */
  pauseTimeoutMs: number | undefined;
  /** The default per-id executors. */
  executorFor: (id: string) => Executor;
  /** The engine that holds the records. */
  host: RecordHost;
}

/**
 * An entity at rest: its statechart state as a leaf index of the compiled
 * table, its context as plain fields, and its place in the timer heap.
 *
 * It is its own context (what the manager shares comes through `shared`), its
 * own heap node, and its own {@link EffectTarget}: no `Actor`, no snapshot, no
 * closure per entity. One class for every manager, so that the engine's
 * property accesses stay monomorphic. Once an actor is materialized for it
 * (`actor`), that actor holds the state.
 */
export class EntityRecord implements ExpirationContext, HeapNode, EffectTarget {
  /** Leaf index in the compiled table. */
  state: number;
  generation = 0;
  attempt = 0;
  closeDeadline = Infinity;
  lastError: string | undefined = undefined;
  /** The running close's signal scope, while closing. */
  scope: AbortController | undefined = undefined;
  /** The live actor that holds this entity's state, once materialized. */
  actor: ExpirationActorRef | undefined = undefined;
  key = Infinity;
  due = Infinity;
  seq = 0;
  order = 0;
  // Stryker disable next-line UnaryOperator: readers check heap[index] === node
  index = -1;

  constructor(
    readonly shared: RecordShared,
    readonly id: string,
    public deadline: number,
    public close: CloseFn,
    public executor: Executor | undefined,
    public retry: Readonly<RetryPolicy>,
    public closeTimeoutMs: number | undefined,
    state: number,
  ) {
    this.state = state;
  }

  /** The manager's clock: what the machine's guards and delays read. */
  get clock(): ExpireClock {
    return this.shared.clock;
  }

  /** Where close failures are reported. */
  get onCloseError(): CloseErrorHandler {
    return this.shared.onCloseError;
  }

  /** How long a pause may last: the manager's. */
  get pauseTimeoutMs(): number | undefined {
    return this.shared.pauseTimeoutMs;
  }

  /** The default per-id executors, for an entity created without one. */
  get executorFor(): (id: string) => Executor {
    return this.shared.executorFor;
  }

  /** The record is the context the machine's guards, delays and assigns read. */
  get context(): ExpirationContext {
    return this;
  }

  /** @internal */
  fire(): void {
    this.shared.host.due(this);
  }

  /** @internal */
  send(event: EffectEvent | CloseEvent): void {
    this.shared.host.deliver(this, event);
  }

  /** @internal */
  isCurrent(generation: number): boolean {
    return this.shared.host.isCurrent(this, generation);
  }

  /** @internal */
  notifyClosing(settled: Promise<void>): void {
    this.shared.host.closing(this, settled);
  }

  /** @internal */
  rejoin(): void {
    this.shared.host.rejoin(this);
  }
}
