import type { ExpireClock } from '../types.js';

/**
 * The default clock: `Date.now()` and Node's timers, unref'd so that pending
 * expirations never keep the process alive (like Go's timers).
 */
export const realClock: ExpireClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const timer = setTimeout(fn, ms);
    // Browsers and other runtimes return a number without `unref`.
    (timer as { unref?: () => unknown }).unref?.();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};
