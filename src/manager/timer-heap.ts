import { MAX_TIMER_DELAY } from '../machines/expiration.js';
import type { ExpireClock } from '../types.js';

/** How long one wake-up may run due timers before yielding, so that closes are not held back. */
const SLICE_MS = 1;

/**
 * A node of a {@link TimerHeap}: a plain timer, or an entity record (which is
 * its own node, so a pending expiration costs no extra object).
 */
export interface HeapNode {
  /** The time the node is keyed at in the heap. */
  key: number;
  /**
   * When it is due: `key`, or later (it moves when its slot comes up), or
   * `Infinity` (disarmed: it leaves when its slot comes up).
   */
  due: number;
  /** Tie-break among equal keys: the order they were armed in. */
  seq: number;
  /** When it was last armed, in arm order: its `seq` once it moves to `due`. */
  order: number;
  /** Its index in the heap; -1 when not in it. */
  index: number;
  /** Runs when it is due; it has left the heap by then. */
  fire(): void;
}

/** The index of a node set aside during a wake-up (see `#fire`). */
const DEFERRED = -2;

/** A plain timer: what `setTimeout` returns. */
class Timer implements HeapNode {
  key = 0;
  due = 0;
  seq = 0;
  order = 0;
  // Stryker disable next-line UnaryOperator: readers check heap[index] === node
  index = -1;
  constructor(readonly fn: () => void) {}
  fire(): void {
    this.fn();
  }
}

/**
 * The clock for a heap that runs on real time: native timers, unref'd so that
 * pending expirations never keep the process alive. An already-due wake-up
 * (a slice ran out, a zero delay) continues right after I/O with a ref'd
 * `setImmediate`: an unref'd one would wait for the next ref'd handle.
 */
function nativeClock(now: () => number): ExpireClock {
  return {
    now,
    setTimeout: (fn, ms) => {
      if (ms <= 0) return { immediate: setImmediate(fn) };
      const timer = setTimeout(fn, ms);
      // Stryker disable next-line OptionalChaining: Node's timers always have unref()
      timer.unref?.();
      return timer;
    },
    clearTimeout: (handle) => {
      const { immediate } = handle as { immediate?: ReturnType<typeof setImmediate> };
      if (immediate) clearImmediate(immediate);
      else clearTimeout(handle as ReturnType<typeof setTimeout>);
    },
  };
}

/**
 * Every timer of a manager in one binary heap behind a single timer of the
 * clock below it: an {@link ExpireClock} itself, for XState's delayed events,
 * and the heap that entity records arm directly.
 *
 * Arming costs O(log n); disarming and re-arming to a later time cost O(1)
 * (the node stays where it is and moves, or leaves, when its slot comes up).
 */
export class TimerHeap implements ExpireClock {
  readonly #base: ExpireClock;
  readonly #sliceMs: number;
  readonly #heap: HeapNode[] = [];
  #seq = 0;
  #handle: unknown = undefined;
  /** Nodes armed during a wake-up, already due: they run in the next one. */
  // Stryker disable next-line ArrayDeclaration: emptied after the first wake-up
  readonly #later: HeapNode[] = [];
  #armedFor = Infinity;

  /**
   * A heap on `base`: its `now()`, and one of its timers at a time.
   *
   * @param sliceMs how long one wake-up may run due timers before it yields to
   *   the event loop (real time only: a simulated clock runs them all at once).
   */
  constructor(base: ExpireClock, { sliceMs = Infinity }: { sliceMs?: number } = {}) {
    this.#base = base;
    this.#sliceMs = sliceMs;
  }

  /** How many nodes the heap holds, disarmed ones included. */
  get size(): number {
    return this.#heap.length;
  }

  /** The time on the clock below. */
  now(): number {
    return this.#base.now();
  }

  /** Schedules `fn` after `ms` milliseconds (at least 0); the handle is for {@link TimerHeap.clearTimeout}. */
  setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown {
    const timer = new Timer(fn as () => void);
    this.arm(timer, this.now() + Math.max(0, ms));
    return timer;
  }

  /** Cancels a timer from {@link TimerHeap.setTimeout}; anything else is ignored. */
  clearTimeout(handle: unknown): void {
    if (handle instanceof Timer) this.remove(handle);
  }

  /** Arms `node` for `due`: O(1) when it is already in the heap at or before that time. */
  arm(node: HeapNode, due: number): void {
    node.order = this.#seq++;
    // Stryker disable next-line ConditionalExpression,LogicalOperator: either half alone decides
    if (node.index >= 0 && this.#heap[node.index] === node) {
      node.due = due;
      // Stryker disable next-line ConditionalExpression: moving at once gives the same order
      if (due > node.key) return;
      node.key = due;
      node.seq = node.order;
      this.#up(node.index);
      this.#down(node.index);
    } else {
      node.key = node.due = due;
      node.seq = node.order;
      node.index = this.#heap.length;
      this.#heap.push(node);
      this.#up(node.index);
    }
    // Stryker disable next-line ConditionalExpression: only a new head can be earlier
    if (node.index === 0) this.#aim();
  }

  /** Disarms `node` in O(1): it stays in the heap, and leaves when its slot comes up. */
  disarm(node: HeapNode): void {
    node.due = Infinity;
  }

  /** Takes `node` out of the heap now, in O(log n). */
  remove(node: HeapNode): void {
    const index = node.index;
    // Out of the heap, or set aside (DEFERRED) for the next wake-up: either way, out now.
    node.index = -1;
    // Stryker disable next-line ConditionalExpression,LogicalOperator: either half alone decides
    if (index < 0 || this.#heap[index] !== node) return;
    this.#removeAt(index);
    // Stryker disable next-line ConditionalExpression: only removing the head moves it
    if (index === 0) this.#aim();
  }

  /**
   * Gives the timer `handle` the turn of `node` among timers due at the same
   * time, as if armed when `node` was: a deadline moved from a record to its
   * materialized actor keeps its place.
   */
  keepTurn(handle: unknown, node: HeapNode): void {
    // Stryker disable next-line ConditionalExpression,EqualityOperator: either check alone tells a cleared timer
    if (!(handle instanceof Timer) || handle.index < 0 || this.#heap[handle.index] !== handle) return;
    handle.order = handle.seq = node.order;
    this.#up(handle.index);
    this.#down(handle.index);
    this.#aim();
  }

  /** Empties the heap and cancels the clock's timer. */
  clear(): void {
    for (const node of this.#heap) node.index = -1;
    this.#heap.length = 0;
    this.#cancel();
  }

  #before(a: HeapNode, b: HeapNode): boolean {
    // Stryker disable next-line EqualityOperator: seqs in the heap are distinct
    return a.key < b.key || (a.key === b.key && a.seq < b.seq);
  }

  #place(node: HeapNode, index: number): void {
    this.#heap[index] = node;
    node.index = index;
  }

  #up(index: number): void {
    const heap = this.#heap;
    const node = heap[index]!;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!this.#before(node, heap[parent]!)) break;
      this.#place(heap[parent]!, index);
      index = parent;
    }
    this.#place(node, index);
  }

  #down(index: number): void {
    const heap = this.#heap;
    const node = heap[index]!;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && this.#before(heap[right]!, heap[left]!) ? right : left;
      if (!this.#before(heap[child]!, node)) break;
      this.#place(heap[child]!, index);
      index = child;
    }
    this.#place(node, index);
  }

  #removeAt(index: number): void {
    const node = this.#heap[index]!;
    const last = this.#heap.pop()!;
    if (last !== node) {
      this.#place(last, index);
      this.#up(index);
      this.#down(last.index);
    }
    node.index = -1;
  }

  /** Keeps the clock's one timer aimed at the head, or at nothing. */
  #aim(): void {
    const head = this.#heap[0];
    if (head === undefined) return this.#cancel();
    // Stryker disable next-line ConditionalExpression,EqualityOperator: re-aiming only replaces the timer
    if (this.#handle !== undefined && this.#armedFor <= head.key) return;
    this.#cancel();
    this.#armedFor = head.key;
    const delay = Math.min(MAX_TIMER_DELAY, head.key - this.now());
    this.#handle = this.#base.setTimeout(this.#fire, delay);
  }

  #cancel(): void {
    if (this.#handle === undefined) return;
    this.#base.clearTimeout(this.#handle);
    this.#handle = undefined;
    this.#armedFor = Infinity;
  }

  readonly #fire = (): void => {
    this.#handle = undefined;
    this.#armedFor = Infinity;
    const time = this.now();
    const started = performance.now();
    const heap = this.#heap;
    // Only what was armed before this wake-up runs in it: a node that re-arms
    // itself as already due waits for the next one, so nothing can spin here.
    const round = this.#seq;
    const later = this.#later;
    try {
      for (let head = heap[0]; head !== undefined && head.key <= time; head = heap[0]) {
        if (head.due !== head.key) {
          // Disarmed: it leaves. Re-armed later: it moves to its new slot.
          if (head.due === Infinity) this.#removeAt(0);
          else {
            head.key = head.due;
            head.seq = head.order;
            this.#down(0);
          }
          continue;
        }
        this.#removeAt(0);
        if (head.order >= round) {
          head.index = DEFERRED;
          later.push(head);
          continue;
        }
        head.fire();
        // Stryker disable next-line EqualityOperator: > and >= 1 ms differ at one instant
        if (performance.now() - started > this.#sliceMs) break;
      }
    } finally {
      for (const node of later) {
        // Unless cleared or re-armed meanwhile, back in, as armed.
        if (node.index !== DEFERRED) continue;
        node.index = heap.length;
        heap.push(node);
        this.#up(node.index);
      }
      later.length = 0;
      // Re-aim even if a callback threw; the error surfaces as from a native timer.
      this.#aim();
    }
  };
}

/**
 * A real-time clock that keeps every timer in one binary heap behind a single
 * unref'd native timer: the manager's default clock.
 *
 * With one native timer per entity, Node keeps a timer list per distinct
 * duration, which is what an expire manager creates (every deadline differs):
 * more memory and slower inserts. Here a timer costs one small object and the
 * process is never kept alive by it.
 */
export function createTimerQueue(now: () => number = Date.now): TimerHeap {
  return new TimerHeap(nativeClock(now), { sliceMs: SLICE_MS });
}
