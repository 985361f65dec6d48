import type { TableLeaf, TableOp, TableTransition, TransitionTable } from '../machines/compile.js';
import type { ExpirationContext, RenewEvent } from '../machines/expiration.js';
import { type TableArgs, applyOps, chooseTransition } from '../machines/interpret.js';
import type { CloseErrorHandler, ExpireClock } from '../types.js';
import type { DurableStore, Query, Row } from './store.js';
import type { RetryPolicy } from '../machines/retry.js';
import { CLOSE_TIMED_OUT, MANAGER_DISPOSED } from '../machines/effects.js';
import { type Plans, keyParams, plansFor } from './plans.js';

/** An entity's row, as a transaction reads and changes it. */
export interface Draft {
  id: string;
  generation: number;
  /** The leaf state's path: `active`, `expired.queued`… */
  state: string;
  live: boolean;
  deadline: number;
  due: number | null;
  closer: string;
  data: unknown;
  owner: string | null;
  leaseState: string | null;
  leaseUntil: number | null;
  leaseMs: number | null;
  leaseEvent: string | null;
  /** The processes holding the pause (`paused` only): it lasts while any of them lives. */
  holders: string[];
  /** Close attempts since it expired. */
  attempt: number;
  /** The last failed attempt's message. */
  lastError: string | null;
  /** When the running attempt times out; `null` for none. */
  closeDeadline: number | null;
  /** Whether another live row holds the id (read before a failed close hands the entity back). */
  idTaken?: boolean;
  /** The generation the row was read with (its key); `undefined` for a row not yet inserted. */
  key: number | undefined;
  /** Reached a final state: the row goes. */
  ended: boolean;
}

/** What a durable entity closes with: its closer's name and data (its row's), as `renew` carries them too. */
export interface DurableClose {
  closer: string;
  data: unknown;
}

/** An event sent to a row: the machine's events, with a durable close in `renew`. */
export type DurableEvent = { readonly type: string } & Partial<Omit<RenewEvent<DurableClose>, 'type'>> & { error?: unknown };

/**
 * The clock of one step: the database's time of its transaction, for the
 * machine's guards and delays. A step arms no timer: a delay becomes the row's due time.
 */
const stepClock = (now: number): ExpireClock => ({
  now: () => now,
  // Stryker disable next-line BlockStatement: unreachable: applyOps hands every delay to schedule (the due time)
  setTimeout: () => {
    // Stryker disable next-line StringLiteral: as above
    throw new Error('xstate-expire: a durable step arms no timer (a delay is the row\'s due time)');
  },
  clearTimeout: () => {},
});

/** A close to run once the transaction that claimed it has committed. */
export interface Claim {
  id: string;
  generation: number;
  deadline: number;
  closer: string;
  data: unknown;
  /** Which attempt: 1, then one more on each retry or takeover. */
  attempt: number;
}

/** One transaction's work beyond the rows: what to do once it commits. */
export class Step {
  /** Events effects sent during a step (an actor's mailbox): run after it, in the same transaction. */
  // Stryker disable next-line ArrayDeclaration: an entry without a type matches no transition
  readonly mailbox: Array<{ type: string }> = [];
  /** Closes claimed: to run after the commit. */
  readonly claims: Claim[] = [];
  /** Running closes (`id#generation`) whose signal must abort, with why. */
  readonly aborts: Array<[key: string, reason: Error]> = [];
  /** Failures to report once committed (a rolled-back transaction reports nothing). */
  readonly reports: Array<[id: string, error: unknown]> = [];
  /** Pauses taken (`id#generation`): this manager renews them while it lives. */
  readonly pauses: string[] = [];
  /** Entities `dispose({ close: true })` shut down (`id#generation`): it waits until they are gone. */
  readonly waitFor: string[] = [];
  /** The earliest `due` or lease end written: other managers may need to wake up for it. */
  earliest = Infinity;
  /** Ids a failed close handed back live in this step, not yet written: taken for the next rejoin of the same id. */
  readonly rejoined = new Set<string>();
  /** Every generation drawn for this step (a batch draws one per entity); {@link Step.generation} is the one in use. */
  // Stryker disable next-line ArrayDeclaration: set from the opening row before it is read
  generations: readonly number[] = [];
  constructor(
    readonly query: Query,
    /** The database's time, in ms. */
    readonly now: number,
    /** A generation no entity ever had (from the schema's sequence), when the transaction asked for one. */
    public generation: number | undefined = undefined,
  ) {}
}

/**
 * The statement that opens a transaction by reading its rows (one round trip
 * instead of two): one of the `open…` plans, its parameters but the last two
 * (the idle timeout and how many generations to draw, which the engine adds).
 */
export interface Opening {
  sql: string;
  params: readonly unknown[];
  /** How many generations the transaction draws (one per entity it may create or renew). Default 0. */
  generations?: number;
}

/** What the engine asks of the manager that runs it. */
export interface EngineHost {
  /** Whether this process will run one more close with `closer` now (it has it, and room beside `pending` claimed). */
  canClose(closer: string, pending: number): boolean;
  /** How the closes of `closer` are retried and timed out (the defaults for a closer this process lacks). */
  policyOf(closer: string): ClosePolicy;
}

/** How one closer's closes are retried and timed out. */
export interface ClosePolicy {
  retry: Readonly<RetryPolicy>;
  closeTimeoutMs: number | undefined;
}

/**
 * Errors a transaction is run again for: a unique violation (two processes
 * created one id at once: the loser renews the winner's row), a
 * serialization failure and a deadlock.
 */
const RETRIED = new Set(['23505', '40001', '40P01']);

/** The key of an entity's incarnation: `id#generation` (an id may hold `#`; the generation never does). */
export const keyOf = (id: string, generation: number): string => `${id}#${generation}`;

const toDraft = (row: Row): Draft => ({
  id: row.id as string,
  generation: Number(row.generation),
  state: row.state as string,
  live: row.live as boolean,
  deadline: Number(row.deadline),
  due: row.due === null ? null : Number(row.due),
  closer: row.closer as string,
  data: row.data ?? null,
  owner: (row.owner as string | null) ?? null,
  leaseState: (row.lease_state as string | null) ?? null,
  leaseUntil: row.lease_until === null ? null : Number(row.lease_until),
  leaseMs: row.lease_ms === null ? null : Number(row.lease_ms),
  leaseEvent: (row.lease_event as string | null) ?? null,
  holders: (row.holders as string[] | null) ?? [],
  attempt: Number(row.attempt ?? 0),
  lastError: (row.last_error as string | null) ?? null,
  closeDeadline: row.close_deadline === null || row.close_deadline === undefined ? null : Number(row.close_deadline),
  key: Number(row.generation),
  ended: false,
});

/** A draft as one element of the JSON array {@link Plans.insertMany} and {@link Plans.updateMany} read. */
const jsonRow = (draft: Draft): Record<string, unknown> => ({
  id: draft.id,
  generation: draft.generation,
  state: draft.state,
  live: draft.live,
  deadline: draft.deadline,
  due: draft.due,
  closer: draft.closer,
  // Text, cast to jsonb on write, as the one-row statements write it.
  data: JSON.stringify(draft.data),
  owner: draft.owner,
  lease_state: draft.leaseState,
  lease_until: draft.leaseUntil,
  lease_ms: draft.leaseMs,
  lease_event: draft.leaseEvent,
  holders: draft.holders,
  attempt: draft.attempt,
  last_error: draft.lastError,
  close_deadline: draft.closeDeadline,
});

/** Sets, or clears, a draft's lease. */
function lease(draft: Draft, owner: string | null, until: number | null, ms: number | null, event: string | null): void {
  draft.owner = owner;
  draft.leaseUntil = until;
  draft.leaseMs = ms;
  draft.leaseEvent = event;
  draft.leaseState = event === null ? null : draft.state;
}

/**
 * The expiration statechart over PostgreSQL rows: every call is one
 * transaction that locks the entity's row, runs the compiled table's
 * transition on it (the same table the in-memory records run), writes it and
 * commits. Time is the database's (`now_ms()`), in every decision.
 *
 * The durable meaning of the machine's named actions (its effects):
 * - `queueClose`: the close waits to be claimed — a lease held by nobody,
 *   ending now, whose event is `close`; this process claims it at once if it can;
 * - `notifyClosing`: the entity leaves the live ones, and the claimant holds a
 *   lease (`claimTimeoutMs`, renewed while the close runs) whose end is `reclaim`;
 * - `runClose`: the named closer runs once the claim has committed;
 * - `abortClose`: a close running here sees its signal abort.
 */
export class DurableEngine {
  readonly #table: TransitionTable;
  readonly #leaves = new Map<string, TableLeaf>();
  readonly #plans: Plans;

  constructor(
    readonly store: DurableStore,
    readonly namespace: string,
    /** This manager's id: the owner of its leases. */
    readonly owner: string,
    table: TransitionTable,
    readonly claimTimeoutMs: number,
    readonly pauseTimeoutMs: number,
    readonly onCloseError: CloseErrorHandler,
    readonly host: EngineHost,
  ) {
    this.#table = table;
    this.#plans = plansFor(store.schema);
    for (const leaf of table.leaves) {
      this.#leaves.set(leaf.path, leaf);
      for (const transitions of leaf.on.values()) {
        for (const { ops } of transitions) {
          for (const op of ops) {
            if (op.kind === 'effect' && !(op.name in this.#effects)) {
              throw new TypeError(`durable manager: no effect for the action "${op.name}" (state "${leaf.id}")`);
            }
          }
        }
      }
    }
  }

  /** The top-level state of a leaf path: `expired.queued` → `expired`. */
  top(state: string): string {
    return this.#leaves.get(state)?.top ?? state;
  }

  /**
   * Runs `work` in a transaction with the database's time (and, with
   * `generation`, a fresh generation). Retried when it lost a race the
   * database reports (two processes created one id at once, a serialization
   * failure or a deadlock): `work` starts afresh, on a new {@link Step}.
   */
  async transaction<T>(
    work: (step: Step, rows: Draft[]) => Promise<T>,
    { generation = false, open }: { generation?: boolean; open?: Opening } = {},
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.store.transaction(async (query) => {
          if (open !== undefined) {
            // Stryker disable next-line MethodExpression: as below
            const timeout = String(Math.ceil(this.claimTimeoutMs));
            const rows = await query(open.sql, [...open.params, timeout, open.generations ?? 0]);
            const first = rows[0]!;
            const step = new Step(query, Number(first.tx_now));
            // Stryker disable next-line ArrayDeclaration: ARRAY(...) is never null
            step.generations = ((first.tx_generations as unknown[] | null) ?? []).map(Number);
            step.generation = step.generations[0];
            // Stryker disable next-line ConditionalExpression: forced true, `!== undefined`: a missing joined row reads null
            return work(step, rows.filter((row) => row.id !== null && row.id !== undefined).map(toDraft));
          }
          // A process that freezes inside a transaction (its locks held, its connection
          // alive) is cut off after claimTimeoutMs, so that SKIP LOCKED does not skip
          // its rows for as long as it hangs.
          const [row] = await query(
            generation ? this.#plans.beginWithGeneration : this.#plans.begin,
            // Stryker disable next-line MethodExpression: claimTimeoutMs is a whole number (assertMs), which ceil and floor keep
            [String(Math.ceil(this.claimTimeoutMs))],
          );
          // Stryker disable next-line ArrayDeclaration: only a transaction opened by its rows reads them
          return work(new Step(query, Number(row!.now), generation ? Number(row!.generation) : undefined), []);
        });
      } catch (error) {
        // Stryker disable next-line StringLiteral: no retried code is that string either
        if (!RETRIED.has((error as { code?: string }).code ?? '') || attempt >= 5) throw error;
      }
    }
  }

  /** The live row of `id`, locked for this transaction. */
  async live(step: Step, id: string): Promise<Draft | undefined> {
    const [row] = await step.query(this.#plans.live, [this.namespace, id]);
    return row && toDraft(row);
  }

  /** Opens a transaction on the live row of `id` (locked), drawing `generations` generations. */
  opensLive(id: string, generations = 0): Opening {
    return { sql: this.#plans.openLive, params: [this.namespace, id], generations };
  }

  /** Opens a transaction on the live rows of `ids` (locked), drawing `generations` generations. */
  opensLives(ids: readonly string[], generations: number): Opening {
    return { sql: this.#plans.openLives, params: [this.namespace, ids], generations };
  }

  /** Opens a transaction on the rows of `keys` (`id#generation`) while this manager holds them (fencing), locked. */
  opensClaims(keys: readonly string[]): Opening {
    return { sql: this.#plans.openByKeys, params: [this.namespace, ...keyParams(keys), this.owner] };
  }

  /**
   * Opens a transaction on the rows due now (its own `now`) that `closers` handle, at most `limit`,
   * locked and skipped by others; without `room` for a close, not the closes waiting for a claim.
   */
  opensDue(closers: readonly string[], limit: number, room: boolean): Opening {
    return { sql: this.#plans.openDue, params: [this.namespace, closers, limit, room] };
  }

  /** A row by its key, locked; only while `owner` still holds it, when given (fencing). */
  async byKey(step: Step, id: string, generation: number, owner?: string): Promise<Draft | undefined> {
    const [row] = await step.query(this.#plans.byKey, [this.namespace, id, generation, owner ?? null]);
    return row && toDraft(row);
  }

  /** A new entity, on its initial transition; its generation is unique for the id. */
  async create(step: Step, id: string, deadline: number, closer: string, data: unknown): Promise<Draft> {
    const draft: Draft = {
      id,
      generation: this.#fresh(step),
      state: this.#table.leaves[this.#table.initial.target]!.path,
      live: true,
      deadline,
      due: null,
      closer,
      data,
      owner: null,
      leaseState: null,
      leaseUntil: null,
      leaseMs: null,
      leaseEvent: null,
      holders: [],
      attempt: 0,
      lastError: null,
      closeDeadline: null,
      key: undefined,
      ended: false,
    };
    // Stryker disable next-line ObjectLiteral,StringLiteral: the initial transition's delay reads the context only
    this.#run(step, draft, this.#table.initial.ops, { type: 'xstate.init' });
    await this.#drain(step, draft);
    return draft;
  }

  /**
   * Sends `event` to the draft: the table's transition, if its state takes it,
   * then whatever its effects sent. Resolves with whether a transition was taken.
   */
  async send(step: Step, draft: Draft, event: DurableEvent): Promise<boolean> {
    // A close that ends otherwise than settled may hand its entity back: is its id still free?
    if (!draft.live && event.type !== 'settled' && draft.idTaken === undefined) {
      const [row] = await step.query(this.#plans.idTaken, [this.namespace, draft.id, draft.generation]);
      draft.idTaken = row !== undefined || step.rejoined.has(draft.id);
    }
    const taken = this.#step(step, draft, event);
    await this.#drain(step, draft);
    return taken;
  }

  /** The transition `event` would take from the draft's state, if any (nothing changes). */
  peek(draft: Draft, event: { type: string }, now: number): TableTransition | undefined {
    const transitions = this.#leaves.get(draft.state)?.on.get(event.type);
    return transitions && chooseTransition(transitions, this.#args(this.#context(draft, now), event));
  }

  /** Whether `event` would start a close here (its transition runs the closer: `runClose`), nothing changing. */
  startsClose(draft: Draft, event: { type: string }, now: number): boolean {
    // Stryker disable next-line ConditionalExpression: only an effect op is named runClose; the line's other operators check the rest
    return this.peek(draft, event, now)?.ops.some((op) => op.kind === 'effect' && op.name === 'runClose') ?? false;
  }

  /** The event a draft's delayed transition sends (its deadline), in its state. */
  delayedEvent(draft: Draft): string | undefined {
    return this.#leaves.get(draft.state)?.delayed;
  }

  /**
   * Makes this process a holder of the draft's pause (its `stop` was taken):
   * the heartbeat pushes the pause's timeout (the statechart's delayed
   * transition) on while any holder lives; once every holder has died it runs
   * out and the saved deadline resumes (R1.2 for a dead updater).
   */
  holdPause(step: Step, draft: Draft): void {
    if (!draft.holders.includes(this.owner)) draft.holders = [...draft.holders, this.owner];
    step.pauses.push(keyOf(draft.id, draft.generation));
  }

  /** This process lets go of the draft's pause; returns whether other holders keep it. */
  releasePause(draft: Draft): boolean {
    draft.holders = draft.holders.filter((holder) => holder !== this.owner);
    return draft.holders.length > 0;
  }

  /** Releases a lease now: its event happens on the next pass of any manager. */
  releaseNow(step: Step, draft: Draft): void {
    draft.leaseUntil = step.now;
  }

  /** Clears a draft's lease: its event is being delivered. */
  endLease(draft: Draft): void {
    lease(draft, null, null, null, null);
  }

  /** Writes the draft back: insert, update (the generation may have changed) or delete. */
  async write(step: Step, draft: Draft): Promise<void> {
    const { namespace } = this;
    if (draft.ended) {
      if (draft.key !== undefined) {
        await step.query(this.#plans.delete, [namespace, draft.id, draft.key]);
      }
      return;
    }
    // Stryker disable next-line EqualityOperator: `<=` for `<`: an equal time leaves the same earliest
    for (const time of [draft.due, draft.leaseUntil]) if (time !== null && time < step.earliest) step.earliest = time;
    const values = [
      namespace,
      draft.id,
      draft.generation,
      draft.state,
      draft.live,
      draft.deadline,
      draft.due,
      draft.closer,
      JSON.stringify(draft.data),
      draft.owner,
      draft.leaseState,
      draft.leaseUntil,
      draft.leaseMs,
      draft.leaseEvent,
      draft.holders,
      draft.attempt,
      draft.lastError,
      draft.closeDeadline,
    ];
    if (draft.key === undefined) await step.query(this.#plans.insert, values);
    else await step.query(this.#plans.update, [...values, draft.key]);
    draft.key = draft.generation;
  }

  /**
   * Writes drafts back in at most three statements: their deletions, their
   * updates, their insertions (as {@link DurableEngine.write} does one by one).
   * The drafts are distinct rows, and no two of them live with one id.
   */
  async writeAll(step: Step, drafts: readonly Draft[]): Promise<void> {
    // Stryker disable next-line ConditionalExpression: forced false, the batch statements write one draft as write() does
    if (drafts.length === 1) return this.write(step, drafts[0]!);
    const gone: string[] = [];
    const updates: Array<Record<string, unknown>> = [];
    const inserts: Array<Record<string, unknown>> = [];
    for (const draft of drafts) {
      if (draft.ended) {
        if (draft.key !== undefined) gone.push(keyOf(draft.id, draft.key));
        continue;
      }
      // Stryker disable next-line EqualityOperator: as in write()
      for (const time of [draft.due, draft.leaseUntil]) if (time !== null && time < step.earliest) step.earliest = time;
      const row = jsonRow(draft);
      if (draft.key === undefined) inserts.push(row);
      else updates.push({ ...row, key: draft.key });
    }
    if (gone.length > 0) await step.query(this.#plans.deleteMany, [this.namespace, ...keyParams(gone)]);
    if (updates.length > 0) await step.query(this.#plans.updateMany, [this.namespace, JSON.stringify(updates)]);
    if (inserts.length > 0) await step.query(this.#plans.insertMany, [this.namespace, JSON.stringify(inserts)]);
    for (const draft of drafts) if (!draft.ended) draft.key = draft.generation;
  }

  /**
   * Wakes the other managers of this namespace for a due time or lease end
   * written sooner than `within` ms from now: later ones their polling finds in
   * time. (A NOTIFY serializes commits on a global lock: none is cheaper.)
   */
  async notify(step: Step, within: number): Promise<void> {
    if (step.earliest >= step.now + within) return;
    await step.query(this.#plans.notify, [this.store.schema, `${this.namespace}\n${step.earliest}`]);
  }

  /**
   * Renews the claims of the closes running here (keys `id#generation`) while
   * this process still owns them; resolves with the keys it has lost (another
   * process took the close over after its claim ran out).
   */
  async renewClaims(running: readonly string[]): Promise<string[]> {
    if (running.length === 0) return [];
    const rows = await this.transaction(async (step) =>
      step.query(this.#plans.renewClaims, [this.namespace, this.owner, step.now, ...keyParams(running)]),
    );
    const renewed = new Set(rows.map((row) => row.key as string));
    return running.filter((key) => !renewed.has(key));
  }

  /**
   * Pushes on the timeout of the pauses this process holds (keys
   * `id#generation`) that are still paused; resolves with the keys whose entity is no
   * longer live at that generation (closing, ended or renewed: for good, as
   * generations never come back), which this process can forget.
   */
  async renewPauses(held: readonly string[]): Promise<string[]> {
    if (held.length === 0) return [];
    const rows = await this.transaction(async (step) => {
      await step.query(this.#plans.renewPauses, [this.namespace, step.now, this.pauseTimeoutMs, this.owner, ...keyParams(held)]);
      return step.query(this.#plans.liveKeys, [this.namespace, ...keyParams(held)]);
    });
    const live = new Set(rows.map((row) => row.key as string));
    return held.filter((key) => !live.has(key));
  }

  /**
   * How many of the entities `keys` (`id#generation`) may still close: in the
   * table, and not `failed` (a failed row rests until retried, renewed or deleted).
   */
  async countUnsettled(keys: readonly string[]): Promise<number> {
    const [row] = await this.store.query(this.#plans.countUnsettled, [this.namespace, ...keyParams(keys)]);
    return Number(row?.n ?? 0);
  }

  /** The earliest deadline or lease end this process could handle (database time), if any. */
  async next(closers: readonly string[]): Promise<{ at: number; now: number } | undefined> {
    const [row] = await this.store.query(this.#plans.next, [this.namespace, closers]);
    return row?.at === null || row?.at === undefined ? undefined : { at: Number(row.at), now: Number(row.now) };
  }

  #step(step: Step, draft: Draft, event: { type: string }): boolean {
    const transitions = this.#leaves.get(draft.state)?.on.get(event.type);
    if (transitions === undefined) return false;
    const context = this.#context(draft, step.now);
    const transition = chooseTransition(transitions, this.#args(context, event));
    // Stryker disable next-line ConditionalExpression,BooleanLiteral: a due delayed event's guard holds (one database clock)
    if (transition === undefined) return false;
    draft.state = this.#table.leaves[transition.target]!.path;
    this.#run(step, draft, transition.ops, event, context);
    // A lease holds only in the state it was taken in; so do the holders of a pause.
    // Stryker disable next-line ConditionalExpression: a lease's fields are null together, so clearing a null lease changes nothing
    if (draft.leaseState !== null && draft.leaseState !== draft.state) lease(draft, null, null, null, null);
    if (draft.state !== 'paused') draft.holders = [];
    if (this.#table.leaves[transition.target]!.final) draft.ended = true;
    return true;
  }

  async #drain(step: Step, draft: Draft): Promise<void> {
    for (let event = step.mailbox.shift(); event; event = step.mailbox.shift()) this.#step(step, draft, event);
  }

  #run(step: Step, draft: Draft, ops: readonly TableOp[], event: { type: string }, context = this.#context(draft, step.now)): void {
    applyOps(ops, this.#args(context, event), {
      cancel: () => void (draft.due = null),
      // A delay of Infinity (no close timeout) arms nothing.
      schedule: (delay) => void (draft.due = delay === Infinity ? null : step.now + delay),
      assign: (changes) => {
        Object.assign(context, changes);
        const { close } = context;
        draft.deadline = context.deadline;
        // A renewal's generation comes from the schema's sequence: unique across incarnations.
        if (context.generation !== draft.generation) draft.generation = this.#fresh(step);
        draft.closer = close.closer;
        draft.data = close.data;
        draft.attempt = context.attempt;
        draft.lastError = context.lastError ?? null;
        draft.closeDeadline = context.closeDeadline === Infinity ? null : context.closeDeadline;
      },
      effect: (name) => this.#effects[name]!(step, draft),
    });
  }

  /** The step's fresh generation; a transaction that may create or renew asks for one. */
  #fresh(step: Step): number {
    if (step.generation === undefined) throw new Error('durable manager: a generation was needed but not drawn');
    return step.generation;
  }

  /** The machine's context for a row: what its guards, delays and assigns read. */
  #context(draft: Draft, now: number): ExpirationContext<DurableClose> {
    const { retry, closeTimeoutMs } = this.host.policyOf(draft.closer);
    return {
      id: draft.id,
      deadline: draft.deadline,
      close: { closer: draft.closer, data: draft.data },
      executor: undefined,
      clock: stepClock(now),
      onCloseError: this.onCloseError,
      generation: draft.generation,
      retry,
      closeTimeoutMs,
      pauseTimeoutMs: this.pauseTimeoutMs,
      attempt: draft.attempt,
      closeDeadline: draft.closeDeadline ?? Infinity,
      lastError: draft.lastError ?? undefined,
    };
  }

  #args(context: ExpirationContext<DurableClose>, event: unknown): TableArgs {
    return { context, event };
  }

  readonly #effects: Record<string, (step: Step, draft: Draft) => void> = {
    queueClose: (step, draft) => {
      lease(draft, null, step.now, null, 'close');
      if (this.host.canClose(draft.closer, step.claims.length)) step.mailbox.push({ type: 'close' });
    },
    notifyClosing: (step, draft) => {
      draft.live = false;
      lease(draft, this.owner, step.now + this.claimTimeoutMs, this.claimTimeoutMs, 'reclaim');
    },
    runClose: (step, draft) => {
      const { id, generation, deadline, closer, data, attempt } = draft;
      step.claims.push({ id, generation, deadline, closer, data, attempt });
    },
    abortClose: (step, draft) => void step.aborts.push([keyOf(draft.id, draft.generation), MANAGER_DISPOSED]),
    // Whichever process runs the close, the one that finds its timeout due fails the attempt;
    // the close, if it runs here, sees its signal abort and leaves its slot at once.
    timeoutClose: (step, draft) => {
      step.aborts.push([keyOf(draft.id, draft.generation), CLOSE_TIMED_OUT]);
      step.reports.push([draft.id, CLOSE_TIMED_OUT]);
      step.mailbox.push({ type: 'failed', error: CLOSE_TIMED_OUT } as { type: string });
    },
    // A failed close hands the entity back: live again (retrying, or failed), unless its id was taken.
    rejoin: (step, draft) => {
      if (draft.idTaken) step.mailbox.push({ type: 'superseded' });
      else {
        draft.live = true;
        step.rejoined.add(draft.id);
      }
    },
  };
}
