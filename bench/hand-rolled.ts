/**
 * The baseline: what a user would write instead of this library. A port of the
 * Go algorithm to a Map of native timers, with the same five calls and the same
 * rules (pause keeps the deadline, a replaced or deleted expiration never
 * closes, the close gets a signal scoped to it), and nothing else.
 */
type Close = (signal: AbortSignal) => unknown;

interface Timer {
  deadline: number;
  close: Close;
  handle: ReturnType<typeof setTimeout> | undefined;
  stopped: boolean;
}

export class HandRolledManager {
  readonly #timers = new Map<string, Timer>();

  get size(): number {
    return this.#timers.size;
  }

  new(id: string, deadline: number, close: Close): void {
    const old = this.#timers.get(id);
    if (old) clearTimeout(old.handle);
    const timer: Timer = { deadline, close, handle: undefined, stopped: false };
    this.#arm(id, timer);
    this.#timers.set(id, timer);
  }

  stop(id: string): boolean {
    const timer = this.#timers.get(id);
    if (timer && timer.handle !== undefined) {
      clearTimeout(timer.handle);
      timer.handle = undefined;
      timer.stopped = true;
    }
    return timer !== undefined;
  }

  start(id: string): void {
    const timer = this.#timers.get(id);
    if (timer?.stopped) {
      timer.stopped = false;
      this.#arm(id, timer);
    }
  }

  expire(id: string): void {
    const timer = this.#timers.get(id);
    if (timer?.stopped) {
      timer.stopped = false;
      queueMicrotask(() => this.#fire(id, timer, true));
    }
  }

  delete(id: string): boolean {
    const timer = this.#timers.get(id);
    if (timer) clearTimeout(timer.handle);
    return this.#timers.delete(id);
  }

  dispose(): void {
    for (const timer of this.#timers.values()) clearTimeout(timer.handle);
    this.#timers.clear();
  }

  #arm(id: string, timer: Timer): void {
    const delay = Math.min(2 ** 31 - 1, Math.max(0, timer.deadline - Date.now()));
    timer.handle = setTimeout(() => this.#fire(id, timer, false), delay);
    timer.handle.unref();
  }

  #fire(id: string, timer: Timer, forced: boolean): void {
    if (this.#timers.get(id) !== timer) return;
    // Woken before a deadline longer than a timer holds: re-arm.
    if (!forced && Date.now() < timer.deadline) return this.#arm(id, timer);
    this.#timers.delete(id);
    const scope = new AbortController();
    Promise.resolve()
      .then(() => timer.close(scope.signal))
      .catch((error) => console.error(`close of ${id} failed`, error))
      .finally(() => scope.abort());
  }
}
