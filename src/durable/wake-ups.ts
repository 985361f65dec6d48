import { MAX_TIMER_DELAY } from '../machines/expiration.js';
import type { DurableStore } from './store.js';

/** What the wake-up loop runs, and how it knows the manager still runs. */
export interface WakeUpOptions {
  store: DurableStore;
  namespace: string;
  /** How often to look for what timers and notifications missed. */
  pollIntervalMs: number;
  /** One pass over what is due; resolves with how many entities it handled. */
  pass: () => Promise<number>;
  /** Whether the manager still takes work: no pass starts otherwise. */
  active: () => boolean;
}

/**
 * When a durable manager looks for due entities: one timer on the earliest due
 * time it knows of (database time, turned into a local delay with the measured
 * offset, so a skewed local clock does not matter), `LISTEN/NOTIFY` for due
 * times other processes write, and polling every `pollIntervalMs` for what
 * notifications miss. Passes never overlap: a wake-up during one runs one more
 * pass after it.
 */
export class WakeUps {
  /** The database's clock minus this process's, as last measured (ms). */
  offset = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #interval: ReturnType<typeof setInterval> | undefined;
  #unlisten: (() => Promise<void>) | undefined;
  #passing: Promise<number> | undefined;
  /** The pass that follows the one under way, for the wake-ups and calls made during it. */
  #following: Promise<number> | undefined;

  readonly options: WakeUpOptions;

  constructor(options: WakeUpOptions) {
    this.options = options;
  }

  /** Listens on the schema's channel and starts polling. */
  async start(): Promise<void> {
    const { store } = this.options;
    this.#unlisten = await store.listen(store.schema, (payload) => this.#notified(payload), () => this.kick());
    this.#interval = setInterval(() => this.kick(), this.options.pollIntervalMs);
    // Stryker disable next-line OptionalChaining: Node's timers always have unref(); the ?. is for runtimes whose timers are numbers
    this.#interval.unref?.();
  }

  /** Ends the timer and the polling: no pass starts from them any more. */
  quiet(): void {
    clearInterval(this.#interval);
    clearTimeout(this.#timer);
  }

  /** {@link WakeUps.quiet}, then waits for the pass under way and stops listening. */
  async stop(): Promise<void> {
    this.quiet();
    await this.#passing?.catch(() => {});
    await this.#unlisten?.().catch(() => {});
    this.#unlisten = undefined;
  }

  /**
   * A pass that begins after this call: the one under way may have read an
   * earlier now, so one more runs after it, and every call made meanwhile
   * waits for that one.
   */
  poll(): Promise<number> {
    if (!this.options.active()) return Promise.resolve(0);
    if (this.#passing) {
      this.#following ??= this.#passing.then(() => {
        this.#following = undefined;
        return this.poll();
      });
      return this.#following;
    }
    const passing = this.options.pass().finally(() => {
      this.#passing = undefined;
    });
    this.#passing = passing;
    return passing;
  }

  /** A pass soon, its result unheeded (a pass reports its own failures). */
  kick(): void {
    // Stryker disable next-line ConditionalExpression: poll() checks it too and then starts nothing
    if (this.options.active()) void this.poll();
  }

  /** Aims the timer at `at` (database time), if sooner than it is aimed. */
  schedule(at: number): void {
    // Stryker disable next-line EqualityOperator: the same time again only re-arms the timer for the same moment
    if (!this.options.active() || at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    // One millisecond past it: the offset is an estimate, and early is useless.
    const delay = Math.min(MAX_TIMER_DELAY, Math.max(0, at + 1 - (Date.now() + this.offset)));
    this.#timer = setTimeout(() => {
      this.#timerAt = Infinity;
      this.kick();
    }, delay);
    // Stryker disable next-line OptionalChaining: as above
    this.#timer.unref?.();
  }

  /** Measures the offset from the database's `now` (ms), read just now. */
  measured(now: number): void {
    this.offset = now - Date.now();
  }

  /** A notification: `namespace\nearliest` from a process that wrote a due time. */
  #notified(payload: string): void {
    const [namespace, at] = payload.split('\n');
    if (namespace === this.options.namespace && at !== undefined) this.schedule(Number(at));
  }
}
