/**
 * Evidence of a starved worker: its event loop's lag, measured the way a
 * heartbeat would suffer it. A process that gets no CPU for a while (a machine at
 * load 8 on two cores) runs none of its timers meanwhile, its heartbeat included,
 * exactly as if it had been SIGSTOPped; the verdict can only tell the two apart
 * from a lease broken by the library if the worker records when it was starved.
 */

/** How often the watch ticks. */
export const LAG_TICK_MS = 50;
/** A tick later than this is recorded (smaller delays are the timer's and the loop's ordinary jitter). */
export const LAG_MIN_MS = 50;

/**
 * Calls `report(from, to)` (epoch ms) whenever a tick comes more than
 * {@link LAG_MIN_MS} late: from when it was due to when it ran, the loop ran
 * nothing of this process's timers. Returns a function that stops watching.
 */
export function watchLag(report: (from: number, to: number) => void): () => void {
  let last = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    const due = last + LAG_TICK_MS;
    if (now - due > LAG_MIN_MS) report(due, now);
    last = now;
  }, LAG_TICK_MS);
  // The worker lives on its IPC channel, not on this timer.
  timer.unref();
  return () => clearInterval(timer);
}
