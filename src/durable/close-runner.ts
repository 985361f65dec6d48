import { CLOSE_SETTLED, CLOSE_TIMED_OUT, report } from '../machines/effects.js';
import type { ExpireTelemetry } from '../telemetry/telemetry.js';
import type { CloseErrorHandler } from '../types.js';
import type { NamedCloser } from './closers.js';
import { type Claim, type Draft, type DurableEngine, type Opening, type Step, keyOf } from './engine.js';

/** What the close runner asks of the manager it runs for. */
export interface CloseRunnerHost {
  readonly engine: DurableEngine;
  readonly closers: ReadonlyMap<string, NamedCloser>;
  readonly telemetry: ExpireTelemetry;
  readonly onCloseError: CloseErrorHandler;
  /** A transaction, then what it asked for once committed (the manager's `#call`), opened by a read when given. */
  call<T>(work: (step: Step, rows: Draft[]) => Promise<T>, options?: { open?: Opening }): Promise<T>;
  /** Whether the manager still runs: a completion is tried longer then. */
  active(): boolean;
  /** The database's time now, as this process estimates it. */
  now(): number;
  /** A close ended: its slot is free, so a pass may find more. */
  freed(): void;
  /** Reports a failure of the manager's own work. */
  fail(what: string, error: unknown): void;
}

/** How a close running here ended: settled, failed (with what it threw), or cut short and failed (handed back). */
type Outcome = 'settled' | 'handBack' | { error: unknown };

/** A close running in this process. */
interface Running {
  controller: AbortController;
  done: Promise<void>;
}

const SETTLED = { type: 'settled' } as const;

/** Completions per transaction, at most. */
const COMPLETION_BATCH = 100;

/** A completion waiting for the next batch. */
interface Queued {
  claim: Claim;
  outcome: Outcome;
  resolve(held: boolean): void;
  reject(error: unknown): void;
}

/**
 * The closes a durable manager runs: each claimed by a committed transaction,
 * run with a signal scoped to it, then completed (settled, or failed: retried
 * or kept as failed) fenced by generation and owner, or handed over when it was
 * cut short.
 */
export class CloseRunner {
  /** Closes running here, by key (`id#generation`). */
  readonly #running = new Map<string, Running>();
  /** Telemetry: closes taken over from another process (`id#generation`), counted when they run. */
  readonly reclaims = new Set<string>();
  readonly #host: CloseRunnerHost;
  /** Completions waiting for a batch: those that end while one is written go in the next. */
  #queue: Queued[] = [];
  #flushing = false;

  constructor(host: CloseRunnerHost) {
    this.#host = host;
  }

  /** How many closes run here. */
  get size(): number {
    return this.#running.size;
  }

  /** The keys of the closes running here. */
  keys(): string[] {
    return [...this.#running.keys()];
  }

  /**
   * Runs a claimed close; then completes it (settled, or failed: retried or
   * kept as failed), fenced by generation and owner, or hands it over if it
   * failed because it was cut short.
   */
  run(claim: Claim): void {
    const host = this.#host;
    const key = keyOf(claim.id, claim.generation);
    // Re-claimed by this very manager (its lease ran out while the close still runs here): it goes on.
    if (this.#running.has(key)) return;
    // Telemetry: a takeover of another process's claim is counted once, when it runs.
    if (this.reclaims.delete(key)) host.telemetry.reclaimed();
    const { id, generation, closer, deadline, attempt } = claim;
    const span = host.telemetry.startClose({ id, generation, attempt, closer, lateness: host.now() - deadline });
    const controller = new AbortController();
    const running: Running = { controller, done: Promise.resolve() };
    running.done = (async () => {
      let failure: { error: unknown } | undefined;
      try {
        await Promise.resolve();
        await span.run(() => host.closers.get(closer)!.close({ id, data: claim.data, generation, deadline, attempt }, controller.signal));
      } catch (error) {
        failure = { error };
        report({ id, onCloseError: host.onCloseError }, error);
      }
      const reason: unknown = controller.signal.aborted ? controller.signal.reason : undefined;
      // Stryker disable next-line ConditionalExpression: aborting a signal aborted already changes nothing
      if (reason === undefined) controller.abort(CLOSE_SETTLED);
      // Timed out: the process that found the timeout failed the attempt already.
      if (reason === CLOSE_TIMED_OUT) return span.end('timeout', failure?.error);
      // A close that failed because it was cut short (disposed, claim lost) is someone else's to run again.
      const outcome = reason !== undefined && failure ? 'handBack' : (failure ?? 'settled');
      const completed = await this.#complete(claim, outcome);
      // Telemetry: not completed = its claim ran out and another manager holds it now.
      span.end(reason !== undefined ? 'aborted' : failure ? 'error' : completed ? 'ok' : 'timeout', failure?.error);
    })().finally(() => {
      if (this.#running.get(key) === running) this.#running.delete(key);
      host.freed();
    });
    this.#running.set(key, running);
  }

  /**
   * Aborts the close `key` running here. A timed-out one also leaves its slot
   * at once: a close that ignores its signal no longer holds the concurrency
   * or `dispose()`.
   */
  abort(key: string, reason: Error): void {
    const running = this.#running.get(key);
    if (running === undefined) return;
    running.controller.abort(reason);
    if (reason === CLOSE_TIMED_OUT) {
      this.#running.delete(key);
      this.#host.freed();
    }
  }

  /** Aborts every close running here with `reason`, and resolves when each has ended and is written. */
  async abortAll(reason: Error): Promise<void> {
    for (const { controller } of this.#running.values()) controller.abort(reason);
    await Promise.all([...this.#running.values()].map(({ done }) => done));
  }

  /** Hands claims back at once (their lease ends now): another manager's next pass runs them. */
  async handBack(claims: readonly Claim[]): Promise<void> {
    await this.#finishAll(claims.map((claim) => ({ claim, outcome: 'handBack' as const })));
  }

  /**
   * Completes a close (`settled`, or `failed` with its error), or hands it over
   * (its lease ends now); retried while the database is away. Resolves with
   * whether this manager still held it.
   */
  async #complete(claim: Claim, outcome: Outcome): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await new Promise<boolean>((resolve, reject) => this.#enqueue({ claim, outcome, resolve, reject }));
      } catch (error) {
        if (attempt >= (this.#host.active() ? 20 : 3)) {
          this.#host.fail('complete', error);
          return false;
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 50 * 2 ** attempt)));
      }
    }
  }

  /**
   * Queues a completion: written at once when none is being written, else
   * with those that end meanwhile, in one transaction right after the one
   * under way.
   */
  #enqueue(queued: Queued): void {
    this.#queue.push(queued);
    if (!this.#flushing) {
      this.#flushing = true;
      // A microtask, not a macrotask: on PGlite every query resolves in microtasks, and a
      // caller looping on calls would starve a timer or setImmediate for as long as it loops.
      queueMicrotask(() => void this.#flush());
    }
  }

  async #flush(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, COMPLETION_BATCH);
      try {
        const held = await this.#finishAll(batch);
        batch.forEach((queued, index) => queued.resolve(held[index]!));
      } catch (error) {
        // Each retries on its own schedule (see #complete).
        for (const queued of batch) queued.reject(error);
      }
    }
    this.#flushing = false;
  }

  /**
   * One transaction: completes the claims this manager still holds (fenced by
   * generation and owner: the rows are read only where it is their owner), or
   * hands them back; resolves with whether it still held each.
   */
  #finishAll(items: ReadonlyArray<{ claim: Claim; outcome: Outcome }>): Promise<boolean[]> {
    const { engine } = this.#host;
    const keys = items.map(({ claim }) => keyOf(claim.id, claim.generation));
    return this.#host.call(
      async (step, rows) => {
        const drafts = new Map(rows.map((draft) => [keyOf(draft.id, draft.generation), draft]));
        const written: Draft[] = [];
        const held: boolean[] = [];
        for (const [index, { outcome }] of items.entries()) {
          const draft = drafts.get(keys[index]!);
          // Re-claimed by another manager, replaced, or timed out (its attempt failed already): nothing to do.
          // Stryker disable next-line ConditionalExpression: a row read under this manager's claim is closing (the claim ends as it leaves)
          if (!draft || draft.state !== 'expired.closing') {
            held.push(false);
            continue;
          }
          if (outcome === 'handBack') engine.releaseNow(step, draft);
          else await engine.send(step, draft, outcome === 'settled' ? SETTLED : { type: 'failed', error: outcome.error });
          written.push(draft);
          held.push(true);
        }
        await engine.writeAll(step, written);
        return held;
      },
      { open: engine.opensClaims(keys) },
    );
  }
}
