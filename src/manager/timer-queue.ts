import { MAX_TIMER_DELAY } from '../machines/expiration.js';
import type { ExpireClock } from '../types.js';

/** How long one native timer callback may run due timers before yielding. */
const SLICE_MS = 1;

/** One pending timer: the handle `setTimeout` returns. */
interface Entry {
  due: number;
  seq: number;
  fn: () => void;
  /** Its place in the heap; -1 once fired or cleared. */
  index: number;
}

/**
 * A real-time clock that keeps every timer in one binary heap behind a single
 * unref'd native timer.
 *
 * With one native timer per entity, Node keeps a timer list per distinct
 * duration, which is what an expire manager creates (every deadline differs):
 * more memory and slower inserts. Here a timer costs one small object, an
 * insert or a clear O(log n), and the process is never kept alive by it.
 */
export function createTimerQueue(now: () => number = Date.now): ExpireClock {
  const heap: Entry[] = [];
  let seq = 0;
  let native: { unref?: () => unknown } | undefined;
  let nativeIsImmediate = false;
  let armedFor = Infinity;

  const before = (a: Entry, b: Entry): boolean => a.due < b.due || (a.due === b.due && a.seq < b.seq);
  const place = (entry: Entry, index: number): void => {
    heap[index] = entry;
    entry.index = index;
  };
  const up = (index: number): void => {
    const entry = heap[index]!;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!before(entry, heap[parent]!)) break;
      place(heap[parent]!, index);
      index = parent;
    }
    place(entry, index);
  };
  const down = (index: number): void => {
    const entry = heap[index]!;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right]!, heap[left]!) ? right : left;
      if (!before(heap[child]!, entry)) break;
      place(heap[child]!, index);
      index = child;
    }
    place(entry, index);
  };
  const remove = (entry: Entry): void => {
    const last = heap.pop()!;
    if (last !== entry) {
      place(last, entry.index);
      up(last.index);
      down(last.index);
    }
    entry.index = -1;
  };

  /** Keeps the one native timer aimed at the earliest entry. */
  const arm = (): void => {
    const head = heap[0];
    if (native !== undefined && head && armedFor <= head.due) return;
    disarm();
    if (!head) return;
    armedFor = head.due;
    const delay = head.due - now();
    // Already due (a slice ran out, or a zero delay): continue right after I/O,
    // not 1 ms later. That immediate stays ref'd: an unref'd one would wait for
    // the next ref'd handle. Only timers not yet due are unref'd.
    nativeIsImmediate = delay <= 0;
    if (nativeIsImmediate) native = setImmediate(fire);
    else (native = setTimeout(fire, Math.min(MAX_TIMER_DELAY, delay))).unref?.();
  };

  const disarm = (): void => {
    if (native === undefined) return;
    if (nativeIsImmediate) clearImmediate(native as ReturnType<typeof setImmediate>);
    else clearTimeout(native as ReturnType<typeof setTimeout>);
    native = undefined;
    armedFor = Infinity;
  };

  const fire = (): void => {
    native = undefined;
    armedFor = Infinity;
    const time = now();
    const started = performance.now();
    try {
      for (let head = heap[0]; head && head.due <= time; head = heap[0]) {
        remove(head);
        head.fn();
        // Yield after a slice, like Node between native timers, so that the
        // work these callbacks queued (closes on microtasks) is not held back.
        if (performance.now() - started > SLICE_MS) break;
      }
    } finally {
      // Re-arm even if a callback threw; the error surfaces as from a native timer.
      arm();
    }
  };

  return {
    now,
    setTimeout: (fn, ms) => {
      const entry: Entry = { due: now() + Math.max(0, ms), seq: seq++, fn: fn as () => void, index: heap.length };
      heap.push(entry);
      up(entry.index);
      arm();
      return entry;
    },
    clearTimeout: (handle) => {
      const entry = handle as Entry | undefined;
      if (!entry || entry.index < 0 || heap[entry.index] !== entry) return;
      remove(entry);
      arm();
    },
  };
}
