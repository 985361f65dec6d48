import type { ExpireClock } from '../types.js';

/**
 * A clock with one native Node timer per pending timer, unref'd so that pending
 * expirations never keep the process alive (like Go's timers). The manager's
 * default is a timer heap that keeps them all behind one.
 */
export const realClock: ExpireClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    // Browsers and other runtimes return a number without `unref`.
    // Stryker disable next-line OptionalChaining: Node's timers always have unref()
    (timer as { unref?: () => unknown }).unref?.();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
